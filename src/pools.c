/*-------------------------------------------------------------------------
 *
 * pools.c
 *	  The pools of a worker: checkout and check-in, sizing, the connection
 *	  lifecycle, fail-fast after a failed connect, and administration.
 *
 * A request queues in its pool (first come, first served) and is handed the
 * most recently used idle connection, checked first with a round trip when
 * it has been idle longer than pre_ping; with none idle the pool opens one,
 * up to pool_size + max_overflow.  At check-in a connection serves the next
 * waiter, or goes idle, or closes: when pool.reset() doomed it, when it is
 * past max_lifetime, or when the pool is above pool_size.
 *
 * Maintenance runs when something is due (pool->next_maintenance): it opens
 * connections up to min_idle, closes idle ones past idle_timeout (beyond
 * min_idle) or past max_lifetime, reports checkouts held longer than
 * leak_threshold, and retries a failing pool in the background.
 *
 * After a failed connection attempt a pool is "failing" for retry_delay
 * (doubling with each further failure, up to 30 times retry_delay):
 * checkouts that would need a new connection fail at once with the reason
 * and the time of the next attempt, instead of every waiting backend
 * hammering a dead server.  The next attempt is made in the background, and
 * the pool recovers by itself once it succeeds.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/pools.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pool.h"
#include "shmem.h"
#include "wire.h"
#include "worker.h"

static WPool **pools;			/* by pool index */
static int	my_worker;

static void pool_maintain(WPool *pool);
static void pool_role_refuse(WRequest *req, int limit);
static void pool_forget_error(WPool *pool);
static void pool_wipe_scram_keys(WPool *pool);

/*
 * Set up the table of pools for worker `worker`.
 */
void
pool_pools_init(int worker)
{
	my_worker = worker;
	pools = MemoryContextAllocZero(pool_worker_cxt,
								   sizeof(WPool *) * pool_shared->max_pools);
}

/*
 * Publish what others may see of a pool's state.
 */
void
pool_publish_state(WPool *pool)
{
	PoolEntry  *e = pool->shared;
	TimestampTz oldest = 0;

	/*
	 * A pool whose entry went to another target since writes nothing: the
	 * entry's state is its new pool's.  (Entries are written under the lock,
	 * and this worker is the only one that serves this entry.)
	 */
	pg_read_barrier();
	if (e->generation != pool->generation)
		return;
	if (!dlist_is_empty(&pool->waiters))
		oldest = dlist_head_element(WRequest, node, &pool->waiters)->enqueued_at;

	pool_begin_write(&e->changecount);
	e->state_generation = pool->generation;
	e->settings = pool->s;
	e->paused = pool->paused;
	e->failing = pool->failing;
	e->retry_at = pool->failing ? pool->retry_at : 0;
	e->oldest_wait = oldest;
	if (pool->last_error != NULL)
		strlcpy(e->last_error, pool->last_error, POOL_ERROR_LEN);
	else
		e->last_error[0] = '\0';
	pool_end_write(&e->changecount);
}

/*
 * Work out the settings in force for a pool (the server-wide pool.*
 * settings, overridden by its foreign server's) and publish them.
 */
static void
pool_apply_settings(WPool *pool)
{
	pool_settings_resolve(&pool->s, &pool->overrides, pool->override_mask);
	pool_publish_state(pool);
}

/*
 * Load a pool's configuration from its entry: connection options and
 * setting overrides.  Returns false if the connection options changed
 * since the last load (or cannot be parsed: then the pool keeps the old
 * ones).
 */
static bool
pool_load_config(WPool *pool)
{
	PoolEntry  *e = pool->shared;
	char	   *conninfo;
	PQconninfoOption *opts;
	PQconninfoOption *opt;
	MemoryContext cxt;
	const char **keywords;
	const char **values;
	int			n = 0;
	bool		same;

	LWLockAcquire(pool_shared->lock, LW_SHARED);
	pool->config_version = pg_atomic_read_u32(&e->config_version);
	conninfo = pstrdup(e->conninfo);
	pool->overrides = e->overrides;
	pool->override_mask = e->override_mask;
	pool->require_password = e->require_password;
	pool->scram_passthrough = e->scram_passthrough;
	LWLockRelease(pool_shared->lock);
	if (!pool->scram_passthrough)
		pool_wipe_scram_keys(pool);

	opts = PQconninfoParse(conninfo, NULL);
	memset(conninfo, 0, strlen(conninfo));
	pfree(conninfo);
	if (opts == NULL)
		return true;

	cxt = AllocSetContextCreate(pool->cxt, "pool configuration",
								ALLOCSET_SMALL_SIZES);
	for (opt = opts; opt->keyword != NULL; opt++)
		n++;
	keywords = MemoryContextAllocZero(cxt, sizeof(char *) * (n + 2));
	values = MemoryContextAllocZero(cxt, sizeof(char *) * (n + 2));
	n = 0;
	for (opt = opts; opt->keyword != NULL; opt++)
	{
		if (opt->val == NULL)
			continue;
		keywords[n] = MemoryContextStrdup(cxt, opt->keyword);
		values[n] = MemoryContextStrdup(cxt, opt->val);
		n++;
	}
	keywords[n] = "fallback_application_name";
	values[n] = "pool";
	PQconninfoFree(opts);

	same = pool->keywords != NULL;
	for (n = 0; same && keywords[n] != NULL; n++)
		same = pool->keywords[n] != NULL &&
			strcmp(pool->keywords[n], keywords[n]) == 0 &&
			strcmp(pool->values[n], values[n]) == 0;
	if (same && pool->keywords[n] != NULL)
		same = false;

	if (pool->config_cxt != NULL)
		MemoryContextDelete(pool->config_cxt);
	pool->config_cxt = cxt;
	pool->keywords = keywords;
	pool->values = values;
	return same;
}

