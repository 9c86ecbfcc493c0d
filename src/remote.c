/*-------------------------------------------------------------------------
 *
 * remote.c
 *	  The remote connections of a pool worker: a non-blocking libpq state
 *	  machine per connection.
 *
 *	  connecting --> idle --> validating --> busy (serving one request)
 *	      |           ^  \________________/    |
 *	      |           |                        v
 *	      |           +------------------ cleaning (cancel, drain, roll
 *	      v                                    |      back, reset_query)
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
 * A connection idle longer than pre_ping is checked with an empty query
 * before it serves a request; one that fails the check, or does not answer
 * within connect_timeout, is closed and the request goes to another
 * connection, unnoticed by the caller.
 *
 * PostgreSQL 15's libpq has only a blocking cancel, so a running remote query
 * is cancelled by a second connection to the same server that runs
 * pg_cancel_backend(); meanwhile the connection drains its results, is rolled
 * back and, if the holder may have changed session state, reset with
 * reset_query; it is closed if it is not clean before its deadline.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/remote.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netinet/in.h>
#ifdef __linux__
#include <linux/tcp.h>
#endif

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "pool.h"
#include "shmem.h"
#include "wire.h"
#include "worker.h"

static void pool_conn_connect_poll(WConn *conn);
static bool pool_conn_start_connect(WConn *conn, const char *const *keywords,
									const char *const *values);
static uint64 pool_conn_bytes_received(WConn *conn);
static void pool_conn_options(WPool *pool, const char ***keywords,
							  const char ***values);
static bool pool_conn_socket_is_tcp(WConn *conn);
static void pool_conn_give_back(WConn *conn, const char *why);
static void pool_conn_account(WConn *conn);
static void pool_conn_end_request_and_close(WConn *conn);

/* connections whose host names are being resolved */
int			pool_nresolving = 0;
static void pool_conn_idle_input(WConn *conn);
static void pool_conn_report_session(WConn *conn, WRequest *req);
static void pool_conn_take_notifies(WConn *conn);
static void pool_conn_forget_notifies(WConn *conn);
static void pool_conn_free_notifies(WConn *conn);
static void pool_conn_pump_request(WConn *conn);
static void pool_conn_pump_validation(WConn *conn);
static void pool_conn_pump_cleaning(WConn *conn);
static void pool_conn_request_complete(WConn *conn);
static void pool_cancel_start(WConn *conn);
static void pool_cancel_over(WConn *conn);
static void pool_cancel_event(WConn *conn);
static void pool_notice_receiver(void *arg, const PGresult *res);
static void pool_conn_fail_parked(WConn *conn, const char *why);
static void pool_conn_end_statement(WConn *conn, WRequest *req);
static bool pool_conn_send_pipelined(WConn *conn, WRequest *req);
static bool pool_conn_pipeline_advance(WConn *conn);
static void pool_conn_pipeline_lost(WConn *conn);
static void pool_conn_fail_flight(WConn *conn);

/*
 * Publish a connection's state in its slot; req is the request it serves or
 * validates for, if any.
 */
void
pool_slot_set_state(WConn *conn, PoolSlotState state, WRequest *req)
{
	PoolSlot   *slot = conn->slot;

	pool_begin_write(&slot->changecount);
	slot->state = state;
	slot->in_flight = state == POOL_SLOT_ACTIVE ? Max(conn->in_flight, 1) : 0;
	slot->remote_pid = conn->remote_pid;
	slot->holder_pid = req ? req->holder_pid :
		(conn->reserved ? conn->peer->pid : 0);
	if (req != NULL && req->role != slot->holder_role)
	{
		/* the last query of one role is not shown as another's */
		slot->holder_role = req->role;
		slot->query[0] = '\0';
	}
	if (state == POOL_SLOT_VALIDATING || state == POOL_SLOT_ACTIVE ||
		state == POOL_SLOT_RESERVED)
		slot->checked_out_at = conn->checked_out_at;
	if (state == POOL_SLOT_RESERVED && req != NULL)
	{
		slot->uses++;
		slot->query[0] = '\0';
	}
	if (state == POOL_SLOT_ACTIVE)
	{
		int			size = pool_query_text_size();
		int			len = Min((int) strlen(req->sql), size - 1);

		/* a reserved connection counts one use, when it was checked out */
		if (!conn->reserved)
			slot->uses++;
		slot->queries++;
		memcpy(slot->query, req->sql, len);
		slot->query[len] = '\0';
	}
	else if (state == POOL_SLOT_IDLE && slot->checked_out_at != 0)
		slot->last_used_at = pool_now;
	pool_end_write(&slot->changecount);
}

/*
 * Claim a free slot for this worker; -1 if none is free.
 */
