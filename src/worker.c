/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The pool worker: one event loop over every connection it owns and every
 *	  backend it serves.
 *
 * Each of the pool.workers workers serves the pools assigned to it.  Its
 * loop waits in one long-lived WaitEventSet on its latch, postmaster death
 * and every remote socket, then:
 *
 *	- on a socket event, advances that connection (remote.c);
 *	- on its latch: handles SIGTERM and SIGHUP, rings of the doorbell (new
 *	  requests, abandoned requests, backends that exited), retries response
 *	  queues that were full and requests not fully read yet, then polls the
 *	  sockets once more without waiting, so that a busy latch cannot starve
 *	  them;
 *	- fires deadlines: connection attempts, cleaning, checkout waits.
 *
 * The set is rebuilt whenever a socket comes or goes (sockets cannot be
 * removed from a set in PostgreSQL 15, and libpq may change a connection's
 * socket while connecting); a connection whose request's queue is full is
 * left out, which stops reading its socket.
 *
 * An ERROR while handling one event is caught there: it fails the request
 * and closes the connection concerned, and the loop goes on, so that one bad
 * connection does not drop every pool.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/resource.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_bitutils.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/elog.h"
#include "utils/memutils.h"

#include "pool.h"
#include "shmem.h"
#include "wire.h"
#include "worker.h"


TimestampTz pool_now;

static int	my_index;
static PoolWorkerInfo *my_info;
static uint32 my_generation;
static WPeer **peers;			/* by pgprocno */
WConn	  **pool_slot_conns;	/* this worker's connections, by slot */
dlist_head	pool_all_conns = DLIST_STATIC_INIT(pool_all_conns);
MemoryContext pool_worker_cxt;
static dlist_head reading = DLIST_STATIC_INIT(reading);
static dlist_head blocked = DLIST_STATIC_INIT(blocked);
static List *dead_requests = NIL;
static List *dead_conns = NIL;
static WaitEventSet *wes = NULL;
static int	wes_size;
static bool wes_needs_rebuild = true;
static WaitEvent *occurred;
static MemoryContext loop_cxt;	/* reset every iteration */
static WConn *current_conn = NULL;	/* for error recovery */
static WRequest *current_request = NULL;

static void pool_request_abandon(WRequest *req);
static void pool_request_on_handle(WRequest *req);
static void pool_request_release(WRequest *req);
static WConn *pool_peer_handle_conn(WPeer *peer, uint64 handle);
static void pool_peer_undo_checkout(WPeer *peer, int lane_no);
static void pool_recover(void);
static void pool_worker_forget(int w);

/*
 * Register the workers; called from _PG_init.
 */
void
pool_register_workers(void)
{
	BackgroundWorker worker;
	int			i;

	for (i = 0; i < pool_workers; i++)
	{
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
			BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = 1;
		snprintf(worker.bgw_library_name, sizeof(worker.bgw_library_name), "pool");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "pool_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "pool worker %d", i + 1);
		snprintf(worker.bgw_type, BGW_MAXLEN, "pool worker");
		worker.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&worker);
	}
}

/*
 * A copy of text that came from a remote (or from libpq's account of one)
 * fit for the server log: control characters, which could start lines that
 * look like the server's own, become spaces, and it is cut at
 * POOL_LOG_TEXT_LEN bytes.
 */
char *
pool_log_text(const char *s)
{
	size_t		len;
	char	   *copy;
	char	   *p;

	if (s == NULL)
		return NULL;
	len = strnlen(s, POOL_LOG_TEXT_LEN);
	copy = pnstrdup(s, len);
	for (p = copy; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = ' ';
	return copy;
}

/* ----------------------------------------------------------------
 * The wait set
 * ----------------------------------------------------------------
 */

void
pool_wes_dirty(void)
{
	wes_needs_rebuild = true;
}

/*
 * Keep one socket's registration in step with libpq (which may replace or
 * drop a connection's socket, across PQconnectPoll or on failure) and with
 * the events wanted; 0 leaves the socket out of the set.
 */
static void
pool_watch_socket(bool open, pgsocket now, pgsocket *sock, int *pos,
				  uint32 *current, uint32 events)
{
	if (open && now != *sock)
	{
		*sock = now;
		*pos = -1;
		wes_needs_rebuild = true;
	}
	if (*current == events)
		return;
	if (events != 0 && *current != 0 && *pos >= 0 && !wes_needs_rebuild)
		ModifyWaitEvent(wes, *pos, events, NULL);
	else
		wes_needs_rebuild = true;
	*current = events;
}

/*
 * Forget a connection's registration: the socket will be added anew at the
 * next rebuild of the wait set.
 */
void
pool_conn_forget_socket(WConn *conn)
{
	conn->sock = PGINVALID_SOCKET;
	conn->wes_pos = -1;
	conn->events = 0;
	wes_needs_rebuild = true;
}

void
pool_cancel_forget_socket(WConn *conn)
{
	conn->cancel_sock = PGINVALID_SOCKET;
	conn->cancel_pos = -1;
	conn->cancel_events = 0;
	wes_needs_rebuild = true;
}

void
pool_conn_want(WConn *conn, uint32 events)
{
	pool_watch_socket(conn->conn != NULL,
					  conn->conn ? PQsocket(conn->conn) : PGINVALID_SOCKET,
					  &conn->sock, &conn->wes_pos, &conn->events, events);
}

void
pool_cancel_want(WConn *conn, uint32 events)
{
	pool_watch_socket(conn->cancel_conn != NULL,
					  conn->cancel_conn ? pool_cancel_socket(conn->cancel_conn) :
					  PGINVALID_SOCKET,
					  &conn->cancel_sock, &conn->cancel_pos,
					  &conn->cancel_events, events);
}

/* the connection whose socket is being added, while the set is built */
static WConn *wes_adding = NULL;
static bool wes_adding_cancel = false;

static void
pool_wes_build(void)
{
	dlist_iter	iter;

	if (wes != NULL)
		FreeWaitEventSet(wes);
	wes = NULL;
	wes = pool_create_wait_event_set(pool_worker_cxt, wes_size);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);

	dlist_foreach(iter, &pool_all_conns)
	{
		WConn	   *conn = dlist_container(WConn, all_node, iter.cur);

		conn->wes_pos = -1;
		conn->cancel_pos = -1;
		wes_adding = conn;
		wes_adding_cancel = false;
		if (conn->events != 0 && conn->sock != PGINVALID_SOCKET)
			conn->wes_pos = AddWaitEventToSet(wes, conn->events, conn->sock,
											  NULL, conn);
		wes_adding_cancel = true;
		if (conn->cancel_conn != NULL && conn->cancel_events != 0 &&
			conn->cancel_sock != PGINVALID_SOCKET)
			conn->cancel_pos = AddWaitEventToSet(wes, conn->cancel_events,
												 conn->cancel_sock, NULL, conn);
	}
	wes_adding = NULL;
	wes_needs_rebuild = false;
}