/*
 * The entry of a pool has a new configuration (its server or user mapping
 * changed, and that committed).  The pool starts afresh: a back-off and the
 * error of the old configuration are forgotten; new connection options close
 * its connections, idle ones now and the others when they come back; new
 * settings apply at once.  Connections that authenticated without a password
 * never serve once the pool requires one.
 */
static void
pool_reconfigure(WPool *pool)
{
	bool		needed_password = pool->require_password;
	dlist_mutable_iter iter;

	if (!pool_load_config(pool))
	{
		ereport(LOG,
				(errmsg("pool \"%s\" has new connection options: its connections are replaced",
						pool->shared->name)));
		(void) pool_admin(pool, POOL_REQ_RESET, NULL);
	}
	else if (pool->require_password && !needed_password)
	{
		dlist_foreach_modify(iter, &pool->conns)
		{
			WConn	   *conn = dlist_container(WConn, conns_node, iter.cur);

			if (conn->state != WC_CONNECTING && !conn->used_password)
				pool_conn_revoke(conn);
		}
	}
	pool_forget_failure(pool);
	pool_apply_settings(pool);
	pool_schedule(pool, pool_now);
	pool_dispatch(pool);
}

/*
 * The worker's pool for a request, set up on first use; NULL if the pool
 * no longer exists.
 */
WPool *
pool_get(int index, uint32 generation)
{
	WPool	   *pool;
	PoolEntry  *e;
	MemoryContext cxt;

	if (index < 0 || index >= pool_shared->max_pools)
		return NULL;
	pool = pools[index];
	e = &pool_shared->pools[index];
	if (pool != NULL)
	{
		/*
		 * The cached pool serves only while its entry is still the same pool
		 * (an entry without connections may be given to another target).
		 */
		pg_read_barrier();
		if (pool->generation == generation && e->generation == generation &&
			e->in_use)
		{
			if (pool->dropped)
				return NULL;
			if (pg_atomic_read_u32(&e->config_version) != pool->config_version)
				pool_reconfigure(pool);
			return pool;
		}
		if (pool->nconns > 0 || pool->nwaiters > 0)
			return NULL;
		/* the entry was given to another target: forget the old pool */
		pool_wipe_scram_keys(pool);
		MemoryContextDelete(pool->cxt);
		pools[index] = NULL;
	}

	LWLockAcquire(pool_shared->lock, LW_SHARED);
	if (!e->in_use || e->dropped || e->generation != generation ||
		e->worker != my_worker)
	{
		LWLockRelease(pool_shared->lock);
		return NULL;
	}
	LWLockRelease(pool_shared->lock);

	cxt = AllocSetContextCreate(pool_worker_cxt, "pool", ALLOCSET_SMALL_SIZES);
	pool = MemoryContextAllocZero(cxt, sizeof(WPool));
	pool->cxt = cxt;
	pool->index = index;
	pool->generation = generation;
	pool->shared = e;
	dlist_init(&pool->conns);
	dlist_init(&pool->idle);
	dlist_init(&pool->waiters);

	(void) pool_load_config(pool);
	if (pool->keywords == NULL)
	{
		MemoryContextDelete(cxt);
		return NULL;
	}
	pool_apply_settings(pool);
	pg_atomic_write_u32(&e->waiting, 0);
	pools[index] = pool;
	pool_schedule(pool, pool_now);	/* min_idle */
	return pool;
}

/*
 * Ask for maintenance of a pool at `when` (or earlier, if already asked).
 */
void
pool_schedule(WPool *pool, TimestampTz when)
{
	if (pool->next_maintenance == 0 || when < pool->next_maintenance)
		pool->next_maintenance = when;
}

static void
pool_waiting_changed(WPool *pool, int delta)
{
	pool->nwaiters += delta;
	pg_atomic_write_u32(&pool->shared->waiting, pool->nwaiters);
}

/*
 * Queue a request for a connection.
 */
void
pool_enqueue(WPool *pool, WRequest *req, bool first)
{
	req->state = WR_WAITING;
	if (first)
		dlist_push_head(&pool->waiters, &req->node);
	else
	{
		req->enqueued_at = pool_now;
		dlist_push_tail(&pool->waiters, &req->node);
	}
	pool_waiting_changed(pool, 1);
	if (pool->nwaiters == 1 || first)
		pool_publish_state(pool);	/* oldest_wait */
	pool_dispatch(pool);
}

/*
 * Take a request off its pool's queue.
 */
void
pool_dequeue(WPool *pool, WRequest *req)
{
	bool		was_first = dlist_head_node(&pool->waiters) == &req->node;

	dlist_delete(&req->node);
	pool_waiting_changed(pool, -1);
	if (was_first)
		pool_publish_state(pool);
}

