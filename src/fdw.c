/*-------------------------------------------------------------------------
 *
 * fdw.c
 *	  Pools defined by foreign servers and user mappings.
 *
 * The install script creates FOREIGN DATA WRAPPER pool with the validator
 * below.  A server of that wrapper holds the connection options of libpq
 * (host, port, dbname, ...) and per-pool settings (pool_size,
 * checkout_timeout, ...) that override the server-wide pool.* defaults; a
 * user mapping holds the credentials (user, password, ...).  Credentials are
 * refused on a server, settings on a user mapping.
 *
 * Using a server needs USAGE on it and a user mapping for the current role
 * or PUBLIC.  Each (server, user mapping, password rule) is a pool of its
 * own, so different credentials never share connections.  A non-superuser
 * must have a password in the mapping, which the remote must then ask for
 * (checked after connecting, as dblink and postgres_fdw do), unless a
 * superuser set password_required 'false' on the mapping.
 *
 * ALTER SERVER and ALTER USER MAPPING reach the pool when the transaction
 * that made them commits: new connection options close its connections
 * (idle ones now, the others at check-in), new settings apply at once.
 * DROP SERVER closes its pools.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/fdw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "libpq-fe.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/scansup.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "pool.h"
#include "shmem.h"
#include "target.h"
#include "call.h"

PG_FUNCTION_INFO_V1(pool_fdw_validator);

/* Where an option may go. */
typedef enum PoolOptionKind
{
	POOL_OPT_NONE,
	POOL_OPT_SERVER,			/* a libpq option on the server */
	POOL_OPT_SETTING,			/* a pool setting on the server */
	POOL_OPT_MAPPING,			/* a credential on the user mapping */
	POOL_OPT_MAPPING_SUPERUSER	/* ... that only a superuser may set */
} PoolOptionKind;

/* libpq options no server may set: pool sets them, or does not support them */
static const char *const excluded_options[] = {
	"client_encoding", "fallback_application_name", "replication", NULL
};

/* libpq options that belong to a user mapping */
static const char *const mapping_options[] = {
	"user", "password", "sslpassword", NULL
};
static const char *const mapping_superuser_options[] = {
	"sslcert", "sslkey", "password_required", NULL
};

/*
 * Options that let the local server's own identity, files or environment
 * authenticate instead of a password: refused to non-superusers.
 */
static const char *const superuser_only_options[] = {
	"passfile", "service", "sslcert", "sslkey", "gssdelegation", NULL
};

static PQconninfoOption *libpq_options = NULL;

/* servers whose pools changed in this transaction */
static List *changed_servers = NIL;
static List *dropped_servers = NIL;
static List *changed_mappings = NIL;	/* user mappings, by OID */
static List *pending_configs = NIL; /* PoolPendingConfig, until commit */
static object_access_hook_type prev_object_access_hook = NULL;
static bool fdw_callbacks_registered = false;

