/*-------------------------------------------------------------------------
 *
 * pool.h
 *	  Shared declarations of the pool extension.
 *
 * pool keeps a shared pool of libpq connections to remote PostgreSQL
 * servers.  Background workers own the connections and multiplex them in one
 * WaitEventSet each; backends reach them through a channel of shm_mq queues
 * in a dynamic shared memory segment of their own.
 *
 * Shared memory layout (fixed size, set at postmaster start):
 *
 *	PoolShared		one, with the LWLock and global counters
 *	PoolWorkerInfo	pool.workers of them: pid, latch owner, generation and the
 *					doorbell bitmap backends use to wake a worker
 *	PoolEntry		pool.max_pools of them: identity, settings in force,
 *					gauges and counters of one pool
 *	PoolSlot		pool.max_connections of them: one pooled connection each
 *	PoolChannelDir	MaxBackends of them: where a backend's channel segments are
 *					and which of its lanes need a worker's attention
 *
 * Locking rules:
 *
 *	- PoolShared->lock (the LWLock of our own tranche, "pool") protects the identity
 *	  of pools (in_use, generation, key, name, worker) and slot allocation
 *	  (PoolSlot.in_use), and the registration of a backend's channel
 *	  (PoolChannelDir.session and segments).  Backends take it shared to look
 *	  a pool up and exclusive to create one; workers take it exclusive to claim
 *	  or free a slot.
 *	- Everything else in a PoolSlot is written only by the worker that owns
 *	  the slot, bracketed by its changecount (the protocol of
 *	  PgBackendStatus): readers copy the slot and retry until the count is even
 *	  and unchanged.
 *	- Counters and gauges are pg_atomic_uint64/uint32, written by the owning
 *	  worker, read by anyone without a lock.
 *	- PoolShared->role_lock (the second lock of the tranche) protects only the
 *	  hash table of how many connections each role holds (shmem.c); it is
 *	  taken alone, or inside PoolShared->lock, never the other way round.
 *	- A pool's published state (PoolEntry.settings ... last_error) has one
 *	  writer, the worker that serves the entry; it is valid only while its
 *	  state_generation is the entry's generation.
 *	- A lane of a backend's channel belongs to exactly one side at a time
 *	  (PoolLane.owner): the backend creates its queues and submits a request
 *	  while it owns the lane; from then on only the worker touches the lane's
 *	  queues, until it hands the lane back.  See channel.c.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/pool.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_H
#define POOL_H

#include "compat.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/lwlock.h"
#include "storage/shm_mq.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/timestamp.h"

/* Compile-time limits. */
#define POOL_MAX_WORKERS			16
/*
 * A backend's channel is at most two DSM segments, so that sessions cannot
 * take more than a small share of the server's DSM slots (PostgreSQL has 5
 * per backend): the first, of POOL_FIRST_SEGMENT_LANES lanes, serves most
 * sessions; the second, of the rest, only one with many commands in flight.
 */
#define POOL_FIRST_SEGMENT_LANES	4
#define POOL_MAX_SEGMENTS			2
#define POOL_MAX_LANES				64
#define POOL_REQUEST_QUEUE_SIZE		(16 * 1024)
#define POOL_RESPONSE_QUEUE_SIZE	(64 * 1024)
#define POOL_KEY_LEN				2048
#define POOL_NAME_LEN				256
#define POOL_RESET_QUERY_LEN		256
#define POOL_ERROR_LEN				256
#define POOL_HOST_LEN				128

/* Bounds of max_row_size: a row must fit in one message of a channel. */
#define POOL_MIN_ROW_SIZE			(8 * 1024)
#define POOL_MAX_ROW_SIZE			(1000 * 1024 * 1024)

/* The most statements max_pipeline lets be in flight on one connection. */
#define POOL_MAX_PIPELINE			1000
#define POOL_DEFAULT_MAX_PIPELINE	1

/* The least pool.worker_memory other than 0 (no limit). */
#define POOL_MIN_WORKER_MEMORY_KB	(64 * 1024)

/* Settings (settings.c). */
extern int	pool_workers;
extern int	pool_max_pools;
extern int	pool_max_connections;
extern int	pool_pool_size;
extern int	pool_max_overflow;
extern int	pool_checkout_timeout;
extern int	pool_connect_timeout;
extern int	pool_min_idle;
extern int	pool_idle_timeout;
extern int	pool_max_lifetime;
extern int	pool_pre_ping;
extern char *pool_reset_query;
extern int	pool_retry_delay;
extern int	pool_leak_threshold;
extern int	pool_max_role_connections;
extern int	pool_max_row_size;
extern int	pool_worker_memory;
extern int	pool_max_pipeline;

