/*-------------------------------------------------------------------------
 *
 * channel.c
 *	  The channel between a backend and the pool workers.
 *
 * A backend never touches a remote socket.  On first use it creates a DSM
 * segment of POOL_FIRST_SEGMENT_LANES lanes (a second, larger one when it has more
 * requests in flight at once), pins the mapping for the rest of the session
 * and publishes the segment's handle in its PoolChannelDir entry.  A lane
 * carries one request at a time: a request queue (backend to worker) and a
 * response queue (worker to backend), re-created in place for every request,
 * since a queue's sender and receiver can be set only once.
 *
 * Ownership of a lane passes back and forth through PoolLane.owner:
 *
 *	backend owns it: creates both queues, sets itself and the worker as
 *		sender/receiver, then hands the lane to the worker and rings it
 *		(a bit in PoolChannelDir.attention, a bit in the worker's doorbell,
 *		the worker's latch);
 *	worker owns it: reads the request, streams records back, and hands the
 *		lane back only once it will never touch the queues again (the last
 *		record fully sent, or the request abandoned).
 *
 * A backend that stops waiting (cancel, statement_timeout, an error while
 * converting rows, exit) records the request's sequence number in
 * PoolLane.abandoned, detaches its queue handles and rings the worker, which
 * then cancels the remote query and cleans the connection on its own time.
 * Exits of any kind run pool_channel_exit() from before_shmem_exit.
 *
 * The backend waits with nowait queue operations, WaitLatch and
 * CHECK_FOR_INTERRUPTS, and checks the worker's generation while it waits so
 * that a worker that died turns into an error rather than a hang.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/channel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "pool.h"
#include "shmem.h"
#include "wire.h"
#include "call.h"

#define LANE_HEADER_SIZE	MAXALIGN(sizeof(PoolLane))
#define LANE_STRIDE \
	(LANE_HEADER_SIZE + POOL_REQUEST_QUEUE_SIZE + POOL_RESPONSE_QUEUE_SIZE)

/* This backend's channel. */
static uint64 my_session = 0;
static int	my_nsegments = 0;
static dsm_segment *my_segments[POOL_MAX_SEGMENTS];
static bool my_lane_busy[POOL_MAX_LANES];
static uint64 my_next_seq = 0;
static PoolCall *my_calls[POOL_MAX_LANES];

/*
 * Posts that found no free lane, sent as soon as one is (without memory
 * allocation: they are kept from a transaction's abort).
 */
#define POOL_MAX_DEFERRED		32
#define POOL_DEFERRED_SIZE		256

typedef struct PoolDeferredPost
{
	int			worker;
	uint32		worker_generation;
	int			len;
	char		data[POOL_DEFERRED_SIZE];
} PoolDeferredPost;

static PoolDeferredPost deferred_posts[POOL_MAX_DEFERRED];
static int	n_deferred_posts = 0;

static bool pool_call_post_now(int worker, StringInfo request);

static void pool_channel_exit(int code, Datum arg);

/*
 * Size of channel segment seg.
 */
Size
pool_segment_size(int seg)
{
	return LANE_STRIDE * pool_segment_lanes(seg);
}

/*
 * How many lanes this backend's segments have.
 */
static int
pool_my_lane_count(void)
{
	return my_nsegments == 0 ? 0 :
		my_nsegments == 1 ? POOL_FIRST_SEGMENT_LANES : POOL_MAX_LANES;
}

/*
 * Address of a lane within a segment.
 */
PoolLane *
pool_lane(void *segment_base, int lane_in_segment)
{
	return (PoolLane *) ((char *) segment_base + LANE_STRIDE * lane_in_segment);
}

shm_mq *
pool_lane_request_queue(PoolLane *lane)
{
	return (shm_mq *) ((char *) lane + LANE_HEADER_SIZE);
}

shm_mq *
pool_lane_response_queue(PoolLane *lane)
{
	return (shm_mq *) ((char *) lane + LANE_HEADER_SIZE +
					   POOL_REQUEST_QUEUE_SIZE);
}

