/*-------------------------------------------------------------------------
 *
 * handles.c
 *	  Reserved connections, remote transactions tied to the local one,
 *	  asynchronous commands and fan-out.
 *
 * A handle names one connection this session checked out (pool.checkout),
 * or one asynchronous one-shot command (pool.send on a target).  A backend
 * keeps its handles in a table of its own: a handle works only in the
 * session that took it, and one that was checked in, belongs to another
 * session, or was made up, is refused with an error that says which.
 *
 * A handle of transaction scope is checked in when the local transaction
 * ends.  Its remote transaction opens on first use, and mirrors the local
 * one: a remote savepoint for each local subtransaction level it is used at,
 * rolled back when that subtransaction aborts (lazily, before the next
 * remote command, since an abort must not wait on a remote), committed when
 * the local transaction commits, from the pre-commit callback, so that a
 * remote commit failure fails the local commit.  Abort releases it; the
 * worker rolls back.
 *
 * Asynchronous commands keep their request in flight on a lane of the
 * channel until pool.fetch reads the result; several at once work in
 * parallel, each on its own remote connection.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/handles.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "parser/parse_coerce.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pool.h"

PG_FUNCTION_INFO_V1(pool_checkout_handle);
PG_FUNCTION_INFO_V1(pool_checkin_handle);
PG_FUNCTION_INFO_V1(pool_query_handle);
PG_FUNCTION_INFO_V1(pool_exec_handle);
PG_FUNCTION_INFO_V1(pool_send);
PG_FUNCTION_INFO_V1(pool_send_handle);
PG_FUNCTION_INFO_V1(pool_is_busy);
PG_FUNCTION_INFO_V1(pool_fetch);
PG_FUNCTION_INFO_V1(pool_cancel);
PG_FUNCTION_INFO_V1(pool_query_all);

typedef struct PoolHandle
{
	int64		handle;			/* hash key */
	bool		reserved;		/* a checked-out connection (else an async
								 * one-shot command) */
	bool		transaction_scope;
	PoolTarget	target;
	MemoryContext cxt;

	/* transaction scope: the remote transaction mirroring the local one */
	int			xact_depth;		/* remote levels open: 0 none, 1 BEGIN, n
								 * savepoints */
	int			rollback_to;	/* savepoint to roll back to first, or 0 */

	/* an asynchronous command in flight */
	PoolCallState *pending;
} PoolHandle;

static HTAB *handles = NULL;
static uint32 async_counter = 0;
static bool callbacks_registered = false;

static void pool_xact_callback(XactEvent event, void *arg);
static void pool_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								  SubTransactionId parentSubid, void *arg);