static int
pool_slot_claim(WPool *pool, int worker)
{
	int			i;

	LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
	/* an entry given to another target since gets no connection of ours */
	if (!pool->shared->in_use || pool->shared->generation != pool->generation)
	{
		LWLockRelease(pool_shared->lock);
		return -1;
	}
	for (i = 0; i < pool_shared->max_connections; i++)
	{
		PoolSlot   *slot = &pool_shared->slots[i];

		if (!slot->in_use)
		{
			slot->in_use = true;
			slot->worker = worker;
			pool_begin_write(&slot->changecount);
			slot->pool_index = pool->index;
			slot->pool_generation = pool->generation;
			slot->state = POOL_SLOT_CONNECTING;
			slot->holder_pid = 0;
			slot->holder_role = InvalidOid;
			slot->held_role = InvalidOid;
			slot->remote_pid = 0;
			slot->remote_port = 0;
			slot->remote_host[0] = '\0';
			slot->connected_at = 0;
			slot->checked_out_at = 0;
			slot->last_used_at = 0;
			slot->uses = 0;
			slot->queries = 0;
			slot->handle = 0;
			slot->in_flight = 0;
			slot->query[0] = '\0';
			pool_end_write(&slot->changecount);
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
	pool_begin_write(&slot->changecount);
	slot->state = POOL_SLOT_EMPTY;
	slot->holder_pid = 0;
	slot->handle = 0;
	slot->in_flight = 0;
	pool_end_write(&slot->changecount);

	LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
	slot->in_use = false;
	LWLockRelease(pool_shared->lock);
}

/*
 * Socket events a connection waiting on its remote needs.
 */
static uint32
pool_conn_io_events(WConn *conn)
{
	/* PQflush costs nothing when there is nothing left to send */
	return WL_SOCKET_READABLE |
		(PQflush(conn->conn) == 1 ? WL_SOCKET_WRITEABLE : 0);
}

/*
 * Start opening a connection for a pool; with reclaim, an idle connection of
 * another pool may close to free a slot.  Returns NULL without a reason when
 * the attempt failed at once (the pool was told), or with *why set when no
 * slot or file descriptor is free (the caller may wait for one).
 */
WConn *
pool_conn_open(WPool *pool, bool reclaim, char **why)
{
	WConn	   *conn;
	int			slot_index;
	const char **keywords;
	const char **values;

	*why = NULL;
	if (pool->scram_passthrough && pool->scram_client_key == NULL)
	{
		*why = pstrdup("No session of the pool's role has brought its SCRAM keys yet.");
		return NULL;
	}
	slot_index = pool_slot_claim(pool, pool->shared->worker);
	if (slot_index < 0 && reclaim && pool_reclaim_idle(pool))
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

	conn = MemoryContextAllocZero(pool_worker_cxt, sizeof(WConn));
	conn->pool = pool;
	conn->slot_index = slot_index;
	conn->slot = &pool_shared->slots[slot_index];
	conn->sock = PGINVALID_SOCKET;
	conn->wes_pos = -1;
	conn->cancel_sock = PGINVALID_SOCKET;
	conn->cancel_pos = -1;
	dlist_init(&conn->flight);
	conn->state = WC_CONNECTING;
	conn->deadline = TimestampTzPlusMilliseconds(pool_now,
												 pool->s.connect_timeout);
	dlist_push_tail(&pool_all_conns, &conn->all_node);
	dlist_push_tail(&pool->conns, &conn->conns_node);
	pool_slot_conns[slot_index] = conn;
	pool->nconns++;
	pool->nconnecting++;

	/* names are resolved first, outside the loop; libpq connects then */
	pool_conn_options(pool, &keywords, &values);
	conn->lookup = pool_lookup_start(keywords, values);
	if (conn->lookup != NULL)
	{
		pool_nresolving++;
		return conn;
	}
	if (!pool_conn_start_connect(conn, keywords, values))
		return NULL;
	return conn;
}

/*
 * The options a new connection of a pool is opened with: its configuration,
 * and the SCRAM keys of its role's sessions if it passes them through.  The
 * arrays are the caller's (they are copied before libpq or a lookup keeps
 * them).
 */
static void
pool_conn_options(WPool *pool, const char ***keywords, const char ***values)
{
	int			n = 0;

	if (!pool->scram_passthrough)
	{
		*keywords = pool->keywords;
		*values = pool->values;
		return;
	}
	while (pool->keywords[n] != NULL)
		n++;
	*keywords = palloc0(sizeof(char *) * (n + 3));
	*values = palloc0(sizeof(char *) * (n + 3));
	memcpy(*keywords, pool->keywords, sizeof(char *) * n);
	memcpy(*values, pool->values, sizeof(char *) * n);
	(*keywords)[n] = "scram_client_key";
	(*values)[n++] = pool->scram_client_key;
	(*keywords)[n] = "scram_server_key";
	(*values)[n++] = pool->scram_server_key;
}

/*
 * Have libpq start connecting with these options (names resolved already,
 * or none to resolve).  Returns false if it failed at once: the pool was
 * told, and the connection is closed.
 */
static bool
pool_conn_start_connect(WConn *conn, const char *const *keywords,
						const char *const *values)
{
	WPool	   *pool = conn->pool;

	conn->conn = PQconnectStartParams(keywords, values, false);
	if (conn->conn == NULL || PQstatus(conn->conn) == CONNECTION_BAD)
	{
		char	   *detail = conn->conn ? pchomp(PQerrorMessage(conn->conn)) :
		pstrdup("out of memory");

		pool_connect_failed(pool, "08001", NULL, detail, NULL);
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
		return false;
	}
	pool_conn_want(conn, WL_SOCKET_WRITEABLE);
	return true;
}

/*
 * The names of a connection being opened are resolved: connect to what
 * they resolved to, or fail as libpq would have.
 */
static void
pool_conn_lookup_done(WConn *conn)
{
	PoolLookup *lookup = conn->lookup;
	const char **keywords;
	const char **values;
	char	   *error;

	conn->lookup = NULL;
	pool_nresolving--;
	if (!pool_lookup_result(lookup, &keywords, &values, &error))
	{
		pool_connect_failed(conn->pool, "08001", NULL, error, NULL);
		pool_lookup_free(lookup);
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
		return;
	}
	(void) pool_conn_start_connect(conn, keywords, values);
	pool_lookup_free(lookup);
}

/*
 * On the worker's latch: connections whose names are resolved go on.
 */
void
pool_conns_resolved(void)
{
	dlist_mutable_iter iter;

	if (pool_nresolving == 0)
		return;
	dlist_foreach_modify(iter, &pool_all_conns)
	{
		WConn	   *conn = dlist_container(WConn, all_node, iter.cur);

		if (conn->lookup != NULL && conn->state == WC_CONNECTING &&
			pool_lookup_done(conn->lookup))
			pool_conn_lookup_done(conn);
	}
}

/*
 * When a connection opened at connected_at reaches max_lifetime: up to a
 * tenth earlier, at random, so that connections opened together do not all
 * close together.  0 for never.
 */
TimestampTz
pool_conn_expiry(WPool *pool, TimestampTz connected_at)
{
	int64		lifetime_ms = pool->s.max_lifetime;

	if (lifetime_ms <= 0)
		return 0;
	lifetime_ms -= (int64) (pg_prng_double(&pg_global_prng_state) *
							lifetime_ms / 10);
	return connected_at + lifetime_ms * 1000;
}

/*
 * Advance a connection attempt.
 */
static void
pool_conn_connect_poll(WConn *conn)
{
	WPool	   *pool = conn->pool;
	PostgresPollingStatusType st;
	const char *host;
	const char *port;

	st = PQconnectPoll(conn->conn);

	/*
	 * libpq may have closed the socket and opened another under the same
	 * number, which the wait set would not notice: register it anew.
	 */
	pool_conn_forget_socket(conn);

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
				pool_connect_failed(pool, "08001", NULL,
									pchomp(PQerrorMessage(conn->conn)), NULL);
				pool_conn_close(conn, POOL_CLOSE_BROKEN);
				return;
			}
		default:
			break;
	}

	/* Connected. */
	if (pool->require_password &&
		(!PQconnectionUsedPassword(conn->conn)
#ifdef POOL_HAVE_REQUIRE_AUTH
		 || PQconnectionUsedGSSAPI(conn->conn)
#endif
		 ))
	{
		pool_connect_failed(pool, "2F003", "password is required",
							"Non-superuser cannot connect if the server does not request a password.",
							"Target server's authentication method must be changed.");
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
		return;
	}
	if (PQsetnonblocking(conn->conn, 1) != 0)
	{
		pool_connect_failed(pool, "08001", NULL,
							pchomp(PQerrorMessage(conn->conn)), NULL);
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
		return;
	}
	PQsetNoticeReceiver(conn->conn, pool_notice_receiver, conn);

	conn->remote_pid = PQbackendPID(conn->conn);
	conn->used_password = PQconnectionUsedPassword(conn->conn);
	conn->is_tcp = pool_conn_socket_is_tcp(conn);
	conn->received_mark = pool_conn_bytes_received(conn);
	conn->deadline = 0;
	conn->connected_at = pool_now;
	conn->expires_at = pool_conn_expiry(pool, pool_now);
	conn->state = WC_IDLE;
	pool->nconnecting--;
	pg_atomic_fetch_add_u64(&pool->shared->connects, 1);

	host = PQhost(conn->conn);
	port = PQport(conn->conn);
	pool_begin_write(&conn->slot->changecount);
	strlcpy(conn->slot->remote_host, host ? host : "", POOL_HOST_LEN);
	conn->slot->remote_port = port ? atoi(port) : 0;
	conn->slot->connected_at = pool_now;
	pool_end_write(&conn->slot->changecount);

	pool_connection_ready(conn);
}

/*
 * An idle connection's socket is readable: the remote closed it, or sent a
 * notification or parameter change.
 */
static void
pool_conn_idle_input(WConn *conn)
{
	if (!PQconsumeInput(conn->conn) || PQstatus(conn->conn) != CONNECTION_OK)
	{
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": idle connection to remote pid %d was closed",
								 conn->pool->shared->name, conn->remote_pid)));
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
		return;
	}
	pool_conn_take_notifies(conn);
}

/*
 * Take the notifications libpq has read.  A reserved connection keeps them
 * for its session's next command, encoded, up to POOL_KEPT_NOTIFY_BYTES (a
 * remote could send them without end, and the worker's memory serves every
 * session); the rest are dropped, and the first drop is logged.  Other
 * connections' are dropped.
 */
static void
pool_conn_take_notifies(WConn *conn)
{
	PGnotify   *notify;

	while ((notify = PQnotifies(conn->conn)) != NULL)
	{
		size_t		size = 1 + 2 * sizeof(uint32) + strlen(notify->relname) + 1 +
		strlen(notify->extra) + 1;

		conn->results++;
		if (conn->reserved && conn->kept_notifies.len + size <= POOL_KEPT_NOTIFY_BYTES)
		{
			int			start;

			if (conn->kept_notifies.data == NULL)
			{
				MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(conn));

				initStringInfo(&conn->kept_notifies);
				MemoryContextSwitchTo(old);
			}
			pool_begin_record(&conn->kept_notifies, POOL_REC_NOTIFY, &start);
			pool_put_uint32(&conn->kept_notifies, (uint32) notify->be_pid);
			appendBinaryStringInfo(&conn->kept_notifies, notify->relname,
								   strlen(notify->relname) + 1);
			appendBinaryStringInfo(&conn->kept_notifies, notify->extra,
								   strlen(notify->extra) + 1);
			pool_end_record(&conn->kept_notifies, start);
		}
		else if (conn->reserved && !conn->notifies_dropped)
		{
			conn->notifies_dropped = true;
			ereport(LOG,
					(errmsg("pool \"%s\": dropping notifications of remote pid %d beyond the %d kB kept for the session that holds it",
							conn->pool->shared->name, conn->remote_pid,
							POOL_KEPT_NOTIFY_BYTES / 1024)));
		}
		PQfreemem(notify);
	}
}

/*
 * Free what a reserved connection kept for its session (given back, or
 * closing).
 */
static void
pool_conn_free_notifies(WConn *conn)
{
	if (conn->kept_notifies.data != NULL)
		pfree(conn->kept_notifies.data);
	memset(&conn->kept_notifies, 0, sizeof(conn->kept_notifies));
	conn->notifies_dropped = false;
}

/*
 * Forget the notifications kept for a reserved connection's session.
 */
static void
pool_conn_forget_notifies(WConn *conn)
{
	PGnotify   *notify;

	while ((notify = PQnotifies(conn->conn)) != NULL)
		PQfreemem(notify);
	if (conn->kept_notifies.data != NULL)
		resetStringInfo(&conn->kept_notifies);
	conn->notifies_dropped = false;
}

/*
 * After a command on a reserved connection: the notifications that came on
 * it since its last command, and the remote transaction status, go to the
 * session before the final record.
 */
