/*-------------------------------------------------------------------------
 *
 * call.h
 *	  The backend side of a call: one command and its response.
 *
 * A call takes a lane of the session's channel, sends its request to the
 * worker of its pool, and reads the response records into rows, notices,
 * an error or a command tag (channel.c for the lanes, functions.c for the
 * records, handles.c for reserved connections and asynchronous commands).
 *
 * Portions Copyright (c) the pool authors
 *
 * src/call.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_CALL_H
#define POOL_CALL_H

#include "pool.h"
#include "funcapi.h"
#include "target.h"
#include "utils/array.h"
#include "wire.h"

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
	uint64		number;			/* from a number record, if any */
	bool		has_number;
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
extern int64 pool_call_checkout(PoolCallState *st);
extern void pool_handles_discard_all(void);

/* views.c and functions.c export only SQL-callable functions */

#endif							/* POOL_CALL_H */