static void
pool_handles_init(void)
{
	HASHCTL		ctl;

	if (handles != NULL)
		return;
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(PoolHandle);
	ctl.hcxt = TopMemoryContext;
	handles = hash_create("pool handles", 16, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (!callbacks_registered)
	{
		RegisterXactCallback(pool_xact_callback, NULL);
		RegisterSubXactCallback(pool_subxact_callback, NULL);
		callbacks_registered = true;
	}
}

static PoolHandle *
pool_handle_add(int64 handle, PoolTarget *target)
{
	PoolHandle *h;
	bool		found;

	pool_handles_init();
	h = hash_search(handles, &handle, HASH_ENTER, &found);
	Assert(!found);
	h->reserved = false;
	h->transaction_scope = false;
	h->target = *target;
	h->cxt = AllocSetContextCreate(TopMemoryContext, "pool handle",
								   ALLOCSET_SMALL_SIZES);
	h->xact_depth = 0;
	h->rollback_to = 0;
	h->pending = NULL;
	return h;
}

static void
pool_handle_remove(PoolHandle *h)
{
	int64		handle = h->handle;

	MemoryContextDelete(h->cxt);
	hash_search(handles, &handle, HASH_REMOVE, NULL);
}

/*
 * This session's handle, or an error saying why not.
 */
static PoolHandle *
pool_handle_get(int64 handle)
{
	PoolHandle *h = NULL;
	int			slot;

	if (handles != NULL)
		h = hash_search(handles, &handle, HASH_FIND, NULL);
	if (h != NULL)
		return h;

	/* Not ours: say whose, if anyone's. */
	slot = POOL_HANDLE_SLOT((uint64) handle);
	if (handle > 0 && (handle & POOL_HANDLE_ASYNC_BIT) == 0 &&
		slot >= 0 && slot < pool_shared->max_connections)
	{
		PoolSlot	copy;

		pool_slot_read(&pool_shared->slots[slot], &copy, NULL);
		if (copy.handle == (uint64) handle && copy.state != POOL_SLOT_EMPTY &&
			copy.holder_pid != 0 && copy.holder_pid != MyProcPid)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("handle " INT64_FORMAT " belongs to another session", handle),
					 errdetail("Only the session that checked it out (process %d) may use it.",
							   copy.holder_pid)));
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("handle " INT64_FORMAT " does not exist", handle),
			 errdetail("It was checked in, its command was fetched, or it was never given out in this session.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * Fail unless a handle is free for a new command.
 */
static void
pool_handle_check_idle(PoolHandle *h)
{
	if (h->pending != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("another command is already in progress on handle " INT64_FORMAT,
						h->handle),
				 errhint("Fetch or cancel the command in progress first.")));
}

/*
 * Run a command of our own (BEGIN, SAVEPOINT, COMMIT ...) on a reserved
 * connection, and wait for it.
 */
static void
pool_handle_command(PoolHandle *h, const char *sql)
{
	PoolCallState st;

	memset(&st, 0, sizeof(st));
	st.target = h->target;
	st.handle = h->handle;
	pool_call_run(&st, POOL_REQ_EXEC, cstring_to_text(sql), NULL);
}

/*
 * Before a command on a handle of transaction scope: open the remote
 * transaction, roll back to a savepoint a local subtransaction abort left
 * pending, open savepoints down to the current local level.
 */
static void
pool_handle_prepare_xact(PoolHandle *h)
{
	int			level = GetCurrentTransactionNestLevel();

	if (!h->transaction_scope)
		return;
	if (h->rollback_to > 0)
	{
		char	   *sql = psprintf("ROLLBACK TO SAVEPOINT pool_s%d; RELEASE SAVEPOINT pool_s%d",
								   h->rollback_to, h->rollback_to);

		h->rollback_to = 0;
		pool_handle_command(h, sql);
	}
	if (h->xact_depth == 0)
	{
		pool_handle_command(h, "BEGIN");
		h->xact_depth = 1;
	}
	while (h->xact_depth < level)
	{
		h->xact_depth++;
		pool_handle_command(h, psprintf("SAVEPOINT pool_s%d", h->xact_depth));
	}
}

/*
 * Tell the worker a handle's connection goes back, without waiting: from
 * places that must not fail.  If it cannot be sent now, the worker takes
 * the connection back when the session ends.
 */
static void
pool_handle_release_quietly(PoolHandle *h)
{
	StringInfoData request;

	if (h->pending != NULL)
	{
		pool_call_abandon(&h->pending->call);
		h->pending = NULL;
	}
	if (!h->reserved)
		return;
	pool_build_request(&request, POOL_REQ_CHECKIN, &h->target, h->handle,
					   cstring_to_text(""), NULL);
	if (!pool_call_post(h->target.worker, &request))
		ereport(WARNING,
				(errmsg("could not check in handle " INT64_FORMAT " now", h->handle),
				 errdetail("Its connection goes back to the pool when this session ends.")));
	pfree(request.data);
}

/*
 * Local transaction events: commit the remote transactions of handles of
 * transaction scope before the local commit, release them after.
 */
static void
pool_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS seq;
	PoolHandle *h;

	if (handles == NULL || hash_get_num_entries(handles) == 0)
		return;

	hash_seq_init(&seq, handles);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		if (!h->transaction_scope)
			continue;
		switch (event)
		{
			case XACT_EVENT_PRE_COMMIT:
			case XACT_EVENT_PARALLEL_PRE_COMMIT:
				if (h->pending != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_IN_USE),
							 errmsg("cannot commit while a command is in progress on handle " INT64_FORMAT,
									h->handle),
							 errhint("Fetch or cancel it before the end of the transaction.")));
				if (h->xact_depth > 0)
				{
					if (h->rollback_to > 0)
					{
						int			to = h->rollback_to;

						h->rollback_to = 0;
						pool_handle_command(h, psprintf("ROLLBACK TO SAVEPOINT pool_s%d", to));
					}
					/* a failure here fails the local commit */
					pool_handle_command(h, "COMMIT");
					h->xact_depth = 0;
				}
				break;
			case XACT_EVENT_PRE_PREPARE:
				if (h->xact_depth > 0)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("cannot PREPARE a transaction that used handle " INT64_FORMAT " of transaction scope",
									h->handle)));
				break;
			case XACT_EVENT_COMMIT:
			case XACT_EVENT_PARALLEL_COMMIT:
			case XACT_EVENT_ABORT:
			case XACT_EVENT_PARALLEL_ABORT:
			case XACT_EVENT_PREPARE:
				/* on abort the worker rolls the remote transaction back */
				pool_handle_release_quietly(h);
				pool_handle_remove(h);
				break;
		}
	}
}