extern void pool_define_settings(void);
extern bool pool_is_setting_name(const char *name);
extern const char *pool_setting_names(void);

/*
 * State of a pooled connection, as shown in pool.connections.
 */
typedef enum PoolSlotState
{
	POOL_SLOT_EMPTY = 0,
	POOL_SLOT_CONNECTING,
	POOL_SLOT_IDLE,
	POOL_SLOT_VALIDATING,		/* checked before it is handed out */
	POOL_SLOT_ACTIVE,			/* running a request */
	POOL_SLOT_RESERVED,			/* checked out by a session, between commands */
	POOL_SLOT_CLEANING			/* cancelling, draining, rolling back,
								 * resetting */
} PoolSlotState;

/*
 * The settings in force for a pool.
 */
typedef struct PoolSettings
{
	int			pool_size;
	int			min_idle;
	int			max_overflow;
	int			checkout_timeout;	/* ms */
	int			connect_timeout;	/* ms */
	int			idle_timeout;	/* ms, 0 = never */
	int			max_lifetime;	/* ms, 0 = forever */
	int			pre_ping;		/* ms, -1 = never */
	int			retry_delay;	/* ms */
	int			leak_threshold; /* ms, 0 = off */
	int			max_row_size;	/* bytes */
	int			max_pipeline;	/* statements in flight on a connection */
	char		reset_query[POOL_RESET_QUERY_LEN];
} PoolSettings;

extern void pool_setting_parse(const char *name, const char *value,
							   PoolSettings *o, uint32 *mask);
extern void pool_settings_resolve(PoolSettings *s, const PoolSettings *o,
								  uint32 mask);

/* Why connections closed, for the counters of pool.stats. */
typedef enum PoolCloseReason
{
	POOL_CLOSE_LIFETIME,		/* past max_lifetime */
	POOL_CLOSE_IDLE,			/* idle past idle_timeout, or made room */
	POOL_CLOSE_BROKEN,			/* remote gone, failed check, failed cleanup */
	POOL_CLOSE_RESET,			/* pool.reset() */
	POOL_CLOSE_OVERFLOW,		/* checked in above pool_size */
	POOL_CLOSE_REASONS
} PoolCloseReason;

/*
 * One pool: a distinct set of resolved connection parameters.
 */
typedef struct PoolEntry
{
	/* identity, under PoolShared->lock */
	bool		in_use;
	bool		for_superuser;	/* opened for superusers (else never handed to
								 * them, nor theirs to others) */
	bool		require_password;	/* connections must have used a password */
	bool		scram_passthrough;	/* connect with the SCRAM keys of the
									 * role's sessions (18) */
	bool		dropped;		/* its server was dropped: closing */
	int			worker;			/* index of the worker serving it */
	uint32		generation;		/* bumped each time the entry is reused */
	uint32		key_hash;
	Oid			server_oid;		/* foreign server, or InvalidOid */
	Oid			database_oid;	/* the database of that server */
	Oid			owner_role;		/* whose credentials: the role of the user
								 * mapping or the creator; 0 for PUBLIC */
	TimestampTz created_at;
	TimestampTz stats_reset;	/* also under the lock */
	char		name[POOL_NAME_LEN];	/* without secrets */
	char		key[POOL_KEY_LEN];	/* identity: connection string, or server
									 * and user mapping */

	/* configuration, under the lock; config_version counts its changes */
	pg_atomic_uint32 config_version;
	char		conninfo[POOL_KEY_LEN]; /* with secrets */
	PoolSettings overrides;		/* from the foreign server */
	uint32		override_mask;

	/*
	 * State published by the worker that serves the entry, its only writer,
	 * under changecount; valid only while state_generation is generation
	 * (until the worker first sees a new pool, it is a former one's).
	 */
	pg_atomic_uint32 changecount;
	uint32		state_generation;
	PoolSettings settings;
	bool		paused;
	bool		failing;		/* in back-off after a failed connect */
	TimestampTz retry_at;		/* next connection attempt while failing */
	TimestampTz oldest_wait;	/* since when the first waiter waits, or 0 */
	char		last_error[POOL_ERROR_LEN]; /* of the last failed connect */

	/* gauges, written by the worker */
	pg_atomic_uint32 waiting;	/* requests queued for a connection */

	/* counters since the pool was created or its stats were reset */
	pg_atomic_uint64 checkouts;
	pg_atomic_uint64 checkins;	/* checkouts that ended, however */
	pg_atomic_uint64 queries;
	pg_atomic_uint64 errors;
	pg_atomic_uint64 connects;
	pg_atomic_uint64 connect_failures;
	pg_atomic_uint64 timeouts;
	pg_atomic_uint64 wait_us;	/* total time requests waited for a connection */
	pg_atomic_uint64 query_us;	/* total time connections were checked out */
	pg_atomic_uint64 closed[POOL_CLOSE_REASONS];
	pg_atomic_uint64 pipelined; /* statements sent behind another in flight */
	pg_atomic_uint32 max_depth; /* most statements in flight on a connection */
} PoolEntry;