static bool
pool_in_list(const char *name, const char *const *list)
{
	int			i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

PQconninfoOption *
pool_libpq_options(void)
{
	if (libpq_options == NULL)
	{
		libpq_options = PQconndefaults();
		if (libpq_options == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not get libpq's default connection options.")));
	}
	return libpq_options;
}

/*
 * Where an option may go.  connect_timeout is the pool setting (in
 * milliseconds, with units), not libpq's.
 */
static PoolOptionKind
pool_option_kind(const char *name)
{
	PQconninfoOption *opt;

	if (pool_is_setting_name(name))
		return POOL_OPT_SETTING;
	if (pool_in_list(name, mapping_options))
		return POOL_OPT_MAPPING;
	if (pool_in_list(name, mapping_superuser_options))
		return POOL_OPT_MAPPING_SUPERUSER;
	if (pool_in_list(name, excluded_options))
		return POOL_OPT_NONE;

	/*
	 * OAuth (18): libpq's built-in flow talks on stderr and waits for a
	 * person, which a worker has neither of (dblink and postgres_fdw refuse
	 * it too).
	 */
	if (strncmp(name, "oauth_", 6) == 0)
		return POOL_OPT_NONE;
	for (opt = pool_libpq_options(); opt->keyword != NULL; opt++)
	{
		if (strcmp(opt->keyword, name) != 0)
			continue;
		/* debug options, such as libpq's "D" ones, are not offered */
		if (strchr(opt->dispchar, 'D'))
			return POOL_OPT_NONE;
		/* secrets ("*": the SCRAM keys of 18, say) go with the credentials */
		if (strchr(opt->dispchar, '*'))
			return POOL_OPT_MAPPING;
		return POOL_OPT_SERVER;
	}
	return POOL_OPT_NONE;
}

/*
 * The valid options for a catalog, for a hint.
 */
static char *
pool_valid_options(Oid catalog)
{
	StringInfoData buf;
	PQconninfoOption *opt;
	int			i;

	initStringInfo(&buf);
	if (catalog == ForeignServerRelationId)
	{
		for (opt = pool_libpq_options(); opt->keyword != NULL; opt++)
		{
			if (pool_option_kind(opt->keyword) != POOL_OPT_SERVER)
				continue;
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", opt->keyword);
		}
		appendStringInfo(&buf, ", %s", pool_setting_names());
	}
	else if (catalog == UserMappingRelationId)
	{
		for (i = 0; mapping_options[i] != NULL; i++)
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", mapping_options[i]);
		for (i = 0; mapping_superuser_options[i] != NULL; i++)
			appendStringInfo(&buf, ", %s", mapping_superuser_options[i]);
	}
	return buf.data;
}

/*
 * pool.fdw_validator(options text[], catalog oid): check the options of the
 * pool foreign-data wrapper, its servers and user mappings.
 */
Datum
pool_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *cell;
	PoolSettings overrides;
	uint32		mask = 0;

	memset(&overrides, 0, sizeof(overrides));
	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		PoolOptionKind kind = pool_option_kind(def->defname);
		char	   *value = defGetString(def);

		/* on a server or a mapping: the role's own SCRAM keys (18) */
		if (strcmp(def->defname, "use_scram_passthrough") == 0 &&
			(catalog == ForeignServerRelationId ||
			 catalog == UserMappingRelationId))
		{
#ifdef POOL_HAVE_SCRAM_PASSTHROUGH
			/*
			 * The server a role's SCRAM proof goes to could relay it to any
			 * server with the same secret: superusers decide.
			 */
			if (!superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to set option \"%s\"",
								def->defname),
						 errdetail("Only superusers may set it.")));
			(void) defGetBoolean(def);
			continue;
#else
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("option \"%s\" needs PostgreSQL 18 or later",
							def->defname)));
#endif
		}

		if (catalog == ForeignServerRelationId &&
			(kind == POOL_OPT_SERVER || kind == POOL_OPT_SETTING))
		{
			/*
			 * What cleans a connection between holders is not for the owner
			 * of a server to weaken.
			 */
			if (strcmp(def->defname, "reset_query") == 0 && !superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to set option \"%s\"", def->defname),
						 errdetail("Only superusers may set it on a foreign server.")));
			if (kind == POOL_OPT_SETTING)
				pool_setting_parse(def->defname, value, &overrides, &mask);
			continue;
		}
		if (catalog == UserMappingRelationId &&
			(kind == POOL_OPT_MAPPING || kind == POOL_OPT_MAPPING_SUPERUSER))
		{
			if (kind == POOL_OPT_MAPPING_SUPERUSER && !superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to set option \"%s\"", def->defname),
						 errdetail("Only superusers may set it on a user mapping.")));
			if (strcmp(def->defname, "password_required") == 0)
				(void) defGetBoolean(def);
			continue;
		}

		/* in the wrong place, or unknown */
		if (catalog == ForeignServerRelationId &&
			(kind == POOL_OPT_MAPPING || kind == POOL_OPT_MAPPING_SUPERUSER))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"%s\" is not allowed on a foreign server",
							def->defname),
					 errhint("Credentials go in a user mapping: CREATE USER MAPPING FOR role SERVER server OPTIONS (user '...', password '...').")));
		if (catalog == UserMappingRelationId &&
			(kind == POOL_OPT_SERVER || kind == POOL_OPT_SETTING))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"%s\" is not allowed on a user mapping",
							def->defname),
					 errhint("Connection options and pool settings go on the foreign server.")));
		if (catalog == ForeignServerRelationId || catalog == UserMappingRelationId)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 errhint("Valid options in this context are: %s.",
							 pool_valid_options(catalog))));
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", def->defname),
				 errhint("The pool foreign-data wrapper takes no options; its servers and user mappings do.")));
	}
	PG_RETURN_VOID();
}