static void
pool_conn_report_session(WConn *conn, WRequest *req)
{
	int			start;
	char		status;

	pool_conn_take_notifies(conn);
	if (conn->kept_notifies.data != NULL && conn->kept_notifies.len > 0)
	{
		appendBinaryStringInfo(&req->building, conn->kept_notifies.data,
							   conn->kept_notifies.len);
		resetStringInfo(&conn->kept_notifies);
	}
	switch (PQtransactionStatus(conn->conn))
	{
		case PQTRANS_IDLE:
			status = 'I';
			break;
		case PQTRANS_INTRANS:
			status = 'T';
			break;
		case PQTRANS_INERROR:
			status = 'E';
			break;
		default:
			status = '?';
			break;
	}
	pool_begin_record(&req->building, POOL_REC_XACT, &start);
	appendStringInfoChar(&req->building, status);
	pool_end_record(&req->building, start);
}

/*
 * Is an idle connection still alive?  Reads whatever is pending without
 * blocking: a remote that went away shows as EOF here.
 */
bool
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
 * Bytes the kernel received on a TCP connection so far; 0 where that is not
 * known (a Unix socket, another platform).
 */
static uint64
pool_conn_bytes_received(WConn *conn)
{
#if defined(__linux__) && defined(TCP_INFO)
	struct tcp_info info;
	socklen_t	len = sizeof(info);

	if (!conn->is_tcp ||
		getsockopt(PQsocket(conn->conn), IPPROTO_TCP, TCP_INFO, &info,
				   &len) != 0 ||
		len < offsetof(struct tcp_info, tcpi_bytes_received) +
		sizeof(info.tcpi_bytes_received))
		return 0;
	return info.tcpi_bytes_received;
#else
	return 0;
#endif
}

/*
 * Is the connection's socket TCP?  (Only then does the kernel count the
 * bytes it received.)
 */
static bool
pool_conn_socket_is_tcp(WConn *conn)
{
	struct sockaddr_storage addr;
	socklen_t	len = sizeof(addr);

	if (getsockname(PQsocket(conn->conn), (struct sockaddr *) &addr, &len) != 0)
		return false;
	return addr.ss_family == AF_INET || addr.ss_family == AF_INET6;
}

/*
 * libpq reads a whole message into its input buffer before it hands out any
 * of it, so a remote can make it allocate up to a gigabyte per message; the
 * row limit (max_row_size) is checked only once a row is whole.  Watch the
 * bytes that arrive instead: when a remote sends more than max_row_size
 * (plus what the socket buffer holds beyond) since libpq last gave us a
 * result, a notice or a notification, the message it is sending is larger
 * than any row we accept.  Its command fails with 54000, and the connection
 * is closed, which frees the buffer.  Returns false if it was closed.
 */
static bool
pool_conn_check_incoming(WConn *conn)
{
	WPool	   *pool = conn->pool;
	uint64		received;
	WRequest   *req = conn->req;

	if (!conn->is_tcp || conn->conn == NULL)
		return true;
	received = pool_conn_bytes_received(conn);
	if (conn->results != conn->results_at_check)
	{
		/* libpq gave something since: what comes now began after it */
		conn->results_at_check = conn->results;
		conn->received_mark = received;
		return true;
	}
	if (received - conn->received_mark <=
		(uint64) pool->s.max_row_size + POOL_RECEIVE_SLACK)
		return true;

	ereport(LOG,
			(errmsg("pool \"%s\": closing connection to remote pid %d, which sent a message larger than max_row_size (%d bytes)",
					pool->shared->name, conn->remote_pid, pool->s.max_row_size)));
	if (conn->state == WC_VALIDATING)
	{
		pool_conn_give_back(conn, "it sent a message larger than max_row_size");
		return false;
	}
	/* only a busy connection serves a request (cleaning has none) */
	if (conn->state == WC_BUSY && req != NULL)
	{
		if (!req->failed)
			pool_request_error(req, "54000", "remote message is too large",
							   psprintf("The remote sent more than %d bytes of one message; max_row_size of pool \"%s\" is %d bytes.",
										pool->s.max_row_size, pool->shared->name,
										pool->s.max_row_size),
							   "Raise max_row_size of the pool's server, or pool.max_row_size.");
		pool_conn_end_request_and_close(conn);
	}
	else
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
	return false;
}

/*
 * A busy connection cannot go on (COPY, a row or message too large): its
 * request ends here, with the error it has, and the connection closes.
 */
static void
pool_conn_end_request_and_close(WConn *conn)
{
	WRequest   *req = conn->req;

	pool_conn_account(conn);
	conn->req = NULL;
	req->conn = NULL;
	pool_conn_end_statement(conn, req);
	pool_conn_close(conn, POOL_CLOSE_BROKEN);
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
		case WC_RESERVED:
			pool_conn_idle_input(conn);
			break;
		case WC_VALIDATING:
		case WC_BUSY:
		case WC_CLEANING:
			if (events & WL_SOCKET_WRITEABLE)
				(void) PQflush(conn->conn);
			if (events & WL_SOCKET_READABLE)
			{
				(void) PQconsumeInput(conn->conn);
				pool_conn_take_notifies(conn);
			}
			pool_conn_pump(conn);
			break;
		case WC_CLOSED:
			break;
	}

	/* in the middle of a message: how large is it getting? */
	if ((events & WL_SOCKET_READABLE) && conn->state != WC_CLOSED &&
		conn->state != WC_CONNECTING && conn->conn != NULL &&
		(PQisBusy(conn->conn) || conn->state == WC_IDLE ||
		 conn->state == WC_RESERVED))
		(void) pool_conn_check_incoming(conn);
}

/*
 * Is this result the start of a COPY?  Such a connection cannot be drained
 * and must close.
 */
static bool
pool_result_is_copy(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH;
}

/*
 * A reset ran: the state the holder may have changed is gone, and, if it
 * was a full reset, that of every earlier holder too.
 */
static void
pool_conn_session_was_reset(WConn *conn, const char *command)
{
	conn->dirty = false;
	if (pg_strcasecmp(command, POOL_FULL_RESET) == 0)
		conn->state_role = InvalidOid;
}

/*
 * A checkout ended: count the check-in, and add the time the connection was
 * held to its pool's total.
 */
static void
pool_conn_account(WConn *conn)
{
	/* a reserved connection counts once, from checkout to check-in */
	if (conn->reserved || !conn->counted)
		return;
	conn->counted = false;
	pg_atomic_fetch_add_u64(&conn->pool->shared->checkins, 1);
	pg_atomic_fetch_add_u64(&conn->pool->shared->query_us,
							Max(pool_now - conn->checked_out_at, 0));
}

/*
 * A request takes a connection (counted once its command goes out).
 */
static void
pool_conn_checkout(WConn *conn, WRequest *req)
{
	WPool	   *pool = conn->pool;

	req->state = WR_RUNNING;
	req->conn = conn;
	conn->req = req;
	if (!conn->reserved)
	{
		conn->checked_out_at = pool_now;
		conn->leak_reported = false;
	}
	if (pool->s.leak_threshold > 0)
		pool_schedule(pool, TimestampTzPlusMilliseconds(pool_now,
														pool->s.leak_threshold));
}

/*
 * A connection cannot serve the request it was taken for (it failed the
 * check, or failed while the query was going out): the remote never ran the
 * query, so the request goes first in line for another connection.
 */
static void
pool_conn_give_back(WConn *conn, const char *why)
{
	WRequest   *req = conn->req;

	ereport(DEBUG1,
			(errmsg_internal("pool \"%s\": replacing connection to remote pid %d: %s",
							 conn->pool->shared->name, conn->remote_pid,
							 pool_log_text(why))));
	conn->req = NULL;
	req->conn = NULL;
	if (conn->reserved)
	{
		/* a session's own connection cannot be swapped under it */
		pool_request_error(req, "08006",
						   "the connection of this handle was lost",
						   why, "Check the handle in and take another.");
		pool_request_done(req);
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
		return;
	}
	pool_conn_account(conn);
	pool_conn_close(conn, POOL_CLOSE_BROKEN);
	pool_request_again(req, false);
}

/*
 * Before an idle connection serves req, run a command on it: an empty query
 * to check a connection that was idle long, or a full reset when the
 * connection passes to another local role.
 */
void
pool_conn_prepare(WConn *conn, WRequest *req, bool reset)
{
	const char *command = reset ? POOL_FULL_RESET : "";

	Assert(conn->state == WC_IDLE);

	pool_conn_checkout(conn, req);
	conn->state = WC_VALIDATING;
	conn->reset_sent = reset;
	conn->deadline = TimestampTzPlusMilliseconds(pool_now,
												 conn->pool->s.connect_timeout);
	pool_slot_set_state(conn, POOL_SLOT_VALIDATING, req);

	if (!PQsendQuery(conn->conn, command) || PQflush(conn->conn) < 0)
	{
		pool_conn_give_back(conn, "the check could not be sent");
		return;
	}
	pool_conn_want(conn, pool_conn_io_events(conn));
}

