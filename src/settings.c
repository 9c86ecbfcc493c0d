/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The pool.* configuration settings.
 *
 * Settings that shape shared memory are PGC_POSTMASTER; the rest are
 * PGC_SIGHUP defaults for every pool, read by the workers, which reload them
 * on SIGHUP.  The whole pool.* prefix is reserved.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "pool.h"
#include "shmem.h"

/*
 * The per-pool settings: the pool.* settings of the same names give their
 * defaults, a foreign server's options override them.
 */
typedef struct PoolSettingDef
{
	const char *name;
	int			flags;			/* GUC_UNIT_MS for times */
	int			min;
	int			max;
	size_t		offset;			/* in PoolSettings; -1 for reset_query */
	int		   *guc;			/* the default */
} PoolSettingDef;

static const PoolSettingDef setting_defs[] = {
	{"pool_size", 0, 1, 10000, offsetof(PoolSettings, pool_size), &pool_pool_size},
	{"min_idle", 0, 0, 10000, offsetof(PoolSettings, min_idle), &pool_min_idle},
	{"max_overflow", 0, 0, 10000, offsetof(PoolSettings, max_overflow), &pool_max_overflow},
	{"checkout_timeout", GUC_UNIT_MS, 1, INT_MAX, offsetof(PoolSettings, checkout_timeout), &pool_checkout_timeout},
	{"connect_timeout", GUC_UNIT_MS, 1, INT_MAX, offsetof(PoolSettings, connect_timeout), &pool_connect_timeout},
	{"idle_timeout", GUC_UNIT_MS, 0, INT_MAX, offsetof(PoolSettings, idle_timeout), &pool_idle_timeout},
	{"max_lifetime", GUC_UNIT_MS, 0, INT_MAX, offsetof(PoolSettings, max_lifetime), &pool_max_lifetime},
	{"pre_ping", GUC_UNIT_MS, -1, INT_MAX, offsetof(PoolSettings, pre_ping), &pool_pre_ping},
	{"retry_delay", GUC_UNIT_MS, 1, INT_MAX, offsetof(PoolSettings, retry_delay), &pool_retry_delay},
	{"leak_threshold", GUC_UNIT_MS, 0, INT_MAX, offsetof(PoolSettings, leak_threshold), &pool_leak_threshold},
	{"max_row_size", GUC_UNIT_BYTE, POOL_MIN_ROW_SIZE, POOL_MAX_ROW_SIZE, offsetof(PoolSettings, max_row_size), &pool_max_row_size},
	{"max_pipeline", 0, 1, POOL_MAX_PIPELINE, offsetof(PoolSettings, max_pipeline), &pool_max_pipeline},
	{"reset_query", 0, 0, 0, (size_t) -1, NULL},
};

#define NUM_SETTING_DEFS lengthof(setting_defs)

int			pool_workers = 1;
int			pool_max_pools = 32;
int			pool_max_connections = 100;
int			pool_pool_size = 5;
int			pool_max_overflow = 10;
int			pool_checkout_timeout = 30000;
int			pool_connect_timeout = 10000;
int			pool_min_idle = 0;
int			pool_idle_timeout = 600000;
int			pool_max_lifetime = 3600000;
int			pool_pre_ping = 30000;
char	   *pool_reset_query = NULL;
int			pool_retry_delay = 1000;
int			pool_leak_threshold = 0;
int			pool_max_role_connections = -1;
int			pool_max_row_size = 128 * 1024 * 1024;
int			pool_worker_memory = 2 * 1024 * 1024;	/* kB */
int			pool_max_pipeline = POOL_DEFAULT_MAX_PIPELINE;

/*
 * pool.reset_query must fit in a pool's settings.
 */
static bool
pool_check_reset_query(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) >= POOL_RESET_QUERY_LEN)
	{
		GUC_check_errdetail("It may hold at most %d bytes.",
							POOL_RESET_QUERY_LEN - 1);
		return false;
	}
	return true;
}

/*
 * pool.worker_memory: 0, or enough for a worker to run at all.
 */
