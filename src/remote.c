/*-------------------------------------------------------------------------
 *
 * remote.c
 *	  The remote connections of a pool worker: a non-blocking libpq state
 *	  machine per connection.
 *
 *	  connecting --> idle <--> busy (serving one request)
 *	      |           |          |
 *	      |           |          +--> cleaning (cancel, drain, roll back)
 *	      v           v          v           |
 *	    closed <-------------------------------+
 *
 * Nothing here ever blocks: connections are opened with
 * PQconnectStartParams/PQconnectPoll, queries go out with PQsendQuery or
 * PQsendQueryParams on a non-blocking connection, results come back in
 * single-row mode and are turned into response records as they arrive.
 * While a request's response queue is full the connection stops reading its
 * socket (the remote then blocks on TCP), which is the back-pressure of the
 * channel.
 *
 * PostgreSQL 15's libpq has only a blocking cancel, so a running remote query
 * is cancelled by a second connection to the same server that runs
 * pg_cancel_backend(); meanwhile the connection drains its results and is
 * rolled back, and it is closed if it is not clean before its deadline.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/remote.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "pool.h"
#include "worker.h"

static void pool_conn_connect_poll(WConn *conn);
static void pool_conn_idle_input(WConn *conn);
static void pool_conn_pump_request(WConn *conn);
static void pool_conn_pump_cleaning(WConn *conn);
static void pool_conn_request_complete(WConn *conn);
static void pool_cancel_start(WConn *conn);
static void pool_cancel_event(WConn *conn);
static void pool_cancel_finish(WConn *conn);
static void pool_notice_receiver(void *arg, const PGresult *res);

/*
 * Publish a connection's state in its slot.
 */
void
pool_slot_set_state(WConn *conn, PoolSlotState state, int holder)
{
	PoolSlot   *slot = conn->slot;

	pool_slot_begin_write(slot);
	slot->state = state;
	slot->holder_pid = holder;
	slot->remote_pid = conn->remote_pid;
	if (state == POOL_SLOT_ACTIVE)
	{
		slot->checked_out_at = pool_now;
		slot->uses++;
	}
	else if (state == POOL_SLOT_IDLE && slot->checked_out_at != 0)
		slot->last_used_at = pool_now;
	if (state == POOL_SLOT_IDLE && slot->connected_at == 0)
		slot->connected_at = pool_now;
	pool_slot_end_write(slot);
}

/*
 * Claim a free slot for this worker; -1 if none is free.
 */
static int
pool_slot_claim(WPool *pool, int worker)
{
	int			i;

	LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < pool_shared->max_connections; i++)
	{
		PoolSlot   *slot = &pool_shared->slots[i];

		if (!slot->in_use)
		{
			slot->in_use = true;
			slot->worker = worker;
			pool_slot_begin_write(slot);
			slot->pool_index = pool->index;
			slot->pool_generation = pool->generation;
			slot->state = POOL_SLOT_CONNECTING;
			slot->holder_pid = 0;
			slot->remote_pid = 0;
			slot->connected_at = 0;
			slot->checked_out_at = 0;
			slot->last_used_at = 0;
			slot->uses = 0;
			pool_slot_end_write(slot);
			LWLockRelease(pool_shared->lock);
			return i;
		}
	}
	LWLockRelease(pool_shared->lock);
	return -1;
}

static void
pool_slot_free(PoolSlot *slot)
{
	pool_slot_begin_write(slot);
	slot->state = POOL_SLOT_EMPTY;
	slot->holder_pid = 0;
	pool_slot_end_write(slot);

	LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
	slot->in_use = false;
	LWLockRelease(pool_shared->lock);
}

/*
 * Socket events a busy or cleaning connection needs.
 */
static uint32
pool_conn_io_events(WConn *conn)
{
	/* PQflush costs nothing when there is nothing left to send */
	return WL_SOCKET_READABLE |
		(PQflush(conn->conn) == 1 ? WL_SOCKET_WRITEABLE : 0);
}

/*
 * pool.max_connections is reached: close the connection of another pool that
 * has been idle longest, so that its slot can serve this one.  Returns
 * whether one was closed.
 */