static WRequest *
pool_pop_waiter(WPool *pool)
{
	WRequest   *req = dlist_head_element(WRequest, node, &pool->waiters);

	pool_dequeue(pool, req);
	return req;
}

/*
 * How many connections a session holds reserved for a role (on this worker).
 */
static int
pool_session_handles(WPeer *peer, Oid role)
{
	dlist_iter	iter;
	int			n = 0;

	dlist_foreach(iter, &peer->reserved)
	{
		WConn	   *conn = dlist_container(WConn, peer_node, iter.cur);

		if (conn->reserved_role == role)
			n++;
	}
	return n;
}

/*
 * Fail a checkout of a session whose own handles fill its role's
 * pool.max_role_connections: waiting would wait for itself.  (When other
 * sessions of the role hold connections, the checkout waits for them, up to
 * checkout_timeout.)  Returns whether it failed.
 */
bool
pool_role_at_limit(WRequest *req)
{
	int			limit = pool_role_limit();

	if (limit <= 0 || pool_session_handles(req->peer, req->role) < limit)
		return false;
	pool_role_refuse(req, limit);
	return true;
}

/*
 * How many of a pool's waiters could be given a connection now, counting up
 * to at most enough (the caller needs to know only whether there are more
 * than that).
 */
static int
pool_eligible_waiters(WPool *pool, int enough)
{
	int			limit = pool_role_limit();
	dlist_iter	iter;
	int			n = 0;

	if (limit <= 0)
		return pool->nwaiters;
	dlist_foreach(iter, &pool->waiters)
	{
		WRequest   *req = dlist_container(WRequest, node, iter.cur);

		if (pool_role_held(req->role) < limit && ++n > enough)
			break;
	}
	return n;
}

/*
 * Fail a checkout for its role's limit.
 */
static void
pool_role_refuse(WRequest *req, int limit)
{
	pool_request_error(req, "53300",
					   psprintf("too many pooled connections held by this role to check out one more from pool \"%s\"",
								req->pool->shared->name),
					   psprintf("The role holds %d pooled connections, the most pool.max_role_connections allows.",
								limit),
					   "Check in handles the role does not need, or raise pool.max_role_connections.");
	pool_request_done(req);
}

/*
 * Take the first waiter whose role may hold one more connection, counting
 * it against the role (pool.max_role_connections).  Waiters of roles at
 * their limit are passed over: a checkout whose session's own handles are
 * the limit fails at once, others wait on, and the pool looks again
 * shortly, since the role's connections may come free in any pool of any
 * worker.  NULL if no waiter may have a connection now.
 */
static WRequest *
pool_pop_eligible_waiter(WPool *pool)
{
	int			limit = pool_role_limit();
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &pool->waiters)
	{
		WRequest   *req = dlist_container(WRequest, node, iter.cur);

		if (pool_role_try_hold(req->role, limit))
		{
			pool_dequeue(pool, req);
			req->holds_role = true;
			return req;
		}
		if (req->kind == POOL_REQ_CHECKOUT &&
			pool_session_handles(req->peer, req->role) >= limit)
		{
			pool_dequeue(pool, req);
			pool_role_refuse(req, limit);
			continue;
		}
		pool_schedule(pool, TimestampTzPlusMilliseconds(pool_now,
														POOL_ROLE_RECHECK_MS));
	}
	return NULL;
}

/*
 * When a failing pool tries again: the hint of its errors (or the hint of
 * the failure itself, such as what to change for the password rule).
 */
static char *
pool_retry_hint(WPool *pool)
{
	long		secs;
	int			usecs;

	if (pool->last_hint != NULL)
		return pstrdup(pool->last_hint);
	TimestampDifference(pool_now, pool->retry_at, &secs, &usecs);
	if (usecs > 0)
		secs++;
	return psprintf(secs == 1 ? "The pool tries again in %ld second." :
					"The pool tries again in %ld seconds.", secs);
}

/*
 * Fail a request with the error of the pool's last failed connection
 * attempt, saying when the next one is.
 */
static void
pool_fail_fast(WPool *pool, WRequest *req)
{
	pool_request_error(req, pool->last_sqlstate, pool->last_error,
					   pool->last_detail, pool_retry_hint(pool));
	pool_request_done(req);
}

/*
 * Take an idle connection of a pool for a request, replacing any found dead.
 */
static WConn *
pool_take_idle(WPool *pool)
{
	while (!dlist_is_empty(&pool->idle))
	{
		WConn	   *conn = dlist_container(WConn, pool_node,
										   dlist_head_node(&pool->idle));

		if (!TimestampDifferenceExceeds(conn->idle_since, pool_now,
										POOL_RECHECK_IDLE_MS) ||
			pool_conn_alive(conn))
		{
			dlist_delete(&conn->pool_node);
			conn->in_idle_list = false;
			return conn;
		}
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": replacing dead connection to remote pid %d",
								 pool->shared->name, conn->remote_pid)));
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
	}
	return NULL;
}

/*
 * pool.max_connections is reached: close the connection of another pool that
 * has been idle longest, so that its slot can serve this one.  Returns
 * whether one was closed.
 */