/*
 * Build the wait set anew.  A socket the kernel refuses (epoll_ctl fails)
 * costs its own connection, not the worker: that connection (or its cancel
 * connection) is dropped and the set built again without it.  Should the
 * set itself not be made (no file descriptor left), the worker logs it and
 * tries again shortly.
 */
static void
pool_wes_rebuild(void)
{
	volatile bool built = false;

	while (!built)
	{
		WConn	   *culprit;
		bool		culprit_cancel;

		PG_TRY();
		{
			pool_wes_build();
			built = true;
		}
		PG_CATCH();
		{
			culprit = wes_adding;
			culprit_cancel = wes_adding_cancel;
			wes_adding = NULL;
			if (culprit != NULL && culprit_cancel)
			{
				/* the cancel goes; the cleaning deadline covers the rest */
				EmitErrorReport();
				FlushErrorState();
				pool_cancel_finish(culprit);
			}
			else if (culprit != NULL)
			{
				current_conn = culprit;
				pool_recover();
			}
			else
			{
				EmitErrorReport();
				FlushErrorState();
				pg_usleep(100000L);
				CHECK_FOR_INTERRUPTS();
				if (ShutdownRequestPending)
					proc_exit(1);
			}
			wes_needs_rebuild = true;
		}
		PG_END_TRY();
	}
}

/* ----------------------------------------------------------------
 * Requests
 * ----------------------------------------------------------------
 */

/*
 * Make a request fail with an error of the pool's own.
 */
void
pool_request_error(WRequest *req, const char *sqlstate, const char *message,
				   const char *detail, const char *hint)
{
	int			start;

	resetStringInfo(&req->error);
	pool_begin_record(&req->error, POOL_REC_ERROR, &start);
	pool_put_field(&req->error, PG_DIAG_SEVERITY_NONLOCALIZED, "ERROR");
	pool_put_field(&req->error, PG_DIAG_SQLSTATE, sqlstate);
	pool_put_field(&req->error, PG_DIAG_MESSAGE_PRIMARY, message);
	pool_put_field(&req->error, PG_DIAG_MESSAGE_DETAIL, detail);
	pool_put_field(&req->error, PG_DIAG_MESSAGE_HINT, hint);
	appendStringInfoChar(&req->error, '\0');
	pool_end_record(&req->error, start);
	req->failed = true;
}

static void
pool_set_blocked(WRequest *req, bool is_blocked)
{
	if (is_blocked == req->blocked)
		return;
	if (is_blocked)
		dlist_push_tail(&blocked, &req->blocked_node);
	else
		dlist_delete(&req->blocked_node);
	req->blocked = is_blocked;
}

/*
 * Is a request's output backed up, so that its connection should stop
 * reading?
 */
bool
pool_request_output_full(WRequest *req)
{
	return (req->send_pending && req->building.len >= POOL_FLUSH_THRESHOLD) ||
		req->big_row != NULL;
}

/*
 * Did the queue take a message?  If not, the request waits for room (and is
 * retried on every latch wake-up), or the backend detached and the request
 * is abandoned.
 */
static bool
pool_request_sent(WRequest *req, shm_mq_result res)
{
	if (res == SHM_MQ_WOULD_BLOCK)
	{
		pool_set_blocked(req, true);
		return false;
	}
	if (res == SHM_MQ_DETACHED)
	{
		pool_request_abandon(req);
		return false;
	}
	return true;
}

/*
 * Hand what a request has built to its response queue, never waiting.  A
 * message the queue does not take stays pending and is retried on every
 * latch wake-up.  After the final record is delivered the lane goes back to
 * the backend.  If the backend detached, the request is abandoned.
 */
