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
							100, 1, 10000,
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
							   NULL, NULL, NULL);

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

	MarkGUCPrefixReserved("pool");
}