static bool
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
	pool_conn_close(victim);
	return true;
}

/*
 * Start opening a connection for a pool.  Returns NULL without a reason when
 * the attempt failed at once (the pool was told), or with *why set when no
 * slot or file descriptor is free (the caller may wait for one).
 */
WConn *
pool_conn_open(WPool *pool, char **why)
{
	WConn	   *conn;
	int			slot_index;
	PGconn	   *pgconn;

	*why = NULL;
	slot_index = pool_slot_claim(pool, pool->shared->worker);
	if (slot_index < 0 && pool_reclaim_idle(pool))
		slot_index = pool_slot_claim(pool, pool->shared->worker);
	if (slot_index < 0)
	{
		*why = psprintf("All %d connection slots (pool.max_connections) are in use.",
						pool_shared->max_connections);
		return NULL;
	}
	if (!AcquireExternalFD())
	{
		pool_slot_free(&pool_shared->slots[slot_index]);
		*why = pstrdup("The pool worker has no file descriptor left for another connection.");
		return NULL;
	}

	pgconn = PQconnectStartParams(pool->keywords, pool->values, false);
	if (pgconn == NULL || PQstatus(pgconn) == CONNECTION_BAD)
	{
		char	   *detail = pgconn ? pchomp(PQerrorMessage(pgconn)) :
		pstrdup("out of memory");

		PQfinish(pgconn);
		ReleaseExternalFD();
		pool_slot_free(&pool_shared->slots[slot_index]);
		pg_atomic_fetch_add_u64(&pool->shared->connect_failures, 1);
		pool_connect_failed(pool, "08001", NULL, detail, NULL);
		return NULL;
	}

	conn = MemoryContextAllocZero(pool_worker_cxt, sizeof(WConn));
	conn->pool = pool;
	conn->slot_index = slot_index;
	conn->slot = &pool_shared->slots[slot_index];
	conn->conn = pgconn;
	conn->sock = PGINVALID_SOCKET;
	conn->wes_pos = -1;
	conn->cancel_sock = PGINVALID_SOCKET;
	conn->cancel_pos = -1;
	conn->state = WC_CONNECTING;
	conn->deadline = TimestampTzPlusMilliseconds(pool_now,
												 pool->connect_timeout);
	dlist_push_tail(&pool_all_conns, &conn->all_node);
	pool->nconns++;
	pool->nconnecting++;

	pool_conn_want(conn, WL_SOCKET_WRITEABLE);
	return conn;
}

/*
 * Advance a connection attempt.
 */
static void
pool_conn_connect_poll(WConn *conn)
{
	WPool	   *pool = conn->pool;
	PostgresPollingStatusType st;

	st = PQconnectPoll(conn->conn);

	switch (st)
	{
		case PGRES_POLLING_READING:
			pool_conn_want(conn, WL_SOCKET_READABLE);
			return;
		case PGRES_POLLING_WRITING:
			pool_conn_want(conn, WL_SOCKET_WRITEABLE);
			return;
		case PGRES_POLLING_FAILED:
			{
				char	   *detail = pchomp(PQerrorMessage(conn->conn));

				pool_conn_close(conn);
				pg_atomic_fetch_add_u64(&pool->shared->connect_failures, 1);
				pool_connect_failed(pool, "08001", NULL, detail, NULL);
				return;
			}
		default:
			break;
	}

	/* Connected. */
	if (pool->require_password && !PQconnectionUsedPassword(conn->conn))
	{
		pool_conn_close(conn);
		pg_atomic_fetch_add_u64(&pool->shared->connect_failures, 1);
		pool_connect_failed(pool, "2F003", "password is required",
							"Non-superuser cannot connect if the server does not request a password.",
							"Target server's authentication method must be changed.");
		return;
	}
	if (PQsetnonblocking(conn->conn, 1) != 0)
	{
		char	   *detail = pchomp(PQerrorMessage(conn->conn));

		pool_conn_close(conn);
		pool_connect_failed(pool, "08001", NULL, detail, NULL);
		return;
	}
	PQsetNoticeReceiver(conn->conn, pool_notice_receiver, conn);

	conn->remote_pid = PQbackendPID(conn->conn);
	conn->deadline = 0;
	conn->state = WC_IDLE;
	pool->nconnecting--;
	pg_atomic_fetch_add_u64(&pool->shared->connects, 1);
	pool_slot_set_state(conn, POOL_SLOT_IDLE, 0);
	pool_connection_ready(conn);
}