void
pool_request_flush(WRequest *req, bool final)
{
	shm_mq_result res;

	for (;;)
	{
		if (req->send_pending)
		{
			res = shm_mq_send(req->out, req->sending.len, req->sending.data,
							  true, true);
			if (!pool_request_sent(req, res))
				return;
			req->send_pending = false;
			resetStringInfo(&req->sending);
		}

		/*
		 * What was built goes out (swapping the buffers): a partial batch
		 * waits for more, unless this is the end or a large row follows. What
		 * was built while a large row was partly in the queue comes after it.
		 */
		if (req->building.len > 0 && !req->big_started &&
			(final || req->state == WR_FINISHING || req->big_row != NULL ||
			 req->building.len >= POOL_FLUSH_THRESHOLD))
		{
			StringInfoData tmp = req->sending;

			req->sending = req->building;
			req->building = tmp;
			req->send_pending = true;
			req->delivered = true;
			continue;
		}

		/* then a large row, straight from libpq's result */
		if (req->big_row != NULL)
		{
			res = shm_mq_sendv(req->out, req->big_iov, req->big_iovcnt,
							   true, true);
			req->big_started = true;
			req->delivered = true;
			if (!pool_request_sent(req, res))
				return;
			pool_request_drop_big_row(req);
			continue;
		}
		break;
	}
	pool_set_blocked(req, false);

	if (req->state == WR_FINISHING && !req->send_pending &&
		req->building.len == 0)
		pool_request_release(req);
}

/*
 * Let go of a large row (sent, or no longer wanted).
 */
void
pool_request_drop_big_row(WRequest *req)
{
	if (req->big_row == NULL)
		return;
	PQclear(req->big_row);
	req->big_row = NULL;
	pfree(req->big_iov);
	req->big_iov = NULL;
	req->big_iovcnt = 0;
	req->big_started = false;
}

/*
 * A request is over: queue its final record (the error, or the command tag)
 * and deliver what is left.
 */
void
pool_request_done(WRequest *req)
{
	req->state = WR_FINISHING;
	if (req->failed)
	{
		/*
		 * A large row still waiting for the queue is not delivered: the error
		 * comes in its place (nothing is read while one waits, so a request
		 * ends with one pending only when it fails) -- unless part of it is
		 * in the queue already: it is finished first, since a message once
		 * started cannot be taken back.
		 */
		if (!req->big_started)
			pool_request_drop_big_row(req);
		appendBinaryStringInfo(&req->building, req->error.data,
							   req->error.len);
		if (req->pool != NULL)
			pg_atomic_fetch_add_u64(&req->pool->shared->errors, 1);
	}
	else
	{
		int			start;
		const char *tag = req->tag ? req->tag : "";

		if (req->has_number)
		{
			pool_begin_record(&req->building, POOL_REC_NUMBER, &start);
			appendBinaryStringInfo(&req->building, (char *) &req->number,
								   sizeof(uint64));
			pool_end_record(&req->building, start);
		}
		pool_begin_record(&req->building, POOL_REC_DONE, &start);
		appendBinaryStringInfo(&req->building, tag, strlen(tag) + 1);
		pool_end_record(&req->building, start);
	}
	pool_request_flush(req, true);
}

/*
 * Give the lane back to the backend.  The request touches neither the lane
 * nor its queues any more, nor its peer.
 */
static void
pool_request_hand_back(WRequest *req)
{
	WPeer	   *peer = req->peer;

	pool_set_blocked(req, false);
	pool_request_drop_big_row(req);
	if (peer->requests[req->lane_no] == req)
		peer->requests[req->lane_no] = NULL;
	pg_write_barrier();
	pg_atomic_write_u32(&req->lane->owner, POOL_LANE_BACKEND);
	req->send_pending = false;
	resetStringInfo(&req->building);
}

/*
 * Free a request once no event can refer to it any more.
 */
void
pool_request_forget(WRequest *req)
{
	MemoryContext old = MemoryContextSwitchTo(pool_worker_cxt);

	req->state = WR_FINISHING;
	req->conn = NULL;
	dead_requests = lappend(dead_requests, req);
	MemoryContextSwitchTo(old);
}

/*
 * Give the lane back to the backend and forget the request.
 */
static void
pool_request_release(WRequest *req)
{
	pool_request_hand_back(req);
	pool_request_forget(req);
}

/*
 * The backend gave up on a request (cancel, error, exit).
 */
static void
pool_request_abandon(WRequest *req)
{
	switch (req->state)
	{
		case WR_READING:
			dlist_delete(&req->node);
			break;
		case WR_WAITING:
			if (req->parked_on != NULL)
			{
				req->parked_on->parked = NULL;
				req->parked_on = NULL;
			}
			else
				pool_dequeue(req->pool, req);
			break;
		case WR_RUNNING:
			{
				WConn	   *conn = req->conn;

				if (conn == NULL)
				{
					/* between its connection and its last records */
					break;
				}
				if (pool_conn_discard(conn, req))
				{
					/* in flight behind or before others: runs on, unheard */
					pool_request_hand_back(req);
					SetLatch(&GetPGProcByNumber(req->peer->procno)->procLatch);
					return;
				}
				req->conn = NULL;
				pool_request_release(req);
				pool_conn_abandon(conn);
				/* wake a backend that may wait for a free lane */
				SetLatch(&GetPGProcByNumber(req->peer->procno)->procLatch);
				return;
			}
		case WR_FINISHING:
			/* a checkout whose handle the backend will never know */
			if (req->peer->checkout_seq[req->lane_no] == req->seq)
				pool_peer_undo_checkout(req->peer, req->lane_no);
			break;
	}
	pool_request_release(req);
	SetLatch(&GetPGProcByNumber(req->peer->procno)->procLatch);
}

/*
 * Decode a request message.
 */