/*
 * Read the answer to the check or reset; on success the connection serves
 * its request.
 */
static void
pool_conn_pump_validation(WConn *conn)
{
	bool		ok = true;

	for (;;)
	{
		PGresult   *res;
		ExecStatusType st;

		if (PQisBusy(conn->conn))
		{
			pool_conn_want(conn, pool_conn_io_events(conn));
			return;
		}
		res = PQgetResult(conn->conn);
		if (res == NULL)
			break;
		st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
		{
			ok = false;
			break;
		}
		if (st != PGRES_EMPTY_QUERY && st != PGRES_COMMAND_OK &&
			st != PGRES_TUPLES_OK)
			ok = false;
	}

	if (!ok || PQstatus(conn->conn) != CONNECTION_OK ||
		PQtransactionStatus(conn->conn) != PQTRANS_IDLE)
	{
		pool_conn_give_back(conn, conn->reset_sent ? "its reset failed" :
							"the check failed");
		return;
	}
	if (conn->reset_sent)
		pool_conn_session_was_reset(conn, POOL_FULL_RESET);
	conn->state = WC_IDLE;
	conn->deadline = 0;
	pool_conn_start_request(conn, conn->req);
}

/*
 * Send a request's query on a connection that is idle, or that was just
 * checked for it.
 */
void
pool_conn_start_request(WConn *conn, WRequest *req)
{
	WPool	   *pool = conn->pool;
	int			ok;

	Assert(conn->state == WC_IDLE || conn->state == WC_RESERVED);

	if (conn->reserved)
	{
		/* a command of the session that holds it */
		req->state = WR_RUNNING;
		req->conn = conn;
		conn->req = req;
	}
	else
	{
		if (conn->req != req)
			pool_conn_checkout(conn, req);
		pg_atomic_fetch_add_u64(&pool->shared->checkouts, 1);
		conn->counted = true;
		pg_atomic_fetch_add_u64(&pool->shared->wait_us,
								Max(conn->checked_out_at - req->enqueued_at, 0));
		if (req->kind == POOL_REQ_CHECKOUT)
		{
			pool_conn_reserve(conn, req);
			return;
		}
	}
	conn->state = WC_BUSY;
	conn->rollback_sent = false;
	conn->reset_sent = false;
	conn->state_role = req->role;
	conn->in_flight = 1;
	conn->head_since = pool_now;
	pg_atomic_fetch_add_u64(&pool->shared->queries, 1);
	pool_slot_set_state(conn, POOL_SLOT_ACTIVE, req);

	if (!conn->reserved && req->may_pipeline && pool->s.max_pipeline > 1)
	{
		/* in pipeline mode, so that others may follow it */
		ok = pool_conn_send_pipelined(conn, req);
	}
	else
	{
		conn->watched_valid = false;
		if (req->nparams > 0)
			ok = PQsendQueryParams(conn->conn, req->sql, req->nparams, NULL,
								   req->params, NULL, NULL, 0);
		else
			ok = PQsendQuery(conn->conn, req->sql);
	}
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
		pool_conn_give_back(conn, pchomp(PQerrorMessage(conn->conn)));
		return;
	}

	pool_conn_want(conn, pool_conn_io_events(conn));
}

/* ----------------------------------------------------------------
 * Pipelining
 *
 * A connection serving one-shot statements that may be pipelined is in
 * libpq's pipeline mode: each statement goes out through the extended
 * protocol with a Sync of its own, so that each runs in its own implicit
 * transaction and an error in one never touches the next.  Its results come
 * back in order: the head's rows, a NULL, the Sync's result; then the next
 * statement's.  The pool decides which statements join which connection
 * (pools.c); this layer sends them, reads them in order and reports when a
 * connection has room again.
 * ----------------------------------------------------------------
 */

/* ParameterStatus values a pipelined statement must not change */
static const char *const watched_params[POOL_WATCHED_PARAMS] = {
	"DateStyle", "IntervalStyle", "TimeZone", "client_encoding",
	"standard_conforming_strings", "session_authorization", "search_path",
	"application_name"
};

/*
 * Remember what the remote reported, to find out a pipelined statement that
 * changed the session after all (a function that calls SET, say).
 */
static void
pool_conn_watch_params(WConn *conn)
{
	int			i;

	for (i = 0; i < POOL_WATCHED_PARAMS; i++)
	{
		const char *v = PQparameterStatus(conn->conn, watched_params[i]);

		if (conn->watched[i] != NULL)
			pfree(conn->watched[i]);
		conn->watched[i] = v ? MemoryContextStrdup(pool_worker_cxt, v) : NULL;
	}
	conn->watched_valid = true;
}

/*
 * Did the session change since pool_conn_watch_params: a transaction left
 * open (known only once nothing else is in flight: libpq says "active"
 * while statements are), or a reported parameter changed?
 */
static bool
pool_conn_session_changed(WConn *conn)
{
	int			i;

	if (dlist_is_empty(&conn->flight) &&
		PQtransactionStatus(conn->conn) != PQTRANS_IDLE)
		return true;
	for (i = 0; i < POOL_WATCHED_PARAMS; i++)
	{
		const char *v = PQparameterStatus(conn->conn, watched_params[i]);

		if ((v == NULL) != (conn->watched[i] == NULL) ||
			(v != NULL && strcmp(v, conn->watched[i]) != 0))
			return true;
	}
	return false;
}

/*
 * Send one statement in pipeline mode, with its Sync (entering the mode
 * first if the connection is not in it).  A statement whose Sync did not go
 * out never commits: the caller closes the connection and may run the
 * statement elsewhere.
 */
static bool
pool_conn_send_pipelined(WConn *conn, WRequest *req)
{
	if (!conn->pipeline)
	{
		if (!PQenterPipelineMode(conn->conn))
			return false;
		conn->pipeline = true;
		conn->syncs = 0;
		conn->head_over = false;
		conn->no_join = false;
		if (!conn->watched_valid)
			pool_conn_watch_params(conn);
	}
	if (!PQsendQueryParams(conn->conn, req->sql, req->nparams, NULL,
						   req->params, NULL, NULL, 0) ||
		!PQpipelineSync(conn->conn))
		return false;
	conn->syncs++;
	return true;
}

/*
 * Send a statement behind those in flight on a busy connection (the pool
 * chose it, see pools.c).  Returns false if it could not go out; the
 * connection is closed then, and the statement, which never ran, is the
 * caller's to place again.
 */
bool
pool_conn_pipeline(WConn *conn, WRequest *req)
{
	WPool	   *pool = conn->pool;
	PoolEntry  *e = pool->shared;
	uint32		depth;

	Assert(conn->state == WC_BUSY && conn->pipeline && !conn->reserved);
	if (!pool_conn_send_pipelined(conn, req) || PQflush(conn->conn) < 0)
	{
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": closing connection to remote pid %d, on which a statement could not be sent: %s",
								 e->name, conn->remote_pid,
								 pool_log_text(PQerrorMessage(conn->conn)))));
		pool_conn_pipeline_lost(conn);
		return false;
	}

	/*
	 * The connection counts against the role already; a waiter holds none
	 * (only pool_serve's caller takes a hold, and hands it on at once).
	 */
	Assert(!req->holds_role);
	req->state = WR_RUNNING;
	req->conn = conn;
	req->joined = true;
	dlist_push_tail(&conn->flight, &req->node);
	conn->in_flight++;

	pg_atomic_fetch_add_u64(&e->checkouts, 1);
	pg_atomic_fetch_add_u64(&e->queries, 1);
	pg_atomic_fetch_add_u64(&e->pipelined, 1);
	pg_atomic_fetch_add_u64(&e->wait_us, Max(pool_now - req->enqueued_at, 0));
	depth = (uint32) conn->in_flight;
	if (depth > pg_atomic_read_u32(&e->max_depth))
		pg_atomic_write_u32(&e->max_depth, depth);	/* only this worker writes */

	pool_begin_write(&conn->slot->changecount);
	conn->slot->in_flight = conn->in_flight;
	conn->slot->uses++;
	conn->slot->queries++;
	pool_end_write(&conn->slot->changecount);

	pool_conn_want(conn, pool_conn_io_events(conn));
	return true;
}

/*
 * Cancel the head of a pipelined connection, given up on by its caller, that
 * has statements in flight behind it.  A cancel request names the remote
 * backend, not a statement: if the head ends before it lands, it hits one
 * of those behind, the one running then or the next to start.  Each runs in
 * an implicit transaction of its own, so the one it hits rolls back; until
 * the pipeline drains, a query_canceled of any of them is taken for the
 * cancel's doing and the statement queued again (pool_conn_end_statement).
 * Once drained, nothing is left for it to hit: the remote backend drops a
 * cancel that finds it reading its next command, and the connection takes
 * no new one before the cancel request is through.  With a cancel on its
 * way already, or none possible, the head runs to its end, within a bound.
 */