/*
 * One pooled connection.  The PGconn itself lives in the owning worker's
 * memory; this is what others may see of it.
 */
typedef struct PoolSlot
{
	bool		in_use;			/* under PoolShared->lock */
	int			worker;			/* under PoolShared->lock */
	char	   *query;			/* query text buffer, set at start-up */

	/* the rest, and the query text, written by the owner under changecount */
	pg_atomic_uint32 changecount;
	int			pool_index;
	uint32		pool_generation;
	PoolSlotState state;
	int			holder_pid;
	Oid			holder_role;
	Oid			held_role;		/* role it counts against in the role holds,
								 * or InvalidOid; written by the owner */
	int			remote_pid;
	int			remote_port;
	char		remote_host[POOL_HOST_LEN];
	TimestampTz connected_at;
	TimestampTz checked_out_at;
	TimestampTz last_used_at;
	uint64		uses;			/* checkouts */
	uint64		queries;		/* statements run */
	uint64		handle;			/* of the session holding it, or 0 */
	int			in_flight;		/* statements sent, not yet answered */
} PoolSlot;

/*
 * Handles.  A reserved connection's handle names its slot and the
 * reservation, so a handle from a connection checked in since is never
 * taken for another: (reservation number << POOL_HANDLE_SLOT_BITS) | (slot
 * index + 1).  Handles of asynchronous one-shot commands (pool.send on a
 * target) live only in the backend and have POOL_HANDLE_ASYNC_BIT set.
 */
#define POOL_HANDLE_SLOT_BITS	20
#define POOL_HANDLE_SLOT(h)		((int) ((h) & ((1 << POOL_HANDLE_SLOT_BITS) - 1)) - 1)
#define POOL_HANDLE_ASYNC_BIT	(INT64CONST(1) << 62)
/* reservation numbers stay below the async bit, so handles stay positive */
#define POOL_HANDLE_RESERVATION_MASK \
	((UINT64CONST(1) << (62 - POOL_HANDLE_SLOT_BITS)) - 1)

/* Most pooled connections pool.max_connections allows. */
#define POOL_MAX_CONNECTIONS_LIMIT	10000

StaticAssertDecl(POOL_MAX_CONNECTIONS_LIMIT < (1 << POOL_HANDLE_SLOT_BITS) - 1,
				 "a handle must have room for every slot number");
StaticAssertDecl(POOL_MAX_LANES <= 64,
				 "lanes are bits of a uint64 (PoolChannelDir.attention)");
StaticAssertDecl(POOL_FIRST_SEGMENT_LANES < POOL_MAX_LANES,
				 "the second segment of a channel has lanes");

/*
 * Per-worker state.  The doorbell is a bitmap over backends (by pgprocno):
 * a backend sets its bit, then the worker's latch.
 */
typedef struct PoolWorkerInfo
{
	pid_t		pid;			/* 0 while not running */
	int			pgprocno;
	pg_atomic_uint32 generation;	/* odd while running */
	pg_atomic_uint64 doorbell[FLEXIBLE_ARRAY_MEMBER];
} PoolWorkerInfo;

/*
 * Where one backend's channel lives.  attention[w] has a bit per lane that
 * needs worker w's attention.
 */
typedef struct PoolChannelDir
{
	uint64		session;		/* under lock; 0 when none */
	int			pid;
	int			nsegments;
	dsm_handle	segments[POOL_MAX_SEGMENTS];
	pg_atomic_uint32 exiting;	/* backend is gone or going */
	pg_atomic_uint64 attention[POOL_MAX_WORKERS];
} PoolChannelDir;