/*
 * An idle connection's socket is readable: the remote closed it, or sent a
 * notification or parameter change.
 */
static void
pool_conn_idle_input(WConn *conn)
{
	PGnotify   *notify;

	if (!PQconsumeInput(conn->conn) || PQstatus(conn->conn) != CONNECTION_OK)
	{
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": idle connection to remote pid %d was closed",
								 conn->pool->shared->name, conn->remote_pid)));
		pool_conn_close(conn);
		return;
	}
	while ((notify = PQnotifies(conn->conn)) != NULL)
		PQfreemem(notify);
}

/*
 * Is an idle connection still alive?  Reads whatever is pending without
 * blocking: a remote that went away shows as EOF here.
 */
static bool
pool_conn_alive(WConn *conn)
{
	PGnotify   *notify;

	if (!PQconsumeInput(conn->conn) || PQstatus(conn->conn) != CONNECTION_OK)
		return false;
	while ((notify = PQnotifies(conn->conn)) != NULL)
		PQfreemem(notify);
	return PQtransactionStatus(conn->conn) == PQTRANS_IDLE;
}

/*
 * Handle socket events of a connection (or of its cancel connection).
 */
void
pool_conn_event(WConn *conn, pgsocket fd, uint32 events)
{
	if (conn->state == WC_CLOSED)
		return;

	if (conn->cancel_conn != NULL && fd == conn->cancel_sock)
	{
		pool_cancel_event(conn);
		return;
	}

	switch (conn->state)
	{
		case WC_CONNECTING:
			pool_conn_connect_poll(conn);
			break;
		case WC_IDLE:
			pool_conn_idle_input(conn);
			break;
		case WC_BUSY:
		case WC_CLEANING:
			if (events & WL_SOCKET_WRITEABLE)
				(void) PQflush(conn->conn);
			if (events & WL_SOCKET_READABLE)
				(void) PQconsumeInput(conn->conn);
			pool_conn_pump(conn);
			break;
		case WC_CLOSED:
			break;
	}
}

/*
 * Add the time a request held a connection to its pool's total.
 */
static void
pool_conn_account(WConn *conn)
{
	pg_atomic_fetch_add_u64(&conn->pool->shared->query_us,
							Max(pool_now - conn->checked_out_at, 0));
}

/*
 * Send a request's query on an idle connection.
 */
void
pool_conn_start_request(WConn *conn, WRequest *req)
{
	WPool	   *pool = conn->pool;
	int			ok;

	Assert(conn->state == WC_IDLE);

	req->state = WR_RUNNING;
	req->conn = conn;
	conn->req = req;
	conn->state = WC_BUSY;
	conn->rollback_sent = false;
	conn->checked_out_at = pool_now;

	pg_atomic_fetch_add_u64(&pool->shared->checkouts, 1);
	pg_atomic_fetch_add_u64(&pool->shared->queries, 1);
	pg_atomic_fetch_add_u64(&pool->shared->wait_us,
							Max(pool_now - req->enqueued_at, 0));
	pool_slot_set_state(conn, POOL_SLOT_ACTIVE, req->holder_pid);

	if (req->nparams > 0)
		ok = PQsendQueryParams(conn->conn, req->sql, req->nparams, NULL,
							   req->params, NULL, NULL, 0);
	else
		ok = PQsendQuery(conn->conn, req->sql);
	if (ok)
	{
		(void) PQsetSingleRowMode(conn->conn);
		ok = PQflush(conn->conn) >= 0;
	}

	if (!ok)
	{
		/*
		 * The connection failed while the query was going out: the remote
		 * never ran it, so it is safe to run it on another connection.
		 */
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": connection to remote pid %d failed at send: %s",
								 pool->shared->name, conn->remote_pid,
								 pchomp(PQerrorMessage(conn->conn)))));
		conn->req = NULL;
		req->conn = NULL;
		pool_conn_close(conn);
		pool_request_retry(req);
		return;
	}

	pool_conn_want(conn, pool_conn_io_events(conn));
}

