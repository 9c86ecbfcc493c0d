/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Worker-local structures shared by worker.c (event loop, requests,
 *	  pools) and remote.c (the remote connections).
 *
 * Nothing here is in shared memory: a worker's pools, connections and
 * requests live in its own memory; PoolEntry and PoolSlot are what it
 * publishes of them.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_WORKER_H
#define POOL_WORKER_H

#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "libpq-fe.h"

#include "pool.h"
#include "shmem.h"
#include "wire.h"
#include "scan.h"

/* Flush a response message once this much is buffered. */
#define POOL_FLUSH_THRESHOLD	(POOL_RESPONSE_QUEUE_SIZE / 4)

/*
 * A row larger than this goes to the queue straight from libpq's result;
 * a connection that received one is closed after its checkout, so that
 * libpq's input buffer, which never shrinks, does not keep the memory.
 */
#define POOL_BIG_ROW_BYTES		POOL_FLUSH_THRESHOLD
#define POOL_RECYCLE_ROW_BYTES	(8 * 1024 * 1024)

/* Allocations from this size on are mapped on their own (glibc). */
#define POOL_MMAP_THRESHOLD		(256 * 1024)

/*
 * What the kernel may have received beyond the message libpq is reading
 * (its socket buffer, and one read), on top of max_row_size, before the
 * remote is taken to send a message larger than max_row_size.
 */
#define POOL_RECEIVE_SLACK		(8 * 1024 * 1024)

/*
 * An idle connection's socket is watched, so a remote that closes it is seen
 * at once; one idle longer than this is also read from before it is handed
 * out, in case its end of the connection went away in between.
 */
#define POOL_RECHECK_IDLE_MS	1000

/* Longest remote text the worker writes into the server log. */
#define POOL_LOG_TEXT_LEN		1024

/*
 * What resets a connection fully before it passes to another local role,
 * whatever reset_query says.
 */
#define POOL_FULL_RESET			"DISCARD ALL"

/*
 * How often a pool looks again at waiters passed over because their role
 * holds pool.max_role_connections already.
 */
#define POOL_ROLE_RECHECK_MS	50

/* How long a connection may take to come back clean after a request. */
#define POOL_CLEANUP_TIMEOUT_MS 10000

/*
 * Pipelining: a statement joins a busy connection only while the statement
 * running there (the head of its pipeline) has run less than this, so that
 * a short statement never queues behind a long one for longer.
 */
#define POOL_PIPELINE_JOIN_MS	1

/* The most a reserved connection keeps of notifications for its session. */
#define POOL_KEPT_NOTIFY_BYTES	(1024 * 1024)

/*
 * The parameters the remote reports (ParameterStatus) that a pipelined
 * statement must leave as they were: one that changes one changed the
 * session, and its connection is closed once its pipeline drains.
 */
#define POOL_WATCHED_PARAMS		8

struct WRequest;
struct WPeer;

/*
 * How a running remote query is cancelled: from 17 on, libpq's own cancel
 * request, without blocking and without a login; before, a second
 * connection that runs pg_cancel_backend().
 */
#ifdef POOL_HAVE_ASYNC_CANCEL
typedef PGcancelConn PoolCancelConn;
#else
typedef PGconn PoolCancelConn;
#endif

/*
 * A pool as its worker knows it.
 */
typedef struct WPool
{
	int			index;
	uint32		generation;
	PoolEntry  *shared;
	bool		require_password;
	MemoryContext cxt;
	uint32		config_version; /* of the entry's configuration in use */
	MemoryContext config_cxt;	/* keywords and values */
	PoolSettings overrides;		/* from its foreign server */
	uint32		override_mask;
	bool		dropped;		/* its server was dropped */

	/*
	 * With use_scram_passthrough (18), connections authenticate with the
	 * SCRAM keys of the role's sessions: each request brings its session's,
	 * the latest are kept here (never in shared memory) for the pool's next
	 * connections, and wiped when they change or the pool goes.
	 */
	bool		scram_passthrough;
	char	   *scram_client_key;	/* base64, or NULL */
	char	   *scram_server_key;
	const char **keywords;		/* NULL-terminated, for PQconnectStartParams */
	const char **values;
	dlist_head	conns;			/* WConn, every connection of the pool */
	dlist_head	idle;			/* WConn, most recently used first */
	dlist_head	waiters;		/* WRequest, first come first served */
	int			nwaiters;
	int			nconns;			/* connections in any state */
	int			nconnecting;

	bool		dispatching;	/* pool_dispatch is running */
	bool		dispatch_again;
	char	   *why_waiting;	/* why no connection could be opened */
	TimestampTz next_maintenance;	/* 0 when nothing is due */

	/* administration */
	bool		paused;

	/* fail-fast after a failed connection attempt */
	bool		failing;
	int			failures;		/* in a row */
	TimestampTz retry_at;
	TimestampTz last_demand;	/* when a request last came for it */
	char		last_sqlstate[6];
	char	   *last_error;		/* message, detail: libpq's reason */
	char	   *last_detail;
	char	   *last_hint;

	PoolSettings s;				/* settings in force */
} WPool;