static bool
pool_request_parse(WRequest *req, const char *data, Size len)
{
	char	   *copy = MemoryContextAlloc(req->cxt, len + 1);
	char	   *p = copy;
	char	   *end = copy + len;
	uint32		flags;
	int			i;

	memcpy(copy, data, len);
	copy[len] = '\0';

	if (len < 1 + 5 * sizeof(uint32) + sizeof(uint64))
		return false;
	req->kind = *p++;
	req->role = (Oid) pool_get_uint32(p);
	p += sizeof(uint32);
	flags = pool_get_uint32(p);
	req->superuser = (flags & POOL_REQ_FLAG_SUPERUSER) != 0;
	req->may_pipeline = (flags & POOL_REQ_FLAG_PIPELINE) != 0;
	p += sizeof(uint32);
	req->pool_index = (int) pool_get_uint32(p);
	p += sizeof(uint32);
	req->pool_generation = pool_get_uint32(p);
	p += sizeof(uint32);
	memcpy(&req->handle, p, sizeof(uint64));
	p += sizeof(uint64);
	req->nparams = (int) pool_get_uint32(p);
	p += sizeof(uint32);
	req->sql = p;
	p += strlen(p) + 1;
	if (req->nparams < 0 || req->nparams > 65535 || p > end)
		return false;

	req->params = MemoryContextAllocZero(req->cxt,
										 sizeof(char *) * Max(req->nparams, 1));
	for (i = 0; i < req->nparams; i++)
	{
		int32		plen;

		if (p + sizeof(uint32) > end)
			return false;
		plen = (int32) pool_get_uint32(p);
		p += sizeof(uint32);
		if (plen < 0)
			req->params[i] = NULL;
		else
		{
			if (p + plen + 1 > end + 1)
				return false;
			req->params[i] = p;
			p += plen + 1;
		}
	}
	if (flags & POOL_REQ_FLAG_SCRAM)
	{
		if (p >= end)
			return false;
		req->scram_client_key = p;
		p += strlen(p) + 1;
		if (p >= end)
			return false;
		req->scram_server_key = p;
		p += strlen(p) + 1;
	}
	return true;
}

/*
 * Read a request from its lane; it may take several wake-ups when it is
 * larger than the queue.
 */
static void
pool_request_read(WRequest *req)
{
	shm_mq_result res;
	Size		len;
	void	   *data;

	res = shm_mq_receive(req->in, &len, &data, true);
	if (res == SHM_MQ_WOULD_BLOCK)
		return;
	if (res == SHM_MQ_DETACHED)
	{
		dlist_delete(&req->node);
		pool_request_release(req);
		return;
	}

	/*
	 * The request stays on the reading list until it is queued or answered,
	 * so that error recovery finds it where its state says.
	 */
	if (!pool_request_parse(req, data, len))
	{
		dlist_delete(&req->node);
		pool_request_error(req, "XX000", "malformed pool request", NULL, NULL);
		pool_request_done(req);
		return;
	}

	if (req->handle != 0)
	{
		dlist_delete(&req->node);
		pool_request_on_handle(req);
		return;
	}

	req->pool = pool_get(req->pool_index, req->pool_generation);
	if (req->pool == NULL)
	{
		dlist_delete(&req->node);
		pool_request_error(req, "08003", "the pool no longer exists", NULL,
						   "Run the command again to create it anew.");
		pool_request_done(req);
		return;
	}
	req->pool->last_demand = pool_now;
	if (req->scram_client_key != NULL)
		pool_take_scram_keys(req->pool, req->scram_client_key,
							 req->scram_server_key);

	dlist_delete(&req->node);
	if (req->kind != POOL_REQ_QUERY && req->kind != POOL_REQ_EXEC &&
		req->kind != POOL_REQ_CHECKOUT)
	{
		req->state = WR_FINISHING;
		req->tag = pool_admin(req->pool, req->kind, &req->number);
		req->has_number = req->kind == POOL_REQ_RESET;
		pool_request_done(req);
		return;
	}
	{
		PoolSqlShape shape;

		/* pipelined only if the backend allows it and the SQL is fit */
		pool_sql_scan(req->sql, &shape);
		req->may_change_state = shape.may_change_state;
		req->may_pipeline = req->may_pipeline && req->handle == 0 &&
			(req->kind == POOL_REQ_QUERY || req->kind == POOL_REQ_EXEC) &&
			pool_sql_may_pipeline(&shape);
	}
	if (req->kind == POOL_REQ_CHECKOUT && pool_role_at_limit(req))
		return;
	pool_enqueue(req->pool, req, false);
}

/*
 * The connection a session holds under a handle, or NULL if it holds none
 * under that handle (any more).
 */
static WConn *
pool_peer_handle_conn(WPeer *peer, uint64 handle)
{
	WConn	   *conn = NULL;
	int			slot = POOL_HANDLE_SLOT(handle);

	if (slot >= 0 && slot < pool_shared->max_connections)
		conn = pool_slot_conns[slot];
	if (conn == NULL || !conn->reserved || conn->handle != handle ||
		conn->peer != peer)
		return NULL;
	return conn;
}

/*
 * A request on a reserved connection: a command, or its check-in.  The
 * handle must be one this session holds, and the request must run for the
 * role that took it, with the superuser status it had then (the backend
 * checks this too).
 */