/*
 * How many pooled connections a local role holds at once (running its
 * commands, or reserved under its handles), across every pool and worker:
 * an entry of a shared hash table (shmem.c), under PoolShared->role_lock.
 */
typedef struct PoolRoleHold
{
	Oid			role;			/* hash key */
	int			held;
} PoolRoleHold;

typedef struct PoolShared
{
	LWLock	   *lock;
	LWLock	   *role_lock;		/* of the role holds (shmem.c) only */
	uint64		next_session;	/* under lock */
	pg_atomic_uint64 next_reservation;	/* numbers handles */
	int			nworkers;
	int			max_pools;
	int			max_connections;
	int			max_backends;
	int			doorbell_words;
	Size		worker_info_size;
	PoolWorkerInfo *workers_base;	/* pointers valid in every process */
	PoolEntry  *pools;
	PoolSlot   *slots;
	PoolChannelDir *channels;
} PoolShared;

extern PoolShared *pool_shared;

static inline PoolWorkerInfo *
pool_worker_info(int i)
{
	return (PoolWorkerInfo *) ((char *) pool_shared->workers_base +
							   i * pool_shared->worker_info_size);
}

/* shmem.c */
extern void pool_shmem_request(void);
extern void pool_shmem_startup(void);
extern void pool_check_loaded(void);
extern int	pool_query_text_size(void);
extern void pool_begin_write(pg_atomic_uint32 *changecount);
extern void pool_end_write(pg_atomic_uint32 *changecount);
extern void pool_slot_read(PoolSlot *slot, PoolSlot *copy, char *query);
extern void pool_entry_read_state(PoolEntry *entry, PoolEntry *copy);
extern void pool_entry_reset_counters(PoolEntry *e);
extern int	pool_role_limit(void);
extern bool pool_role_try_hold(Oid role, int limit);
extern void pool_role_release(Oid role);
extern int	pool_role_held(Oid role);

/*
 * The channel: a lane is one request at a time between a backend and a
 * worker.  Lanes live in DSM segments the backend creates.
 */
typedef enum PoolLaneOwner
{
	POOL_LANE_BACKEND = 0,
	POOL_LANE_WORKER = 1
} PoolLaneOwner;

typedef struct PoolLane
{
	pg_atomic_uint32 owner;		/* PoolLaneOwner */
	int			worker;			/* worker serving the current request */
	uint32		worker_generation;	/* its generation at submission */
	uint64		seq;			/* current request's sequence number */
	pg_atomic_uint64 abandoned; /* seq of a request the backend gave up on */
} PoolLane;

/* Request kinds, first byte of a request. */
#define POOL_REQ_QUERY		'Q' /* rows wanted */
#define POOL_REQ_EXEC		'X' /* command tag wanted */
#define POOL_REQ_PAUSE		'P' /* administration of a pool */
#define POOL_REQ_RESUME		'U'
#define POOL_REQ_RESET		'S'
#define POOL_REQ_CHECKOUT	'C' /* reserve a connection for the session */
#define POOL_REQ_CHECKIN	'I' /* give it back */
#define POOL_REQ_RECONFIGURE 'R'	/* the pool's configuration changed */
#define POOL_REQ_DROP		'D' /* the pool's server was dropped */

/* Request flags, after the role. */
#define POOL_REQ_FLAG_SUPERUSER	0x01	/* the role is a superuser */
#define POOL_REQ_FLAG_SCRAM		0x02	/* the session's SCRAM keys follow the
										 * parameters, base64, each \0-ended */
#define POOL_REQ_FLAG_PIPELINE	0x04	/* a one-shot call read at once, which
										 * may be pipelined (pool.query and
										 * pool.exec on a target) */

/*
 * Response records.  A response message holds one or more records, each a
 * type byte, a uint32 length and a payload.
 */
#define POOL_REC_ROWDESC	'T' /* uint32 ncols, DateStyle\0, IntervalStyle\0,
								 * then (uint32 type oid, name\0) each */
#define POOL_REC_ROW		'D' /* per column: int32 length or -1, bytes, \0 */
#define POOL_REC_NOTICE		'N' /* fields, as in the error record */
#define POOL_REC_ERROR		'E' /* (field code, value\0)..., \0; final */
#define POOL_REC_DONE		'Z' /* command tag\0; final */
#define POOL_REC_NOTIFY		'A' /* uint32 pid, channel\0, payload\0: a
								 * notification of a reserved connection */