bool
pool_reclaim_idle(WPool *pool)
{
	WConn	   *victim = NULL;
	dlist_iter	iter;

	dlist_foreach(iter, &pool_all_conns)
	{
		WConn	   *conn = dlist_container(WConn, all_node, iter.cur);

		if (conn->pool != pool && conn->in_idle_list &&
			(victim == NULL || conn->idle_since < victim->idle_since))
			victim = conn;
	}
	if (victim == NULL)
		return false;
	ereport(DEBUG1,
			(errmsg_internal("pool \"%s\": closing an idle connection to make room for pool \"%s\"",
							 victim->pool->shared->name, pool->shared->name)));
	pool_conn_close(victim, POOL_CLOSE_IDLE);
	return true;
}

/*
 * Give an idle connection to a request: reset it fully first if it passes to
 * another local role (no session state may pass between roles, whatever
 * reset_query is), check it first if it sat idle longer than pre_ping.
 */
static void
pool_serve(WConn *conn, WRequest *req)
{
	WPool	   *pool = conn->pool;

	/* the connection counts against the request's role from now on */
	Assert(req->holds_role);
	pool_conn_set_hold(conn, req->role);
	req->holds_role = false;

	if (OidIsValid(conn->state_role) && conn->state_role != req->role)
		pool_conn_prepare(conn, req, true);
	else if (pool->s.pre_ping >= 0 &&
			 TimestampDifferenceExceeds(conn->idle_since, pool_now,
										pool->s.pre_ping))
		pool_conn_prepare(conn, req, false);
	else
		pool_conn_start_request(conn, req);
}

/*
 * May a statement join the ones in flight on this connection?  Only on a
 * connection in pipeline mode that serves the same local role (no session
 * state may pass between roles), below max_pipeline, and never behind a
 * head that runs long (a short statement would wait for it), whose caller
 * reads slowly (results backing up), or that was given up on.
 */
static bool
pool_conn_may_join(WConn *conn, WRequest *req)
{
	WRequest   *head = conn->req;

	return conn->state == WC_BUSY && conn->pipeline && !conn->no_join &&
		!conn->doomed && !conn->revoked && head != NULL &&
		conn->in_flight < conn->pool->s.max_pipeline &&
		conn->state_role == req->role && conn->held_role == req->role &&
		!head->blocked && !pool_request_output_full(head) &&
		!TimestampDifferenceExceeds(conn->head_since, pool_now,
									POOL_PIPELINE_JOIN_MS);
}

/*
 * No connection is idle and the pool cannot grow: the waiters at the head
 * of the queue that may be pipelined go, each, on the busy connection with
 * the fewest statements in flight that may take one more.  A waiter that
 * may not be pipelined stops this, so that connections drain for it.
 */
static void
pool_dispatch_pipelined(WPool *pool)
{
	while (pool->nwaiters > 0 && !pool->paused && pool->s.max_pipeline > 1)
	{
		WRequest   *req = dlist_head_element(WRequest, node, &pool->waiters);
		WConn	   *best = NULL;
		dlist_iter	iter;

		if (!req->may_pipeline)
			break;
		dlist_foreach(iter, &pool->conns)
		{
			WConn	   *conn = dlist_container(WConn, conns_node, iter.cur);

			if (pool_conn_may_join(conn, req) &&
				(best == NULL || conn->in_flight < best->in_flight))
				best = conn;
		}
		if (best == NULL)
			break;
		pool_dequeue(pool, req);
		if (!pool_conn_pipeline(best, req))
		{
			/* it never went out: first in line again */
			pool_enqueue(pool, req, true);
			break;
		}
	}
}

/*
 * A pipelined connection's head finished with others still in flight:
 * a waiter may join it.
 */
void
pool_connection_has_room(WConn *conn)
{
	if (conn->pool->nwaiters > 0)
		pool_dispatch(conn->pool);
}

/*
 * Hand idle connections to waiting requests, opening connections when the
 * pool may grow, and pipelining statements onto busy ones when it cannot.
 */
static void
pool_dispatch_once(WPool *pool)
{
	bool		cannot_grow;

	while (pool->nwaiters > 0 && !pool->paused)
	{
		WConn	   *conn = pool_take_idle(pool);

		if (conn != NULL)
		{
			WRequest   *req = pool_pop_eligible_waiter(pool);

			if (req == NULL)
			{
				/* back to the idle list, as it was */
				dlist_push_head(&pool->idle, &conn->pool_node);
				conn->in_idle_list = true;
				break;
			}
			pool_serve(conn, req);
			continue;
		}

		if (pool->failing)
		{
			/* no new connection until the background retry succeeds */
			if (pool->nconns - pool->nconnecting == 0)
			{
				while (pool->nwaiters > 0)
					pool_fail_fast(pool, pool_pop_waiter(pool));
			}
			break;
		}

		/* a connection only for waiters whose role may hold one more */
		cannot_grow = pool->nconns >= pool->s.pool_size + pool->s.max_overflow;
		if (!cannot_grow &&
			pool_eligible_waiters(pool, pool->nconnecting) > pool->nconnecting)
		{
			char	   *why;

			if (pool_conn_open(pool, true, &why) != NULL)
				continue;
			if (why != NULL)
			{
				/* no slot or file descriptor for another connection */
				cannot_grow = true;
				if (pool->why_waiting != NULL)
					pfree(pool->why_waiting);
				pool->why_waiting = MemoryContextStrdup(pool->cxt, why);
			}
		}
		if (cannot_grow)
			pool_dispatch_pipelined(pool);
		break;
	}
}