/*
 * Local subtransaction events: a savepoint released keeps its remote work,
 * one rolled back takes the remote back to where it began.
 */
static void
pool_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS seq;
	PoolHandle *h;
	int			level;

	if (handles == NULL ||
		(event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB))
		return;
	level = GetCurrentTransactionNestLevel();

	hash_seq_init(&seq, handles);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		if (!h->transaction_scope || h->xact_depth < level)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			if (h->pending != NULL)
			{
				pool_call_abandon(&h->pending->call);
				h->pending = NULL;
			}
			if (h->rollback_to == 0 || level < h->rollback_to)
				h->rollback_to = level;
		}
		h->xact_depth = level - 1;
	}
}

/*
 * pool.checkout(target text, scope text DEFAULT 'session') returns bigint
 */
Datum
pool_checkout_handle(PG_FUNCTION_ARGS)
{
	PoolCallState st;
	PoolHandle *h;
	char	   *scope;
	bool		transaction_scope;
	int64		handle;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "target");
	pool_check_not_null(fcinfo, 1, "scope");

	scope = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(scope, "session") == 0)
		transaction_scope = false;
	else if (strcmp(scope, "transaction") == 0)
		transaction_scope = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid scope \"%s\"", scope),
				 errhint("The scope is \"session\" or \"transaction\".")));
	if (transaction_scope && !IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
				 errmsg("a handle of transaction scope can only be checked out in a transaction block")));

	memset(&st, 0, sizeof(st));
	pool_resolve_target(PG_GETARG_TEXT_PP(0), &st.target);
	pool_call_run(&st, POOL_REQ_CHECKOUT, cstring_to_text(""), NULL);

	if (st.tag == NULL || sscanf(st.tag, "CHECKOUT " INT64_FORMAT, &handle) != 1)
		elog(ERROR, "unexpected answer to a checkout: \"%s\"",
			 st.tag ? st.tag : "");
	h = pool_handle_add(handle, &st.target);
	h->reserved = true;
	h->transaction_scope = transaction_scope;
	PG_RETURN_INT64(handle);
}

/*
 * pool.checkin(handle bigint) returns void
 */
