/*-------------------------------------------------------------------------
 *
 * target.c
 *	  Resolving a target (the name of a foreign server, or a libpq
 *	  connection string or URI) to a pool.
 *
 * Each distinct set of resolved connection parameters gets its own pool.  The
 * canonical key of a connection string is the parsed string, in libpq's
 * option order, with client_encoding forced to this database's encoding; a
 * server's pools are keyed by server and user mapping (fdw.c).  Whether the
 * caller is a superuser is part of a pool's identity too: a pool opened for
 * a non-superuser only ever hands out connections that authenticated with
 * the password given (dblink's rule), so it must not share connections with
 * a superuser's pool.
 *
 * The connection string with its password stays in shared memory, read only
 * by the workers.  What users see is the name: the options without secrets,
 * or the server's name.
 *
 * A backend remembers the last few targets it resolved, so that a repeated
 * call costs a string comparison rather than a parse and a lookup.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/target.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "pool.h"
#include "shmem.h"
#include "wire.h"
#include "target.h"
#include "call.h"

#define TARGET_CACHE_SIZE 16

typedef struct TargetCacheEntry
{
	char	   *target;			/* in TopMemoryContext */
	int			target_len;
	uint32		target_hash;
	Oid			userid;
	bool		superuser;
	bool		is_server;		/* a foreign server's name */
	Oid			server_oid;		/* its OID */
	uint64		last_used;
	PoolTarget	resolved;
} TargetCacheEntry;

static TargetCacheEntry target_cache[TARGET_CACHE_SIZE];
static uint64 target_cache_clock = 0;

/*
 * Options whose values never appear in a pool's name (they show as
 * asterisks, so that two pools that differ only by password can be told
 * apart).
 */
static bool
pool_option_is_secret(const PQconninfoOption *opt)
{
	/*
	 * libpq marks most of its secrets "*" (passwords, oauth_client_secret);
	 * the SCRAM keys of 18 are debug options ("D") instead.
	 */
	return strchr(opt->dispchar, '*') != NULL ||
		strcmp(opt->keyword, "password") == 0 ||
		strcmp(opt->keyword, "sslpassword") == 0 ||
		strncmp(opt->keyword, "scram_", 6) == 0;
}

/*
 * Append keyword='value' to buf, always quoted, with quotes and backslashes
 * escaped, as libpq reads it.
 */
void
pool_append_option(StringInfo buf, const char *keyword, const char *value)
{
	const char *p;

	if (buf->len > 0)
		appendStringInfoChar(buf, ' ');
	appendStringInfo(buf, "%s='", keyword);
	for (p = value; *p; p++)
	{
		if (*p == '\'' || *p == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '\'');
}

/*
 * Append keyword=value to a pool's name, which only people read: quoted
 * only where needed to tell where the value ends.
 */
static void
pool_append_name_option(StringInfo buf, const char *keyword, const char *value)
{
	if (value[0] != '\0' && strpbrk(value, " \t\n\r\f\v'\\") == NULL)
	{
		if (buf->len > 0)
			appendStringInfoChar(buf, ' ');
		appendStringInfo(buf, "%s=%s", keyword, value);
	}
	else
		pool_append_option(buf, keyword, value);
}

/*
 * Parse a connection string into the canonical key and the public name.
 * Raises an error, without echoing the string, if it cannot be parsed.
 */
static void
pool_canonicalize(const char *conninfo, bool need_password,
				  StringInfo key, StringInfo name)
{
	PQconninfoOption *opts;
	PQconninfoOption *opt;
	char	   *parse_error = NULL;
	bool		has_password = false;
	const char *unsupported = NULL;

	opts = PQconninfoParse(conninfo, &parse_error);
	if (opts == NULL)
	{
		/*
		 * libpq's message quotes part of the string, which may be part of a
		 * password (an unquoted one with a space in it reads as a password
		 * and an unknown option): it is never passed on.
		 */
		if (parse_error)
			PQfreemem(parse_error);
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid connection string syntax"),
				 errdetail("The target could not be parsed as a libpq connection string or URI, or names an option libpq does not know."),
				 errhint("Values with spaces or quotes must be quoted: password='...'.")));
	}

	/* what could authenticate as the local server's OS user instead */
	if (need_password)
	{
		PG_TRY();
		{
			pool_check_conninfo_options(opts);
		}
		PG_CATCH();
		{
			PQconninfoFree(opts);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}

	for (opt = opts; opt->keyword != NULL; opt++)
	{
		if (opt->val == NULL || opt->val[0] == '\0')
			continue;
		if (strcmp(opt->keyword, "client_encoding") == 0)
			continue;			/* always this database's encoding */
		if (strcmp(opt->keyword, "replication") == 0 ||
			strncmp(opt->keyword, "oauth_", 6) == 0)
		{
			unsupported = pstrdup(opt->keyword);
			continue;
		}
		if (strcmp(opt->keyword, "password") == 0)
			has_password = true;

		pool_append_option(key, opt->keyword, opt->val);
		pool_append_name_option(name, opt->keyword,
								pool_option_is_secret(opt) ?
								"********" : opt->val);
	}
	PQconninfoFree(opts);

	/* replication, and OAuth: its built-in flow waits for a person */
	if (unsupported != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("connection option \"%s\" is not supported", unsupported)));

	if (need_password && !has_password)
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required"),
				 errdetail("Non-superusers must provide a password in the connection string.")));

	if (need_password)
		pool_append_nonsuperuser_options(key, false, false);
	pool_append_option(key, "client_encoding", GetDatabaseEncodingName());

	if (key->len >= POOL_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("connection string is too long"),
				 errdetail("A pool's connection string may hold at most %d bytes.",
						   POOL_KEY_LEN - 1)));
	if (name->len == 0)
		appendStringInfoString(name, "(defaults)");
	pool_clip_name(name->data);
	name->len = strlen(name->data);
}