/*
 * Refuse, for a non-superuser, an option that could authenticate with the
 * local server's identity instead of a password.
 */
static void
pool_check_option_allowed(const char *name)
{
	if (pool_in_list(name, superuser_only_options))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use connection option \"%s\"", name),
				 errdetail("Only superusers may connect with options that can authenticate without a password.")));
}

/*
 * Check a parsed connection string of a non-superuser: no option that could
 * authenticate without a password, and none of libpq's debug options ("D":
 * replication, the SCRAM keys, and sslkeylogfile of 18, which writes a file
 * wherever the server may).
 */
void
pool_check_conninfo_options(PQconninfoOption *opts)
{
	PQconninfoOption *opt;

	for (opt = opts; opt->keyword != NULL; opt++)
	{
		if (opt->val == NULL || opt->val[0] == '\0')
			continue;
		pool_check_option_allowed(opt->keyword);
		if (strchr(opt->dispchar, 'D') != NULL &&
			strcmp(opt->keyword, "replication") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to use connection option \"%s\"",
							opt->keyword),
					 errdetail("Only superusers may use libpq's debug options.")));
	}
}

/*
 * Does the mapping waive the password rule?
 */
static bool
pool_mapping_requires_password(UserMapping *um)
{
	ListCell   *cell;

	foreach(cell, um->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "password_required") == 0)
			return defGetBoolean(def);
	}
	return true;
}

/*
 * Does the pool of a server and user mapping authenticate the role with
 * its own SCRAM keys (use_scram_passthrough, 18; the mapping's setting
 * wins over the server's)?
 */
static bool
pool_uses_scram_passthrough(ForeignServer *server, UserMapping *um)
{
	ListCell   *cell;

	foreach(cell, um->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "use_scram_passthrough") == 0)
			return defGetBoolean(def);
	}
	foreach(cell, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "use_scram_passthrough") == 0)
			return defGetBoolean(def);
	}
	return false;
}

/*
 * What keeps a non-superuser from using a server and user mapping: the
 * name of an option only superusers may use, or "password" when the mapping
 * lacks the password it needs; NULL if nothing.
 */
static const char *
pool_config_problem(ForeignServer *server, UserMapping *um)
{
	ListCell   *cell;
	bool		has_password = false;

	foreach(cell, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (pool_in_list(def->defname, superuser_only_options))
			return def->defname;
	}
	foreach(cell, um->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "password") == 0)
			has_password = defGetString(def)[0] != '\0';
	}
	/* with SCRAM pass-through, the role's own keys take the password's place */
	if (pool_mapping_requires_password(um) && !has_password &&
		!pool_uses_scram_passthrough(server, um))
		return "password";
	return NULL;
}

/*
 * What a non-superuser's connection must not pick up from the local
 * server's operating-system user: its default client certificate (libpq
 * looks for ~/.postgresql/postgresql.crt when sslcert is not set), and its
 * Kerberos credentials, for GSSAPI encryption or authentication.  From 16
 * on, libpq refuses them itself (sslcertmode, require_auth: only password
 * methods, before the connection completes); before, a certificate path
 * that cannot exist makes libpq go on without one, and the worker's check
 * of the password after connecting refuses the rest.  A certificate a
 * superuser put in the user mapping stays.
 */
