/*-------------------------------------------------------------------------
 *
 * target.c
 *	  Resolving a target (a libpq connection string or URI) to a pool.
 *
 * Each distinct set of resolved connection parameters gets its own pool.  The
 * canonical key is the parsed connection string, in libpq's option order,
 * with client_encoding forced to this database's encoding, plus whether the
 * caller is a superuser: a pool opened for a non-superuser only ever hands
 * out connections that authenticated with the password given (dblink's
 * rule), so it must not share connections with a superuser's pool.
 *
 * The key holds the password and stays in shared memory, read only by the
 * workers.  What users see is the name: the same options without secrets.
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
#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "pool.h"

#define TARGET_CACHE_SIZE 16

typedef struct TargetCacheEntry
{
	char	   *target;			/* in TopMemoryContext */
	int			target_len;
	uint32		target_hash;
	Oid			userid;
	bool		superuser;
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
pool_option_is_secret(const char *keyword)
{
	return strcmp(keyword, "password") == 0 ||
		strcmp(keyword, "sslpassword") == 0;
}

/*
 * Append keyword=value to buf, quoted as libpq expects when needed.
 */
static void
pool_append_option(StringInfo buf, const char *keyword, const char *value)
{
	const char *p;

	if (buf->len > 0)
		appendStringInfoChar(buf, ' ');
	appendStringInfo(buf, "%s=", keyword);
	if (value[0] != '\0' && strpbrk(value, " \t\n\r\f\v'\\") == NULL)
	{
		appendStringInfoString(buf, value);
		return;
	}
	appendStringInfoChar(buf, '\'');
	for (p = value; *p; p++)
	{
		if (*p == '\'' || *p == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '\'');
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
	char	   *bad_option = NULL;
	bool		has_password = false;
	bool		replication = false;

	opts = PQconninfoParse(conninfo, &parse_error);
	if (opts == NULL)
	{
		bool		unknown_option;

		/*
		 * libpq's message may quote part of the string, which may be part of
		 * a password: pass it on only when it names an unknown option.
		 */
		unknown_option = parse_error != NULL &&
			strncmp(parse_error, "invalid connection option", 25) == 0;
		if (unknown_option)
		{
			char	   *nl;

			bad_option = pstrdup(parse_error);
			nl = strchr(bad_option, '\n');
			if (nl)
				*nl = '\0';
		}
		if (parse_error)
			PQfreemem(parse_error);
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid connection string syntax"),
				 bad_option ? errdetail_internal("%s.", bad_option) :
				 errdetail("The target could not be parsed as a libpq connection string or URI.")));
	}

	for (opt = opts; opt->keyword != NULL; opt++)
	{
		if (opt->val == NULL || opt->val[0] == '\0')
			continue;
		if (strcmp(opt->keyword, "client_encoding") == 0)
			continue;			/* always this database's encoding */
		if (strcmp(opt->keyword, "replication") == 0)
		{
			replication = true;
			continue;
		}
		if (strcmp(opt->keyword, "password") == 0)
			has_password = true;

		pool_append_option(key, opt->keyword, opt->val);
		pool_append_option(name, opt->keyword,
						   pool_option_is_secret(opt->keyword) ?
						   "********" : opt->val);
	}
	PQconninfoFree(opts);

	if (replication)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("connection option \"%s\" is not supported", "replication")));

	if (need_password && !has_password)
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required"),
				 errdetail("Non-superusers must provide a password in the connection string.")));

	pool_append_option(key, "client_encoding", GetDatabaseEncodingName());

	if (key->len >= POOL_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("connection string is too long"),
				 errdetail("A pool's connection string may hold at most %d bytes.",
						   POOL_KEY_LEN - 1)));
	if (name->len == 0)
		appendStringInfoString(name, "(defaults)");
	if (name->len >= POOL_NAME_LEN)
	{
		int			cut = pg_mbcliplen(name->data, name->len, POOL_NAME_LEN - 4);

		name->data[cut] = '\0';
		name->len = cut;
		appendStringInfoString(name, "...");
	}
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
 * Find the pool for a canonical key, creating it if there is none yet.
 */
