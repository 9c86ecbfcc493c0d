/*-------------------------------------------------------------------------
 *
 * views.c
 *	  Set-returning functions behind the pool.stats and pool.connections
 *	  views.
 *
 * Both read shared memory without blocking the workers: pool identities
 * under a shared lock, counters atomically, slots through their
 * changecount.  Gauges (open, idle, active, ...) are counted from the slots
 * in the same pass, so one row adds up.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/views.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pool.h"

PG_FUNCTION_INFO_V1(pool_stats);
PG_FUNCTION_INFO_V1(pool_connections);

#define POOL_STATS_COLS			22
#define POOL_CONNECTIONS_COLS	11

static const char *const slot_state_names[] = {
	[POOL_SLOT_EMPTY] = "empty",
	[POOL_SLOT_CONNECTING] = "connecting",
	[POOL_SLOT_IDLE] = "idle",
	[POOL_SLOT_ACTIVE] = "active",
	[POOL_SLOT_CLEANING] = "cleaning",
};

#define NUM_SLOT_STATES (POOL_SLOT_CLEANING + 1)

static Datum
pool_timestamp_datum(TimestampTz t, bool *isnull)
{
	*isnull = (t == 0);
	return TimestampTzGetDatum(t);
}

/*
 * pool.stats(): one row per pool.
 */
Datum
pool_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			max_pools;
	int		   *counts;
	int			i;

	pool_check_loaded();
	InitMaterializedSRF(fcinfo, 0);

	max_pools = pool_shared->max_pools;
	counts = palloc0(sizeof(int) * max_pools * NUM_SLOT_STATES);
	for (i = 0; i < pool_shared->max_connections; i++)
	{
		PoolSlot	copy;

		if (!pool_shared->slots[i].in_use)
			continue;
		pool_slot_read(&pool_shared->slots[i], &copy);
		if (copy.state == POOL_SLOT_EMPTY || copy.pool_index < 0 ||
			copy.pool_index >= max_pools ||
			copy.pool_generation != pool_shared->pools[copy.pool_index].generation)
			continue;
		counts[copy.pool_index * NUM_SLOT_STATES + copy.state]++;
	}

	for (i = 0; i < max_pools; i++)
	{
		PoolEntry  *e = &pool_shared->pools[i];
		Datum		values[POOL_STATS_COLS];
		bool		nulls[POOL_STATS_COLS];
		int		   *c = &counts[i * NUM_SLOT_STATES];
		char		name[POOL_NAME_LEN];
		TimestampTz created_at;
		int			worker;
		int			j = 0;

		LWLockAcquire(pool_shared->lock, LW_SHARED);
		if (!e->in_use)
		{
			LWLockRelease(pool_shared->lock);
			continue;
		}
		strlcpy(name, e->name, sizeof(name));
		worker = e->worker;
		created_at = e->created_at;
		LWLockRelease(pool_shared->lock);

		memset(nulls, 0, sizeof(nulls));
		values[j++] = Int32GetDatum(i + 1);
		values[j++] = CStringGetTextDatum(name);
		values[j++] = Int32GetDatum(worker + 1);
		values[j++] = Int32GetDatum(pg_atomic_read_u32(&e->pool_size));
		values[j++] = Int32GetDatum(pg_atomic_read_u32(&e->max_overflow));
		values[j++] = Int32GetDatum(pg_atomic_read_u32(&e->checkout_timeout));
		values[j++] = Int32GetDatum(pg_atomic_read_u32(&e->connect_timeout));
		values[j++] = Int32GetDatum(c[POOL_SLOT_IDLE] + c[POOL_SLOT_ACTIVE] +
									c[POOL_SLOT_CLEANING]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_IDLE]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_ACTIVE]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_CONNECTING]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_CLEANING]);
		values[j++] = Int32GetDatum(pg_atomic_read_u32(&e->waiting));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->checkouts));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->queries));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->errors));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->connects));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->connect_failures));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->timeouts));
		values[j++] = Float8GetDatum(pg_atomic_read_u64(&e->wait_us) / 1000.0);
		values[j++] = Float8GetDatum(pg_atomic_read_u64(&e->query_us) / 1000.0);
		values[j] = pool_timestamp_datum(created_at, &nulls[j]);
		j++;
		Assert(j == POOL_STATS_COLS);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * pool.connections(): one row per pooled connection.
 */
Datum
pool_connections(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	pool_check_loaded();
	InitMaterializedSRF(fcinfo, 0);

	for (i = 0; i < pool_shared->max_connections; i++)
	{
		PoolSlot	copy;
		PoolEntry  *e;
		Datum		values[POOL_CONNECTIONS_COLS];
		bool		nulls[POOL_CONNECTIONS_COLS];
		char		name[POOL_NAME_LEN];
		int			j = 0;

		if (!pool_shared->slots[i].in_use)
			continue;
		pool_slot_read(&pool_shared->slots[i], &copy);
		if (copy.state == POOL_SLOT_EMPTY || copy.pool_index < 0 ||
			copy.pool_index >= pool_shared->max_pools)
			continue;
		e = &pool_shared->pools[copy.pool_index];
		LWLockAcquire(pool_shared->lock, LW_SHARED);
		if (!e->in_use || e->generation != copy.pool_generation)
		{
			LWLockRelease(pool_shared->lock);
			continue;
		}
		strlcpy(name, e->name, sizeof(name));
		LWLockRelease(pool_shared->lock);

		memset(nulls, 0, sizeof(nulls));
		values[j++] = Int32GetDatum(i + 1);
		values[j++] = Int32GetDatum(copy.pool_index + 1);
		values[j++] = CStringGetTextDatum(name);
		values[j++] = Int32GetDatum(copy.worker + 1);
		values[j++] = CStringGetTextDatum(slot_state_names[copy.state]);
		values[j] = Int32GetDatum(copy.holder_pid);
		nulls[j] = copy.holder_pid == 0;
		j++;
		values[j] = Int32GetDatum(copy.remote_pid);
		nulls[j] = copy.remote_pid == 0;
		j++;
		values[j] = pool_timestamp_datum(copy.connected_at, &nulls[j]);
		j++;
		values[j] = pool_timestamp_datum(copy.state == POOL_SLOT_ACTIVE ?
										 copy.checked_out_at : 0, &nulls[j]);
		j++;
		values[j] = pool_timestamp_datum(copy.last_used_at, &nulls[j]);
		j++;
		values[j++] = Int64GetDatum(copy.uses);
		Assert(j == POOL_CONNECTIONS_COLS);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