static void
pool_request_on_handle(WRequest *req)
{
	WConn	   *conn = pool_peer_handle_conn(req->peer, req->handle);

	if (conn == NULL)
	{
		pool_request_error(req, "08003",
						   psprintf("connection of handle " UINT64_FORMAT " is gone",
									req->handle),
						   "It was closed after its remote connection failed, or checked in.",
						   NULL);
		pool_request_done(req);
		return;
	}
	if (req->role != conn->reserved_role ||
		(req->superuser != conn->reserved_superuser &&
		 req->kind != POOL_REQ_CHECKIN))
	{
		pool_request_error(req, "42501",
						   psprintf("permission denied for handle " UINT64_FORMAT,
									req->handle),
						   "A handle may be used only by the role that checked it out.",
						   NULL);
		pool_request_done(req);
		return;
	}
	req->pool = conn->pool;

	if (req->kind == POOL_REQ_CHECKIN)
	{
		pool_conn_unreserve(conn);
		req->tag = pstrdup("CHECKIN");
		pool_request_done(req);
		return;
	}

	if (conn->state == WC_CLEANING && conn->parked == NULL)
	{
		/*
		 * Its last command was cancelled and it is still being drained: the
		 * next command waits for that.
		 */
		req->state = WR_WAITING;
		req->may_change_state = true;
		req->enqueued_at = pool_now;
		conn->parked = req;
		req->parked_on = conn;
		return;
	}
	if (conn->state != WC_RESERVED)
	{
		pool_request_error(req, "55006",
						   psprintf("another command is already in progress on handle " UINT64_FORMAT,
									req->handle),
						   NULL, "Fetch or cancel the command in progress first.");
		pool_request_done(req);
		return;
	}
	req->may_change_state = true;	/* a reserved connection is reset anyway */
	req->enqueued_at = pool_now;
	pool_conn_start_request(conn, req);
}

/* ----------------------------------------------------------------
 * Backends
 * ----------------------------------------------------------------
 */

/*
 * The backend gave up on the checkout answered on a lane before it read the
 * handle: it will never know it, so check the connection in.
 */
static void
pool_peer_undo_checkout(WPeer *peer, int lane_no)
{
	WConn	   *conn = pool_peer_handle_conn(peer, peer->checkout_handle[lane_no]);

	peer->checkout_seq[lane_no] = 0;
	if (conn == NULL)
		return;
	ereport(DEBUG1,
			(errmsg_internal("pool \"%s\": checking in handle " UINT64_FORMAT " whose checkout was abandoned",
							 conn->pool->shared->name, conn->handle)));
	pool_conn_unreserve(conn);
}

/*
 * A backend session is over: abandon its requests and unmap its channel.
 */
static void
pool_peer_gone(WPeer *peer)
{
	int			i;

	for (i = 0; i < POOL_MAX_LANES; i++)
	{
		if (peer->requests[i] != NULL)
			pool_request_abandon(peer->requests[i]);
	}
	/* what the session held comes back, cleaned */
	while (!dlist_is_empty(&peer->reserved))
		pool_conn_unreserve(dlist_head_element(WConn, peer_node, &peer->reserved));
	for (i = 0; i < POOL_MAX_SEGMENTS; i++)
	{
		if (peer->segments[i] != NULL)
			dsm_detach(peer->segments[i]);
	}
	peers[peer->procno] = NULL;
	pfree(peer);
}

/*
 * Map segment `seg` of a backend's channel; false if the backend is gone.
 */
static bool
pool_peer_attach(WPeer *peer, int seg)
{
	PoolChannelDir *dir = &pool_shared->channels[peer->procno];
	dsm_handle	handle = 0;
	bool		ok;

	LWLockAcquire(pool_shared->lock, LW_SHARED);
	ok = dir->session == peer->session && seg < dir->nsegments;
	if (ok)
		handle = dir->segments[seg];
	LWLockRelease(pool_shared->lock);
	if (!ok)
		return false;

	peer->segments[seg] = dsm_attach(handle);
	return peer->segments[seg] != NULL;
}

/*
 * Look at one lane a backend rang us about.
 */
static void
pool_peer_lane(WPeer *peer, int lane_no)
{
	int			seg = pool_lane_segment(lane_no);
	PoolLane   *lane;
	WRequest   *req;
	MemoryContext cxt;

	if (peer->segments[seg] == NULL && !pool_peer_attach(peer, seg))
		return;
	lane = pool_lane(dsm_segment_address(peer->segments[seg]),
					 pool_lane_in_segment(lane_no));

	req = peer->requests[lane_no];
	if (req != NULL)
	{
		if (pg_atomic_read_u64(&lane->abandoned) == req->seq)
			pool_request_abandon(req);
		return;
	}

	/* the answer of a checkout was delivered, but never read */
	if (peer->checkout_seq[lane_no] != 0 &&
		pg_atomic_read_u64(&lane->abandoned) == peer->checkout_seq[lane_no])
		pool_peer_undo_checkout(peer, lane_no);

	if (pg_atomic_read_u32(&lane->owner) != POOL_LANE_WORKER)
		return;
	pg_read_barrier();
	if (lane->worker != my_index || lane->worker_generation != my_generation ||
		lane->seq == peer->last_seq[lane_no])
		return;
	peer->last_seq[lane_no] = lane->seq;
	if (pg_atomic_read_u64(&lane->abandoned) == lane->seq)
	{
		pg_atomic_write_u32(&lane->owner, POOL_LANE_BACKEND);
		return;
	}

	cxt = AllocSetContextCreate(pool_worker_cxt, "pool request",
								ALLOCSET_DEFAULT_SIZES);
	req = MemoryContextAllocZero(cxt, sizeof(WRequest));
	req->cxt = cxt;
	req->peer = peer;
	req->holder_pid = peer->pid;
	req->lane_no = lane_no;
	req->lane = lane;
	req->seq = lane->seq;
	req->state = WR_READING;
	{
		/* the queue handles and their buffers live as long as the request */
		MemoryContext old = MemoryContextSwitchTo(cxt);

		req->in = shm_mq_attach(pool_lane_request_queue(lane), NULL, NULL);
		req->out = shm_mq_attach(pool_lane_response_queue(lane), NULL, NULL);
		initStringInfo(&req->building);
		initStringInfo(&req->sending);
		initStringInfo(&req->error);
		MemoryContextSwitchTo(old);
	}
	peer->requests[lane_no] = req;
	dlist_push_tail(&reading, &req->node);
	current_request = req;
	pool_request_read(req);
	current_request = NULL;
}