/*
 * Append a description record for a row-returning result.
 */
static void
pool_append_rowdesc(WConn *conn, WRequest *req, const PGresult *res)
{
	int			ncols = PQnfields(res);
	const char *datestyle = PQparameterStatus(conn->conn, "DateStyle");
	const char *intervalstyle = PQparameterStatus(conn->conn, "IntervalStyle");
	int			start;
	int			i;

	pool_begin_record(&req->building, POOL_REC_ROWDESC, &start);
	pool_put_uint32(&req->building, ncols);
	/* the styles the values are written in */
	datestyle = datestyle ? datestyle : "";
	intervalstyle = intervalstyle ? intervalstyle : "";
	appendBinaryStringInfo(&req->building, datestyle, strlen(datestyle) + 1);
	appendBinaryStringInfo(&req->building, intervalstyle,
						   strlen(intervalstyle) + 1);
	for (i = 0; i < ncols; i++)
	{
		const char *name = PQfname(res, i);

		pool_put_uint32(&req->building, PQftype(res, i));
		appendBinaryStringInfo(&req->building, name, strlen(name) + 1);
	}
	pool_end_record(&req->building, start);
	req->has_rowdesc = true;
}

/*
 * Append one row (of a single-row-mode result).
 */
static void
pool_append_row(WRequest *req, const PGresult *res)
{
	int			ncols = PQnfields(res);
	int			start;
	int			i;

	pool_begin_record(&req->building, POOL_REC_ROW, &start);
	for (i = 0; i < ncols; i++)
	{
		if (PQgetisnull(res, 0, i))
			pool_put_uint32(&req->building, (uint32) -1);
		else
		{
			int			len = PQgetlength(res, 0, i);

			pool_put_uint32(&req->building, len);
			/* the value is NUL-terminated: keep the terminator */
			appendBinaryStringInfo(&req->building, PQgetvalue(res, 0, i),
								   len + 1);
		}
	}
	pool_end_record(&req->building, start);
}

/*
 * Append an error or notice record built from a remote result.  Errors that
 * libpq raised itself (a lost connection) carry no SQLSTATE: they become
 * connection failures, with libpq's first line as the message.
 */
void
pool_append_result_error(StringInfo buf, const PGresult *res, char type)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	int			start;

	pool_begin_record(buf, type, &start);
	if (sqlstate == NULL || message == NULL)
	{
		char	   *full = pchomp(PQresultErrorMessage(res));
		char	   *nl = strchr(full, '\n');

		if (nl != NULL)
		{
			*nl = '\0';
			detail = nl + 1;
			while (*detail == ' ' || *detail == '\t')
				detail++;
		}
		message = full[0] ? full : "connection to the remote server was lost";
		sqlstate = "08006";
	}
	pool_put_field(buf, PG_DIAG_SEVERITY_NONLOCALIZED,
				   PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED));
	pool_put_field(buf, PG_DIAG_SQLSTATE, sqlstate);
	pool_put_field(buf, PG_DIAG_MESSAGE_PRIMARY, message);
	pool_put_field(buf, PG_DIAG_MESSAGE_DETAIL, detail);
	pool_put_field(buf, PG_DIAG_MESSAGE_HINT,
				   PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
	pool_put_field(buf, PG_DIAG_CONTEXT,
				   PQresultErrorField(res, PG_DIAG_CONTEXT));
	pool_put_field(buf, POOL_FIELD_REMOTE, "1");
	appendStringInfoChar(buf, '\0');
	pool_end_record(buf, start);
}

/*
 * Turn one result of a busy connection into records.  Returns false when the
 * request cannot go on on this connection (COPY).
 */