static void
pool_find_or_create(const char *key, const char *name, bool require_password,
					PoolTarget *result)
{
	uint32		hash = hash_bytes((const unsigned char *) key, strlen(key));
	int			i;
	int			free_index = -1;
	LWLockMode	mode = LW_SHARED;

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
			if (e->key_hash == hash &&
				e->require_password == require_password &&
				strcmp(e->key, key) == 0)
			{
				result->pool_index = i;
				result->pool_generation = e->generation;
				result->worker = e->worker;
				strlcpy(result->name, e->name, POOL_NAME_LEN);
				LWLockRelease(pool_shared->lock);
				return;
			}
		}
		if (mode == LW_EXCLUSIVE)
			break;
		LWLockRelease(pool_shared->lock);
		mode = LW_EXCLUSIVE;
		free_index = -1;
	}

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
		e->require_password = require_password;
		e->generation++;
		e->worker = free_index % pool_shared->nworkers;
		e->key_hash = hash;
		e->created_at = GetCurrentTimestamp();
		strlcpy(e->key, key, POOL_KEY_LEN);
		strlcpy(e->name, name, POOL_NAME_LEN);
		pool_entry_reset_counters(e);
		e->stats_reset = e->created_at;
		pool_begin_write(&e->changecount);
		memset(&e->settings, 0, sizeof(e->settings));
		e->settings.pool_size = pool_pool_size;
		e->settings.max_overflow = pool_max_overflow;
		e->paused = false;
		e->failing = false;
		e->retry_at = 0;
		e->oldest_wait = 0;
		e->last_error[0] = '\0';
		pool_end_write(&e->changecount);
		pg_atomic_write_u32(&e->waiting, 0);

		result->pool_index = free_index;
		result->pool_generation = e->generation;
		result->worker = e->worker;
		strlcpy(result->name, e->name, POOL_NAME_LEN);
	}
	LWLockRelease(pool_shared->lock);
}

/*
 * Is a cached resolution still the same pool?
 */
static bool
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
	initStringInfo(&key);
	initStringInfo(&name);
	pool_canonicalize(conninfo, !is_superuser, &key, &name);
	pool_find_or_create(key.data, name.data, !is_superuser, result);

	/* Wipe the copies that hold the password. */
	memset(key.data, 0, key.len);
	memset(conninfo, 0, len);
	pfree(key.data);
	pfree(name.data);
	pfree(conninfo);

	if (victim->target != NULL)
		pfree(victim->target);
	victim->target = MemoryContextAlloc(TopMemoryContext, len);
	memcpy(victim->target, str, len);
	victim->target_len = len;
	victim->target_hash = hash;
	victim->userid = userid;
	victim->superuser = is_superuser;
	victim->last_used = ++target_cache_clock;
	victim->resolved = *result;
}

/*
 * Length of a canonical key without its client_encoding, which canonicalize
 * puts last: pools opened from databases of different encodings are the
 * same target to an administrator.
 */
static size_t
pool_key_prefix_len(const char *key)
{
	const char *p = strstr(key, "client_encoding=");
	const char *last = NULL;

	while (p != NULL)
	{
		last = p;
		p = strstr(p + 1, "client_encoding=");
	}
	return last ? (size_t) (last - key) : strlen(key);
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
			results[0].pool_index = id - 1;
			results[0].pool_generation = e->generation;
			results[0].worker = e->worker;
			strlcpy(results[0].name, e->name, POOL_NAME_LEN);
			n = 1;
		}
		LWLockRelease(pool_shared->lock);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("pool %s does not exist", str)));
	}
	else
	{
		StringInfoData key;
		StringInfoData name;

		initStringInfo(&key);
		initStringInfo(&name);
		pool_canonicalize(str, false, &key, &name);
		memset(str, 0, strlen(str));

		LWLockAcquire(pool_shared->lock, LW_SHARED);
		for (i = 0; i < pool_shared->max_pools; i++)
		{
			PoolEntry  *e = &pool_shared->pools[i];

			if (!e->in_use ||
				pool_key_prefix_len(e->key) != pool_key_prefix_len(key.data) ||
				memcmp(e->key, key.data, pool_key_prefix_len(key.data)) != 0)
				continue;
			results[n].pool_index = i;
			results[n].pool_generation = e->generation;
			results[n].worker = e->worker;
			strlcpy(results[n].name, e->name, POOL_NAME_LEN);
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