/*
 * Make a pool's name what a pool keeps: control characters (which would
 * start new lines in the server log) become '?', and a long name is cut in
 * place, at a character, marked with "...".
 */
void
pool_clip_name(char *name)
{
	int			len = strlen(name);
	char	   *p;

	for (p = name; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = '?';
	if (len >= POOL_NAME_LEN)
		strcpy(name + pg_mbcliplen(name, len, POOL_NAME_LEN - 4), "...");
}

/*
 * With every pool entry taken, pick one to reuse: the oldest pool that has
 * no connection and no one waiting (typically a target that never
 * connected).  Called with the lock held exclusively, which also keeps
 * workers from opening connections meanwhile.
 */
static int
pool_find_unused(void)
{
	bool	   *busy = palloc0(sizeof(bool) * pool_shared->max_pools);
	int			best = -1;
	int			i;

	for (i = 0; i < pool_shared->max_connections; i++)
	{
		PoolSlot   *slot = &pool_shared->slots[i];

		if (slot->in_use && slot->pool_index >= 0 &&
			slot->pool_index < pool_shared->max_pools)
			busy[slot->pool_index] = true;
	}
	for (i = 0; i < pool_shared->max_pools; i++)
	{
		PoolEntry  *e = &pool_shared->pools[i];

		if (busy[i] || pg_atomic_read_u32(&e->waiting) != 0)
			continue;
		if (best < 0 || e->created_at < pool_shared->pools[best].created_at)
			best = i;
	}
	pfree(busy);
	return best;
}

/*
 * The target of pool entry index; the caller holds the lock.
 */
static void
pool_entry_target(int index, PoolTarget *t)
{
	PoolEntry  *e = &pool_shared->pools[index];

	t->pool_index = index;
	t->pool_generation = e->generation;
	t->worker = e->worker;
	t->scram_passthrough = e->scram_passthrough;
	strlcpy(t->name, e->name, POOL_NAME_LEN);
}

/*
 * Does entry e hold configuration cfg?
 */
static bool
pool_entry_config_equal(PoolEntry *e, PoolServerConfig *cfg)
{
	return strcmp(e->conninfo, cfg->conninfo) == 0 &&
		e->require_password == cfg->require_password &&
		e->scram_passthrough == cfg->scram_passthrough &&
		e->override_mask == cfg->override_mask &&
		memcmp(&e->overrides, &cfg->overrides, sizeof(PoolSettings)) == 0;
}

/*
 * Store a configuration in an entry; the caller holds the lock exclusively.
 */
static void
pool_entry_set_config(PoolEntry *e, PoolServerConfig *cfg)
{
	strlcpy(e->conninfo, cfg->conninfo, POOL_KEY_LEN);
	e->require_password = cfg->require_password;
	e->scram_passthrough = cfg->scram_passthrough;
	e->overrides = cfg->overrides;
	e->override_mask = cfg->override_mask;
	pg_atomic_fetch_add_u32(&e->config_version, 1);
}

/*
 * Fail unless a configuration fits in shared memory.
 */
void
pool_check_config_size(const char *key, PoolServerConfig *cfg)
{
	if (strlen(cfg->conninfo) >= POOL_KEY_LEN || strlen(key) >= POOL_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("connection string is too long"),
				 errdetail("A pool's connection string may hold at most %d bytes.",
						   POOL_KEY_LEN - 1)));
}