static bool
pool_conn_handle_result(WConn *conn, WRequest *req, PGresult *res)
{
	switch (PQresultStatus(res))
	{
		case PGRES_SINGLE_TUPLE:
			if (req->kind == POOL_REQ_QUERY && !req->failed)
			{
				if (!req->has_rowdesc)
					pool_append_rowdesc(conn, req, res);
				pool_append_row(req, res);
			}
			break;
		case PGRES_TUPLES_OK:
			if (req->kind == POOL_REQ_QUERY && !req->failed &&
				!req->has_rowdesc)
				pool_append_rowdesc(conn, req, res);
			req->has_rowdesc = false;
			req->tag = MemoryContextStrdup(req->cxt, PQcmdStatus(res));
			break;
		case PGRES_COMMAND_OK:
		case PGRES_EMPTY_QUERY:
			req->tag = MemoryContextStrdup(req->cxt, PQcmdStatus(res));
			break;
		case PGRES_COPY_IN:
		case PGRES_COPY_OUT:
		case PGRES_COPY_BOTH:
			if (!req->failed)
				pool_request_error(req, "0A000",
								   "COPY is not supported through pool",
								   NULL, NULL);
			return false;
		default:
			if (!req->failed)
			{
				resetStringInfo(&req->error);
				pool_append_result_error(&req->error, res, POOL_REC_ERROR);
				req->failed = true;
			}
			break;
	}
	return true;
}

/*
 * Read results of a busy connection while its request's queue has room.
 */
static void
pool_conn_pump_request(WConn *conn)
{
	WRequest   *req = conn->req;

	for (;;)
	{
		PGresult   *res;
		bool		ok;

		if (req->building.len >= POOL_FLUSH_THRESHOLD)
		{
			pool_request_flush(req, false);
			if (conn->req != req)
				return;			/* the backend gave up on it */
		}
		if (pool_request_output_full(req))
		{
			/* back-pressure: stop reading until the backend catches up */
			pool_conn_want(conn, 0);
			return;
		}
		if (PQisBusy(conn->conn))
		{
			pool_conn_want(conn, pool_conn_io_events(conn));
			return;
		}

		res = PQgetResult(conn->conn);
		if (res == NULL)
		{
			pool_conn_request_complete(conn);
			return;
		}
		ok = pool_conn_handle_result(conn, req, res);
		PQclear(res);
		if (!ok)
		{
			/* the connection is stuck in COPY: finish here and close it */
			pool_conn_account(conn);
			conn->req = NULL;
			req->conn = NULL;
			pool_request_done(req);
			pool_conn_close(conn);
			return;
		}
	}
}

/*
 * A busy connection returned its last result: finish the request and put the
 * connection back, cleaning it first if the remote transaction is open.
 */
static void
pool_conn_request_complete(WConn *conn)
{
	WRequest   *req = conn->req;
	bool		clean;

	pool_conn_account(conn);
	conn->req = NULL;
	req->conn = NULL;

	/*
	 * Show the connection as checked in before the backend hears that its
	 * command is done, so that what it reads in the views next adds up.
	 */
	clean = PQstatus(conn->conn) == CONNECTION_OK &&
		PQtransactionStatus(conn->conn) == PQTRANS_IDLE;
	if (clean)
		pool_slot_set_state(conn, POOL_SLOT_IDLE, 0);
	pool_request_done(req);

	if (PQstatus(conn->conn) != CONNECTION_OK)
	{
		pool_conn_close(conn);
		return;
	}
	if (clean)
	{
		pool_checkin(conn);
		return;
	}
	conn->state = WC_CLEANING;
	conn->deadline = TimestampTzPlusMilliseconds(pool_now,
												 POOL_CLEANUP_TIMEOUT_MS);
	pool_slot_set_state(conn, POOL_SLOT_CLEANING, 0);
	pool_conn_pump_cleaning(conn);
}

/*
 * Drive a connection back to a clean idle state: drain what is left of the
 * last command, wait for a cancel in flight, roll back an open transaction.
 */
