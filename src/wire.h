/*-------------------------------------------------------------------------
 *
 * wire.h
 *	  The wire format between backends and workers.
 *
 * A backend sends a request on a lane of its channel (see channel.c): a kind
 * byte, the role, flags, the target's pool, a handle, the SQL and its
 * parameters.  The worker answers with response messages, each of records:
 * a type byte, a uint32 length and a payload.  Every response ends with one
 * final record, an error or done.  Both sides run the same build of the
 * library, so integers go in the machine's own byte order.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/wire.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_WIRE_H
#define POOL_WIRE_H

#include "pool.h"
#include "lib/stringinfo.h"
#include "port/atomics.h"
#include "storage/shm_mq.h"

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
#define POOL_REC_NUMBER		'K' /* uint64: a checkout's handle, the
								 * connections a reset closed; before DONE */
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

static inline uint64
pool_get_uint64(const char *p)
{
	uint64		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

extern void pool_begin_record(StringInfo buf, char type, int *start);
extern void pool_put_field(StringInfo buf, char code, const char *value);
extern void pool_end_record(StringInfo buf, int start);

#endif							/* POOL_WIRE_H */