Datum
pool_checkin_handle(PG_FUNCTION_ARGS)
{
	PoolHandle *h;
	PoolCallState st;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "handle");
	h = pool_handle_get(PG_GETARG_INT64(0));
	if (!h->reserved)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("handle " INT64_FORMAT " is not a checked-out connection",
						h->handle),
				 errhint("Fetch or cancel its command instead.")));
	if (h->transaction_scope && h->xact_depth > 0)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("handle " INT64_FORMAT " is in a remote transaction tied to this one",
						h->handle),
				 errdetail("It is checked in when the local transaction ends.")));
	if (h->pending != NULL)
	{
		pool_call_abandon(&h->pending->call);
		h->pending = NULL;
	}

	memset(&st, 0, sizeof(st));
	st.target = h->target;
	st.handle = h->handle;
	PG_TRY();
	{
		pool_call_run(&st, POOL_REQ_CHECKIN, cstring_to_text(""), NULL);
	}
	PG_FINALLY();
	{
		/* whatever the answer, the handle is no more */
		pool_handle_remove(h);
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * The connection of a handle failed: the worker closed it, so the handle is
 * gone too.  Forget it, and re-throw.
 */
static void
pool_handle_forget_if_gone(PoolHandle *h, MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	if (edata->sqlerrcode == ERRCODE_CONNECTION_DOES_NOT_EXIST ||
		edata->sqlerrcode == ERRCODE_CONNECTION_FAILURE)
		pool_handle_remove(h);
	FreeErrorData(edata);
}

/*
 * Run a command on a handle and read its result, rows into rsinfo if given.
 */
static void
pool_handle_run(PoolHandle *h, PoolCallState *st, char kind, text *sql,
				ArrayType *params)
{
	MemoryContext cxt = CurrentMemoryContext;

	pool_handle_check_idle(h);
	pool_handle_prepare_xact(h);
	st->target = h->target;
	st->handle = h->handle;
	PG_TRY();
	{
		pool_call_run(st, kind, sql, params);
	}
	PG_CATCH();
	{
		pool_handle_forget_if_gone(h, cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * The handle of pool.query(handle, sql, params) or pool.exec(handle, ...):
 * a connection this session holds.
 */
static PoolHandle *
pool_handle_for_command(FunctionCallInfo fcinfo)
{
	PoolHandle *h;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "handle");
	pool_check_not_null(fcinfo, 1, "SQL command");
	pool_check_not_null(fcinfo, 2, "parameter array");
	h = pool_handle_get(PG_GETARG_INT64(0));
	if (!h->reserved)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("handle " INT64_FORMAT " is not a checked-out connection",
						h->handle),
				 errhint("Use pool.fetch to read the result of its command.")));
	return h;
}

/*
 * pool.query(handle bigint, sql text, VARIADIC params text[]) returns setof
 * record
 */
Datum
pool_query_handle(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PoolCallState st;
	PoolHandle *h;

	h = pool_handle_for_command(fcinfo);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	memset(&st, 0, sizeof(st));
	pool_call_init_rows(&st, rsinfo, 0);
	pool_handle_run(h, &st, POOL_REQ_QUERY, PG_GETARG_TEXT_PP(1),
					PG_GETARG_ARRAYTYPE_P(2));
	return (Datum) 0;
}

/*
 * pool.exec(handle bigint, sql text, VARIADIC params text[]) returns text
 */
Datum
pool_exec_handle(PG_FUNCTION_ARGS)
{
	PoolCallState st;
	PoolHandle *h;

	h = pool_handle_for_command(fcinfo);

	memset(&st, 0, sizeof(st));
	pool_handle_run(h, &st, POOL_REQ_EXEC, PG_GETARG_TEXT_PP(1),
					PG_GETARG_ARRAYTYPE_P(2));
	PG_RETURN_TEXT_P(cstring_to_text(st.tag));
}

/*
 * Start a command on a handle without waiting for it.
 */
static void
pool_handle_send(PoolHandle *h, text *sql, ArrayType *params)
{
	MemoryContext old;
	PoolCallState *st;

	pool_handle_check_idle(h);
	pool_handle_prepare_xact(h);

	old = MemoryContextSwitchTo(h->cxt);
	st = palloc0(sizeof(PoolCallState));
	st->target = h->target;
	st->handle = h->reserved ? h->handle : 0;
	pool_call_send(st, POOL_REQ_QUERY, sql, params);
	MemoryContextSwitchTo(old);
	h->pending = st;
}

/*
 * pool.send(target text, sql text, VARIADIC params text[]) returns bigint
 */
Datum
pool_send(PG_FUNCTION_ARGS)
{
	PoolTarget	target;
	PoolHandle *h;
	int64		handle;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "target");
	pool_check_not_null(fcinfo, 1, "SQL command");
	pool_check_not_null(fcinfo, 2, "parameter array");
	pool_resolve_target(PG_GETARG_TEXT_PP(0), &target);

	handle = POOL_HANDLE_ASYNC_BIT | (int64) ++async_counter;
	h = pool_handle_add(handle, &target);
	PG_TRY();
	{
		pool_handle_send(h, PG_GETARG_TEXT_PP(1), PG_GETARG_ARRAYTYPE_P(2));
	}
	PG_CATCH();
	{
		pool_handle_remove(h);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PG_RETURN_INT64(handle);
}

/*
 * pool.send(handle bigint, sql text, VARIADIC params text[]) returns bigint
 */
Datum
pool_send_handle(PG_FUNCTION_ARGS)
{
	PoolHandle *h;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "handle");
	pool_check_not_null(fcinfo, 1, "SQL command");
	pool_check_not_null(fcinfo, 2, "parameter array");
	h = pool_handle_get(PG_GETARG_INT64(0));
	if (!h->reserved)
		pool_handle_check_idle(h);	/* an async handle is busy until fetched */
	pool_handle_send(h, PG_GETARG_TEXT_PP(1), PG_GETARG_ARRAYTYPE_P(2));
	PG_RETURN_INT64(h->handle);
}