/*
 * A backend rang: see what changed in its channel.
 */
static void
pool_peer_rang(int procno)
{
	PoolChannelDir *dir = &pool_shared->channels[procno];
	WPeer	   *peer = peers[procno];
	uint64		session;
	uint64		lanes;
	int			i;
	int			pass;

	LWLockAcquire(pool_shared->lock, LW_SHARED);
	session = dir->session;
	LWLockRelease(pool_shared->lock);

	if (peer != NULL &&
		(peer->session != session || pg_atomic_read_u32(&dir->exiting)))
	{
		pool_peer_gone(peer);
		peer = NULL;
	}

	lanes = pg_atomic_exchange_u64(&dir->attention[my_index], 0);
	if (lanes == 0 || session == 0 || pg_atomic_read_u32(&dir->exiting))
		return;

	if (peer == NULL)
	{
		peer = MemoryContextAllocZero(pool_worker_cxt, sizeof(WPeer));
		peer->procno = procno;
		peer->session = session;
		peer->pid = dir->pid;
		dlist_init(&peer->reserved);
		peers[procno] = peer;
	}

	/*
	 * Lanes with a request in progress first: an abandoned command must
	 * release its connection before a new command of the same session, on
	 * another lane, asks for that connection.
	 */
	for (pass = 0; pass < 2; pass++)
	{
		for (i = 0; i < POOL_MAX_LANES; i++)
		{
			if ((lanes & (UINT64CONST(1) << i)) == 0 ||
				(pass == 0 && peer->requests[i] == NULL))
				continue;
			lanes &= ~(UINT64CONST(1) << i);
			PG_TRY();
			{
				pool_peer_lane(peer, i);
			}
			PG_CATCH();
			{
				pool_recover();
			}
			PG_END_TRY();
			if (peers[procno] != peer)
				return;
		}
	}
}

static void
pool_process_doorbell(void)
{
	int			w;

	for (w = 0; w < pool_shared->doorbell_words; w++)
	{
		uint64		bits;

		if (pg_atomic_read_u64(&my_info->doorbell[w]) == 0)
			continue;
		bits = pg_atomic_exchange_u64(&my_info->doorbell[w], 0);
		while (bits != 0)
		{
			int			b = pg_rightmost_one_pos64(bits);

			bits &= bits - 1;
			pool_peer_rang(w * 64 + b);
		}
	}
}

/*
 * Retry full queues and half-read requests.
 */
static void
pool_retry_blocked(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &blocked)
	{
		WRequest   *req = dlist_container(WRequest, blocked_node, iter.cur);

		current_request = req;
		current_conn = req->conn;
		PG_TRY();
		{
			WConn	   *conn = req->conn;

			pool_request_flush(req, false);
			if (!req->blocked && conn != NULL && conn->req == req)
				pool_conn_pump(conn);
		}
		PG_CATCH();
		{
			pool_recover();
		}
		PG_END_TRY();
		current_request = NULL;
		current_conn = NULL;
	}
	dlist_foreach_modify(iter, &reading)
	{
		WRequest   *req = dlist_container(WRequest, node, iter.cur);

		current_request = req;
		PG_TRY();
		{
			pool_request_read(req);
		}
		PG_CATCH();
		{
			pool_recover();
		}
		PG_END_TRY();
		current_request = NULL;
	}
}

/* ----------------------------------------------------------------
 * Deadlines
 * ----------------------------------------------------------------
 */

static long
pool_next_timeout(void)
{
	TimestampTz next = pool_next_deadline();
	dlist_iter	iter;

	dlist_foreach(iter, &pool_all_conns)
	{
		WConn	   *conn = dlist_container(WConn, all_node, iter.cur);

		if (conn->deadline != 0 && (next == 0 || conn->deadline < next))
			next = conn->deadline;
	}
	if (next == 0)
		return -1;
	if (next <= pool_now)
		return 0;
	return (long) ((next - pool_now + 999) / 1000);
}

static void
pool_fire_deadlines(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &pool_all_conns)
	{
		WConn	   *conn = dlist_container(WConn, all_node, iter.cur);

		if (conn->deadline != 0 && conn->deadline <= pool_now)
		{
			current_conn = conn;
			pool_conn_timeout(conn);
			current_conn = NULL;
		}
	}
	pool_fire_due();
}

/* ----------------------------------------------------------------
 * The loop
 * ----------------------------------------------------------------
 */

/*
 * Free what was closed or finished in an earlier round, once no event can
 * refer to it any more.
 */
static void
pool_free_dead(void)
{
	ListCell   *lc;

	foreach(lc, dead_requests)
		MemoryContextDelete(((WRequest *) lfirst(lc))->cxt);
	list_free(dead_requests);
	dead_requests = NIL;

	foreach(lc, dead_conns)
		pfree(lfirst(lc));
	list_free(dead_conns);
	dead_conns = NIL;
}