#define POOL_REC_XACT		'x' /* one byte, the remote transaction status of
								 * a reserved connection after the command:
								 * 'I' idle, 'T' in a transaction, 'E' in a
								 * failed one, '?' unknown */

/* Error/notice field codes beyond those of the protocol. */
#define POOL_FIELD_REMOTE	'r' /* present when it came from the remote */
#define POOL_FIELD_LOST		'l' /* present when the connection was lost */

/* Which segment of a channel a lane is in, and its index there. */
static inline int
pool_lane_segment(int lane_no)
{
	return lane_no < POOL_FIRST_SEGMENT_LANES ? 0 : 1;
}

static inline int
pool_lane_in_segment(int lane_no)
{
	return lane_no < POOL_FIRST_SEGMENT_LANES ? lane_no :
		lane_no - POOL_FIRST_SEGMENT_LANES;
}

static inline int
pool_segment_lanes(int seg)
{
	return seg == 0 ? POOL_FIRST_SEGMENT_LANES :
		POOL_MAX_LANES - POOL_FIRST_SEGMENT_LANES;
}

/* channel.c: layout */
extern Size pool_segment_size(int seg);
extern PoolLane *pool_lane(void *segment_base, int lane_in_segment);
extern shm_mq *pool_lane_request_queue(PoolLane *lane);
extern shm_mq *pool_lane_response_queue(PoolLane *lane);

/* channel.c: backend side */
typedef struct PoolCall
{
	char		kind;			/* of its request */
	int			lane_no;
	PoolLane   *lane;
	int			worker;
	uint32		worker_generation;
	uint64		seq;
	shm_mq_handle *request;
	shm_mq_handle *response;
	bool		finished;
} PoolCall;

extern void pool_call_start(PoolCall *call, int worker, StringInfo request);
extern bool pool_call_receive(PoolCall *call, char **data, Size *len);
extern void pool_call_abandon(PoolCall *call);
extern void pool_call_finish(PoolCall *call);
extern bool pool_call_post(int worker, StringInfo request);
extern void pool_channel_flush_posts(void);
extern void pool_channel_ensure(void);
extern int	pool_channel_idle_lanes(void);
extern bool pool_call_is_busy(PoolCall *call);
extern void pool_ring_worker(int worker, int procno, int lane_no);

/* target.c */
typedef struct PoolTarget
{
	int			pool_index;
	uint32		pool_generation;
	int			worker;
	bool		scram_passthrough;	/* requests carry the session's SCRAM keys */
	char		name[POOL_NAME_LEN];
} PoolTarget;

/* what a pool connects with, and its settings */
typedef struct PoolServerConfig
{
	char	   *conninfo;		/* with secrets */
	PoolSettings overrides;
	uint32		override_mask;
	bool		for_superuser;
	bool		require_password;
	bool		scram_passthrough;
	Oid			server_oid;
	Oid			database_oid;	/* of the server, or InvalidOid */
	Oid			owner_role;
	bool		uncommitted;	/* from catalogs this transaction changed */
} PoolServerConfig;

extern void pool_resolve_target(text *target, PoolTarget *result);
extern bool pool_target_valid(const PoolTarget *t);
extern void pool_clip_name(char *name);
extern int	pool_lookup_pools(text *pool_name, PoolTarget *results);
extern void pool_append_option(StringInfo buf, const char *keyword,
							   const char *value);
extern void pool_find_or_create_configured(const char *key, const char *name,
										   PoolServerConfig *cfg,
										   PoolTarget *result);
extern void pool_check_config_size(const char *key, PoolServerConfig *cfg);
extern void pool_entry_update_config(int index, uint32 generation,
									 PoolServerConfig *cfg);
extern void pool_entry_post(int index, uint32 generation, char kind);
extern void pool_target_cache_reset_servers(void);

/* fdw.c */
struct _PQconninfoOption;

extern void pool_fdw_init(void);
extern bool pool_target_is_server_name(const char *target);
extern void pool_resolve_server(const char *servername, PoolTarget *result,
								Oid *serverid);
extern void pool_check_server_usage(Oid serverid, text *target);
extern void pool_check_fdw_usage(void);
extern bool pool_config_uncommitted(Oid serverid, Oid umid);
extern void pool_append_nonsuperuser_options(StringInfo conninfo,
											 bool has_sslcert,
											 bool scram_passthrough);