static void
pool_conn_cancel_head(WConn *conn)
{
	conn->no_join = true;
	conn->deadline = TimestampTzPlusMilliseconds(pool_now,
												 POOL_CLEANUP_TIMEOUT_MS);
	/* its results are over: a cancel could hit only those behind it */
	if (conn->head_over)
		return;
	if (conn->cancel_conn != NULL)
	{
		/* one is on its way: this one goes when it is through */
		conn->cancel_again = true;
		return;
	}
	pool_cancel_start(conn);
	if (conn->cancel_conn != NULL)
		conn->stray_cancel = true;
}

/*
 * A statement in flight on a connection is over: tell its backend, or, if
 * the backend gave up on it, forget it.  One that a cancel meant for the
 * statement ahead of it may have hit (pool_conn_cancel_head) rolled back:
 * unless part of its results reached its caller already, it is queued again,
 * first in line, as if it had never been sent.
 */
static void
pool_conn_end_statement(WConn *conn, WRequest *req)
{
	if (req->joined)
		pg_atomic_fetch_add_u64(&conn->pool->shared->checkins, 1);
	if (req->discarded)
		pool_request_forget(req);
	else if (conn->stray_cancel && req->joined && req->failed &&
			 strcmp(req->sqlstate, "57014") == 0 && !req->delivered &&
			 !req->rerun)
	{
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": queueing again a statement that a cancel meant for the one ahead of it on remote pid %d may have hit",
								 conn->pool->shared->name, conn->remote_pid)));
		req->joined = false;
		req->conn = NULL;
		req->rerun = true;
		pool_request_again(req, true);
	}
	else
		pool_request_done(req);
}

/*
 * The Sync of the head came back: its statement is over.  The next one in
 * flight becomes the head; if none is left, the connection leaves pipeline
 * mode and goes back to its pool.  Returns whether the connection goes on
 * reading for a new head.
 */
static bool
pool_conn_pipeline_advance(WConn *conn)
{
	WRequest   *done = conn->req;
	WRequest   *next = NULL;

	if (pool_conn_session_changed(conn))
	{
		/* the statement changed the session after all: close it once drained */
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": a pipelined statement changed the session of remote pid %d; closing it once its pipeline drains",
								 conn->pool->shared->name, conn->remote_pid)));
		conn->doomed = true;
		conn->no_join = true;
	}

	if (dlist_is_empty(&conn->flight))
	{
		/* the last one: the connection is a plain one again */
		conn->in_flight = 0;
		if (!PQexitPipelineMode(conn->conn))
		{
			pool_conn_end_request_and_close(conn);
			return false;
		}
		conn->pipeline = false;
		conn->no_join = false;
		pool_conn_request_complete(conn);
		conn->stray_cancel = false;
		return false;
	}

	/* single-row mode is set before anything of the next is parsed */
	next = dlist_container(WRequest, node, dlist_pop_head_node(&conn->flight));
	(void) PQsetSingleRowMode(conn->conn);
	conn->req = next;
	conn->in_flight--;
	conn->head_since = pool_now;
	done->conn = NULL;
	pool_slot_set_state(conn, POOL_SLOT_ACTIVE, next);
	pool_conn_end_statement(conn, done);

	if (next->discarded)
	{
		if (dlist_is_empty(&conn->flight))
		{
			/*
			 * Given up on before its turn, and nothing follows it: a cancel
			 * can hit only it.
			 */
			conn->req = NULL;
			next->conn = NULL;
			pool_conn_end_statement(conn, next);
			pool_conn_abandon(conn);
			return false;
		}
		/* others follow: cancelled, minding them */
		pool_conn_cancel_head(conn);
	}
	else
		conn->deadline = 0;

	/* another statement may join now */
	if (!conn->no_join)
		pool_connection_has_room(conn);
	return conn->state == WC_BUSY && conn->req == next;
}

/*
 * The backend gave up on a statement in flight on a pipelined connection.
 * If it is the only one in flight, the caller cancels it as usual (false).
 * Otherwise it is discarded (its results dropped) and returns true; the
 * caller hands its lane back.  Running, it is cancelled minding those
 * behind it (pool_conn_cancel_head); still queued, it is cancelled when its
 * turn comes, the same way, or as usual with nothing behind it.
 */
bool
pool_conn_discard(WConn *conn, WRequest *req)
{
	if (!conn->pipeline ||
		(conn->req == req && dlist_is_empty(&conn->flight)))
		return false;
	req->discarded = true;
	req->failed = true;
	if (conn->req == req)
		pool_conn_cancel_head(conn);
	return true;
}

/*
 * A statement in flight on a connection that is lost or closing ends: whether
 * it ran is unknown.  Nothing is retried.
 */
static void
pool_conn_end_unknown(WConn *conn, WRequest *req)
{
	req->conn = NULL;
	/* an error of the remote's own (a FATAL) says more */
	if (!req->discarded && (!req->failed || req->failed_lost))
		pool_request_error(req, "08006",
						   "connection to the remote server was lost with the statement in flight",
						   "The statement may or may not have run: a write may have committed.",
						   "Nothing is retried by itself; find out whether it ran before running it again.");
	pool_conn_end_statement(conn, req);
}

/*
 * Fail the statements behind the head of a connection that is lost or
 * closing.
 */
static void
pool_conn_fail_flight(WConn *conn)
{
	while (!dlist_is_empty(&conn->flight))
	{
		WRequest   *req = dlist_container(WRequest, node,
										  dlist_pop_head_node(&conn->flight));

		pool_conn_end_unknown(conn, req);
	}
	conn->in_flight = 0;
}

/*
 * A pipelined connection is lost: every statement in flight fails, the head
 * with the same words, and the connection closes.
 */