/*
 * Not re-entrant: a nested call only asks the outer one to go round again.
 */
void
pool_dispatch(WPool *pool)
{
	if (pool->dispatching)
	{
		pool->dispatch_again = true;
		return;
	}
	pool->dispatching = true;
	PG_TRY();
	{
		do
		{
			pool->dispatch_again = false;
			pool_dispatch_once(pool);
		} while (pool->dispatch_again);
	}
	PG_FINALLY();
	{
		pool->dispatching = false;
	}
	PG_END_TRY();
}

/*
 * Keep the SCRAM keys a request of the pool's role brought, for the pool's
 * next connections (a pool with use_scram_passthrough); the ones they
 * replace are wiped.
 */
void
pool_take_scram_keys(WPool *pool, const char *client_key,
					 const char *server_key)
{
	if (!pool->scram_passthrough)
		return;
	if (pool->scram_client_key != NULL &&
		strcmp(pool->scram_client_key, client_key) == 0 &&
		strcmp(pool->scram_server_key, server_key) == 0)
		return;
	pool_wipe_scram_keys(pool);
	pool->scram_client_key = MemoryContextStrdup(pool->cxt, client_key);
	pool->scram_server_key = MemoryContextStrdup(pool->cxt, server_key);
	/* a back-off of the old keys (a password changed since) is over */
	if (pool->failing)
	{
		pool_forget_failure(pool);
		pool_publish_state(pool);
	}
}

/*
 * Forget a pool's SCRAM keys, overwriting them first.
 */
static void
pool_wipe_scram_keys(WPool *pool)
{
	if (pool->scram_client_key != NULL)
	{
		explicit_bzero(pool->scram_client_key, strlen(pool->scram_client_key));
		explicit_bzero(pool->scram_server_key, strlen(pool->scram_server_key));
		pfree(pool->scram_client_key);
		pfree(pool->scram_server_key);
	}
	pool->scram_client_key = NULL;
	pool->scram_server_key = NULL;
}

/*
 * Forget a failing pool's back-off and its last error (it connected, or its
 * configuration changed); the caller publishes the state.
 */
void
pool_forget_failure(WPool *pool)
{
	pool->failing = false;
	pool->failures = 0;
	pool->retry_at = 0;
	pool_forget_error(pool);
}

/*
 * Forget the error of a pool's last failed connection attempt.
 */
static void
pool_forget_error(WPool *pool)
{
	if (pool->last_error != NULL)
		pfree(pool->last_error);
	if (pool->last_detail != NULL)
		pfree(pool->last_detail);
	if (pool->last_hint != NULL)
		pfree(pool->last_hint);
	pool->last_error = NULL;
	pool->last_detail = NULL;
	pool->last_hint = NULL;
}

/*
 * A request never ran, or rolled back, on the connection it was sent on
 * (reported by the connection layer): it goes first in line again, for
 * whichever connection comes free or can take it.  A rerun (the rollback
 * of a statement a cancel meant for another may have hit) waits afresh;
 * one that never ran is tried on three connections at most.
 */
void
pool_request_again(WRequest *req, bool rerun)
{
	WPool	   *pool = req->pool;

	resetStringInfo(&req->building);
	if (!rerun && ++req->retried > 2)
	{
		pool_request_error(req, "08006",
						   psprintf("could not send the query on pool \"%s\"",
									pool->shared->name),
						   "The remote server closed every connection it was tried on.",
						   NULL);
		pool_request_done(req);
		return;
	}
	req->failed = false;
	req->failed_lost = false;
	req->sqlstate[0] = '\0';
	req->has_rowdesc = false;
	req->tag = NULL;
	if (rerun)
		req->enqueued_at = pool_now;
	pool_enqueue(pool, req, true);
}

/*
 * A connection came up: the pool is healthy again; serve the first waiter,
 * or keep the connection idle.
 */
void
pool_connection_ready(WConn *conn)
{
	WPool	   *pool = conn->pool;

	if (pool->why_waiting != NULL)
	{
		pfree(pool->why_waiting);
		pool->why_waiting = NULL;
	}
	if (pool->failing || pool->failures > 0 || pool->last_error != NULL)
	{
		if (pool->failing)
			ereport(LOG,
					(errmsg("pool \"%s\" connects again", pool->shared->name)));
		pool_forget_failure(pool);
		pool_publish_state(pool);
		pool_connection_free(conn);
		/* the backends that waited meanwhile need more than this one */
		pool_dispatch(pool);
		return;
	}
	pool_connection_free(conn);
}

/*
 * A connection is free again.  It closes if pool.reset() doomed it or it is
 * past max_lifetime; it is reset first if its session state may have
 * changed; then the first waiter gets it, or it goes idle, or it closes if
 * the pool is above its size (an overflow connection).
 */