static bool
pool_check_worker_memory(int *newval, void **extra, GucSource source)
{
	if (*newval != 0 && *newval < POOL_MIN_WORKER_MEMORY_KB)
	{
		GUC_check_errdetail("It must be 0 (no limit) or at least %d kB.",
							POOL_MIN_WORKER_MEMORY_KB);
		return false;
	}
	return true;
}

/*
 * Define every pool.* setting and reserve the prefix.  Called from _PG_init
 * while the library is being preloaded.
 */
void
pool_define_settings(void)
{
	DefineCustomIntVariable("pool.workers",
							"Number of background workers that own the pooled connections.",
							"Each pool is served by one worker; pools are spread over the workers.",
							&pool_workers,
							1, 1, POOL_MAX_WORKERS,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.max_pools",
							"Maximum number of pools.",
							"A pool is created for each distinct set of connection parameters.",
							&pool_max_pools,
							32, 1, 10000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.max_connections",
							"Maximum number of pooled connections, across all pools.",
							NULL,
							&pool_max_connections,
							100, 1, POOL_MAX_CONNECTIONS_LIMIT,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.pool_size",
							"Number of connections a pool keeps open.",
							NULL,
							&pool_pool_size,
							5, 1, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.max_overflow",
							"Number of connections a pool may open beyond pool_size under load.",
							"Overflow connections are closed when they are checked in.",
							&pool_max_overflow,
							10, 0, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.checkout_timeout",
							"Maximum time to wait for a free connection.",
							"A request that waits longer fails with an error naming the pool.",
							&pool_checkout_timeout,
							30000, 1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.connect_timeout",
							"Maximum time to establish a remote connection.",
							NULL,
							&pool_connect_timeout,
							10000, 1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.min_idle",
							"Number of idle connections a pool keeps open without waiting for demand.",
							"Counted within pool_size.",
							&pool_min_idle,
							0, 0, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.idle_timeout",
							"Time after which an idle connection beyond min_idle is closed.",
							"0 keeps idle connections open.",
							&pool_idle_timeout,
							600000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.max_lifetime",
							"Time after which a connection is closed and replaced.",
							"A connection past it closes when it is next idle, never while checked out; each connection's lifetime is shortened by a random part of up to a tenth, so that a pool does not reconnect all at once.  0 keeps connections forever.",
							&pool_max_lifetime,
							3600000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.pre_ping",
							"Idle time after which a connection is checked with a round trip before it is handed out.",
							"0 checks it every time, -1 never.",
							&pool_pre_ping,
							30000, -1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pool.reset_query",
							   "Command that cleans a connection's session state when it is checked in.",
							   "Run when the holder may have changed session state; empty to never run one.",
							   &pool_reset_query,
							   "DISCARD ALL",
							   PGC_SIGHUP,
							   0,
							   pool_check_reset_query, NULL, NULL);

	DefineCustomIntVariable("pool.retry_delay",
							"Time a pool waits after a failed connection attempt before it tries again.",
							"Meanwhile checkouts that need a new connection fail at once; the delay doubles after each further failure, up to 30 times this value.",
							&pool_retry_delay,
							1000, 1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.leak_threshold",
							"Time a connection may stay checked out before it is reported in the server log.",
							"0 turns the report off.",
							&pool_leak_threshold,
							0, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.max_row_size",
							"Largest row a remote may send through a pool.",
							"A larger row, or any message larger than this, fails its command and closes the connection.",
							&pool_max_row_size,
							128 * 1024 * 1024, POOL_MIN_ROW_SIZE, POOL_MAX_ROW_SIZE,
							PGC_SIGHUP,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.max_pipeline",
							"Most one-shot statements in flight on one pooled connection at once.",
							"When no connection is idle and the pool cannot grow, a statement that may be pipelined is sent on a busy connection, behind the others, each in its own transaction.  1 turns pipelining off.",
							&pool_max_pipeline,
							POOL_DEFAULT_MAX_PIPELINE, 1, POOL_MAX_PIPELINE,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pool.worker_memory",
							"Most private memory a pool worker may allocate.",
							"A limit on the worker's data segment (RLIMIT_DATA): beyond it, an allocation fails with an error for the command concerned, rather than the kernel killing the worker.  0 is no limit.",
							&pool_worker_memory,
							2 * 1024 * 1024, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_KB,
							pool_check_worker_memory, NULL, NULL);

	DefineCustomIntVariable("pool.max_role_connections",
							"Maximum number of pooled connections one local role holds at once.",
							"Counted across all pools: connections running the role's commands or reserved under its handles.  -1 is half of pool.max_connections, 0 no limit.",
							&pool_max_role_connections,
							-1, -1, POOL_MAX_CONNECTIONS_LIMIT,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("pool");
}

/*
 * Is this the name of a per-pool setting?
 */
bool
pool_is_setting_name(const char *name)
{
	int			i;

	for (i = 0; i < NUM_SETTING_DEFS; i++)
		if (strcmp(setting_defs[i].name, name) == 0)
			return true;
	return false;
}

/*
 * The names of the per-pool settings, comma-separated, for hints.
 */
const char *
pool_setting_names(void)
{
	static char names[512];
	int			i;

	if (names[0] == '\0')
	{
		for (i = 0; i < NUM_SETTING_DEFS; i++)
		{
			if (i > 0)
				strlcat(names, ", ", sizeof(names));
			strlcat(names, setting_defs[i].name, sizeof(names));
		}
	}
	return names;
}

/*
 * Parse a server option that sets a per-pool setting into *o, marking it in
 * *mask; a malformed value is an error that says what is allowed.
 */
void
pool_setting_parse(const char *name, const char *value, PoolSettings *o,
				   uint32 *mask)
{
	int			i;

	for (i = 0; i < NUM_SETTING_DEFS; i++)
	{
		const PoolSettingDef *d = &setting_defs[i];
		int			v;
		const char *hint = NULL;

		if (strcmp(d->name, name) != 0)
			continue;
		*mask |= 1U << i;
		if (d->offset == (size_t) -1)
		{
			if (strlen(value) >= POOL_RESET_QUERY_LEN)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value for option \"%s\" is too long", name),
						 errdetail("It may hold at most %d bytes.",
								   POOL_RESET_QUERY_LEN - 1)));
			strlcpy(o->reset_query, value, POOL_RESET_QUERY_LEN);
			return;
		}
		if (!parse_int(value, &v, d->flags, &hint))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
					 hint ? errhint("%s", _(hint)) :
					 d->flags == GUC_UNIT_MS ? errhint("A time, such as \"500ms\", \"5s\" or \"10min\"; a number alone is in milliseconds.") :
					 d->flags == GUC_UNIT_BYTE ? errhint("A size, such as \"64kB\", \"16MB\" or \"1GB\"; a number alone is in bytes.") :
					 errhint("A whole number.")));
		if (v < d->min || v > d->max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("value for option \"%s\" is out of range: \"%s\"", name, value),
					 errdetail("It must be between %d and %d%s.", d->min, d->max,
							   d->flags == GUC_UNIT_MS ? " milliseconds" :
							   d->flags == GUC_UNIT_BYTE ? " bytes" : "")));
		*(int *) ((char *) o + d->offset) = v;
		return;
	}
	elog(ERROR, "\"%s\" is not a pool setting", name);
}

/*
 * The settings in force: the pool.* defaults, with the overrides marked in
 * mask.
 */
void
pool_settings_resolve(PoolSettings *s, const PoolSettings *o, uint32 mask)
{
	int			i;

	for (i = 0; i < NUM_SETTING_DEFS; i++)
	{
		const PoolSettingDef *d = &setting_defs[i];
		bool		set = (mask & (1U << i)) != 0;

		if (d->offset == (size_t) -1)
			strlcpy(s->reset_query,
					set ? o->reset_query : (pool_reset_query ? pool_reset_query : ""),
					POOL_RESET_QUERY_LEN);
		else
			*(int *) ((char *) s + d->offset) =
				set ? *(const int *) ((const char *) o + d->offset) : *d->guc;
	}
	s->min_idle = Min(s->min_idle, s->pool_size);
}
