/*-------------------------------------------------------------------------
 *
 * dblink_fdw.c
 *	  pool_dblink's foreign-data wrapper dblink_fdw: the validator of its
 *	  options, the connection string a server of it stands for, and the
 *	  password rule for roles that are not superusers.
 *
 * The rules are dblink's: libpq's options, but not its debug options nor
 * client_encoding (nor, on 18, the OAuth ones); "user" and the secret
 * options only on user mappings, the others only on servers, none on the
 * wrapper; on 18 use_scram_passthrough on servers and user mappings.  The
 * messages are dblink's too, as they read in the version being built for.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/dblink_fdw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#if PG_VERSION_NUM >= 160000
#include "utils/varlena.h"
#endif

#include "pool.h"
#include "target.h"
#include "dblink.h"

PG_FUNCTION_INFO_V1(pool_dblink_fdw_validator);

/*
 * May libpq option `name` be given in the catalog `context`?
 */
static bool
pool_dblink_option_valid(const char *name, Oid context)
{
	PQconninfoOption *opt;

	for (opt = pool_libpq_options(); opt->keyword != NULL; opt++)
		if (strcmp(opt->keyword, name) == 0)
			break;
	if (opt->keyword == NULL)
		return false;
	if (strchr(opt->dispchar, 'D') != NULL ||
		strcmp(opt->keyword, "client_encoding") == 0)
		return false;
#if PG_VERSION_NUM >= 180000
	if (strncmp(opt->keyword, "oauth_", 6) == 0)
		return false;
#endif
	if (strcmp(opt->keyword, "user") == 0 || strchr(opt->dispchar, '*') != NULL)
		return context == UserMappingRelationId;
	return context == ForeignServerRelationId;
}

/*
 * The same, with the options that are dblink_fdw's own.
 */
static bool
pool_dblink_fdw_option_valid(const char *name, Oid context)
{
#if PG_VERSION_NUM >= 180000
	if ((context == ForeignServerRelationId ||
		 context == UserMappingRelationId) &&
		strcmp(name, "use_scram_passthrough") == 0)
		return true;
#endif
	return pool_dblink_option_valid(name, context);
}

/*
 * Refuse an option that is not valid in its context, with dblink's hint:
 * the valid options (15), or the closest of them (16 and later).
 */
static void
pool_dblink_refuse_option(const char *name, Oid context)
{
	PQconninfoOption *opt;
	bool		any = false;
#if PG_VERSION_NUM >= 160000
	ClosestMatchState match;
	const char *closest;

	initClosestMatch(&match, name, 4);
	for (opt = pool_libpq_options(); opt->keyword != NULL; opt++)
	{
		if (!pool_dblink_option_valid(opt->keyword, context))
			continue;
		any = true;
		updateClosestMatch(&match, opt->keyword);
	}
	closest = getClosestMatch(&match);
	if (!any)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("invalid option \"%s\"", name),
				 errhint("There are no valid options in this context.")));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
			 errmsg("invalid option \"%s\"", name),
			 closest ? errhint("Perhaps you meant the option \"%s\".",
							   closest) : 0));
#else
	StringInfoData valid;

	initStringInfo(&valid);
	for (opt = pool_libpq_options(); opt->keyword != NULL; opt++)
	{
		if (!pool_dblink_option_valid(opt->keyword, context))
			continue;
		if (any)
			appendStringInfoString(&valid, ", ");
		appendStringInfoString(&valid, opt->keyword);
		any = true;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
			 errmsg("invalid option \"%s\"", name),
			 any ? errhint("Valid options in this context are: %s", valid.data) :
			 errhint("There are no valid options in this context.")));
#endif
}

/*
 * dblink_fdw_validator(options text[], catalog oid) returns void
 */
Datum
pool_dblink_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			context = PG_GETARG_OID(1);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (!pool_dblink_fdw_option_valid(def->defname, context))
			pool_dblink_refuse_option(def->defname, context);
#if PG_VERSION_NUM >= 180000
		if (strcmp(def->defname, "use_scram_passthrough") == 0)
			(void) defGetBoolean(def);
#endif
	}
	PG_RETURN_VOID();
}

/*
 * Append the options of one catalog that are connection options there.
 */
static void
pool_dblink_append_options(StringInfo buf, List *options, Oid context)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (pool_dblink_option_valid(def->defname, context))
			pool_append_option(buf, def->defname, defGetString(def));
	}
}

/*
 * The connection string a foreign server stands for, for the current user:
 * the options of its wrapper, of itself and of the user's mapping, as
 * dblink reads them.  The user needs USAGE on the server.
 */
char *
pool_dblink_server_conninfo(ForeignServer *server)
{
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
	UserMapping *um;
	AclResult	aclresult;
	StringInfoData buf;

	aclresult = pool_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);
	um = GetUserMapping(GetUserId(), server->serverid);

	initStringInfo(&buf);
	pool_dblink_append_options(&buf, fdw->options,
							   ForeignDataWrapperRelationId);
	pool_dblink_append_options(&buf, server->options,
							   ForeignServerRelationId);
	pool_dblink_append_options(&buf, um->options, UserMappingRelationId);
	return buf.data;
}

/*
 * A role that is not a superuser must give a password in the connection
 * string, so that none is taken from the local server's environment or
 * files.
 */
void
pool_dblink_check_password(const char *conninfo)
{
	PQconninfoOption *opts;
	PQconninfoOption *opt;
	bool		has_password = false;

	if (superuser())
		return;
	opts = PQconninfoParse(conninfo, NULL);
	if (opts != NULL)
	{
		for (opt = opts; opt->keyword != NULL; opt++)
			if (strcmp(opt->keyword, "password") == 0 &&
				opt->val != NULL && opt->val[0] != '\0')
				has_password = true;
		PQconninfoFree(opts);
	}
	if (has_password)
		return;
#if PG_VERSION_NUM >= 160000
	ereport(ERROR,
			(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
			 errmsg("password or GSSAPI delegated credentials required"),
			 errdetail("Non-superusers must provide a password in the connection string or send delegated GSSAPI credentials.")));
#else
	ereport(ERROR,
			(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
			 errmsg("password is required"),
			 errdetail("Non-superusers must provide a password in the connection string.")));
#endif
}