void
pool_connection_free(WConn *conn)
{
	WPool	   *pool = conn->pool;

	conn->state = WC_IDLE;
	conn->deadline = 0;

	if (conn->doomed)
	{
		pool_conn_close(conn, POOL_CLOSE_RESET);
		return;
	}
	if (conn->expires_at != 0 && conn->expires_at <= pool_now)
	{
		pool_conn_close(conn, POOL_CLOSE_LIFETIME);
		return;
	}
	if (conn->dirty && pool->s.reset_query[0] != '\0')
	{
		pool_conn_reset_session(conn);
		return;
	}
	pool_slot_set_state(conn, POOL_SLOT_IDLE, NULL);

	conn->idle_since = pool_now;
	pool_conn_release_hold(conn);
	if (pool->nwaiters > 0 && !pool->paused)
	{
		WRequest   *req = pool_pop_eligible_waiter(pool);

		if (req != NULL)
		{
			pool_serve(conn, req);
			/* those behind it may join it */
			if (pool->nwaiters > 0)
				pool_dispatch(pool);
			return;
		}
	}
	if (pool->nconns > pool->s.pool_size)
	{
		pool_conn_close(conn, POOL_CLOSE_OVERFLOW);
		return;
	}
	dlist_push_head(&pool->idle, &conn->pool_node);
	conn->in_idle_list = true;
	pool_conn_want(conn, WL_SOCKET_READABLE);

	if (pool->s.idle_timeout > 0)
		pool_schedule(pool, TimestampTzPlusMilliseconds(pool_now,
														pool->s.idle_timeout));
	if (conn->expires_at != 0)
		pool_schedule(pool, conn->expires_at);
}

/*
 * A connection closed: waiters may need a new one, and min_idle may need
 * restoring.
 */
void
pool_connection_closed(WPool *pool)
{
	if (pool->nwaiters > 0)
		pool_dispatch(pool);
	if (pool->s.min_idle > 0)
		pool_schedule(pool, pool_now);
}

/*
 * A connection attempt failed: the pool is failing until the next attempt,
 * which is made in the background after retry_delay (doubling with every
 * further failure, up to 30 times retry_delay).  Waiters fail with the
 * reason when the pool has no established connection to give them.
 */
void
pool_connect_failed(WPool *pool, const char *sqlstate, const char *message,
					const char *detail, const char *hint)
{
	int64		delay_ms;

	pg_atomic_fetch_add_u64(&pool->shared->connect_failures, 1);

	pool->failures++;
	delay_ms = pool->s.retry_delay;
	if (pool->failures > 1)
		delay_ms <<= Min(pool->failures - 1, 5);
	delay_ms = Min(delay_ms, (int64) pool->s.retry_delay * 30);
	pool->retry_at = TimestampTzPlusMilliseconds(pool_now, delay_ms);
	pool->failing = true;

	pool_forget_error(pool);
	strlcpy(pool->last_sqlstate, sqlstate, sizeof(pool->last_sqlstate));
	pool->last_error = message ? MemoryContextStrdup(pool->cxt, message) :
		MemoryContextStrdup(pool->cxt,
							psprintf("could not connect to pool \"%s\"",
									 pool->shared->name));
	pool->last_detail = detail ? MemoryContextStrdup(pool->cxt, detail) : NULL;
	pool->last_hint = hint ? MemoryContextStrdup(pool->cxt, hint) : NULL;
	pool_publish_state(pool);
	pool_schedule(pool, pool->retry_at);

	ereport(LOG,
			(errmsg("%s", pool_log_text(pool->last_error)),
			 pool->last_detail ?
			 errdetail_internal("%s", pool_log_text(pool->last_detail)) : 0,
			 errhint("%s", pool_retry_hint(pool))));

	if (pool->nconns - pool->nconnecting == 0)
	{
		while (pool->nwaiters > 0)
			pool_fail_fast(pool, pool_pop_waiter(pool));
	}
}

/*
 * Do what is due for a pool, and work out when it next needs us.
 */
