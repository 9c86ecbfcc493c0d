/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The fixed-size shared memory of the pool extension.
 *
 * Sized from pool.workers, pool.max_pools, pool.max_connections and
 * MaxBackends; see pool.h for the layout and the locking rules.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/backend_status.h"
#include "utils/hsearch.h"

#include "pool.h"
#include "shmem.h"

PoolShared *pool_shared = NULL;
static HTAB *role_holds = NULL;

static Size
pool_doorbell_words(void)
{
	return (MaxBackends + 63) / 64;
}

static Size
pool_worker_info_size(void)
{
	return MAXALIGN(add_size(offsetof(PoolWorkerInfo, doorbell),
							 mul_size(pool_doorbell_words(),
									  sizeof(pg_atomic_uint64))));
}

/*
 * Bytes of shared memory we need: the struct, and the hash table of role
 * holds.
 */
static Size pool_struct_size(void);

static Size
pool_shmem_size(void)
{
	return add_size(pool_struct_size(),
					hash_estimate_size(pool_max_connections,
									   sizeof(PoolRoleHold)));
}

static Size
pool_struct_size(void)
{
	Size		size;

	size = MAXALIGN(sizeof(PoolShared));
	size = add_size(size, mul_size(pool_workers, pool_worker_info_size()));
	size = add_size(size, MAXALIGN(mul_size(pool_max_pools, sizeof(PoolEntry))));
	size = add_size(size, MAXALIGN(mul_size(pool_max_connections,
											sizeof(PoolSlot))));
	size = add_size(size, MAXALIGN(mul_size(pool_max_connections,
											pool_query_text_size())));
	size = add_size(size, MAXALIGN(mul_size(MaxBackends,
											sizeof(PoolChannelDir))));
	return size;
}

/*
 * Request our shared memory and LWLock; called from shmem_request_hook.
 */
void
pool_shmem_request(void)
{
	RequestAddinShmemSpace(pool_shmem_size());
	RequestNamedLWLockTranche("pool", 2);
}

/*
 * Create or attach to our shared memory; called from shmem_startup_hook,
 * in the postmaster at start and after every crash restart.
 */