/*
 * Register this backend's channel in shared memory, once per session.
 */
static void
pool_channel_register(void)
{
	PoolChannelDir *dir = &pool_shared->channels[pool_my_procno()];
	int			i;

	LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
	my_session = pool_shared->next_session++;
	dir->session = my_session;
	dir->pid = MyProcPid;
	dir->nsegments = 0;
	pg_atomic_write_u32(&dir->exiting, 0);
	for (i = 0; i < POOL_MAX_WORKERS; i++)
		pg_atomic_write_u64(&dir->attention[i], 0);
	LWLockRelease(pool_shared->lock);

	before_shmem_exit(pool_channel_exit, (Datum) 0);
}

/*
 * Add a segment of lanes to this backend's channel.
 */
static void
pool_channel_add_segment(void)
{
	PoolChannelDir *dir = &pool_shared->channels[pool_my_procno()];
	ResourceOwner oldowner = CurrentResourceOwner;
	dsm_segment *seg;
	int			i;

	/* The mapping is for the session: create it outside any resource owner */
	CurrentResourceOwner = NULL;
	seg = dsm_create(pool_segment_size(my_nsegments),
					 DSM_CREATE_NULL_IF_MAXSEGMENTS);
	CurrentResourceOwner = oldowner;
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("too many dynamic shared memory segments")));

	for (i = 0; i < pool_segment_lanes(my_nsegments); i++)
	{
		PoolLane   *lane = pool_lane(dsm_segment_address(seg), i);

		pg_atomic_init_u32(&lane->owner, POOL_LANE_BACKEND);
		pg_atomic_init_u64(&lane->abandoned, 0);
		lane->worker = -1;
		lane->worker_generation = 0;
		lane->seq = 0;
	}

	LWLockAcquire(pool_shared->lock, LW_EXCLUSIVE);
	dir->segments[my_nsegments] = dsm_segment_handle(seg);
	dir->nsegments = my_nsegments + 1;
	LWLockRelease(pool_shared->lock);

	my_segments[my_nsegments++] = seg;
}

static PoolLane *
pool_my_lane(int lane_no)
{
	return pool_lane(dsm_segment_address(my_segments[pool_lane_segment(lane_no)]),
					 pool_lane_in_segment(lane_no));
}

/*
 * What a session waits for, as pg_stat_activity shows it: on 17 and later
 * under names of our own (wait_event_type Extension), before that all as
 * "Extension".
 */
typedef enum PoolWait
{
	POOL_WAIT_WORKER,			/* a worker to start */
	POOL_WAIT_LANE,				/* a lane of its channel to come free */
	POOL_WAIT_REQUEST,			/* room for its request in the queue */
	POOL_WAIT_CHECKOUT,			/* a connection for pool.checkout */
	POOL_WAIT_RESULT,			/* its command's connection and result */
	POOL_WAITS
} PoolWait;

#ifdef POOL_HAVE_NAMED_WAIT_EVENTS
static const char *const pool_wait_names[POOL_WAITS] = {
	[POOL_WAIT_WORKER] = "PoolWorker",
	[POOL_WAIT_LANE] = "PoolLane",
	[POOL_WAIT_REQUEST] = "PoolRequest",
	[POOL_WAIT_CHECKOUT] = "PoolCheckout",
	[POOL_WAIT_RESULT] = "PoolResult",
};
static uint32 pool_wait_events[POOL_WAITS];
#endif

static uint32
pool_wait_event(PoolWait which)
{
#ifdef POOL_HAVE_NAMED_WAIT_EVENTS
	if (pool_wait_events[which] == 0)
		pool_wait_events[which] = WaitEventExtensionNew(pool_wait_names[which]);
	return pool_wait_events[which];
#else
	return PG_WAIT_EXTENSION;
#endif
}

/*
 * Wait for something to happen on our latch, for at most timeout_ms.
 */