static void
pool_maintain(WPool *pool)
{
	PoolSettings *s = &pool->s;
	TimestampTz next = 0;
	dlist_iter	iter;
	List	   *closing = NIL;
	List	   *reasons = NIL;
	ListCell   *lc1;
	ListCell   *lc2;
	int			idle = 0;
	int			keep;

#define NEXT(t) do { if ((t) != 0 && (next == 0 || (t) < next)) next = (t); } while (0)

	pool->next_maintenance = 0;

	dlist_foreach(iter, &pool->idle)
		idle++;
	keep = idle;

	/*
	 * Idle connections, least recently used first: decide which close, then
	 * close them (closing may dispatch, which changes the idle list).
	 */
	dlist_reverse_foreach(iter, &pool->idle)
	{
		WConn	   *conn = dlist_container(WConn, pool_node, iter.cur);
		TimestampTz idle_end = s->idle_timeout > 0 ?
		TimestampTzPlusMilliseconds(conn->idle_since, s->idle_timeout) : 0;
		int			reason = -1;

		if (conn->expires_at != 0 && conn->expires_at <= pool_now)
			reason = POOL_CLOSE_LIFETIME;
		else if (pool->nconns - list_length(closing) > s->pool_size)
			reason = POOL_CLOSE_OVERFLOW;
		else if (idle_end != 0 && keep > s->min_idle)
		{
			if (idle_end <= pool_now)
				reason = POOL_CLOSE_IDLE;
			else
				NEXT(idle_end);
		}
		if (reason >= 0)
		{
			closing = lappend(closing, conn);
			reasons = lappend_int(reasons, reason);
			keep--;
			continue;
		}
		NEXT(conn->expires_at);
	}
	forboth(lc1, closing, lc2, reasons)
		pool_conn_close((WConn *) lfirst(lc1), (PoolCloseReason) lfirst_int(lc2));

	/* checkouts held too long */
	if (s->leak_threshold > 0)
	{
		dlist_foreach(iter, &pool->conns)
		{
			WConn	   *conn = dlist_container(WConn, conns_node, iter.cur);
			TimestampTz leak_at;

			if ((conn->req == NULL && !conn->reserved) || conn->leak_reported)
				continue;
			leak_at = TimestampTzPlusMilliseconds(conn->checked_out_at,
												  s->leak_threshold);
			if (leak_at > pool_now)
			{
				NEXT(leak_at);
				continue;
			}
			conn->leak_reported = true;
			ereport(LOG,
					(errmsg("pool \"%s\": connection to remote pid %d has been checked out by process %d for %ld ms",
							pool->shared->name, conn->remote_pid,
							conn->reserved ? conn->peer->pid :
							conn->req->holder_pid,
							(long) ((pool_now - conn->checked_out_at) / 1000)),
					 errhint("Its command is shown in pool.connections.")));
		}
	}

	/* a failing pool tries again in the background */
	if (pool->failing)
	{
		if (pool->retry_at > pool_now)
			NEXT(pool->retry_at);
		else if (pool->nconnecting == 0 && s->min_idle == 0 &&
				 dlist_is_empty(&pool->waiters) &&
				 TimestampDifferenceExceeds(pool->last_demand, pool_now,
											(int) Min((int64) s->retry_delay * 30,
													  PG_INT32_MAX)))
		{
			/*
			 * Nobody asked for the pool through a whole back-off: stop
			 * knocking at the remote (a wrong password would fail there every
			 * 30 retry_delays for ever).  Its next use tries again.
			 */
			pool->failing = false;
			pool->failures = 0;
			pool_publish_state(pool);
		}
		else if (pool->nconnecting == 0)
		{
			char	   *why = NULL;

			/*
			 * With backends waiting, an idle connection of another pool may
			 * make room.  When there is no room at all, try again shortly:
			 * nothing else would.
			 */
			if (pool_conn_open(pool, !dlist_is_empty(&pool->waiters), &why) == NULL &&
				why != NULL)
			{
				pool->retry_at = TimestampTzPlusMilliseconds(pool_now, 1000);
				pool_publish_state(pool);
				NEXT(pool->retry_at);
			}
		}
	}
	else if (!pool->paused)
	{
		/* min_idle, without taking slots from other pools */
		while (keep + pool->nconnecting < s->min_idle &&
			   pool->nconns < s->pool_size && !pool->failing)
		{
			char	   *why;

			if (pool_conn_open(pool, false, &why) == NULL)
				break;
		}
	}

	/* waiters passed over for their role's limit get another look */
	if (pool->nwaiters > 0)
		pool_dispatch(pool);

	/* closing or opening may have asked for maintenance again */
	NEXT(pool->next_maintenance);
	pool->next_maintenance = next;
#undef NEXT
}

/*
 * Requests that waited checkout_timeout fail.
 */
static void
pool_expire_waiters(WPool *pool)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &pool->waiters)
	{
		WRequest   *req = dlist_container(WRequest, node, iter.cur);
		char	   *detail;

		if (TimestampTzPlusMilliseconds(req->enqueued_at,
										pool->s.checkout_timeout) > pool_now)
			continue;
		pool_dequeue(pool, req);
		pg_atomic_fetch_add_u64(&pool->shared->timeouts, 1);
		pg_atomic_fetch_add_u64(&pool->shared->wait_us,
								pool_now - req->enqueued_at);
		if (pool->paused)
			detail = pstrdup("The pool is paused.");
		else if (pool_role_limit() > 0 &&
				 pool_role_held(req->role) >= pool_role_limit())
			detail = psprintf("The role of this session holds %d pooled connections, the most pool.max_role_connections allows.",
							  pool_role_limit());
		else if (pool->why_waiting != NULL)
			detail = pstrdup(pool->why_waiting);
		else
			detail = psprintf("No connection became free within %d ms; the pool has %d connections (pool_size %d, max_overflow %d).",
							  pool->s.checkout_timeout, pool->nconns,
							  pool->s.pool_size, pool->s.max_overflow);
		/* the pool is at capacity, not failing: too many connections */
		pool_request_error(req, "53300",
						   psprintf("timed out waiting for a connection from pool \"%s\"",
									pool->shared->name),
						   detail,
						   "Raise pool.pool_size, pool.max_overflow or pool.checkout_timeout, or hold connections for less time.");
		pool_request_done(req);
	}
}

/*
 * The earliest time at which a pool needs the worker: maintenance, or a
 * waiter's checkout timeout.  0 when nothing is due.
 */