void
pool_shmem_startup(void)
{
	bool		found;
	char	   *p;
	int			i;

	HASHCTL		info;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	/* every pooled connection is held by one role at most */
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(PoolRoleHold);
	role_holds = ShmemInitHash("pool role holds", pool_max_connections,
							   pool_max_connections, &info,
							   HASH_ELEM | HASH_BLOBS);

	pool_shared = ShmemInitStruct("pool", pool_struct_size(), &found);
	if (!found)
	{
		memset(pool_shared, 0, pool_struct_size());
		pool_shared->lock = &(GetNamedLWLockTranche("pool"))[0].lock;
		pool_shared->role_lock = &(GetNamedLWLockTranche("pool"))[1].lock;
		pool_shared->next_session = 1;
		pg_atomic_init_u64(&pool_shared->next_reservation, 1);
		pool_shared->nworkers = pool_workers;
		pool_shared->max_pools = pool_max_pools;
		pool_shared->max_connections = pool_max_connections;
		pool_shared->max_backends = MaxBackends;
		pool_shared->doorbell_words = pool_doorbell_words();
		pool_shared->worker_info_size = pool_worker_info_size();

		p = (char *) pool_shared + MAXALIGN(sizeof(PoolShared));
		pool_shared->workers_base = (PoolWorkerInfo *) p;
		p += mul_size(pool_workers, pool_worker_info_size());
		pool_shared->pools = (PoolEntry *) p;
		p += MAXALIGN(mul_size(pool_max_pools, sizeof(PoolEntry)));
		pool_shared->slots = (PoolSlot *) p;
		p += MAXALIGN(mul_size(pool_max_connections, sizeof(PoolSlot)));
		for (i = 0; i < pool_max_connections; i++)
			pool_shared->slots[i].query = p + i * pool_query_text_size();
		p += MAXALIGN(mul_size(pool_max_connections, pool_query_text_size()));
		pool_shared->channels = (PoolChannelDir *) p;

		for (i = 0; i < pool_workers; i++)
		{
			PoolWorkerInfo *w = pool_worker_info(i);
			int			j;

			w->pgprocno = -1;
			pg_atomic_init_u32(&w->generation, 0);
			for (j = 0; j < pool_shared->doorbell_words; j++)
				pg_atomic_init_u64(&w->doorbell[j], 0);
		}

		for (i = 0; i < pool_max_pools; i++)
		{
			PoolEntry  *e = &pool_shared->pools[i];
			int			j;

			pg_atomic_init_u32(&e->waiting, 0);
			pg_atomic_init_u64(&e->checkouts, 0);
			pg_atomic_init_u64(&e->checkins, 0);
			pg_atomic_init_u64(&e->queries, 0);
			pg_atomic_init_u64(&e->errors, 0);
			pg_atomic_init_u64(&e->connects, 0);
			pg_atomic_init_u64(&e->connect_failures, 0);
			pg_atomic_init_u64(&e->timeouts, 0);
			pg_atomic_init_u64(&e->wait_us, 0);
			pg_atomic_init_u64(&e->query_us, 0);
			for (j = 0; j < POOL_CLOSE_REASONS; j++)
				pg_atomic_init_u64(&e->closed[j], 0);
			pg_atomic_init_u64(&e->pipelined, 0);
			pg_atomic_init_u32(&e->max_depth, 0);
			pg_atomic_init_u32(&e->changecount, 0);
		}

		for (i = 0; i < pool_max_connections; i++)
			pg_atomic_init_u32(&pool_shared->slots[i].changecount, 0);

		for (i = 0; i < MaxBackends; i++)
		{
			PoolChannelDir *c = &pool_shared->channels[i];
			int			j;

			pg_atomic_init_u32(&c->exiting, 0);
			for (j = 0; j < POOL_MAX_WORKERS; j++)
				pg_atomic_init_u64(&c->attention[j], 0);
		}
	}

	LWLockRelease(AddinShmemInitLock);
}

/*
 * Fail unless the library was preloaded; every SQL function calls this first.
 */
void
pool_check_loaded(void)
{
	if (pool_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pool must be loaded via shared_preload_libraries"),
				 errhint("Add pool to shared_preload_libraries and restart the server.")));
}

/*
 * The most pooled connections one role may hold at once: pool.max_role_connections,
 * where -1 is half of pool.max_connections and 0 no limit.
 */
int
pool_role_limit(void)
{
	if (pool_max_role_connections < 0)
		return Max((pool_shared->max_connections + 1) / 2, 1);
	return pool_max_role_connections;
}

/*
 * Count one more connection held by role, unless it holds limit already
 * (0: no limit).  Returns whether it was counted.
 */
bool
pool_role_try_hold(Oid role, int limit)
{
	PoolRoleHold *h;
	bool		found;
	bool		ok;

	LWLockAcquire(pool_shared->role_lock, LW_EXCLUSIVE);
	h = hash_search(role_holds, &role, HASH_ENTER_NULL, &found);
	if (h == NULL)
		ok = false;				/* cannot happen: one entry per connection */
	else
	{
		if (!found)
			h->held = 0;
		ok = limit <= 0 || h->held < limit;
		if (ok)
			h->held++;
		else if (h->held == 0)
			hash_search(role_holds, &role, HASH_REMOVE, NULL);
	}
	LWLockRelease(pool_shared->role_lock);
	return ok;
}

/*
 * A connection role held is free again.
 */
void
pool_role_release(Oid role)
{
	PoolRoleHold *h;

	LWLockAcquire(pool_shared->role_lock, LW_EXCLUSIVE);
	h = hash_search(role_holds, &role, HASH_FIND, NULL);
	if (h != NULL && --h->held <= 0)
		hash_search(role_holds, &role, HASH_REMOVE, NULL);
	LWLockRelease(pool_shared->role_lock);
}

/*
 * How many connections role holds now.
 */