static void
pool_backend_wait(long timeout_ms, PoolWait which)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 timeout_ms, pool_wait_event(which));
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Make sure this backend has its channel with some lanes, for a post.
 */
void
pool_channel_ensure(void)
{
	if (my_session == 0)
		pool_channel_register();
	if (my_nsegments == 0)
		pool_channel_add_segment();
}

/*
 * How many of our lanes no command of ours is using (some may still be
 * with a worker, cleaning up after an abandoned command).
 */
int
pool_channel_idle_lanes(void)
{
	int			n = POOL_MAX_LANES;
	int			i;

	for (i = 0; i < POOL_MAX_LANES; i++)
		if (my_lane_busy[i])
			n--;
	return n;
}

/*
 * Find a lane this backend owns and does not use, adding a segment if
 * needed; waits while every lane is still being cleaned up by a worker.
 */
static int
pool_acquire_lane(void)
{
	for (;;)
	{
		int			i;

		for (i = 0; i < pool_my_lane_count(); i++)
		{
			PoolLane   *lane = pool_my_lane(i);

			if (my_lane_busy[i])
				continue;
			if (pg_atomic_read_u32(&lane->owner) == POOL_LANE_BACKEND)
				return i;

			/*
			 * A lane left to a worker that has since died (before it could
			 * hand the lane back) is ours again: no one else will touch it.
			 */
			if (lane->worker >= 0 &&
				pg_atomic_read_u32(&pool_worker_info(lane->worker)->generation) !=
				lane->worker_generation)
			{
				pg_atomic_write_u32(&lane->owner, POOL_LANE_BACKEND);
				return i;
			}
		}

		if (my_nsegments < POOL_MAX_SEGMENTS)
		{
			pool_channel_add_segment();
			continue;
		}

		/* lanes held by our own unfinished commands never free themselves */
		if (pool_channel_idle_lanes() == 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many commands in progress in this session"),
					 errdetail("A session can have at most %d commands in progress at once.",
							   POOL_MAX_LANES),
					 errhint("Fetch or cancel the results of commands sent with pool.send.")));

		pool_backend_wait(10, POOL_WAIT_LANE);
	}
}

/*
 * Wait until worker w runs and return its generation and PGPROC; fails after
 * pool.checkout_timeout, since no request can be served meanwhile.
 */
static uint32
pool_wait_for_worker(int w, PGPROC **proc)
{
	PoolWorkerInfo *info = pool_worker_info(w);
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		uint32		gen = pg_atomic_read_u32(&info->generation);

		if (gen % 2 == 1)
		{
			int			pgprocno;

			/* the pgprocno of that same incarnation: check the generation */
			pg_read_barrier();
			pgprocno = info->pgprocno;
			pg_read_barrier();
			if (pgprocno >= 0 && pg_atomic_read_u32(&info->generation) == gen)
			{
				*proc = GetPGProcByNumber(pgprocno);
				return gen;
			}
		}

		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
									   pool_checkout_timeout))
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("pool worker %d is not running", w + 1),
					 errhint("Check the server log for why it stopped.")));
		pool_backend_wait(10, POOL_WAIT_WORKER);
	}
}

/*
 * Mark lane lane_no of backend procno (or only the backend, for lane -1) as
 * needing worker w's attention, without waking it.
 */
static void
pool_mark_attention(int worker, int procno, int lane_no)
{
	PoolWorkerInfo *info = pool_worker_info(worker);
	PoolChannelDir *dir = &pool_shared->channels[procno];

	if (lane_no >= 0)
		pg_atomic_fetch_or_u64(&dir->attention[worker], UINT64CONST(1) << lane_no);
	pg_atomic_fetch_or_u64(&info->doorbell[procno / 64],
						   UINT64CONST(1) << (procno % 64));
}

/*
 * Ring worker w about lane lane_no of backend procno: mark it, then set the
 * worker's latch.
 */