/*
 * Publish the committed new configuration of pool entry index (its server
 * or user mapping changed), if the entry is still of that generation, and
 * have its worker apply it.  Runs after commit: raises no error.
 */
void
pool_entry_update_config(int index, uint32 generation, PoolServerConfig *cfg)
{
	PoolEntry  *e = &pool_shared->pools[index];
	bool		changed = false;

	LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
	if (e->in_use && e->generation == generation &&
		!pool_entry_config_equal(e, cfg))
	{
		pool_entry_set_config(e, cfg);
		changed = true;
	}
	LWLockRelease(pool_shared->lock);
	if (changed)
		pool_entry_post(index, generation, POOL_REQ_RECONFIGURE);
}

/*
 * Tell the worker of a pool something about it, without waiting; nothing if
 * the entry is no longer of that generation.
 */
void
pool_entry_post(int index, uint32 generation, char kind)
{
	PoolTarget	target;
	StringInfoData request;
	bool		same;

	LWLockAcquire(pool_shared->lock, LW_SHARED);
	pool_entry_target(index, &target);
	same = pool_shared->pools[index].in_use && target.pool_generation == generation;
	LWLockRelease(pool_shared->lock);
	if (!same)
		return;

	/* administrative requests run for no role */
	pool_build_request(&request, kind, &target, 0, InvalidOid, false, false,
					   cstring_to_text(""), NULL);
	pool_channel_ensure();
	if (!pool_call_post(target.worker, &request))
		ereport(WARNING,
				(errmsg("could not tell the worker of pool \"%s\" that its configuration changed",
						target.name),
				 errdetail("The change applies with the next command on the pool.")));
	pfree(request.data);
}

/*
 * Refuse configuration this transaction changed itself (it is not committed,
 * so it must not reach a pool other sessions use or find); the caller holds
 * the lock, which is released.
 */
static void
pool_refuse_uncommitted(const char *name)
{
	LWLockRelease(pool_shared->lock);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("pool \"%s\" cannot use configuration changed in this transaction",
					name),
			 errdetail("A pool uses only committed configuration of its server and user mapping."),
			 errhint("Commit the change first.")));
}

/*
 * Find the pool for a key, creating it if there is none yet; an existing
 * one whose configuration differs from cfg gets cfg.
 */