TimestampTz
pool_next_deadline(void)
{
	TimestampTz next = 0;
	int			i;

	for (i = 0; i < pool_shared->max_pools; i++)
	{
		WPool	   *pool = pools[i];
		TimestampTz d;

		if (pool == NULL)
			continue;
		if (pool->next_maintenance != 0 &&
			(next == 0 || pool->next_maintenance < next))
			next = pool->next_maintenance;
		if (pool->nwaiters > 0)
		{
			/* waiters queue in arrival order, except a few retried first */
			dlist_iter	iter;

			dlist_foreach(iter, &pool->waiters)
			{
				WRequest   *req = dlist_container(WRequest, node, iter.cur);

				d = TimestampTzPlusMilliseconds(req->enqueued_at,
												pool->s.checkout_timeout);
				if (next == 0 || d < next)
					next = d;
			}
		}
	}
	return next;
}

/*
 * Forget a pool whose entry went to another target (only an entry without
 * connections and waiters is given away): it must neither write the entry's
 * state nor connect again for it.  Returns whether it was forgotten.
 */
static bool
pool_retire_if_stale(WPool *pool)
{
	PoolEntry  *e = pool->shared;

	pg_read_barrier();
	if (e->generation == pool->generation && e->in_use)
		return false;
	if (pool->nconns > 0 || pool->nwaiters > 0)
		return false;
	pools[pool->index] = NULL;
	pool_wipe_scram_keys(pool);
	MemoryContextDelete(pool->cxt);
	return true;
}

/*
 * Do what is due in every pool.
 */
void
pool_fire_due(void)
{
	int			i;

	for (i = 0; i < pool_shared->max_pools; i++)
	{
		WPool	   *pool = pools[i];

		if (pool == NULL || pool_retire_if_stale(pool))
			continue;
		if (pool->nwaiters > 0)
			pool_expire_waiters(pool);
		if (pool->next_maintenance != 0 && pool->next_maintenance <= pool_now)
			pool_maintain(pool);
	}
}

/*
 * New settings after SIGHUP: apply them to every pool (a smaller pool
 * shrinks as connections come back, a larger one grows on demand).
 */
void
pool_reload_settings(void)
{
	int			i;

	for (i = 0; i < pool_shared->max_pools; i++)
	{
		WPool	   *pool = pools[i];

		dlist_iter	iter;

		if (pool == NULL)
			continue;
		pool_apply_settings(pool);

		/* lifetimes follow a new max_lifetime */
		dlist_foreach(iter, &pool->conns)
		{
			WConn	   *conn = dlist_container(WConn, conns_node, iter.cur);

			if (conn->connected_at != 0)
				conn->expires_at = pool_conn_expiry(pool, conn->connected_at);
		}
		pool_schedule(pool, pool_now);
		pool_dispatch(pool);
	}
}

/*
 * Administration: pause, resume, or reset a pool.  Returns the command tag;
 * a reset sets *closed to the idle connections it closed.
 */
char *
pool_admin(WPool *pool, char kind, uint64 *closed_out)
{
	dlist_mutable_iter iter;
	int			closed = 0;

	switch (kind)
	{
		case POOL_REQ_PAUSE:
			pool->paused = true;
			pool_publish_state(pool);
			ereport(LOG, (errmsg("pool \"%s\" paused", pool->shared->name)));
			return pstrdup("PAUSE");

		case POOL_REQ_RESUME:
			pool->paused = false;
			pool_publish_state(pool);
			ereport(LOG, (errmsg("pool \"%s\" resumed", pool->shared->name)));
			pool_schedule(pool, pool_now);
			pool_dispatch(pool);
			return pstrdup("RESUME");

		case POOL_REQ_RECONFIGURE:
			/* pool_get applied the new configuration already */
			return pstrdup("RECONFIGURE");

		case POOL_REQ_DROP:
			/* its server is gone: no requests, and every connection closes */
			pool->dropped = true;
			LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
			pool->shared->dropped = true;
			LWLockRelease(pool_shared->lock);
			while (pool->nwaiters > 0)
			{
				WRequest   *req = pool_pop_waiter(pool);

				pool_request_error(req, "08003", "the server of this pool was dropped",
								   NULL, NULL);
				pool_request_done(req);
			}
			ereport(LOG,
					(errmsg("pool \"%s\" closes: its server was dropped",
							pool->shared->name)));
			(void) pool_admin(pool, POOL_REQ_RESET, NULL);
			return pstrdup("DROP");

		case POOL_REQ_RESET:
			/* idle connections close now, the others at check-in */
			dlist_foreach_modify(iter, &pool->conns)
			{
				WConn	   *conn = dlist_container(WConn, conns_node, iter.cur);

				if (conn->in_idle_list)
				{
					pool_conn_close(conn, POOL_CLOSE_RESET);
					closed++;
				}
				else
					conn->doomed = true;
			}
			/* a reset also ends a back-off: try again now */
			if (pool->failing)
			{
				pool->retry_at = pool_now;
				pool->failures = 0;
			}
			pool_schedule(pool, pool_now);
			ereport(LOG,
					(errmsg("pool \"%s\" reset: %d idle connections closed",
							pool->shared->name, closed)));
			if (closed_out != NULL)
				*closed_out = closed;
			return pstrdup("RESET");
	}
	elog(ERROR, "unknown administrative request %c", kind);
	return NULL;				/* keep compiler quiet */
}