void
pool_ring_worker(int worker, int procno, int lane_no)
{
	int			pgprocno;

	pool_mark_attention(worker, procno, lane_no);
	pgprocno = pool_worker_info(worker)->pgprocno;
	if (pgprocno >= 0)
		SetLatch(&GetPGProcByNumber(pgprocno)->procLatch);
}

/*
 * Create a lane's queues afresh for a request to a worker.  Setting the
 * second end of a queue sets the latch of the first: our own end goes first
 * each time, so that this wakes only ourselves.
 */
static void
pool_lane_setup(PoolLane *lane, int worker, uint32 worker_generation,
				PGPROC *worker_proc, uint64 seq, shm_mq **req, shm_mq **resp)
{
	lane->worker = worker;
	lane->worker_generation = worker_generation;
	lane->seq = seq;
	*req = shm_mq_create(pool_lane_request_queue(lane),
						 POOL_REQUEST_QUEUE_SIZE);
	shm_mq_set_sender(*req, MyProc);
	shm_mq_set_receiver(*req, worker_proc);
	*resp = shm_mq_create(pool_lane_response_queue(lane),
						  POOL_RESPONSE_QUEUE_SIZE);
	shm_mq_set_receiver(*resp, MyProc);
	shm_mq_set_sender(*resp, worker_proc);
}

/*
 * Submit a request to worker `worker` on a free lane and return once the
 * whole request is in the queue.  The caller then reads the response with
 * pool_call_receive, and must call pool_call_abandon if it stops early.
 */
void
pool_call_start(PoolCall *call, int worker, StringInfo request)
{
	PoolLane   *lane;
	PGPROC	   *worker_proc;
	shm_mq	   *req;
	shm_mq	   *resp;
	shm_mq_result res;

	memset(call, 0, sizeof(PoolCall));
	call->finished = true;

	if (my_session == 0)
		pool_channel_register();
	if (n_deferred_posts > 0)
		pool_channel_flush_posts();

	call->worker = worker;
	call->kind = request->data[0];
	call->worker_generation = pool_wait_for_worker(worker, &worker_proc);

	call->lane_no = pool_acquire_lane();
	lane = call->lane = pool_my_lane(call->lane_no);
	call->seq = ++my_next_seq;

	pool_lane_setup(lane, worker, call->worker_generation, worker_proc,
					call->seq, &req, &resp);
	/* that set our own latch; the wait loops look at the queues first */
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();		/* one that set the latch must not wait */
	call->request = shm_mq_attach(req, NULL, NULL);
	call->response = shm_mq_attach(resp, NULL, NULL);

	/* From here on, the lane is the worker's until it hands it back. */
	my_lane_busy[call->lane_no] = true;
	my_calls[call->lane_no] = call;
	call->finished = false;
	pg_write_barrier();
	pg_atomic_write_u32(&lane->owner, POOL_LANE_WORKER);

	/*
	 * Mark the lane first: sending with force_flush sets the worker's latch,
	 * and the worker then finds the mark.  (Should it look before the bytes
	 * are in, it keeps the lane on its list of requests to read.)
	 */
	pool_mark_attention(worker, pool_my_procno(), call->lane_no);
	res = shm_mq_send(call->request, request->len, request->data, true, true);

	while (res == SHM_MQ_WOULD_BLOCK)
	{
		if (pg_atomic_read_u32(&pool_worker_info(worker)->generation) !=
			call->worker_generation)
			break;
		pool_backend_wait(1000, POOL_WAIT_REQUEST);
		res = shm_mq_send(call->request, request->len, request->data,
						  true, true);
	}
	if (res != SHM_MQ_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("pool worker stopped while receiving a request")));
}

/*
 * Send the posts that were kept for want of a lane, those that can go now.
 */