static void
pool_conn_pipeline_lost(WConn *conn)
{
	WRequest   *req = conn->req;

	pool_conn_account(conn);
	conn->req = NULL;
	if (req != NULL)
	{
		pool_conn_end_unknown(conn, req);
	}
	pool_conn_fail_flight(conn);
	pool_conn_close(conn, POOL_CLOSE_BROKEN);
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
 * Bytes of the record of a row (of a single-row-mode result).
 */
static uint64
pool_row_bytes(const PGresult *res)
{
	int			ncols = PQnfields(res);
	uint64		bytes = 1 + sizeof(uint32);
	int			i;

	for (i = 0; i < ncols; i++)
	{
		bytes += sizeof(uint32);
		if (!PQgetisnull(res, 0, i))
			bytes += PQgetlength(res, 0, i) + 1;
	}
	return bytes;
}

/*
 * Hand a large row to the request's queue straight from libpq's result,
 * which the request keeps until the queue took it all: the record header
 * and each column's length from a small buffer, the values from the result.
 */
static void
pool_request_set_big_row(WRequest *req, PGresult *res, uint64 bytes)
{
	int			ncols = PQnfields(res);
	MemoryContext old = MemoryContextSwitchTo(req->cxt);
	char	   *head = palloc(1 + sizeof(uint32) * (ncols + 1));
	char	   *p = head;
	shm_mq_iovec *iov = palloc(sizeof(shm_mq_iovec) * (2 * ncols + 1));
	int			n = 0;
	uint32		len = (uint32) (bytes - 1 - sizeof(uint32));
	int			i;

	MemoryContextSwitchTo(old);
	*p = POOL_REC_ROW;
	memcpy(p + 1, &len, sizeof(uint32));
	iov[n].data = p;
	iov[n].len = 1 + sizeof(uint32);
	p += 1 + sizeof(uint32);
	for (i = 0; i < ncols; i++)
	{
		uint32		vlen = PQgetisnull(res, 0, i) ? (uint32) -1 :
		(uint32) PQgetlength(res, 0, i);

		memcpy(p, &vlen, sizeof(uint32));
		/* the length goes with the previous piece when they are adjacent */
		if (iov[n].data + iov[n].len == p)
			iov[n].len += sizeof(uint32);
		else
		{
			n++;
			iov[n].data = p;
			iov[n].len = sizeof(uint32);
		}
		p += sizeof(uint32);
		if (vlen != (uint32) -1)
		{
			/* the value is NUL-terminated: the terminator goes too */
			n++;
			iov[n].data = PQgetvalue(res, 0, i);
			iov[n].len = vlen + 1;
		}
	}
	req->big_row = res;
	req->big_iov = iov;
	req->big_iovcnt = n + 1;
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
	bool		lost = false;
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
		lost = true;
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
	if (lost)
		pool_put_field(buf, POOL_FIELD_LOST, "1");
	appendStringInfoChar(buf, '\0');
	pool_end_record(buf, start);
}

/*
 * Does an error result say that the remote session is over?
 */
static bool
pool_result_is_fatal(const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

	return severity != NULL &&
		(strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0);
}

/* What became of one result of a busy connection. */
typedef enum PoolResultFate
{
	POOL_RESULT_USED,			/* turned into records: the caller frees it */
	POOL_RESULT_KEPT,			/* a large row the request sends from it */
	POOL_RESULT_STOP			/* the request cannot go on here (COPY, a row
								 * too large): the caller frees it and closes
								 * the connection */
} PoolResultFate;

/*
 * Turn one result of a busy connection into records.
 */
static PoolResultFate
pool_conn_handle_result(WConn *conn, WRequest *req, PGresult *res)
{
	conn->results++;
	switch (PQresultStatus(res))
	{
		case PGRES_SINGLE_TUPLE:
			{
				uint64		bytes = pool_row_bytes(res);

				if (bytes > (uint64) conn->pool->s.max_row_size)
				{
					if (!req->failed)
						pool_request_error(req, "54000",
										   "remote row is too large",
										   psprintf("The remote sent a row of " UINT64_FORMAT " bytes; max_row_size of pool \"%s\" is %d bytes.",
													bytes, conn->pool->shared->name,
													conn->pool->s.max_row_size),
										   "Raise max_row_size of the pool's server, or pool.max_row_size.");
					return POOL_RESULT_STOP;
				}
				/* libpq's input buffer grew to hold it and never shrinks */
				if (bytes >= POOL_RECYCLE_ROW_BYTES)
					conn->doomed = true;
				if (req->kind != POOL_REQ_QUERY || req->failed)
					break;
				if (!req->has_rowdesc)
					pool_append_rowdesc(conn, req, res);
				if (bytes >= POOL_BIG_ROW_BYTES)
				{
					pool_request_set_big_row(req, res, bytes);
					pool_request_flush(req, false);
					return POOL_RESULT_KEPT;
				}
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
			return POOL_RESULT_STOP;
		default:
			if (!req->failed)
			{
				resetStringInfo(&req->error);
				pool_append_result_error(&req->error, res, POOL_REC_ERROR);
				req->failed = true;
				/* libpq's own error: the connection was lost */
				req->failed_lost =
					PQresultErrorField(res, PG_DIAG_SQLSTATE) == NULL;
				strlcpy(req->sqlstate,
						req->failed_lost ? "" :
						PQresultErrorField(res, PG_DIAG_SQLSTATE),
						sizeof(req->sqlstate));
			}

			/*
			 * An error the remote calls FATAL ends its session, and the
			 * session that holds the connection takes it for lost: close it,
			 * whether the remote does or not.
			 */
			if (pool_result_is_fatal(res))
				conn->revoked = conn->doomed = true;
			break;
	}
	return POOL_RESULT_USED;
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
		PoolResultFate fate;

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
		if (res == NULL && conn->pipeline)
		{
			/* the head's results are over; its Sync's result follows */
			if (conn->head_over || PQstatus(conn->conn) != CONNECTION_OK)
			{
				pool_conn_pipeline_lost(conn);
				return;
			}
			conn->head_over = true;
			continue;
		}
		if (res == NULL)
		{
			pool_conn_request_complete(conn);
			return;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			conn->syncs--;
			conn->head_over = false;
			if (!pool_conn_pipeline_advance(conn))
				return;
			req = conn->req;
			continue;
		}
		fate = pool_conn_handle_result(conn, req, res);
		if (fate == POOL_RESULT_KEPT)
		{
			if (conn->req != req)
				return;			/* the backend gave up on it */
			continue;
		}
		PQclear(res);
		if (fate == POOL_RESULT_STOP)
		{
			/* stuck in COPY, or in a row too large to read on */
			pool_conn_end_request_and_close(conn);
			return;
		}
	}
}

/*
 * Start cleaning a connection: it goes back to the pool only once it is
 * drained, rolled back and reset as needed.
 */
static void
pool_conn_start_cleaning(WConn *conn)
{
	conn->state = WC_CLEANING;
	conn->deadline = TimestampTzPlusMilliseconds(pool_now,
												 POOL_CLEANUP_TIMEOUT_MS);
	pool_slot_set_state(conn, POOL_SLOT_CLEANING, NULL);
	pool_conn_pump_cleaning(conn);
}

/*
 * A busy connection returned its last result: finish the request and put the
 * connection back, cleaning it first if the remote transaction is open or
 * its session state may have changed.
 */
static void
pool_conn_request_complete(WConn *conn)
{
	WRequest   *req = conn->req;
	bool		clean;

	if (conn->reserved)
	{
		/*
		 * Back to the session that holds it, transaction and all; with its
		 * notifications and transaction status, built while the request is
		 * still the connection's (should that fail, the worker's recovery
		 * finds it there).
		 */
		if (PQstatus(conn->conn) == CONNECTION_OK && !conn->revoked)
			pool_conn_report_session(conn, req);
		conn->req = NULL;
		req->conn = NULL;
		conn->dirty = true;
		if (PQstatus(conn->conn) == CONNECTION_OK && !conn->revoked)
		{
			conn->state = WC_RESERVED;
			pool_slot_set_state(conn, POOL_SLOT_RESERVED, req);
			pool_conn_want(conn, WL_SOCKET_READABLE);
		}
		pool_request_done(req);
		if (conn->revoked)
			pool_conn_close(conn, POOL_CLOSE_RESET);
		else if (PQstatus(conn->conn) != CONNECTION_OK)
			pool_conn_close(conn, POOL_CLOSE_BROKEN);
		return;
	}

	pool_conn_account(conn);
	conn->req = NULL;
	req->conn = NULL;
	if (req->may_change_state)
		conn->dirty = true;

	/*
	 * Show the connection as checked in before the backend hears that its
	 * command is done, so that what it reads in the views next adds up.
	 */
	clean = PQstatus(conn->conn) == CONNECTION_OK &&
		PQtransactionStatus(conn->conn) == PQTRANS_IDLE &&
		conn->cancel_conn == NULL &&
		!(conn->dirty && conn->pool->s.reset_query[0] != '\0');
	if (clean)
		pool_slot_set_state(conn, POOL_SLOT_IDLE, NULL);
	pool_conn_end_statement(conn, req);

	if (PQstatus(conn->conn) != CONNECTION_OK)
	{
		pool_conn_close(conn, POOL_CLOSE_BROKEN);
		return;
	}
	if (clean)
	{
		pool_connection_free(conn);
		return;
	}
	pool_conn_start_cleaning(conn);
}

/*
 * Drive a connection back to a clean idle state: drain what is left of the
 * last command, wait for a cancel in flight, roll back an open transaction,
 * run reset_query if the session state may have changed.
 */
static void
pool_conn_pump_cleaning(WConn *conn)
{
	WPool	   *pool = conn->pool;

	for (;;)
	{
		PGresult   *res;
		PGTransactionStatusType ts;

		if (PQstatus(conn->conn) != CONNECTION_OK)
		{
			pool_conn_close(conn, POOL_CLOSE_BROKEN);
			return;
		}
		if (PQisBusy(conn->conn))
		{
			pool_conn_want(conn, pool_conn_io_events(conn));
			return;
		}
		res = PQgetResult(conn->conn);
		if (res != NULL && PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			conn->syncs--;
			conn->head_over = false;
			continue;
		}
		if (res == NULL && conn->pipeline && conn->syncs > 0)
		{
			/* between a statement's results and its Sync's */
			if (conn->head_over)
			{
				pool_conn_close(conn, POOL_CLOSE_BROKEN);
				return;
			}
			conn->head_over = true;
			continue;
		}
		if (res == NULL && conn->pipeline)
		{
			conn->in_flight = 0;
			if (!PQexitPipelineMode(conn->conn))
			{
				pool_conn_close(conn, POOL_CLOSE_BROKEN);
				return;
			}
			conn->pipeline = false;
			conn->no_join = false;
			conn->stray_cancel = false;
		}
		if (res != NULL && pool_result_is_copy(res))
		{
			/* a COPY started after the cancel: it cannot be drained */
			PQclear(res);
			pool_conn_close(conn, POOL_CLOSE_BROKEN);
			return;
		}
		if (res != NULL)
		{
			if (conn->reset_sent && PQresultStatus(res) != PGRES_COMMAND_OK &&
				PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				ereport(LOG,
						(errmsg("pool \"%s\": closing connection to remote pid %d whose reset failed",
								pool->shared->name, conn->remote_pid),
						 errdetail_internal("%s", pool_log_text(PQresultErrorMessage(res)))));
				PQclear(res);
				pool_conn_close(conn, POOL_CLOSE_BROKEN);
				return;
			}
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

		if (conn->reserved && conn->revoked)
		{
			pool_conn_close(conn, POOL_CLOSE_RESET);
			return;
		}
		if (conn->reserved)
		{
			/*
			 * A command of the session holding it was cancelled: the
			 * connection stays the session's, its transaction left to it.
			 */
			conn->state = WC_RESERVED;
			conn->deadline = 0;
			pool_slot_set_state(conn, POOL_SLOT_RESERVED, NULL);
			pool_conn_want(conn, WL_SOCKET_READABLE);
			if (conn->parked != NULL)
			{
				WRequest   *next = conn->parked;

				conn->parked = NULL;
				next->parked_on = NULL;
				pool_conn_start_request(conn, next);
			}
			return;
		}

		ts = PQtransactionStatus(conn->conn);
		if ((ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) &&
			!conn->rollback_sent)
		{
			conn->rollback_sent = true;
			if (PQsendQuery(conn->conn, "ROLLBACK") && PQflush(conn->conn) >= 0)
				continue;
		}
		if (ts != PQTRANS_IDLE)
		{
			pool_conn_close(conn, POOL_CLOSE_BROKEN);
			return;
		}
		if (conn->dirty && pool->s.reset_query[0] != '\0' && !conn->reset_sent)
		{
			conn->reset_sent = true;
			if (PQsendQuery(conn->conn, pool->s.reset_query) &&
				PQflush(conn->conn) >= 0)
				continue;
			pool_conn_close(conn, POOL_CLOSE_BROKEN);
			return;
		}
		if (conn->reset_sent)
			pool_conn_session_was_reset(conn, pool->s.reset_query);
		pool_connection_free(conn);
		return;
	}
}

/*
 * Read what a connection with a command in flight has for us.
 */
void
pool_conn_pump(WConn *conn)
{
	switch (conn->state)
	{
		case WC_BUSY:
			pool_conn_pump_request(conn);
			break;
		case WC_VALIDATING:
			pool_conn_pump_validation(conn);
			break;
		case WC_CLEANING:
			pool_conn_pump_cleaning(conn);
			break;
		default:
			break;
	}
}

/*
 * Clean a connection that pool.reset() or a reload wants to drop once it is
 * free: called for idle connections by the worker.
 */
void
pool_conn_reset_session(WConn *conn)
{
	conn->dirty = true;
	pool_conn_start_cleaning(conn);
}

/*
 * The backend gave up on the request this connection serves (or validates
 * for): cancel the remote query if it still runs, and clean the connection.
 */
void
pool_conn_abandon(WConn *conn)
{
	pool_conn_account(conn);
	if (conn->req != NULL && conn->req->may_change_state)
		conn->dirty = true;
	/* a pipelined statement counted its own checkout */
	if (conn->req != NULL && conn->req->joined)
		pg_atomic_fetch_add_u64(&conn->pool->shared->checkins, 1);
	conn->req = NULL;
	Assert(dlist_is_empty(&conn->flight));
	conn->in_flight = 0;

	/* Take what already arrived; cancel only if the command still runs. */
	(void) PQconsumeInput(conn->conn);
	while (PQstatus(conn->conn) == CONNECTION_OK && !PQisBusy(conn->conn))
	{
		PGresult   *res = PQgetResult(conn->conn);

		if (res == NULL && conn->pipeline && conn->syncs > 0 &&
			!conn->head_over)
		{
			/* its results are over, its Sync's result is due */
			conn->head_over = true;
			continue;
		}
		if (res == NULL)
			break;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			conn->syncs--;
			conn->head_over = false;
			PQclear(res);
			continue;
		}
		if (pool_result_is_copy(res))
		{
			PQclear(res);
			pool_conn_close(conn, POOL_CLOSE_BROKEN);
			return;
		}
		PQclear(res);
	}
	if (PQstatus(conn->conn) == CONNECTION_OK && PQisBusy(conn->conn) &&
		!(conn->pipeline && conn->head_over))
		pool_cancel_start(conn);
	pool_conn_start_cleaning(conn);
}

/*
 * A deadline passed.
 */
void
pool_conn_timeout(WConn *conn)
{
	WPool	   *pool = conn->pool;

	switch (conn->state)
	{
		case WC_CONNECTING:
			{
				pool_connect_failed(pool, "08001", NULL,
									conn->lookup != NULL ?
									psprintf("Resolving the host name timed out after %d ms.",
											 pool->s.connect_timeout) :
									psprintf("The connection attempt timed out after %d ms.",
											 pool->s.connect_timeout),
									NULL);
				pool_conn_close(conn, POOL_CLOSE_BROKEN);
				break;
			}
		case WC_VALIDATING:
			pool_conn_give_back(conn, "the check was not answered in time");
			break;
		case WC_CLEANING:
			ereport(LOG,
					(errmsg("pool \"%s\": closing connection to remote pid %d that did not come back clean within %d ms",
							pool->shared->name, conn->remote_pid,
							POOL_CLEANUP_TIMEOUT_MS)));
			pool_conn_close(conn, POOL_CLOSE_BROKEN);
			break;
		case WC_BUSY:
			if (conn->pipeline && conn->req != NULL && conn->req->discarded)
			{
				/* given up on, with others behind it, and it runs on */
				ereport(LOG,
						(errmsg("pool \"%s\": closing connection to remote pid %d, whose abandoned statement ran %d ms more with others behind it",
								pool->shared->name, conn->remote_pid,
								POOL_CLEANUP_TIMEOUT_MS)));
				pool_conn_pipeline_lost(conn);
				break;
			}
			conn->deadline = 0;
			break;
		default:
			conn->deadline = 0;
			break;
	}
}

/*
 * Close a connection and free its slot.  The WConn itself is freed by the
 * worker later, since events for it may still be pending.
 */
void
pool_conn_close(WConn *conn, PoolCloseReason reason)
{
	WPool	   *pool = conn->pool;
	bool		was_connecting = conn->state == WC_CONNECTING;
	int			i;

	if (conn->state == WC_CLOSED)
		return;
	Assert(conn->req == NULL);
	pool_conn_fail_flight(conn);
	pool_conn_free_notifies(conn);
	for (i = 0; i < POOL_WATCHED_PARAMS; i++)
	{
		if (conn->watched[i] != NULL)
			pfree(conn->watched[i]);
		conn->watched[i] = NULL;
	}

	if (conn->in_idle_list)
	{
		dlist_delete(&conn->pool_node);
		conn->in_idle_list = false;
	}
	if (conn->reserved)
	{
		/* its handle is dead: the session hears it at its next use */
		dlist_delete(&conn->peer_node);
		conn->reserved = false;
	}
	if (conn->lookup != NULL)
	{
		/* given up before it was resolved */
		pool_lookup_free(conn->lookup);
		conn->lookup = NULL;
		pool_nresolving--;
	}
	pool_conn_account(conn);
	pool_conn_release_hold(conn);
	pool_conn_fail_parked(conn, "the connection of this handle was lost");
	dlist_delete(&conn->conns_node);
	pool_slot_conns[conn->slot_index] = NULL;
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
	else
		pg_atomic_fetch_add_u64(&pool->shared->closed[reason], 1);
	pool_connection_closed(pool);
}

/*
 * The socket of a cancel in progress, and closing it.
 */
pgsocket
pool_cancel_socket(PoolCancelConn *c)
{
#ifdef POOL_HAVE_ASYNC_CANCEL
	return PQcancelSocket(c);
#else
	return PQsocket(c);
#endif
}

void
pool_cancel_close(PoolCancelConn *c)
{
#ifdef POOL_HAVE_ASYNC_CANCEL
	PQcancelFinish(c);
#else
	PQfinish(c);
#endif
}

#ifdef POOL_HAVE_ASYNC_CANCEL

/*
 * Start cancelling the remote query with libpq's cancel request (17+): a
 * connection of its own to the same address, no login, so that it works
 * when the remote has no connection slot left.  Without a file descriptor
 * for it, the cleaning deadline closes the connection instead.
 */
static void
pool_cancel_start(WConn *conn)
{
	PGcancelConn *c;

	if (conn->cancel_conn != NULL)
	{
		/* one at a time: the next goes when this one is through */
		conn->cancel_again = true;
		return;
	}
	if (!AcquireExternalFD())
		return;
	c = PQcancelCreate(conn->conn);
	if (c == NULL || PQcancelStatus(c) == CONNECTION_BAD || !PQcancelStart(c))
	{
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": could not start cancelling remote pid %d: %s",
								 conn->pool->shared->name, conn->remote_pid,
								 c ? pool_log_text(PQcancelErrorMessage(c)) : "out of memory")));
		if (c != NULL)
			PQcancelFinish(c);
		ReleaseExternalFD();
		return;
	}
	conn->cancel_conn = c;
	/* on its way: cleaning waits for it, so that it cannot hit the next query */
	conn->cancel_sent = true;
	pool_cancel_want(conn, WL_SOCKET_WRITEABLE);
}

