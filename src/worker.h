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

/* Flush a response message once this much is buffered. */
#define POOL_FLUSH_THRESHOLD	(POOL_RESPONSE_QUEUE_SIZE / 4)

/*
 * An idle connection's socket is watched, so a remote that closes it is seen
 * at once; one idle longer than this is also read from before it is handed
 * out, in case its end of the connection went away in between.
 */
#define POOL_RECHECK_IDLE_MS	1000

/* How long a connection may take to come back clean after a request. */
#define POOL_CLEANUP_TIMEOUT_MS 10000

struct WRequest;
struct WPeer;

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
	const char **keywords;		/* NULL-terminated, for PQconnectStartParams */
	const char **values;
	dlist_head	idle;			/* WConn, most recently used first */
	dlist_head	waiters;		/* WRequest, first come first served */
	int			nwaiters;
	int			nconns;			/* connections in any state */
	int			nconnecting;

	bool		dispatching;	/* pool_dispatch is running */
	bool		dispatch_again;
	char	   *why_waiting;	/* why no connection could be opened */

	/* settings in force */
	int			pool_size;
	int			max_overflow;
	int			checkout_timeout;
	int			connect_timeout;
} WPool;

typedef enum WConnState
{
	WC_CONNECTING,
	WC_IDLE,
	WC_BUSY,					/* serving a request */
	WC_CLEANING,				/* cancelling, draining, rolling back */
	WC_CLOSED
} WConnState;

/*
 * One remote connection.
 */
typedef struct WConn
{
	dlist_node	all_node;		/* in the worker's list of connections */
	dlist_node	pool_node;		/* in pool->idle while in_idle_list */
	bool		in_idle_list;
	TimestampTz idle_since;
	WPool	   *pool;
	int			slot_index;
	PoolSlot   *slot;
	PGconn	   *conn;
	pgsocket	sock;			/* socket registered in the wait set */
	int			wes_pos;		/* -1 when not in the set */
	uint32		events;			/* socket events wanted, 0 for none */
	WConnState	state;
	TimestampTz deadline;		/* of connecting or cleaning; 0 for none */
	struct WRequest *req;		/* the request it serves */
	TimestampTz checked_out_at;
	bool		rollback_sent;

	/* cancelling the running remote query through a second connection */
	PGconn	   *cancel_conn;
	pgsocket	cancel_sock;
	int			cancel_pos;
	uint32		cancel_events;
	bool		cancel_sent;
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
	dlist_node	node;			/* in pool->waiters or the reading list */
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
	int			pool_index;
	uint32		pool_generation;
	WPool	   *pool;
	char	   *sql;
	int			nparams;
	const char **params;

	WConn	   *conn;
	TimestampTz enqueued_at;
	int			retried;		/* times moved off a dead connection */
	bool		has_rowdesc;	/* current result's description was sent */
	bool		failed;			/* error record is in `error` */
	StringInfoData building;	/* records not yet handed to the queue */
	StringInfoData sending;		/* a message the queue did not take yet */
	bool		send_pending;
	StringInfoData error;		/* the final error record, if any */
	char	   *tag;			/* last command tag */
} WRequest;

/* worker.c */
extern TimestampTz pool_now;
extern MemoryContext pool_worker_cxt;
extern dlist_head pool_all_conns;
extern void pool_conn_want(WConn *conn, uint32 events);
extern void pool_cancel_want(WConn *conn, uint32 events);
extern void pool_wes_dirty(void);
extern void pool_request_error(WRequest *req, const char *sqlstate,
							   const char *message, const char *detail,
							   const char *hint);
extern bool pool_request_output_full(WRequest *req);
extern void pool_request_flush(WRequest *req, bool final);
extern void pool_request_done(WRequest *req);
extern void pool_request_retry(WRequest *req);
extern void pool_checkin(WConn *conn);
extern void pool_connection_closed(WPool *pool);
extern void pool_connect_failed(WPool *pool, const char *sqlstate,
								const char *message, const char *detail,
								const char *hint);
extern void pool_connection_ready(WConn *conn);

/* remote.c */
extern WConn *pool_conn_open(WPool *pool, char **why);
extern void pool_conn_event(WConn *conn, pgsocket fd, uint32 events);
extern void pool_conn_start_request(WConn *conn, WRequest *req);
extern void pool_conn_pump(WConn *conn);
extern void pool_conn_abandon(WConn *conn);
extern void pool_conn_close(WConn *conn);
extern void pool_conn_timeout(WConn *conn);
extern WConn *pool_take_idle(WPool *pool);
extern void pool_slot_set_state(WConn *conn, PoolSlotState state, int holder);
extern void pool_append_result_error(StringInfo buf, const PGresult *res,
									 char type);

#endif							/* POOL_WORKER_H */