typedef enum WConnState
{
	WC_CONNECTING,
	WC_IDLE,
	WC_RESERVED,				/* checked out by a session, between commands */
	WC_VALIDATING,				/* pre-ping before serving conn->req */
	WC_BUSY,					/* serving a request */
	WC_CLEANING,				/* cancelling, draining, rolling back,
								 * resetting */
	WC_CLOSED
} WConnState;

/*
 * One remote connection.
 */
typedef struct WConn
{
	dlist_node	all_node;		/* in the worker's list of connections */
	dlist_node	conns_node;		/* in pool->conns */
	dlist_node	pool_node;		/* in pool->idle while in_idle_list */
	bool		in_idle_list;
	TimestampTz idle_since;
	WPool	   *pool;
	int			slot_index;
	PoolSlot   *slot;
	PGconn	   *conn;			/* NULL while its host names are resolved */
	struct PoolLookup *lookup;	/* resolving them, or NULL */
	pgsocket	sock;			/* socket registered in the wait set */
	int			wes_pos;		/* -1 when not in the set */
	uint32		events;			/* socket events wanted, 0 for none */
	WConnState	state;
	TimestampTz deadline;		/* of connecting, validating or cleaning; 0
								 * for none */
	struct WRequest *req;		/* the request it serves or validates for */
	TimestampTz connected_at;
	TimestampTz expires_at;		/* max_lifetime, with its random part; 0 for
								 * never */
	TimestampTz checked_out_at;
	bool		counted;		/* its checkout is counted, its check-in not
								 * yet */
	bool		leak_reported;
	bool		doomed;			/* pool.reset(): close at check-in */
	bool		revoked;		/* may not serve even its holder any more */
	bool		used_password;	/* it authenticated with a password */
	bool		is_tcp;			/* its socket is TCP (bytes are counted) */
	uint64		results;		/* results and notices libpq gave, ever */
	uint64		results_at_check;	/* ... when bytes were last counted */
	uint64		received_at_check;	/* bytes received then */
	uint64		received_mark;	/* bytes received when libpq last gave one */
	Oid			held_role;		/* the role it counts against, or InvalidOid */
	bool		dirty;			/* session state may have changed */
	bool		reserved;		/* checked out by a session (pool.checkout) */
	uint64		handle;			/* its handle while reserved */
	Oid			reserved_role;	/* whose it is while reserved, and whether */
	bool		reserved_superuser; /* that role was a superuser */
	struct WPeer *peer;			/* the session holding it */
	struct WRequest *parked;	/* its next command, waiting for cleaning */
	dlist_node	peer_node;		/* in peer->reserved */
	Oid			state_role;		/* local role whose session state may be left
								 * on it; InvalidOid after a full reset */
	bool		rollback_sent;
	bool		reset_sent;

	/*
	 * Pipelining (libpq's pipeline mode): conn->req is the statement whose
	 * results come now (the head), `flight` the ones sent after it, in order.
	 * Each went out with its own Sync, whose result ends it.
	 */
	bool		pipeline;		/* in pipeline mode */
	int			in_flight;		/* statements sent, results not all read */
	int			syncs;			/* Syncs sent, their results not read yet */
	bool		head_over;		/* the head's results ended, its Sync is due */
	bool		no_join;		/* no more statements until it drains */
	TimestampTz head_since;		/* when the head's turn came */
	dlist_head	flight;			/* WRequest, behind the head */
	char	   *watched[POOL_WATCHED_PARAMS];	/* reported values since the
												 * last statement that was not
												 * pipelined */
	bool		watched_valid;

	/* cancelling the running remote query (see PoolCancelConn) */
	PoolCancelConn *cancel_conn;
	pgsocket	cancel_sock;
	int			cancel_pos;
	uint32		cancel_events;
	bool		cancel_sent;
	StringInfoData kept_notifies;	/* a reserved connection's notifications,
									 * as records, for its session */
	bool		notifies_dropped;	/* some did not fit */
	bool		cancel_again;	/* another cancel was asked for while one was
								 * on its way */
	bool		stray_cancel;	/* a cancel went out with statements in flight
								 * behind its target: a query_canceled of any
								 * of them may be its doing */
	int			remote_pid;
} WConn;