/*
 * pool.is_busy(handle bigint) returns boolean: is its command still running
 * (its last result not yet all delivered)?
 */
Datum
pool_is_busy(PG_FUNCTION_ARGS)
{
	PoolHandle *h;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "handle");
	h = pool_handle_get(PG_GETARG_INT64(0));
	if (h->pending == NULL)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(pool_call_is_busy(&h->pending->call));
}

/*
 * pool.fetch(handle bigint) returns setof record: the result of the command
 * in progress.  A handle from pool.send on a target is done with it.
 */
Datum
pool_fetch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PoolHandle *h;
	PoolCallState *st;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "handle");
	h = pool_handle_get(PG_GETARG_INT64(0));
	if (h->pending == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("handle " INT64_FORMAT " has no command in progress",
						h->handle),
				 errhint("Start one with pool.send.")));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	st = h->pending;
	h->pending = NULL;			/* read once, whatever happens */
	pool_call_init_rows(st, rsinfo, 0);
	PG_TRY();
	{
		pool_call_read(st);
	}
	PG_FINALLY();
	{
		if (!h->reserved)
			pool_handle_remove(h);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * pool.cancel(handle bigint) returns boolean: stop the command in progress
 * (the worker cancels it remotely); false if there was none.
 */
Datum
pool_cancel(PG_FUNCTION_ARGS)
{
	PoolHandle *h;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "handle");
	h = pool_handle_get(PG_GETARG_INT64(0));
	if (h->pending == NULL)
		PG_RETURN_BOOL(false);
	pool_call_abandon(&h->pending->call);
	h->pending = NULL;
	if (!h->reserved)
		pool_handle_remove(h);
	PG_RETURN_BOOL(true);
}

/*
 * pool.query_all(targets text[], sql text, VARIADIC params text[]) returns
 * setof record: run one command on every target at once, and return all
 * rows, each with the target it came from in the first column.
 */
Datum
pool_query_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *targets;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	int			i;
	int			next_to_send = 0;
	PoolCallState *calls;
	text	   *sql;
	ArrayType  *params;
	AttInMetadata *attinmeta;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "target array");
	pool_check_not_null(fcinfo, 1, "SQL command");
	pool_check_not_null(fcinfo, 2, "parameter array");
	targets = PG_GETARG_ARRAYTYPE_P(0);
	sql = PG_GETARG_TEXT_PP(1);
	params = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(targets) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("targets must be a one-dimensional array")));
	deconstruct_array(targets, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &n);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	if (rsinfo->setDesc->natts < 1 ||
		TypeCategory(getBaseType(TupleDescAttr(rsinfo->setDesc, 0)->atttypid)) !=
		TYPCATEGORY_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the first column of the column definition list of pool.query_all must be of a string type"),
				 errdetail("It receives the target each row came from.")));
	attinmeta = TupleDescGetAttInMetadata(rsinfo->setDesc);

	calls = palloc0(sizeof(PoolCallState) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		char	   *label;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("target must not be null")));
		pool_resolve_target(DatumGetTextPP(elems[i]), &calls[i].target);
		label = calls[i].target.name;
		calls[i].label = InputFunctionCall(&attinmeta->attinfuncs[0], label,
										   attinmeta->attioparams[0],
										   attinmeta->atttypmods[0]);
	}

	/*
	 * Everything goes out before anything is read, so the remotes work in
	 * parallel; beyond what the channel takes at once, the next goes out as
	 * each one is read.
	 */
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			while (next_to_send < n && next_to_send < i + POOL_MAX_LANES / 2)
			{
				pool_call_send(&calls[next_to_send], POOL_REQ_QUERY, sql, params);
				next_to_send++;
			}
			pool_call_init_rows(&calls[i], rsinfo, 1);
			pool_call_read(&calls[i]);
		}
	}
	PG_CATCH();
	{
		for (i = 0; i < next_to_send; i++)
			pool_call_abandon(&calls[i].call);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return (Datum) 0;
}
