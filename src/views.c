/*-------------------------------------------------------------------------
 *
 * views.c
 *	  Set-returning functions behind the pool.stats and pool.connections
 *	  views, and pool.stats_reset().
 *
 * Both read shared memory without blocking the workers: pool identities
 * under a shared lock, a pool's published state and each slot through their
 * changecount, counters atomically.  Gauges (open, idle, active, ...) are
 * counted from the slots in the same pass, so one row adds up.
 *
 * Query text is shown as pg_stat_activity shows it: to members of
 * pg_read_all_stats and to roles with the privileges of the role the
 * connection served; others see "<insufficient privilege>".  Likewise a
 * pool's target, last error and remote addresses are shown to members of
 * pg_read_all_stats, to roles with the privileges of the role whose
 * credentials it uses (the role of its user mapping, or who first used its
 * connection string), and, for a server's PUBLIC user mapping, to roles
 * that may use the server.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/views.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_server.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pool.h"
#include "shmem.h"
#include "call.h"

PG_FUNCTION_INFO_V1(pool_stats);
PG_FUNCTION_INFO_V1(pool_connections);
PG_FUNCTION_INFO_V1(pool_stats_reset);

#define POOL_STATS_COLS			48
#define POOL_CONNECTIONS_COLS	17

static const char *const slot_state_names[] = {
	[POOL_SLOT_EMPTY] = "empty",
	[POOL_SLOT_CONNECTING] = "connecting",
	[POOL_SLOT_IDLE] = "idle",
	[POOL_SLOT_VALIDATING] = "validating",
	[POOL_SLOT_ACTIVE] = "active",
	[POOL_SLOT_RESERVED] = "reserved",
	[POOL_SLOT_CLEANING] = "cleaning",
};

#define NUM_SLOT_STATES (POOL_SLOT_CLEANING + 1)
#define SLOT_UNCHECKED NUM_SLOT_STATES	/* idle longer than pre_ping */
#define NUM_COUNTS (NUM_SLOT_STATES + 1)

static Datum
pool_timestamp_datum(TimestampTz t, bool *isnull)
{
	*isnull = (t == 0);
	return TimestampTzGetDatum(t);
}

/*
 * May the current role see the details of a pool?
 */
static bool
pool_may_see(Oid owner_role, Oid server_oid)
{
	Oid			me = GetUserId();

	if (has_privs_of_role(me, ROLE_PG_READ_ALL_STATS))
		return true;
	if (OidIsValid(owner_role))
		return has_privs_of_role(me, owner_role);
	return OidIsValid(server_oid) &&
		GetForeignServerExtended(server_oid, FSV_MISSING_OK) != NULL &&
		pool_server_aclcheck(server_oid, me, ACL_USAGE) == ACLCHECK_OK;
}

/*
 * Copy a pool's identity under the lock; false if the entry is not in use
 * (or no longer of that generation, when generation is not 0).  *visible
 * says whether the current role may see its details.  If defaults is not
 * NULL, it gets the settings the pool starts with, and *cur_generation the
 * entry's generation.
 */