typedef enum WRequestState
{
	WR_READING,					/* request not fully read yet */
	WR_WAITING,					/* in its pool's queue */
	WR_RUNNING,					/* on a connection */
	WR_FINISHING				/* last records being delivered */
} WRequestState;

/*
 * One request of a backend, on one lane.
 */
typedef struct WRequest
{
	dlist_node	node;			/* in pool->waiters or the reading list, or in
								 * conn->flight */
	dlist_node	blocked_node;	/* in the blocked list while the queue is full */
	bool		blocked;
	MemoryContext cxt;
	struct WPeer *peer;
	int			holder_pid;
	int			lane_no;
	PoolLane   *lane;
	uint64		seq;
	shm_mq_handle *in;
	shm_mq_handle *out;
	WRequestState state;

	char		kind;
	Oid			role;			/* local role the request runs for */
	bool		superuser;		/* whether that role is a superuser */
	bool		holds_role;		/* counted against role's limit, not yet
								 * against a connection's */
	uint64		handle;			/* reserved connection to run on, or 0 */
	int			pool_index;
	uint32		pool_generation;
	WPool	   *pool;
	char	   *sql;
	int			nparams;
	const char **params;
	const char *scram_client_key;	/* the session's, base64, or NULL */
	const char *scram_server_key;
	bool		may_change_state;	/* SQL that may change session state */
	bool		may_pipeline;	/* one-shot statement that may share a
								 * connection with others in flight */
	bool		joined;			/* sent behind another statement: counted
								 * itself (not as its connection's checkout) */
	bool		discarded;		/* the backend gave up on it in flight: its
								 * lane is back, its results are dropped */

	WConn	   *conn;
	WConn	   *parked_on;		/* reserved connection it waits for */
	TimestampTz enqueued_at;
	int			retried;		/* times moved off a dead connection */
	bool		has_rowdesc;	/* current result's description was sent */
	bool		failed;			/* error record is in `error` */
	bool		failed_lost;	/* ... and it is libpq's: connection lost */
	char		sqlstate[6];	/* ... and the remote's SQLSTATE, or "" */
	bool		delivered;		/* records went to the queue: it cannot start
								 * over */
	bool		rerun;			/* queued again once already, after a cancel
								 * meant for another may have hit it */
	StringInfoData building;	/* records not yet handed to the queue */
	StringInfoData sending;		/* a message the queue did not take yet */
	bool		send_pending;

	/*
	 * A large row goes to the queue straight from libpq's result, not through
	 * `building`, so that the worker never holds a third copy of it: the
	 * result, and the pieces of the message, until the queue took it.
	 */
	PGresult   *big_row;
	shm_mq_iovec *big_iov;
	int			big_iovcnt;
	bool		big_started;	/* part of it is in the queue already */
	StringInfoData error;		/* the final error record, if any */
	char	   *tag;			/* last command tag */
	uint64		number;			/* sent in a number record before the final
								 * one, if has_number */
	bool		has_number;
} WRequest;

/*
 * The worker's view of one backend session.
 */
typedef struct WPeer
{
	int			procno;
	uint64		session;
	int			pid;
	dsm_segment *segments[POOL_MAX_SEGMENTS];
	WRequest   *requests[POOL_MAX_LANES];
	uint64		last_seq[POOL_MAX_LANES];
	/* the last checkout answered on each lane, until the backend reads it */
	uint64		checkout_seq[POOL_MAX_LANES];
	uint64		checkout_handle[POOL_MAX_LANES];
	dlist_head	reserved;		/* WConn the session holds */
} WPeer;

/* worker.c: the event loop, and the delivery of responses to backends */
extern TimestampTz pool_now;
extern WConn **pool_slot_conns;
extern MemoryContext pool_worker_cxt;
extern dlist_head pool_all_conns;
extern void pool_conn_want(WConn *conn, uint32 events);
extern void pool_cancel_want(WConn *conn, uint32 events);
extern void pool_conn_forget_socket(WConn *conn);
extern void pool_cancel_forget_socket(WConn *conn);
extern void pool_wes_dirty(void);
extern char *pool_log_text(const char *s);
extern void pool_request_error(WRequest *req, const char *sqlstate,
							   const char *message, const char *detail,
							   const char *hint);