void
pool_find_or_create_configured(const char *key, const char *name,
							   PoolServerConfig *cfg, PoolTarget *result)
{
	uint32		hash = hash_bytes((const unsigned char *) key, strlen(key));
	int			i;
	int			free_index = -1;
	LWLockMode	mode = LW_SHARED;
	bool		config_changed = false;

	pool_check_config_size(key, cfg);

	for (;;)
	{
		LWLockAcquire(pool_shared->lock, mode);
		for (i = 0; i < pool_shared->max_pools; i++)
		{
			PoolEntry  *e = &pool_shared->pools[i];

			if (!e->in_use)
			{
				if (free_index < 0)
					free_index = i;
				continue;
			}
			if (e->key_hash == hash && !e->dropped &&
				e->for_superuser == cfg->for_superuser &&
				strcmp(e->key, key) == 0)
			{
				if (!pool_entry_config_equal(e, cfg))
				{
					/*
					 * What this transaction changed itself is not committed:
					 * it must not reach the pool other sessions use.
					 */
					if (cfg->uncommitted)
						pool_refuse_uncommitted(name);

					/*
					 * Committed since, and not published yet: update it,
					 * under the exclusive lock.
					 */
					if (mode != LW_EXCLUSIVE)
						break;
					pool_entry_set_config(e, cfg);
					config_changed = true;
				}
				pool_entry_target(i, result);
				LWLockRelease(pool_shared->lock);
				if (config_changed)
					pool_entry_post(i, result->pool_generation,
									POOL_REQ_RECONFIGURE);
				return;
			}
		}
		if (mode == LW_EXCLUSIVE)
			break;
		LWLockRelease(pool_shared->lock);
		mode = LW_EXCLUSIVE;
		free_index = -1;
	}

	/* nor may it make a pool of its own that others would find */
	if (cfg->uncommitted)
		pool_refuse_uncommitted(name);
	if (free_index < 0)
		free_index = pool_find_unused();
	if (free_index < 0)
	{
		LWLockRelease(pool_shared->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many pools"),
				 errdetail("All %d pools are in use.", pool_shared->max_pools),
				 errhint("Increase pool.max_pools.")));
	}

	{
		PoolEntry  *e = &pool_shared->pools[free_index];

		e->in_use = true;
		e->for_superuser = cfg->for_superuser;
		e->dropped = false;
		e->server_oid = cfg->server_oid;
		e->database_oid = cfg->database_oid;
		e->owner_role = cfg->owner_role;
		pool_entry_set_config(e, cfg);
		e->generation++;
		e->worker = free_index % pool_shared->nworkers;
		e->key_hash = hash;
		e->created_at = GetCurrentTimestamp();
		strlcpy(e->key, key, POOL_KEY_LEN);
		strlcpy(e->name, name, POOL_NAME_LEN);
		pool_entry_reset_counters(e);
		e->stats_reset = e->created_at;
		/* its published state is the worker's to write, once it sees it */
		pg_atomic_write_u32(&e->waiting, 0);

		pool_entry_target(free_index, result);
	}
	LWLockRelease(pool_shared->lock);
}

/*
 * Is a resolved target still its pool?  (An entry without connections may
 * have been given to another target since.)
 */
bool
pool_target_valid(const PoolTarget *t)
{
	PoolEntry  *e = &pool_shared->pools[t->pool_index];

	/*
	 * No lock: both fields are read atomically, and the worker checks the
	 * generation again when it gets the request.
	 */
	pg_read_barrier();
	return e->in_use && e->generation == t->pool_generation;
}

/*
 * Resolve a target to its pool.
 */
void
pool_resolve_target(text *target, PoolTarget *result)
{
	char	   *str = VARDATA_ANY(target);
	int			len = VARSIZE_ANY_EXHDR(target);
	uint32		hash = hash_bytes((const unsigned char *) str, len);
	Oid			userid = GetUserId();
	bool		is_superuser = superuser();
	TargetCacheEntry *victim = &target_cache[0];
	StringInfoData key;
	StringInfoData name;
	char	   *conninfo;
	bool		is_server = false;
	Oid			server_oid = InvalidOid;
	int			i;

	for (i = 0; i < TARGET_CACHE_SIZE; i++)
	{
		TargetCacheEntry *c = &target_cache[i];

		if (c->target != NULL && c->target_hash == hash &&
			c->target_len == len && c->userid == userid &&
			c->superuser == is_superuser &&
			memcmp(c->target, str, len) == 0)
		{
			if (pool_target_valid(&c->resolved))
			{
				/*
				 * Privileges are checked at every call, so that a REVOKE, or
				 * a role losing the membership that gave it USAGE, acts at
				 * once in every session.
				 */
				if (c->is_server)
					pool_check_server_usage(c->server_oid, target);
				else if (!is_superuser)
					pool_check_fdw_usage();
				c->last_used = ++target_cache_clock;
				*result = c->resolved;
				return;
			}
			victim = c;
			break;
		}
		if (c->last_used < victim->last_used)
			victim = c;
	}

	conninfo = text_to_cstring(target);
	if (pool_target_is_server_name(conninfo))
	{
		pool_resolve_server(conninfo, result, &server_oid);
		is_server = true;
	}
	else
	{
		PoolServerConfig cfg;

		/* dialling anywhere is what CREATE SERVER needs USAGE for, too */
		if (!is_superuser)
			pool_check_fdw_usage();
		initStringInfo(&key);
		initStringInfo(&name);
		pool_canonicalize(conninfo, !is_superuser, &key, &name);
		memset(&cfg, 0, sizeof(cfg));
		cfg.conninfo = key.data;
		cfg.for_superuser = is_superuser;
		cfg.require_password = !is_superuser;
		cfg.owner_role = userid;
		pool_find_or_create_configured(key.data, name.data, &cfg, result);

		/* Wipe the copies that hold the password. */
		memset(key.data, 0, key.len);
		memset(conninfo, 0, len);
		pfree(key.data);
		pfree(name.data);
	}
	pfree(conninfo);

	if (victim->target != NULL)
		pfree(victim->target);
	victim->target = MemoryContextAlloc(TopMemoryContext, len);
	memcpy(victim->target, str, len);
	victim->target_len = len;
	victim->target_hash = hash;
	victim->userid = userid;
	victim->superuser = is_superuser;
	victim->is_server = is_server;
	victim->server_oid = server_oid;
	victim->last_used = ++target_cache_clock;
	victim->resolved = *result;
}