/* A client certificate path that cannot exist: libpq then uses none. */
#define POOL_NO_CLIENT_CERT		"/dev/null/pool-no-client-certificate"
extern void pool_check_conninfo_options(struct _PQconninfoOption *opts);
extern struct _PQconninfoOption *pool_libpq_options(void);

/*
 * An error or notice of a call, as a caller that reports messages its own
 * way (PoolCallState.on_message) receives it.
 */
typedef struct PoolMessage
{
	bool		is_error;
	bool		remote;			/* raised by the remote SQL command */
	bool		lost;			/* the connection was lost */
	int			sqlerrcode;
	const char *message;		/* NULL when the remote sent none */
	const char *detail;
	const char *hint;
	const char *context;
} PoolMessage;

struct PoolCallState;
typedef void (*PoolMessageHook) (struct PoolCallState *st,
								 const PoolMessage *m);
typedef void (*PoolNotifyHook) (struct PoolCallState *st, int pid,
								const char *channel, const char *payload);

/* functions.c: one command and its response, as the backend sees it */
typedef struct PoolCallState
{
	PoolTarget	target;
	uint64		handle;			/* reserved connection it runs on, or 0 */
	Oid			role;			/* runs for this role (a handle's owner), or
								 * InvalidOid for the current user */
	bool		role_superuser; /* whether that role was a superuser */
	bool		may_pipeline;	/* a one-shot call whose results are read at
								 * once: the worker may pipeline it */
	char	   *sql;
	const char *sql_clipped;	/* its beginning, for notices; NULL until
								 * needed */
	PoolCall	call;

	/* rows, when wanted */
	TupleDesc	tupdesc;
	AttInMetadata *attinmeta;
	Tuplestorestate *tupstore;
	MemoryContext rowcxt;
	Datum	   *values;
	bool	   *nulls;
	int			first_col;		/* columns before the remote ones, set to
								 * label */
	Datum		label;
	int			guc_nestlevel;	/* > 0 while remote date styles apply */
	bool		have_rows;
	int			converting;		/* column being converted, for context */

	char	   *tag;			/* from the final record */
	bool		remote_error;	/* the error raised came from the remote SQL
								 * command (not from a lost connection) */
	bool		connection_lost;	/* the error raised ended the remote
									 * session */

	/*
	 * For a caller that speaks another interface (pool_dblink): on_message,
	 * if set, gets every error and notice instead of their being raised (an
	 * error it returns from ends the call quietly); plain leaves out the
	 * context lines of pool's and the early check of column types, and
	 * reports a column count mismatch without detail.
	 */
	bool		plain;
	PoolMessageHook on_message;
	PoolNotifyHook on_notify;	/* notifications of a reserved connection */
	void	   *hook_arg;
	bool		error_handled;	/* on_message returned from an error */
	bool		saw_rowdesc;	/* a result with rows came */
	char		xact_status;	/* POOL_REC_XACT's byte, or 0 */
} PoolCallState;

extern void pool_check_not_null(FunctionCallInfo fcinfo, int arg,
								const char *what);
extern const char *pool_valid_text(const char *s);
extern void pool_build_request(StringInfo buf, char kind, PoolTarget *target,
							   uint64 handle, Oid role, bool role_superuser,
							   bool may_pipeline, text *sql,
							   ArrayType *params);
extern void pool_call_init_rows(PoolCallState *st, ReturnSetInfo *rsinfo,
								int first_col);
extern void pool_call_send(PoolCallState *st, char kind, text *sql,
						   ArrayType *params);
extern void pool_call_read(PoolCallState *st);
extern void pool_call_run(PoolCallState *st, char kind, text *sql,
						  ArrayType *params);

/* handles.c */
extern void pool_handles_discard_all(void);

/* worker.c */
extern void pool_register_workers(void);
extern PGDLLEXPORT void pool_worker_main(Datum main_arg);

/* views.c and functions.c export only SQL-callable functions */

/* Small helpers for the record format, used on both sides. */
static inline void
pool_put_uint32(StringInfo buf, uint32 v)
{
	appendBinaryStringInfo(buf, (char *) &v, sizeof(v));
}

static inline uint32
pool_get_uint32(const char *p)
{
	uint32		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

extern void pool_begin_record(StringInfo buf, char type, int *start);
extern void pool_put_field(StringInfo buf, char code, const char *value);
extern void pool_end_record(StringInfo buf, int start);

#endif							/* POOL_H */