extern bool pool_request_output_full(WRequest *req);
extern void pool_request_flush(WRequest *req, bool final);
extern void pool_request_drop_big_row(WRequest *req);
extern void pool_request_done(WRequest *req);
extern void pool_request_forget(WRequest *req);

/*
 * pools.c: the decisions of a pool.  The connection layer (remote.c) tells
 * its pool what happened, and the pool decides what comes next: which
 * request a free connection serves, whether it closes, opens another or
 * takes one more statement in flight.
 */
extern void pool_connect_failed(WPool *pool, const char *sqlstate,
								const char *message, const char *detail,
								const char *hint);	/* an attempt failed */
extern void pool_connection_ready(WConn *conn); /* a new one is up */
extern void pool_connection_free(WConn *conn);	/* done, clean, idle */

/* a pipeline's head moved on: one more statement may join it */
extern void pool_connection_has_room(WConn *conn);
extern void pool_connection_closed(WPool *pool);

/* it never ran, or rolled back (a rerun): first in line */
extern void pool_request_again(WRequest *req, bool rerun);
extern void pool_schedule(WPool *pool, TimestampTz when);
extern void pool_publish_state(WPool *pool);
extern bool pool_reclaim_idle(WPool *pool); /* at max_connections: make room */

/* pools.c: what the event loop asks of pools */
extern void pool_pools_init(int worker);
extern WPool *pool_get(int index, uint32 generation);
extern void pool_enqueue(WPool *pool, WRequest *req, bool first);
extern void pool_dequeue(WPool *pool, WRequest *req);
extern void pool_dispatch(WPool *pool);
extern char *pool_admin(WPool *pool, char kind, uint64 *closed);
extern TimestampTz pool_next_deadline(void);
extern void pool_fire_due(void);
extern void pool_reload_settings(void);
extern void pool_forget_failure(WPool *pool);
extern bool pool_role_at_limit(WRequest *req);
extern void pool_take_scram_keys(WPool *pool, const char *client_key,
								 const char *server_key);

/* resolve.c */
typedef struct PoolLookup PoolLookup;
extern void pool_resolver_init(void);
extern PoolLookup *pool_lookup_start(const char *const *keywords,
									 const char *const *values);
extern bool pool_lookup_done(PoolLookup *l);
extern bool pool_lookup_result(PoolLookup *l, const char ***keywords,
							   const char ***values, char **error);
extern void pool_lookup_free(PoolLookup *l);
extern int	pool_lookups_collect(void);

/*
 * remote.c: the connection layer, one libpq connection's state machine;
 * what pools and the event loop ask of a connection.
 */
extern int	pool_nresolving;
extern void pool_conns_resolved(void);
extern WConn *pool_conn_open(WPool *pool, bool reclaim, char **why);
extern void pool_conn_event(WConn *conn, pgsocket fd, uint32 events);
extern void pool_conn_start_request(WConn *conn, WRequest *req);
extern void pool_conn_prepare(WConn *conn, WRequest *req, bool reset);
extern void pool_conn_reset_session(WConn *conn);
extern void pool_conn_pump(WConn *conn);
extern void pool_conn_abandon(WConn *conn);
extern void pool_conn_close(WConn *conn, PoolCloseReason reason);
extern void pool_conn_timeout(WConn *conn);
extern bool pool_conn_pipeline(WConn *conn, WRequest *req);
extern bool pool_conn_discard(WConn *conn, WRequest *req);
extern void pool_conn_revoke(WConn *conn);
extern bool pool_conn_alive(WConn *conn);
extern pgsocket pool_cancel_socket(PoolCancelConn *c);
extern void pool_cancel_close(PoolCancelConn *c);
extern void pool_cancel_finish(WConn *conn);
extern void pool_conn_set_hold(WConn *conn, Oid role);
extern void pool_conn_release_hold(WConn *conn);
extern void pool_conn_reserve(WConn *conn, WRequest *req);
extern void pool_conn_unreserve(WConn *conn);
extern void pool_slot_set_state(WConn *conn, PoolSlotState state,
								WRequest *req);
extern void pool_append_result_error(StringInfo buf, const PGresult *res,
									 char type);
extern TimestampTz pool_conn_expiry(WPool *pool, TimestampTz connected_at);

#endif							/* POOL_WORKER_H */
