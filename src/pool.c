/*-------------------------------------------------------------------------
 *
 * pool.c
 *	  Entry point of the pool extension: settings, shared memory hooks and
 *	  worker registration, all done while the library is preloaded.
 *
 * Without shared_preload_libraries = 'pool' the library still loads (so that
 * CREATE EXTENSION works), but every SQL function fails with a clear error.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/pool.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"

#include "pool.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void pool_request_hook(void);
static void pool_startup_hook(void);

/*
 * Module load callback.
 */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	pool_define_settings();
	pool_fdw_init();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pool_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pool_startup_hook;

	pool_register_workers();
}

/*
 * Ask for our shared memory and our LWLock tranche.  MaxBackends is known
 * only from here on.
 */
static void
pool_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	pool_shmem_request();
}

/*
 * Attach to (or initialise) our shared memory; runs in the postmaster and
 * again after a crash restart.
 */
static void
pool_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	pool_shmem_startup();
}