static bool
pool_read_identity(int index, uint32 generation, char *name, int *worker,
				   TimestampTz *created_at, TimestampTz *stats_reset,
				   bool *visible, uint32 *cur_generation,
				   PoolSettings *defaults)
{
	PoolEntry  *e = &pool_shared->pools[index];
	bool		ok;
	Oid			owner_role = InvalidOid;
	Oid			server_oid = InvalidOid;

	LWLockAcquire(pool_shared->lock, LW_SHARED);
	ok = e->in_use && (generation == 0 || e->generation == generation);
	if (ok)
	{
		owner_role = e->owner_role;
		/* a server of another database is not the one of that OID here */
		if (e->database_oid == MyDatabaseId)
			server_oid = e->server_oid;
		strlcpy(name, e->name, POOL_NAME_LEN);
		*worker = e->worker;
		if (created_at)
			*created_at = e->created_at;
		if (stats_reset)
			*stats_reset = e->stats_reset;
		if (defaults)
		{
			*cur_generation = e->generation;
			pool_settings_resolve(defaults, &e->overrides, e->override_mask);
		}
	}
	LWLockRelease(pool_shared->lock);
	*visible = ok && pool_may_see(owner_role, server_oid);
	if (ok && !*visible)
		strlcpy(name, "<insufficient privilege>", POOL_NAME_LEN);
	return ok;
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
	PoolEntry	state;
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	pool_check_loaded();
	InitMaterializedSRF(fcinfo, 0);

	max_pools = pool_shared->max_pools;
	counts = palloc0(sizeof(int) * max_pools * NUM_COUNTS);
	for (i = 0; i < pool_shared->max_connections; i++)
	{
		PoolSlot	copy;
		PoolEntry  *e;
		TimestampTz since;

		if (!pool_shared->slots[i].in_use)
			continue;
		pool_slot_read(&pool_shared->slots[i], &copy, NULL);
		if (copy.state == POOL_SLOT_EMPTY || copy.pool_index < 0 ||
			copy.pool_index >= max_pools)
			continue;
		e = &pool_shared->pools[copy.pool_index];
		if (copy.pool_generation != e->generation)
			continue;
		counts[copy.pool_index * NUM_COUNTS + copy.state]++;

		/* idle connections that will be checked before their next use */
		since = copy.last_used_at != 0 ? copy.last_used_at : copy.connected_at;
		if (copy.state == POOL_SLOT_IDLE && e->settings.pre_ping >= 0 &&
			TimestampDifferenceExceeds(since, now, e->settings.pre_ping))
			counts[copy.pool_index * NUM_COUNTS + SLOT_UNCHECKED]++;
	}

	for (i = 0; i < max_pools; i++)
	{
		PoolEntry  *e = &pool_shared->pools[i];
		PoolSettings *s = &state.settings;
		Datum		values[POOL_STATS_COLS];
		bool		nulls[POOL_STATS_COLS];
		int		   *c = &counts[i * NUM_COUNTS];
		char		name[POOL_NAME_LEN];
		TimestampTz created_at;
		TimestampTz stats_reset;
		int			worker;
		int			waiting;
		bool		visible;
		uint32		generation;
		PoolSettings defaults;
		int			j = 0;

		/* a pool whose server was dropped shows only its closing connections */
		if (e->dropped ||
			!pool_read_identity(i, 0, name, &worker, &created_at, &stats_reset,
								&visible, &generation, &defaults))
			continue;
		pool_entry_read_state(e, &state);
		if (state.state_generation != generation)
		{
			/* its worker has not seen it yet: what it starts with */
			memset(&state, 0, sizeof(state));
			state.settings = defaults;
		}
		waiting = pg_atomic_read_u32(&e->waiting);

		memset(nulls, 0, sizeof(nulls));
		values[j++] = Int32GetDatum(i + 1);
		values[j++] = CStringGetTextDatum(name);
		values[j++] = Int32GetDatum(worker + 1);
		values[j++] = BoolGetDatum(state.paused);
		values[j++] = BoolGetDatum(state.failing);
		values[j++] = Int32GetDatum(s->pool_size);
		values[j++] = Int32GetDatum(s->min_idle);
		values[j++] = Int32GetDatum(s->max_overflow);
		values[j++] = Int32GetDatum(s->checkout_timeout);
		values[j++] = Int32GetDatum(s->connect_timeout);
		values[j++] = Int32GetDatum(s->idle_timeout);
		values[j++] = Int32GetDatum(s->max_lifetime);
		values[j++] = Int32GetDatum(s->pre_ping);
		values[j++] = Int32GetDatum(s->retry_delay);
		values[j++] = Int32GetDatum(s->leak_threshold);
		values[j++] = CStringGetTextDatum(s->reset_query);
		values[j++] = Int32GetDatum(c[POOL_SLOT_IDLE] + c[POOL_SLOT_ACTIVE] +
									c[POOL_SLOT_RESERVED] +
									c[POOL_SLOT_VALIDATING] +
									c[POOL_SLOT_CLEANING]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_IDLE]);
		values[j++] = Int32GetDatum(c[SLOT_UNCHECKED]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_ACTIVE]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_RESERVED]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_VALIDATING]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_CONNECTING]);
		values[j++] = Int32GetDatum(c[POOL_SLOT_CLEANING]);
		values[j++] = Int32GetDatum(waiting);
		values[j++] = Float8GetDatum(waiting > 0 && state.oldest_wait != 0 ?
									 Max(now - state.oldest_wait, 0) / 1000.0 : 0.0);
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->checkouts));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->checkins));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->queries));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->errors));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->connects));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->connect_failures));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->timeouts));
		values[j++] = Float8GetDatum(pg_atomic_read_u64(&e->wait_us) / 1000.0);
		values[j++] = Float8GetDatum(pg_atomic_read_u64(&e->query_us) / 1000.0);
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->closed[POOL_CLOSE_LIFETIME]));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->closed[POOL_CLOSE_IDLE]));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->closed[POOL_CLOSE_BROKEN]));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->closed[POOL_CLOSE_RESET]));
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->closed[POOL_CLOSE_OVERFLOW]));
		values[j] = pool_timestamp_datum(state.failing ? state.retry_at : 0,
										 &nulls[j]);
		j++;
		if (state.last_error[0] != '\0' && visible)
			values[j] = CStringGetTextDatum(pool_valid_text(state.last_error));
		else
			nulls[j] = true;
		j++;
		values[j] = pool_timestamp_datum(created_at, &nulls[j]);
		j++;
		values[j] = pool_timestamp_datum(stats_reset, &nulls[j]);
		j++;
		/* added in 1.1: new columns go last */
		values[j++] = Int32GetDatum(s->max_row_size);
		/* added in 1.2 */
		values[j++] = Int32GetDatum(s->max_pipeline);
		values[j++] = Int64GetDatum(pg_atomic_read_u64(&e->pipelined));
		values[j++] = Int32GetDatum(pg_atomic_read_u32(&e->max_depth));
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
	bool		read_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	char	   *query = palloc(pool_query_text_size());
	int			i;

	pool_check_loaded();
	InitMaterializedSRF(fcinfo, 0);

	for (i = 0; i < pool_shared->max_connections; i++)
	{
		PoolSlot	copy;
		Datum		values[POOL_CONNECTIONS_COLS];
		bool		nulls[POOL_CONNECTIONS_COLS];
		char		name[POOL_NAME_LEN];
		int			worker;
		bool		visible;
		bool		holder_visible;
		int			j = 0;

		if (!pool_shared->slots[i].in_use)
			continue;
		pool_slot_read(&pool_shared->slots[i], &copy, query);
		if (copy.state == POOL_SLOT_EMPTY || copy.pool_index < 0 ||
			copy.pool_index >= pool_shared->max_pools)
			continue;
		if (!pool_read_identity(copy.pool_index, copy.pool_generation, name,
								&worker, NULL, NULL, &visible, NULL, NULL))
			continue;

		memset(nulls, 0, sizeof(nulls));
		values[j++] = Int32GetDatum(i + 1);
		values[j++] = Int32GetDatum(copy.pool_index + 1);
		values[j++] = CStringGetTextDatum(name);
		values[j++] = Int32GetDatum(worker + 1);
		values[j++] = CStringGetTextDatum(slot_state_names[copy.state]);
		/* who holds it, and under which handle: its role's business */
		holder_visible = read_all ||
			(OidIsValid(copy.holder_role) &&
			 has_privs_of_role(GetUserId(), copy.holder_role));
		values[j] = Int32GetDatum(copy.holder_pid);
		nulls[j] = copy.holder_pid == 0 || !holder_visible;
		j++;
		values[j] = Int64GetDatum((int64) copy.handle);
		nulls[j] = copy.handle == 0 || !holder_visible;
		j++;
		values[j] = Int32GetDatum(copy.remote_pid);
		nulls[j] = copy.remote_pid == 0;
		j++;
		values[j] = CStringGetTextDatum(copy.remote_host);
		nulls[j] = copy.remote_host[0] == '\0' || !visible;
		j++;
		values[j] = Int32GetDatum(copy.remote_port);
		nulls[j] = copy.remote_port == 0 || !visible;
		j++;
		values[j] = pool_timestamp_datum(copy.connected_at, &nulls[j]);
		j++;
		values[j] = pool_timestamp_datum(copy.state == POOL_SLOT_ACTIVE ||
										 copy.state == POOL_SLOT_RESERVED ||
										 copy.state == POOL_SLOT_VALIDATING ?
										 copy.checked_out_at : 0, &nulls[j]);
		j++;
		values[j] = pool_timestamp_datum(copy.last_used_at, &nulls[j]);
		j++;
		values[j++] = Int64GetDatum(copy.uses);
		values[j++] = Int64GetDatum(copy.queries);
		if (query[0] == '\0')
			nulls[j] = true;
		else if (read_all || (visible && holder_visible))
		{
			char	   *clipped = pgstat_clip_activity(query);

			values[j] = CStringGetTextDatum(clipped);
			pfree(clipped);
		}
		else
			values[j] = CStringGetTextDatum("<insufficient privilege>");
		j++;
		/* added in 1.2 */
		values[j++] = Int32GetDatum(copy.in_flight);
		Assert(j == POOL_CONNECTIONS_COLS);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * pool.stats_reset(pool_id integer DEFAULT NULL): zero the counters of one
 * pool, or of all.
 */
Datum
pool_stats_reset(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTimestamp();
	int			only = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT32(0);
	int			found = 0;
	int			i;

	pool_check_loaded();
	if (!PG_ARGISNULL(0) && (only < 1 || only > pool_shared->max_pools))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("pool %d does not exist", only)));

	LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < pool_shared->max_pools; i++)
	{
		PoolEntry  *e = &pool_shared->pools[i];

		if (!e->in_use || (only != 0 && i != only - 1))
			continue;
		pool_entry_reset_counters(e);
		e->stats_reset = now;
		found++;
	}
	LWLockRelease(pool_shared->lock);

	if (only != 0 && found == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("pool %d does not exist", only)));
	PG_RETURN_VOID();
}