/*
 * Move closed connections off the list of live ones.
 */
static void
pool_collect_closed(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &pool_all_conns)
	{
		WConn	   *conn = dlist_container(WConn, all_node, iter.cur);

		if (conn->state == WC_CLOSED)
		{
			dlist_delete(&conn->all_node);
			dead_conns = lappend(dead_conns, conn);
		}
	}
}

/*
 * Recover from an ERROR raised while handling one event: log it, fail the
 * request and close the connection it concerned, and go on.
 */
static void
pool_recover(void)
{
	ErrorData  *edata;
	WConn	   *conn = current_conn;
	WRequest   *req = current_request;
	char		sqlstate[6];

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(loop_cxt);
	edata = CopyErrorData();
	FlushErrorState();
	LWLockReleaseAll();
	RESUME_INTERRUPTS();

	ereport(LOG,
			(errmsg("pool worker recovered from an error: %s",
					pool_log_text(edata->message))));

	current_conn = NULL;
	current_request = NULL;

	/* the connection concerned, be it the one the request runs on */
	if (conn == NULL && req != NULL)
		conn = req->conn;
	if (conn != NULL && conn->state != WC_CLOSED)
	{
		if (req == NULL)
			req = conn->req;
		if (conn->req != NULL && conn->req != req)
		{
			/* another request was on it: fail that one too */
			WRequest   *other = conn->req;

			other->conn = NULL;
			conn->req = NULL;
			pool_request_error(other, "08006", "the pool lost the connection of this request",
							   NULL, NULL);
			pool_request_done(other);
		}
		conn->req = NULL;
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
	}
	if (req != NULL && req->state != WR_FINISHING)
	{
		if (req->state == WR_READING)
			dlist_delete(&req->node);
		else if (req->state == WR_WAITING && req->parked_on != NULL)
			req->parked_on->parked = NULL;
		else if (req->state == WR_WAITING)
			pool_dequeue(req->pool, req);
		req->conn = NULL;
		resetStringInfo(&req->building);
		strlcpy(sqlstate, unpack_sql_state(edata->sqlerrcode), sizeof(sqlstate));
		pool_request_error(req, sqlstate, edata->message, edata->detail, NULL);
		pool_request_done(req);
	}
	FreeErrorData(edata);

	/* go round once more: whatever this step left undone gets its turn */
	SetLatch(MyLatch);
}

static void
pool_handle_socket_events(int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		WaitEvent  *ev = &occurred[i];
		WConn	   *conn = (WConn *) ev->user_data;

		if (conn == NULL || !(ev->events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE)))
			continue;
		current_conn = conn;
		PG_TRY();
		{
			pool_conn_event(conn, ev->fd, ev->events);
		}
		PG_CATCH();
		{
			pool_recover();
		}
		PG_END_TRY();
		current_conn = NULL;
	}
}

/*
 * Bound the worker's private memory (pool.worker_memory): libpq allocates
 * what a remote says its next message needs, so without a bound a few
 * hostile remotes could have the kernel kill the worker, and with it every
 * session of the server.  With one, the allocation fails: libpq drops that
 * connection, or palloc raises an error the loop recovers from.
 */
static void
pool_apply_memory_limit(void)
{
	static bool have_original = false;
	static struct rlimit original;
	struct rlimit lim;

	if (!have_original)
	{
		if (getrlimit(RLIMIT_DATA, &original) != 0)
			return;
		have_original = true;
	}
	lim = original;
	if (pool_worker_memory > 0)
	{
		rlim_t		want = (rlim_t) pool_worker_memory * 1024;

		if (original.rlim_max == RLIM_INFINITY || want < original.rlim_max)
			lim.rlim_cur = want;
	}
	if (setrlimit(RLIMIT_DATA, &lim) != 0)
		ereport(LOG,
				(errmsg("pool worker %d could not set its memory limit: %m",
						my_index + 1)));
}

static void
pool_reload(void)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	pool_apply_memory_limit();
	pool_reload_settings();
}

/*
 * Free the slots and zero the gauges of worker w; connections it held out
 * count as checked in.
 */
static void
pool_worker_forget(int w)
{
	int			i;

	LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < pool_shared->max_connections; i++)
	{
		PoolSlot   *slot = &pool_shared->slots[i];

		if (slot->in_use && slot->worker == w)
		{
			PoolEntry  *e = &pool_shared->pools[slot->pool_index];

			/* held: running a command, or a handle's (whatever its state) */
			if ((slot->state == POOL_SLOT_ACTIVE || slot->handle != 0) &&
				e->in_use && e->generation == slot->pool_generation)
				pg_atomic_fetch_add_u64(&e->checkins, 1);
			if (OidIsValid(slot->held_role))
				pool_role_release(slot->held_role);
			slot->held_role = InvalidOid;
			pool_begin_write(&slot->changecount);
			slot->state = POOL_SLOT_EMPTY;
			slot->holder_pid = 0;
			pool_end_write(&slot->changecount);
			slot->in_use = false;
		}
	}
	for (i = 0; i < pool_shared->max_pools; i++)
	{
		PoolEntry  *e = &pool_shared->pools[i];

		if (e->in_use && e->worker == w)
			pg_atomic_write_u32(&e->waiting, 0);
	}
	LWLockRelease(pool_shared->lock);
}

/*
 * Leave: tell backends that wait on us, close every connection, free our
 * slots.  Runs on every exit, including FATAL and ERROR.
 */