/*
 * The cancel request's socket is ready: go on; once the remote has it (it
 * closes the connection), the connection's cleaning goes on.
 */
static void
pool_cancel_event(WConn *conn)
{
	PostgresPollingStatusType st = PQcancelPoll(conn->cancel_conn);

	pool_cancel_forget_socket(conn);	/* as in pool_conn_connect_poll */
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
	if (st != PGRES_POLLING_OK)
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": could not cancel remote pid %d: %s",
								 conn->pool->shared->name, conn->remote_pid,
								 pool_log_text(PQcancelErrorMessage(conn->cancel_conn)))));
	pool_cancel_over(conn);
}

#else							/* !POOL_HAVE_ASYNC_CANCEL */

/*
 * Open a second connection to the very server a connection reached: with
 * several hosts (or a name with several addresses) the pool's parameters
 * could lead elsewhere, and the cancel would miss, or hit a process of the
 * same pid on another server.
 */
static PGconn *
pool_connect_same_server(WConn *conn)
{
	WPool	   *pool = conn->pool;
	const char *host = PQhost(conn->conn);
	const char *hostaddr = PQhostaddr(conn->conn);
	const char *port = PQport(conn->conn);
	const char **keywords;
	const char **values;
	int			n = 0;
	int			i;
	PGconn	   *c;

	while (pool->keywords[n] != NULL)
		n++;
	keywords = palloc0(sizeof(char *) * (n + 4));
	values = palloc0(sizeof(char *) * (n + 4));
	for (i = 0; i < n; i++)
	{
		/* later entries override earlier ones */
		keywords[i] = pool->keywords[i];
		values[i] = pool->values[i];
	}
	if (host != NULL && host[0] != '\0')
	{
		keywords[n] = "host";
		values[n++] = host;
	}
	if (hostaddr != NULL && hostaddr[0] != '\0')
	{
		keywords[n] = "hostaddr";
		values[n++] = hostaddr;
	}
	if (port != NULL && port[0] != '\0')
	{
		keywords[n] = "port";
		values[n++] = port;
	}
	c = PQconnectStartParams(keywords, values, false);
	pfree(keywords);
	pfree(values);
	return c;
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

	if (conn->cancel_conn != NULL)
	{
		/* one at a time: the next goes when this one is through */
		conn->cancel_again = true;
		return;
	}
	if (conn->remote_pid == 0 || !AcquireExternalFD())
		return;
	c = pool_connect_same_server(conn);
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

		pool_cancel_forget_socket(conn);	/* as in pool_conn_connect_poll */

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
			pool_cancel_over(conn);
			return;
		}
		snprintf(pid, sizeof(pid), "%d", conn->remote_pid);
		params[0] = pid;
		if (!PQsendQueryParams(c, "SELECT pg_catalog.pg_cancel_backend($1::pg_catalog.int4)",
							   1, NULL, params, NULL, NULL, 0) ||
			PQflush(c) < 0)
		{
			pool_cancel_over(conn);
			return;
		}
		conn->cancel_sent = true;
		pool_cancel_want(conn, WL_SOCKET_READABLE);
		return;
	}

	/* Waiting for pg_cancel_backend() to answer. */
	if (!PQconsumeInput(c))
	{
		pool_cancel_over(conn);
		return;
	}
	while (!PQisBusy(c))
	{
		PGresult   *res = PQgetResult(c);

		if (res == NULL)
		{
			pool_cancel_over(conn);
			return;
		}
		PQclear(res);
	}
}