void
pool_channel_flush_posts(void)
{
	int			i;
	int			kept = 0;

	for (i = 0; i < n_deferred_posts; i++)
	{
		PoolDeferredPost *d = &deferred_posts[i];
		StringInfoData request;

		/* a worker that restarted since dropped what the request names */
		if (pg_atomic_read_u32(&pool_worker_info(d->worker)->generation) !=
			d->worker_generation)
			continue;
		request.data = d->data;
		request.len = d->len;
		request.maxlen = POOL_DEFERRED_SIZE;
		request.cursor = 0;
		if (pool_call_post_now(d->worker, &request))
			continue;
		if (kept != i)
			deferred_posts[kept] = *d;
		kept++;
	}
	n_deferred_posts = kept;
}

/*
 * Send a request without waiting for its answer, from places that must not
 * wait or fail, such as a transaction's abort.  When no lane is free right
 * now, the request is kept and sent by the next call of this session, or
 * at the end of its next transaction.  Returns false only when it can be
 * neither sent nor kept.
 */
bool
pool_call_post(int worker, StringInfo request)
{
	PoolWorkerInfo *info = pool_worker_info(worker);
	PoolDeferredPost *d;

	pool_channel_flush_posts();
	if (pool_call_post_now(worker, request))
		return true;
	if (my_session == 0 || n_deferred_posts >= POOL_MAX_DEFERRED ||
		request->len > POOL_DEFERRED_SIZE ||
		pg_atomic_read_u32(&info->generation) % 2 == 0)
		return false;
	d = &deferred_posts[n_deferred_posts++];
	d->worker = worker;
	d->worker_generation = pg_atomic_read_u32(&info->generation);
	d->len = request->len;
	memcpy(d->data, request->data, request->len);
	return true;
}

/*
 * Post a request now, if a lane is free right away and the worker runs.  The
 * worker hands the lane back once it has answered into it; no one reads the
 * answer.
 */
static bool
pool_call_post_now(int worker, StringInfo request)
{
	PoolWorkerInfo *info = pool_worker_info(worker);
	PoolLane   *lane = NULL;
	PGPROC	   *worker_proc;
	shm_mq_handle *mqh;
	shm_mq	   *req;
	shm_mq	   *resp;
	uint32		gen;
	int			pgprocno;
	int			lane_no;

	if (my_session == 0)
		return false;
	for (lane_no = 0; lane_no < pool_my_lane_count(); lane_no++)
	{
		if (!my_lane_busy[lane_no] &&
			pg_atomic_read_u32(&pool_my_lane(lane_no)->owner) == POOL_LANE_BACKEND)
		{
			lane = pool_my_lane(lane_no);
			break;
		}
	}
	gen = pg_atomic_read_u32(&info->generation);
	pg_read_barrier();
	pgprocno = info->pgprocno;
	if (lane == NULL || gen % 2 == 0 || pgprocno < 0 ||
		request->len > POOL_REQUEST_QUEUE_SIZE / 2)
		return false;
	worker_proc = GetPGProcByNumber(pgprocno);

	pool_lane_setup(lane, worker, gen, worker_proc, ++my_next_seq,
					&req, &resp);
	mqh = shm_mq_attach(req, NULL, NULL);

	pg_write_barrier();
	pg_atomic_write_u32(&lane->owner, POOL_LANE_WORKER);
	pool_mark_attention(worker, pool_my_procno(), lane_no);
	/* an empty ring takes a small request whole */
	(void) shm_mq_send(mqh, request->len, request->data, true, true);
	pfree(mqh);
	return true;
}

/*
 * Wait for the next response message of a call.  Returns false when the
 * worker is gone; the caller raises the error.
 */