/*
 * Forget the servers this backend resolved: a server or user mapping
 * changed, or the privileges on one.
 */
void
pool_target_cache_reset_servers(void)
{
	int			i;

	for (i = 0; i < TARGET_CACHE_SIZE; i++)
	{
		TargetCacheEntry *c = &target_cache[i];

		if (c->target != NULL && c->is_server)
		{
			pfree(c->target);
			c->target = NULL;
			c->last_used = 0;
		}
	}
}

/*
 * The pools an administrator names: by the id shown in pool.stats, or by
 * target (every pool of that target, whoever opened it).  Fills up to
 * max_pools results and returns how many; an unknown pool is an error.
 */
int
pool_lookup_pools(text *pool_name, PoolTarget *results)
{
	char	   *str = text_to_cstring(pool_name);
	int			n = 0;
	int			i;

	if (str[0] != '\0' && strspn(str, "0123456789") == strlen(str))
	{
		long		id = strtol(str, NULL, 10);
		PoolEntry  *e;

		if (id < 1 || id > pool_shared->max_pools)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("pool %s does not exist", str)));
		e = &pool_shared->pools[id - 1];
		LWLockAcquire(pool_shared->lock, LW_SHARED);
		if (e->in_use)
		{
			pool_entry_target(id - 1, &results[0]);
			n = 1;
		}
		LWLockRelease(pool_shared->lock);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("pool %s does not exist", str)));
	}
	else if (pool_target_is_server_name(str))
	{
		ForeignServer *server;

		truncate_identifier(str, strlen(str), false);
		server = GetForeignServerByName(str, false);

		LWLockAcquire(pool_shared->lock, LW_SHARED);
		for (i = 0; i < pool_shared->max_pools; i++)
		{
			PoolEntry  *e = &pool_shared->pools[i];

			if (!e->in_use || e->dropped || e->server_oid != server->serverid ||
				e->database_oid != MyDatabaseId)
				continue;
			pool_entry_target(i, &results[n]);
			n++;
		}
		LWLockRelease(pool_shared->lock);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("server \"%s\" has no pool", str),
					 errhint("A server's pool is created when it is first used.")));
	}
	else
	{
		StringInfoData key;
		StringInfoData name;

		initStringInfo(&key);
		initStringInfo(&name);
		pool_canonicalize(str, false, &key, &name);
		memset(str, 0, strlen(str));

		/*
		 * By name, which masks secrets: a target names every pool of that
		 * target whatever its password, and no password can be guessed by
		 * trying which one names a pool.  (The name leaves out
		 * client_encoding too: pools opened from databases of different
		 * encodings are the same target to an administrator.)
		 */
		LWLockAcquire(pool_shared->lock, LW_SHARED);
		for (i = 0; i < pool_shared->max_pools; i++)
		{
			PoolEntry  *e = &pool_shared->pools[i];

			if (!e->in_use || OidIsValid(e->server_oid) ||
				strcmp(e->name, name.data) != 0)
				continue;
			pool_entry_target(i, &results[n]);
			n++;
		}
		LWLockRelease(pool_shared->lock);
		memset(key.data, 0, key.len);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("pool \"%s\" does not exist", name.data),
					 errhint("The pools are listed in pool.stats.")));
	}
	pfree(str);
	return n;
}
