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
#include "nodes/parsenodes.h"
#include "storage/ipc.h"
#include "tcop/utility.h"

#include "pool.h"
#include "shmem.h"
#include "target.h"
#include "call.h"

#if PG_VERSION_NUM >= 180000
PG_MODULE_MAGIC_EXT(.name = "pool",.version = POOL_VERSION);
#else
PG_MODULE_MAGIC;
#endif

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;

static void pool_request_hook(void);
static void pool_startup_hook(void);
static void pool_process_utility(PlannedStmt *pstmt, const char *queryString,
								 bool readOnlyTree,
								 ProcessUtilityContext context,
								 ParamListInfo params,
								 QueryEnvironment *queryEnv,
								 DestReceiver *dest, QueryCompletion *qc);

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
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = pool_process_utility;

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

/*
 * DISCARD ALL gives back the session's handles too, as it drops its
 * prepared statements: what a connection pooler in front of this server
 * runs between clients must not leave one client's remote connections to
 * the next.
 */
static void
pool_process_utility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		discard_all = IsA(parsetree, DiscardStmt) &&
	((DiscardStmt *) parsetree)->target == DISCARD_ALL;

	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (discard_all)
		pool_handles_discard_all();
}