int
pool_role_held(Oid role)
{
	PoolRoleHold *h;
	int			held = 0;

	LWLockAcquire(pool_shared->role_lock, LW_SHARED);
	h = hash_search(role_holds, &role, HASH_FIND, NULL);
	if (h != NULL)
		held = h->held;
	LWLockRelease(pool_shared->role_lock);
	return held;
}

/*
 * Bytes of query text kept per connection: as much as pg_stat_activity keeps.
 */
int
pool_query_text_size(void)
{
	return pgstat_track_activity_query_size;
}

/*
 * The single writer of a slot, or of a pool's published state, brackets
 * every change with these two calls, so that readers can tell a torn copy
 * from a consistent one (the protocol of PgBackendStatus).
 */
void
pool_begin_write(pg_atomic_uint32 *changecount)
{
	pg_atomic_fetch_add_u32(changecount, 1);
	pg_write_barrier();
}

void
pool_end_write(pg_atomic_uint32 *changecount)
{
	pg_write_barrier();
	pg_atomic_fetch_add_u32(changecount, 1);
}

/*
 * Copy len bytes from src under changecount, retrying until the copy is
 * consistent; the extra copy (query text) is optional.
 */
static void
pool_read_consistent(pg_atomic_uint32 *changecount,
					 void *dst, const void *src, Size len,
					 char *extra_dst, const char *extra_src, Size extra_len)
{
	for (;;)
	{
		uint32		before = pg_atomic_read_u32(changecount);
		uint32		after;

		pg_read_barrier();
		memcpy(dst, src, len);
		if (extra_dst != NULL)
			memcpy(extra_dst, extra_src, extra_len);
		pg_read_barrier();
		after = pg_atomic_read_u32(changecount);
		if (before == after && (before & 1) == 0)
			break;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * A consistent copy of a slot, and of its query text if query is not NULL
 * (a buffer of pool_query_text_size() bytes).
 */
void
pool_slot_read(PoolSlot *slot, PoolSlot *copy, char *query)
{
	pool_read_consistent(&slot->changecount, copy, slot, sizeof(PoolSlot),
						 query, slot->query, query ? pool_query_text_size() : 0);
	if (query != NULL)
		query[pool_query_text_size() - 1] = '\0';
}

/*
 * A consistent copy of the state a worker publishes for a pool (settings,
 * paused, failing, the last connection error); the identity and the secrets
 * of the entry are not copied.
 */
void
pool_entry_read_state(PoolEntry *entry, PoolEntry *copy)
{
	Size		start = offsetof(PoolEntry, state_generation);
	Size		end = offsetof(PoolEntry, last_error) + POOL_ERROR_LEN;

	pool_read_consistent(&entry->changecount,
						 (char *) copy + start, (char *) entry + start,
						 end - start, NULL, NULL, 0);
}

/*
 * Zero a pool's counters (at creation, and for pool.stats_reset()).
 */
void
pool_entry_reset_counters(PoolEntry *e)
{
	int			i;
	uint64		ended;

	/*
	 * checkouts - checkins is what is held now: both lose the same amount, so
	 * that it survives (the worker may add to either meanwhile).
	 */
	ended = pg_atomic_read_u64(&e->checkins);
	pg_atomic_fetch_sub_u64(&e->checkouts, (int64) ended);
	pg_atomic_fetch_sub_u64(&e->checkins, (int64) ended);
	pg_atomic_write_u64(&e->queries, 0);
	pg_atomic_write_u64(&e->errors, 0);
	pg_atomic_write_u64(&e->connects, 0);
	pg_atomic_write_u64(&e->connect_failures, 0);
	pg_atomic_write_u64(&e->timeouts, 0);
	pg_atomic_write_u64(&e->wait_us, 0);
	pg_atomic_write_u64(&e->query_us, 0);
	for (i = 0; i < POOL_CLOSE_REASONS; i++)
		pg_atomic_write_u64(&e->closed[i], 0);
	pg_atomic_write_u64(&e->pipelined, 0);
	pg_atomic_write_u32(&e->max_depth, 0);
}