void
pool_append_nonsuperuser_options(StringInfo conninfo, bool has_sslcert,
								 bool scram_passthrough)
{
#ifdef POOL_HAVE_REQUIRE_AUTH
	if (!has_sslcert)
		pool_append_option(conninfo, "sslcertmode", "disable");
	pool_append_option(conninfo, "require_auth",
					   scram_passthrough ? "scram-sha-256" :
					   "password,md5,scram-sha-256");
#else
	if (!has_sslcert)
	{
		pool_append_option(conninfo, "sslcert", POOL_NO_CLIENT_CERT);
		pool_append_option(conninfo, "sslkey", POOL_NO_CLIENT_CERT);
	}
#endif
	pool_append_option(conninfo, "gssencmode", "disable");
}

/*
 * Build the configuration of the pool of a server and user mapping into
 * *cfg: connection string with secrets, settings, whether a password is
 * required.  The options were checked by the validator.
 */
static void
pool_server_config(ForeignServer *server, UserMapping *um, bool for_superuser,
				   PoolServerConfig *cfg)
{
	StringInfoData conninfo;
	ListCell   *cell;
	bool		has_sslcert = false;
	bool		passthrough = pool_uses_scram_passthrough(server, um);

	memset(cfg, 0, sizeof(*cfg));
	initStringInfo(&conninfo);
	foreach(cell, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "use_scram_passthrough") == 0)
			continue;
		if (pool_is_setting_name(def->defname))
			pool_setting_parse(def->defname, defGetString(def),
							   &cfg->overrides, &cfg->override_mask);
		else
			pool_append_option(&conninfo, def->defname, defGetString(def));
	}
	foreach(cell, um->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "sslcert") == 0)
			has_sslcert = true;
		if (strcmp(def->defname, "password_required") != 0 &&
			strcmp(def->defname, "use_scram_passthrough") != 0)
			pool_append_option(&conninfo, def->defname, defGetString(def));
	}

	/*
	 * A superuser who set password_required 'false' on the mapping waived the
	 * rule, and what keeps the server's own identity out with it.
	 */
	if (!for_superuser && (passthrough || pool_mapping_requires_password(um)))
		pool_append_nonsuperuser_options(&conninfo, has_sslcert, passthrough);
	else if (passthrough)
		pool_append_option(&conninfo, "require_auth", "scram-sha-256");
	/* as for connection strings: always this database's encoding */
	pool_append_option(&conninfo, "client_encoding", GetDatabaseEncodingName());
	cfg->for_superuser = for_superuser;
	/* pass-through proves the role with its keys, under require_auth */
	cfg->require_password = !for_superuser && !passthrough &&
		pool_mapping_requires_password(um);
	cfg->scram_passthrough = passthrough;
	cfg->conninfo = conninfo.data;
}

/*
 * The checks for a non-superuser, before connecting.
 */
static void
pool_check_server_use(ForeignServer *server, UserMapping *um)
{
	const char *problem = pool_config_problem(server, um);

	if (problem == NULL)
		return;
	if (strcmp(problem, "password") != 0)
		pool_check_option_allowed(problem);
	ereport(ERROR,
			(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
			 errmsg("password is required"),
			 errdetail("Non-superusers must have a password in their user mapping for server \"%s\".",
					   server->servername),
			 errhint("Add one with ALTER USER MAPPING ... OPTIONS (ADD password '...'), or have a superuser set password_required 'false'.")));
}

/*
 * The user mapping for the current role on a server, or its PUBLIC one;
 * an error that says how to make one if there is none.
 */
static UserMapping *
pool_find_user_mapping(ForeignServer *server)
{
	Oid			userid = GetUserId();

	if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid),
							   ObjectIdGetDatum(server->serverid)) &&
		!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							   ObjectIdGetDatum(server->serverid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no user mapping for role \"%s\" on server \"%s\"",
						GetUserNameFromId(userid, false), server->servername),
				 errhint("Create one with CREATE USER MAPPING FOR %s SERVER %s OPTIONS (user '...', password '...').",
						 quote_identifier(GetUserNameFromId(userid, false)),
						 quote_identifier(server->servername))));
	return GetUserMapping(userid, server->serverid);
}

/*
 * The pool's name: the server, and whom it connects as.
 */
