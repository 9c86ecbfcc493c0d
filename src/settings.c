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

	MarkGUCPrefixReserved("pool");
}