static void
pool_conn_pump_cleaning(WConn *conn)
{
	for (;;)
	{
		PGresult   *res;
		PGTransactionStatusType ts;

		if (PQstatus(conn->conn) != CONNECTION_OK)
		{
			pool_conn_close(conn);
			return;
		}
		if (PQisBusy(conn->conn))
		{
			pool_conn_want(conn, pool_conn_io_events(conn));
			return;
		}
		res = PQgetResult(conn->conn);
		if (res != NULL)
		{
			PQclear(res);
			continue;
		}

		/* The last command is over. */
		if (conn->cancel_conn != NULL)
		{
			if (conn->cancel_sent)
			{
				/*
				 * pg_cancel_backend() is on its way: wait for it, so that it
				 * cannot hit the next holder's query.
				 */
				pool_conn_want(conn, WL_SOCKET_READABLE);
				return;
			}
			pool_cancel_finish(conn);
		}

		ts = PQtransactionStatus(conn->conn);
		if (ts == PQTRANS_IDLE)
		{
			pool_checkin(conn);
			return;
		}
		if ((ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) &&
			!conn->rollback_sent)
		{
			conn->rollback_sent = true;
			if (PQsendQuery(conn->conn, "ROLLBACK") && PQflush(conn->conn) >= 0)
				continue;
		}
		pool_conn_close(conn);
		return;
	}
}

/*
 * Read what a busy or cleaning connection has for us.
 */
void
pool_conn_pump(WConn *conn)
{
	if (conn->state == WC_BUSY)
		pool_conn_pump_request(conn);
	else if (conn->state == WC_CLEANING)
		pool_conn_pump_cleaning(conn);
}

/*
 * The backend gave up on the request this connection serves: cancel the
 * remote query if it is still running, and clean the connection.
 */
void
pool_conn_abandon(WConn *conn)
{
	pool_conn_account(conn);
	conn->req = NULL;
	conn->state = WC_CLEANING;
	conn->deadline = TimestampTzPlusMilliseconds(pool_now,
												 POOL_CLEANUP_TIMEOUT_MS);
	pool_slot_set_state(conn, POOL_SLOT_CLEANING, 0);

	/* Take what already arrived; cancel only if the query still runs. */
	(void) PQconsumeInput(conn->conn);
	while (PQstatus(conn->conn) == CONNECTION_OK && !PQisBusy(conn->conn))
	{
		PGresult   *res = PQgetResult(conn->conn);

		if (res == NULL)
			break;
		PQclear(res);
	}
	if (PQstatus(conn->conn) == CONNECTION_OK && PQisBusy(conn->conn))
		pool_cancel_start(conn);
	pool_conn_pump_cleaning(conn);
}

/*
 * A deadline passed.
 */
void
pool_conn_timeout(WConn *conn)
{
	WPool	   *pool = conn->pool;

	if (conn->state == WC_CONNECTING)
	{
		char	   *detail = psprintf("The connection attempt timed out after %d ms.",
									  pool->connect_timeout);

		pool_conn_close(conn);
		pg_atomic_fetch_add_u64(&pool->shared->connect_failures, 1);
		pool_connect_failed(pool, "08001", NULL, detail, NULL);
	}
	else if (conn->state == WC_CLEANING)
	{
		ereport(LOG,
				(errmsg("pool \"%s\": closing connection to remote pid %d that did not come back clean within %d ms",
						pool->shared->name, conn->remote_pid,
						POOL_CLEANUP_TIMEOUT_MS)));
		pool_conn_close(conn);
	}
	else
		conn->deadline = 0;
}

/*
 * Close a connection and free its slot.  The WConn itself is freed by the
 * worker later, since events for it may still be pending.
 */
void
pool_conn_close(WConn *conn)
{
	WPool	   *pool = conn->pool;
	bool		was_connecting = conn->state == WC_CONNECTING;

	if (conn->state == WC_CLOSED)
		return;
	Assert(conn->req == NULL);

	if (conn->in_idle_list)
	{
		dlist_delete(&conn->pool_node);
		conn->in_idle_list = false;
	}
	if (conn->cancel_conn != NULL)
	{
		conn->cancel_sent = false;
		pool_cancel_finish(conn);
	}
	PQfinish(conn->conn);
	conn->conn = NULL;
	ReleaseExternalFD();
	conn->state = WC_CLOSED;
	conn->sock = PGINVALID_SOCKET;
	conn->deadline = 0;
	pool_wes_dirty();
	pool_slot_free(conn->slot);

	pool->nconns--;
	if (was_connecting)
		pool->nconnecting--;
	pool_connection_closed(pool);
}