static char *
pool_server_pool_name(ForeignServer *server, UserMapping *um)
{
	ListCell   *cell;
	char	   *name = NULL;

	foreach(cell, um->options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "user") == 0)
		{
			name = psprintf("%s user=%s", server->servername, defGetString(def));
			break;
		}
	}
	if (name == NULL)
		name = pstrdup(server->servername);
	pool_clip_name(name);
	return name;
}

/*
 * Is target the name of a foreign server?  Connection strings have a '=',
 * URIs a "://"; a plain word is taken for a server name.
 */
bool
pool_target_is_server_name(const char *target)
{
	return target[0] != '\0' &&
		strchr(target, '=') == NULL && strstr(target, "://") == NULL;
}

/*
 * Fail unless the current role has USAGE on a foreign server (by OID, as a
 * remembered resolution has it; target names it for the message).
 */
void
pool_check_server_usage(Oid serverid, text *target)
{
	AclResult	aclresult;

	aclresult = pool_server_aclcheck(serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
	{
		ForeignServer *server = GetForeignServerExtended(serverid,
														 FSV_MISSING_OK);

		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER,
					   server ? server->servername : text_to_cstring(target));
	}
}

/*
 * Fail unless the current role may use connection strings: it needs USAGE
 * on the foreign-data wrapper pool, the privilege CREATE SERVER needs too,
 * so that no role can make the server dial anywhere it can reach unless it
 * could define a server that does.
 */
void
pool_check_fdw_usage(void)
{
	/* by OID only: this runs at every call */
	Oid			fdwid = get_foreign_data_wrapper_oid("pool", true);

	if (!OidIsValid(fdwid) ||
		pool_fdw_aclcheck(fdwid, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use a connection string as a target"),
				 errdetail("Connection strings need USAGE on the foreign-data wrapper pool."),
				 errhint("Use a foreign server of the pool foreign-data wrapper that you have USAGE on, or have USAGE on the wrapper granted: GRANT USAGE ON FOREIGN DATA WRAPPER pool TO %s.",
						 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
}

/*
 * Resolve a server name to its pool for the current role; *serverid is set
 * to the server's OID.
 */
void
pool_resolve_server(const char *servername, PoolTarget *result, Oid *serverid)
{
	ForeignServer *server;
	ForeignDataWrapper *fdw;
	UserMapping *um;
	AclResult	aclresult;
	PoolServerConfig cfg;
	char	   *key;
	char	   *name;

	/* a name longer than an identifier is truncated, as in SQL */
	servername = pstrdup(servername);
	truncate_identifier((char *) servername, strlen(servername), false);
	server = GetForeignServerByName(servername, true);
	if (server == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("server \"%s\" does not exist", servername),
				 errhint("A target is the name of a foreign server of the pool foreign-data wrapper, or a connection string such as 'host=... dbname=...'.")));
	fdw = GetForeignDataWrapper(server->fdwid);
	if (strcmp(fdw->fdwname, "pool") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" does not belong to the pool foreign-data wrapper",
						servername),
				 errdetail("It belongs to foreign-data wrapper \"%s\".", fdw->fdwname)));

	aclresult = pool_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);
	*serverid = server->serverid;

	um = pool_find_user_mapping(server);
	if (!superuser())
		pool_check_server_use(server, um);
	pool_server_config(server, um, superuser(), &cfg);

	/*
	 * Server and mapping OIDs are only unique within a database.  A pool
	 * whose connections authenticate with the SCRAM keys of its role's
	 * sessions is that role's alone.
	 */
	if (cfg.scram_passthrough)
	{
		/*
		 * The keys are those of the role that logged in: they may serve that
		 * role only, not one it became by SET ROLE, SET SESSION AUTHORIZATION
		 * or a SECURITY DEFINER function.
		 */
		if (GetUserId() != GetAuthenticatedUserId())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("SCRAM pass-through of server \"%s\" serves only the role that logged in",
							server->servername),
					 errdetail("The current role is not the role this session authenticated as.")));
		key = psprintf("server=%u mapping=%u database=%u scram_role=%u",
					   server->serverid, um->umid, MyDatabaseId, GetUserId());
	}
	else
		key = psprintf("server=%u mapping=%u database=%u", server->serverid,
					   um->umid, MyDatabaseId);
	name = pool_server_pool_name(server, um);
	cfg.server_oid = server->serverid;
	cfg.database_oid = MyDatabaseId;
	cfg.owner_role = cfg.scram_passthrough ? GetUserId() : um->userid;
	cfg.uncommitted = pool_config_uncommitted(server->serverid, um->umid);
	pool_find_or_create_configured(key, name, &cfg, result);

	memset(cfg.conninfo, 0, strlen(cfg.conninfo));
	pfree(cfg.conninfo);
	pfree(key);
	pfree(name);
}

