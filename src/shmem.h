/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared memory of the pool extension.
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
 * src/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_SHMEM_H
#define POOL_SHMEM_H

#include "pool.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

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

#endif							/* POOL_SHMEM_H */