static void
pool_worker_exit(int code, Datum arg)
{
	dlist_iter	iter;
	int			i;

	pg_atomic_fetch_add_u32(&my_info->generation, 1);
	my_info->pid = 0;
	my_info->pgprocno = -1;

	if (peers != NULL)
	{
		for (i = 0; i < pool_shared->max_backends; i++)
		{
			if (peers[i] != NULL)
				SetLatch(&GetPGProcByNumber(i)->procLatch);
		}
	}

	dlist_foreach(iter, &pool_all_conns)
	{
		WConn	   *conn = dlist_container(WConn, all_node, iter.cur);

		if (conn->cancel_conn != NULL)
			pool_cancel_close(conn->cancel_conn);
		if (conn->conn != NULL)
			PQfinish(conn->conn);
		conn->conn = NULL;
		conn->cancel_conn = NULL;
	}

	pool_worker_forget(my_index);
}

/*
 * Entry point of a pool worker.
 */
void
pool_worker_main(Datum main_arg)
{
	int			i;

	my_index = DatumGetInt32(main_arg);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	/* a cancel has nothing to cancel here, and must not drop every pool */
	pqsignal(SIGINT, SIG_IGN);
	/* lookups of host names signal when they are done */
	pool_resolver_init();
	BackgroundWorkerUnblockSignals();

	/* No database: this makes us visible in pg_stat_activity. */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pool worker");

#ifdef __GLIBC__

	/*
	 * Large blocks (libpq's buffers and results for large rows) are mapped
	 * and unmapped, so that memory returns once a connection that received a
	 * large row closes; glibc would otherwise raise the threshold after the
	 * first large block is freed, and keep later ones in its heap.
	 */
	mallopt(M_MMAP_THRESHOLD, POOL_MMAP_THRESHOLD);
#endif
	pool_worker_cxt = AllocSetContextCreate(TopMemoryContext, "pool worker",
											ALLOCSET_DEFAULT_SIZES);
	loop_cxt = AllocSetContextCreate(pool_worker_cxt, "pool worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(pool_worker_cxt);

	my_info = pool_worker_info(my_index);
	peers = palloc0(sizeof(WPeer *) * pool_shared->max_backends);
	pool_pools_init(my_index);
	pool_slot_conns = palloc0(sizeof(WConn *) * pool_shared->max_connections);
	wes_size = 2 + 2 * pool_shared->max_connections;
	occurred = palloc0(sizeof(WaitEvent) * wes_size);

	pool_apply_memory_limit();

	/* Anything a previous incarnation of this worker left behind is gone. */
	pool_worker_forget(my_index);

	/* An odd generation means running; backends remember it per request. */
	my_info->pid = MyProcPid;
	my_info->pgprocno = pool_my_procno();
	pg_write_barrier();
	my_generation = pg_atomic_read_u32(&my_info->generation);
	if (my_generation % 2 == 1)
		my_generation = pg_atomic_add_fetch_u32(&my_info->generation, 1);
	my_generation = pg_atomic_add_fetch_u32(&my_info->generation, 1);
	before_shmem_exit(pool_worker_exit, (Datum) 0);

	ereport(LOG, (errmsg("pool worker %d started", my_index + 1)));

	/* Backends may have rung before we were up. */
	SetLatch(MyLatch);

	for (;;)
	{
		long		timeout;
		int			n;
		bool		latch_set = false;
		static bool latch_only_before = false;

		/*
		 * What an iteration allocates without naming a longer-lived context
		 * lives until the next one.
		 */
		MemoryContextSwitchTo(pool_worker_cxt);
		pool_collect_closed();
		pool_free_dead();
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		if (wes_needs_rebuild)
			pool_wes_rebuild();

		pool_now = GetCurrentTimestamp();
		timeout = pool_next_timeout();
		n = WaitEventSetWait(wes, timeout, occurred, wes_size,
							 PG_WAIT_EXTENSION);
		pool_now = GetCurrentTimestamp();

		for (i = 0; i < n; i++)
		{
			if (occurred[i].events & WL_LATCH_SET)
				latch_set = true;
		}

		if (latch_set)
		{
			ResetLatch(MyLatch);

			/*
			 * A wait that finds the latch already set reports nothing else,
			 * so a latch set again and again could starve the sockets: after
			 * two such waits in a row, look at the sockets without waiting.
			 */
			if (n == 1 && latch_only_before)
			{
				if (wes_needs_rebuild)
					pool_wes_rebuild();
				/* without the latch, which would hide the sockets again */
				ModifyWaitEvent(wes, 0, WL_LATCH_SET, NULL);
				n = WaitEventSetWait(wes, 0, occurred, wes_size,
									 PG_WAIT_EXTENSION);
				ModifyWaitEvent(wes, 0, WL_LATCH_SET, MyLatch);
			}
			latch_only_before = (n == 1);
		}
		else
			latch_only_before = false;
		pool_handle_socket_events(n);

		if (latch_set)
		{
			CHECK_FOR_INTERRUPTS();
			if (ShutdownRequestPending)
				break;
			if (ConfigReloadPending)
				pool_reload();

			PG_TRY();
			{
				pool_conns_resolved();
				(void) pool_lookups_collect();
				pool_process_doorbell();
				pool_retry_blocked();
			}
			PG_CATCH();
			{
				pool_recover();
			}
			PG_END_TRY();
		}

		PG_TRY();
		{
			pool_fire_deadlines();
		}
		PG_CATCH();
		{
			pool_recover();
		}
		PG_END_TRY();
	}

	ereport(LOG, (errmsg("pool worker %d shutting down", my_index + 1)));
	proc_exit(1);
}