/* ----------------------------------------------------------------
 * Changes to servers and user mappings
 * ----------------------------------------------------------------
 */

/*
 * The configuration now in the catalogs for the pool of server server_oid
 * and user mapping umid, opened for owner_role (and for superusers or not),
 * or false if its server or mapping is gone.
 */
static bool
pool_current_config(Oid server_oid, Oid umid, Oid owner_role,
					bool for_superuser, PoolServerConfig *cfg)
{
	ForeignServer *server;
	UserMapping *um;
	HeapTuple	tp;
	Datum		datum;
	bool		isnull;

	server = GetForeignServerExtended(server_oid, FSV_MISSING_OK);
	if (server == NULL)
		return false;

	/*
	 * The mapping the pool was opened with, by its OID: a PUBLIC one is
	 * shared by roles that may since have got mappings of their own.
	 */
	tp = SearchSysCache1(USERMAPPINGOID, ObjectIdGetDatum(umid));
	if (!HeapTupleIsValid(tp))
		return false;
	um = palloc0(sizeof(UserMapping));
	um->umid = umid;
	um->userid = owner_role;
	um->serverid = server_oid;
	datum = SysCacheGetAttr(USERMAPPINGOID, tp, Anum_pg_user_mapping_umoptions,
							&isnull);
	um->options = isnull ? NIL : untransformRelOptions(datum);
	ReleaseSysCache(tp);

	/*
	 * A pool opened for non-superusers serves on only while its options are
	 * still ones they may use.
	 */
	if (!for_superuser && pool_config_problem(server, um) != NULL)
		return false;
	pool_server_config(server, um, for_superuser, cfg);
	cfg->server_oid = server_oid;
	cfg->database_oid = MyDatabaseId;
	cfg->owner_role = owner_role;
	return true;
}

/*
 * A configuration worked out before commit, published after it.
 */
typedef struct PoolPendingConfig
{
	int			index;			/* pool entry */
	uint32		generation;		/* of the entry, when worked out */
	Oid			server_oid;		/* the entry's identity */
	Oid			umid;
	Oid			owner_role;
	bool		for_superuser;
	bool		drop;			/* the pool closes instead */
	PoolServerConfig cfg;		/* else its new configuration */
} PoolPendingConfig;

/*
 * The pools of this database that a changed server or user mapping
 * concerns, copied under the lock: entry index, generation and the user
 * mapping their key names.
 */
static List *
pool_pools_of_changes(void)
{
	List	   *result = NIL;
	int			i;

	LWLockAcquire(pool_shared->lock, LW_SHARED);
	for (i = 0; i < pool_shared->max_pools; i++)
	{
		PoolEntry  *e = &pool_shared->pools[i];
		PoolPendingConfig *p;
		Oid			umid;

		if (!e->in_use || e->dropped || e->database_oid != MyDatabaseId ||
			!OidIsValid(e->server_oid))
			continue;
		if (sscanf(e->key, "server=%*u mapping=%u", &umid) != 1)
			continue;
		if (!list_member_oid(changed_servers, e->server_oid) &&
			!list_member_oid(dropped_servers, e->server_oid) &&
			!list_member_oid(changed_mappings, umid))
			continue;
		p = palloc0(sizeof(PoolPendingConfig));
		p->index = i;
		p->generation = e->generation;
		p->server_oid = e->server_oid;
		p->umid = umid;
		p->owner_role = e->owner_role;
		p->for_superuser = e->for_superuser;
		result = lappend(result, p);
	}
	LWLockRelease(pool_shared->lock);
	return result;
}