/*
 * Start cancelling the remote query through a second connection.  Without a
 * file descriptor or a connection for it, the cleaning deadline closes the
 * connection instead.
 */
static void
pool_cancel_start(WConn *conn)
{
	PGconn	   *c;

	if (conn->remote_pid == 0 || !AcquireExternalFD())
		return;
	c = PQconnectStartParams(conn->pool->keywords, conn->pool->values, false);
	if (c == NULL || PQstatus(c) == CONNECTION_BAD)
	{
		PQfinish(c);
		ReleaseExternalFD();
		return;
	}
	conn->cancel_conn = c;
	conn->cancel_sent = false;
	pool_cancel_want(conn, WL_SOCKET_WRITEABLE);
}

static void
pool_cancel_event(WConn *conn)
{
	PGconn	   *c = conn->cancel_conn;

	if (!conn->cancel_sent)
	{
		PostgresPollingStatusType st = PQconnectPoll(c);
		char		pid[32];
		const char *params[1];

		if (st == PGRES_POLLING_READING)
		{
			pool_cancel_want(conn, WL_SOCKET_READABLE);
			return;
		}
		if (st == PGRES_POLLING_WRITING)
		{
			pool_cancel_want(conn, WL_SOCKET_WRITEABLE);
			return;
		}
		if (st == PGRES_POLLING_FAILED || PQsetnonblocking(c, 1) != 0)
		{
			ereport(DEBUG1,
					(errmsg_internal("pool \"%s\": could not connect to cancel remote pid %d",
									 conn->pool->shared->name, conn->remote_pid)));
			pool_cancel_finish(conn);
			pool_conn_pump(conn);
			return;
		}
		snprintf(pid, sizeof(pid), "%d", conn->remote_pid);
		params[0] = pid;
		if (!PQsendQueryParams(c, "SELECT pg_catalog.pg_cancel_backend($1::pg_catalog.int4)",
							   1, NULL, params, NULL, NULL, 0) ||
			PQflush(c) < 0)
		{
			pool_cancel_finish(conn);
			pool_conn_pump(conn);
			return;
		}
		conn->cancel_sent = true;
		pool_cancel_want(conn, WL_SOCKET_READABLE);
		return;
	}

	/* Waiting for pg_cancel_backend() to answer. */
	if (!PQconsumeInput(c))
	{
		pool_cancel_finish(conn);
		pool_conn_pump(conn);
		return;
	}
	while (!PQisBusy(c))
	{
		PGresult   *res = PQgetResult(c);

		if (res == NULL)
		{
			pool_cancel_finish(conn);
			pool_conn_pump(conn);
			return;
		}
		PQclear(res);
	}
}

/*
 * Close the cancel connection.
 */
static void
pool_cancel_finish(WConn *conn)
{
	if (conn->cancel_conn == NULL)
		return;
	PQfinish(conn->cancel_conn);
	ReleaseExternalFD();
	conn->cancel_conn = NULL;
	conn->cancel_sent = false;
	conn->cancel_sock = PGINVALID_SOCKET;
	conn->cancel_pos = -1;
	conn->cancel_events = 0;
	pool_wes_dirty();
}

/*
 * Notices and warnings of a connection go to the backend it serves; others
 * (such as the FATAL a remote sends before closing an idle connection) are
 * only logged at DEBUG1.
 */
static void
pool_notice_receiver(void *arg, const PGresult *res)
{
	WConn	   *conn = (WConn *) arg;

	if (conn->state == WC_BUSY && conn->req != NULL)
		pool_append_result_error(&conn->req->building, res, POOL_REC_NOTICE);
	else
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": remote pid %d: %s",
								 conn->pool->shared->name, conn->remote_pid,
								 pchomp(PQresultErrorMessage(res)))));
}

/*
 * Take an idle connection of a pool for a request, replacing any found dead.
 */
WConn *
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
		pool_conn_close(conn);
	}
	return NULL;
}