#endif							/* POOL_HAVE_ASYNC_CANCEL */

/*
 * A cancel request is through, or failed.  If another was asked for while
 * it was on its way, it goes out now, should a statement given up on still
 * run: the one being drained, or a discarded head with others behind it.
 */
static void
pool_cancel_over(WConn *conn)
{
	bool		again = conn->cancel_again;

	pool_cancel_finish(conn);
	if (again && PQstatus(conn->conn) == CONNECTION_OK &&
		PQisBusy(conn->conn) && !(conn->pipeline && conn->head_over) &&
		((conn->state == WC_CLEANING && !conn->rollback_sent &&
		  !conn->reset_sent) ||
		 (conn->state == WC_BUSY && conn->req != NULL && conn->req->discarded)))
	{
		pool_cancel_start(conn);
		if (conn->state == WC_BUSY && conn->cancel_conn != NULL &&
			!dlist_is_empty(&conn->flight))
			conn->stray_cancel = true;
	}
	pool_conn_pump(conn);
}

/*
 * Close the cancel in progress.
 */
void
pool_cancel_finish(WConn *conn)
{
	if (conn->cancel_conn == NULL)
		return;
	pool_cancel_close(conn->cancel_conn);
	ReleaseExternalFD();
	conn->cancel_conn = NULL;
	conn->cancel_sent = false;
	conn->cancel_again = false;
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

	conn->results++;
	if (conn->state == WC_BUSY && conn->req != NULL)
		pool_append_result_error(&conn->req->building, res, POOL_REC_NOTICE);
	else
		ereport(DEBUG1,
				(errmsg_internal("pool \"%s\": remote pid %d: %s",
								 conn->pool->shared->name, conn->remote_pid,
								 pool_log_text(PQresultErrorMessage(res)))));
}

/*
 * A command waiting for a reserved connection to be cleaned cannot run on
 * it any more.
 */
static void
pool_conn_fail_parked(WConn *conn, const char *why)
{
	WRequest   *req = conn->parked;

	if (req == NULL)
		return;
	conn->parked = NULL;
	req->parked_on = NULL;
	pool_request_error(req, "08006", why, NULL, NULL);
	pool_request_done(req);
}

/*
 * A checkout request got a connection: it is the session's until it checks
 * it in or ends.  The answer carries the handle.
 */
void
pool_conn_reserve(WConn *conn, WRequest *req)
{
	uint64		reservation;

	/* notifications before the session's time are not its */
	pool_conn_forget_notifies(conn);

	/* numbered across workers and their restarts: no handle comes back */
	reservation = pg_atomic_fetch_add_u64(&pool_shared->next_reservation, 1) &
		POOL_HANDLE_RESERVATION_MASK;
	conn->reserved = true;
	conn->handle = (reservation << POOL_HANDLE_SLOT_BITS) |
		(uint64) (conn->slot_index + 1);
	conn->peer = req->peer;
	conn->reserved_role = req->role;
	conn->reserved_superuser = req->superuser;
	conn->dirty = true;			/* whatever the session does, reset it */
	dlist_push_tail(&req->peer->reserved, &conn->peer_node);
	conn->state = WC_RESERVED;
	conn->req = NULL;
	req->conn = NULL;

	pool_begin_write(&conn->slot->changecount);
	conn->slot->handle = conn->handle;
	pool_end_write(&conn->slot->changecount);
	pool_slot_set_state(conn, POOL_SLOT_RESERVED, req);
	pool_conn_want(conn, WL_SOCKET_READABLE);

	/* should the backend give up before it reads the answer, it is undone */
	req->peer->checkout_seq[req->lane_no] = req->seq;
	req->peer->checkout_handle[req->lane_no] = conn->handle;

	req->tag = pstrdup("CHECKOUT");
	req->number = conn->handle;
	req->has_number = true;
	pool_request_done(req);
}

/*
 * The session checked the connection in, or ended: clean it (roll back,
 * reset) and give it back to the pool.
 */
void
pool_conn_unreserve(WConn *conn)
{
	Assert(conn->reserved);

	dlist_delete(&conn->peer_node);
	conn->reserved = false;
	conn->peer = NULL;
	conn->dirty = true;
	pool_conn_free_notifies(conn);
	pool_conn_fail_parked(conn, "canceling the command of a handle that was checked in");
	pool_begin_write(&conn->slot->changecount);
	conn->slot->handle = 0;
	pool_end_write(&conn->slot->changecount);

	if (conn->req != NULL)
	{
		/* a command still runs on it: it fails; cancel it, then clean */
		WRequest   *req = conn->req;

		req->conn = NULL;
		pool_request_error(req, "57014",
						   "canceling the command of a handle that was checked in",
						   NULL, NULL);
		pool_request_done(req);
		pool_conn_abandon(conn);
		return;
	}
	pool_conn_account(conn);
	if (conn->state == WC_RESERVED)
	{
		conn->state = WC_IDLE;
		pool_conn_start_cleaning(conn);
	}
	/* a connection being cleaned goes on to the pool when it is done */
}

/*
 * A connection may no longer serve its pool (it authenticated in a way the
 * pool no longer accepts): closed now if nobody uses it, else as soon as
 * its command is over, even if a session holds it.
 */
void
pool_conn_revoke(WConn *conn)
{
	conn->doomed = true;
	conn->revoked = true;
	if (conn->in_idle_list || (conn->reserved && conn->state == WC_RESERVED))
		pool_conn_close(conn, POOL_CLOSE_RESET);
}

/*
 * Count a connection against the local role it serves (the role's count
 * was raised already), and stop counting it when it is free again.
 */
void
pool_conn_set_hold(WConn *conn, Oid role)
{
	Assert(!OidIsValid(conn->held_role));
	conn->held_role = role;
	conn->slot->held_role = role;
}

void
pool_conn_release_hold(WConn *conn)
{
	if (!OidIsValid(conn->held_role))
		return;
	pool_role_release(conn->held_role);
	conn->held_role = InvalidOid;
	conn->slot->held_role = InvalidOid;
}