/*
 * Before commit: work out the new configuration of the pools of servers and
 * user mappings changed in this transaction (the catalogs can be read only
 * now); after commit: publish it, and have the workers apply it.  Nothing
 * reaches shared memory before the commit, so a transaction that aborts,
 * even after its pre-commit callbacks, changes no pool.
 */
static void
pool_fdw_xact_callback(XactEvent event, void *arg)
{
	ListCell   *cell;

	if (event == XACT_EVENT_PRE_COMMIT && pool_shared != NULL &&
		(changed_servers != NIL || dropped_servers != NIL ||
		 changed_mappings != NIL))
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		List	   *pools = pool_pools_of_changes();

		foreach(cell, pools)
		{
			PoolPendingConfig *p = lfirst(cell);

			if (list_member_oid(dropped_servers, p->server_oid) ||
				!pool_current_config(p->server_oid, p->umid, p->owner_role,
									 p->for_superuser, &p->cfg))
				p->drop = true;
			else
				pool_check_config_size("", &p->cfg);
		}
		pending_configs = pools;
		MemoryContextSwitchTo(old);
		/* what can fail happens now: after the commit, nothing may */
		if (pools != NIL)
			pool_channel_ensure();
	}

	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) &&
		pending_configs != NIL)
	{
		MemoryContext cxt = CurrentMemoryContext;

		/*
		 * The transaction is committed: an error now would be a PANIC.  What
		 * is left cannot fail but for want of memory; should it, the pools
		 * take the change at their next use instead.
		 */
		PG_TRY();
		{
			foreach(cell, pending_configs)
			{
				PoolPendingConfig *p = lfirst(cell);

				if (p->drop)
					pool_entry_post(p->index, p->generation, POOL_REQ_DROP);
				else
					pool_entry_update_config(p->index, p->generation, &p->cfg);
			}
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			FlushErrorState();
			ereport(WARNING,
					(errmsg("could not tell the pools that their server or user mapping changed"),
					 errdetail("The change applies with the next command on each pool.")));
		}
		PG_END_TRY();
	}

	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		/* all of it lived in TopTransactionContext */
		changed_servers = NIL;
		dropped_servers = NIL;
		changed_mappings = NIL;
		pending_configs = NIL;
	}
}

/*
 * Has this transaction created, altered or dropped the server or user
 * mapping of a pool?  Its own view of the catalogs is then not committed
 * configuration, which must not reach other sessions.
 */
bool
pool_config_uncommitted(Oid serverid, Oid umid)
{
	return list_member_oid(changed_servers, serverid) ||
		list_member_oid(dropped_servers, serverid) ||
		list_member_oid(changed_mappings, umid);
}

/*
 * Notice changes to servers and user mappings of any wrapper; the commit
 * callback sorts out which concern pools.
 */
static void
pool_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				   int subId, void *arg)
{
	MemoryContext old;

	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access != OAT_POST_CREATE && access != OAT_POST_ALTER &&
		access != OAT_DROP)
		return;
	if (classId != ForeignServerRelationId && classId != UserMappingRelationId)
		return;

	if (!fdw_callbacks_registered)
	{
		RegisterXactCallback(pool_fdw_xact_callback, NULL);
		fdw_callbacks_registered = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	if (classId == UserMappingRelationId)
		changed_mappings = list_append_unique_oid(changed_mappings, objectId);
	else if (access == OAT_DROP)
		dropped_servers = list_append_unique_oid(dropped_servers, objectId);
	else
		changed_servers = list_append_unique_oid(changed_servers, objectId);
	MemoryContextSwitchTo(old);
}

/*
 * A server or user mapping changed: resolutions a backend remembers may be
 * stale.
 */
static void
pool_fdw_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	pool_target_cache_reset_servers();
}

void
pool_fdw_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = pool_object_access;
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, pool_fdw_inval, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID, pool_fdw_inval, (Datum) 0);
}