bool
pool_call_receive(PoolCall *call, char **data, Size *len)
{
	for (;;)
	{
		shm_mq_result res;

		res = shm_mq_receive(call->response, len, (void **) data, true);
		if (res == SHM_MQ_SUCCESS)
			return true;
		if (res == SHM_MQ_DETACHED)
			return false;

		if (pg_atomic_read_u32(&pool_worker_info(call->worker)->generation) !=
			call->worker_generation)
		{
			/*
			 * The worker may have written the last bytes just before it died:
			 * look once more before giving up.
			 */
			res = shm_mq_receive(call->response, len, (void **) data, true);
			if (res == SHM_MQ_SUCCESS)
				return true;
			return false;
		}

		pool_backend_wait(1000, call->kind == POOL_REQ_CHECKOUT ?
						  POOL_WAIT_CHECKOUT : POOL_WAIT_RESULT);
	}
}

/*
 * Is a call's command still running, its last record not yet delivered?
 * (Once the worker has put the last record in the queue, it hands the lane
 * back.)
 */
bool
pool_call_is_busy(PoolCall *call)
{
	if (call->finished)
		return false;
	if (pg_atomic_read_u32(&pool_worker_info(call->worker)->generation) !=
		call->worker_generation)
		return false;			/* the worker is gone: fetch reports it */
	return pg_atomic_read_u32(&call->lane->owner) == POOL_LANE_WORKER;
}

/*
 * The call got its final record: the lane goes back to this backend as soon
 * as the worker lets go of it.
 */
void
pool_call_finish(PoolCall *call)
{
	if (call->finished)
		return;
	call->finished = true;
	my_lane_busy[call->lane_no] = false;
	my_calls[call->lane_no] = NULL;

	/*
	 * No shm_mq_detach: it would only wake the worker for nothing.  The
	 * handles live in the caller's memory context.
	 */
	call->request = NULL;
	call->response = NULL;
}

/*
 * Give up on a call before its final record: tell the worker, which cancels
 * the remote query and cleans the connection.  Safe to call from an error
 * handler and more than once.
 */
void
pool_call_abandon(PoolCall *call)
{
	PoolLane   *lane = call->lane;

	if (call->finished)
		return;
	call->finished = true;
	my_calls[call->lane_no] = NULL;

	if (pg_atomic_read_u32(&pool_worker_info(call->worker)->generation) !=
		call->worker_generation)
	{
		/* That worker is gone and will never touch the lane again. */
		pg_atomic_write_u32(&lane->owner, POOL_LANE_BACKEND);
	}
	else
	{
		pg_atomic_write_u64(&lane->abandoned, call->seq);
		shm_mq_detach(call->request);
		shm_mq_detach(call->response);
		pool_ring_worker(call->worker, pool_my_procno(), call->lane_no);
	}
	call->request = NULL;
	call->response = NULL;
	my_lane_busy[call->lane_no] = false;
}

/*
 * Backend exit, of any kind: abandon what is in flight and tell every worker
 * that this session is over, so they release what it held.
 */
static void
pool_channel_exit(int code, Datum arg)
{
	PoolChannelDir *dir = &pool_shared->channels[pool_my_procno()];
	int			i;

	for (i = 0; i < POOL_MAX_LANES; i++)
	{
		if (my_calls[i] != NULL)
			pool_call_abandon(my_calls[i]);
	}

	pg_atomic_write_u32(&dir->exiting, 1);
	for (i = 0; i < pool_shared->nworkers; i++)
		pool_ring_worker(i, pool_my_procno(), -1);
}

/*
 * Append an error or notice field: its code, then the value with its
 * terminator.  NULL values are left out.
 */
void
pool_put_field(StringInfo buf, char code, const char *value)
{
	if (value == NULL)
		return;
	appendStringInfoChar(buf, code);
	appendBinaryStringInfo(buf, value, strlen(value) + 1);
}

/*
 * Start a record of the given type in buf; pool_end_record fills in its
 * length.
 */
void
pool_begin_record(StringInfo buf, char type, int *start)
{
	appendStringInfoChar(buf, type);
	*start = buf->len;
	pool_put_uint32(buf, 0);
}

void
pool_end_record(StringInfo buf, int start)
{
	uint32		len = buf->len - start - sizeof(uint32);

	memcpy(buf->data + start, &len, sizeof(uint32));
}
