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
 * released when that subtransaction commits, rolled back when it aborts
 * (lazily, before the next remote command, since an abort must not wait on
 * a remote), committed when the local transaction commits, from the
 * pre-commit callback, so that a remote commit failure fails the local
 * commit.  Abort releases it; the worker rolls back.
 *
 * A command that failed or was cancelled may have aborted the remote
 * transaction at the level it ran at.  The handle remembers that level: only
 * a rollback to a savepoint at or below it undoes the failure, and until
 * then neither a further command nor the local commit goes through.  The
 * remote's answer to COMMIT is checked too: a remote transaction that was
 * rolled back never lets the local one commit.
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
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "parser/parse_coerce.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "pool.h"
#include "shmem.h"
#include "wire.h"
#include "target.h"
#include "call.h"

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
	char	   *target_text;	/* as given, to check it again at each use */
	Oid			owner;			/* the role that took it */
	bool		owner_superuser;	/* and whether it was a superuser then */
	MemoryContext cxt;

	/* transaction scope: the remote transaction mirroring the local one */
	int			xact_depth;		/* remote levels open: 0 none, 1 BEGIN, n
								 * savepoints */
	int			rollback_to;	/* savepoint to roll back to first, or 0 */
	int			failed_level;	/* remote level a failed command may have
								 * aborted, or 0 */
	bool		lost;			/* its connection is gone */

	/* an asynchronous command in flight, in a memory context of its own */
	PoolCallState *pending;
	MemoryContext pending_cxt;
	int			pending_level;	/* xact_depth it was sent at */
} PoolHandle;

static HTAB *handles = NULL;
static uint64 async_counter = 0;
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

/*
 * Add a handle of the current user's, for target (as given, and resolved).
 */
static PoolHandle *
pool_handle_add(int64 handle, text *target_text, PoolTarget *target)
{
	PoolHandle *h;
	bool		found;

	pool_handles_init();
	h = hash_search(handles, &handle, HASH_ENTER, &found);
	if (found)
		elog(ERROR, "handle " INT64_FORMAT " is in use already", handle);
	h->reserved = false;
	h->transaction_scope = false;
	h->target = *target;
	h->owner = GetUserId();
	h->owner_superuser = superuser();
	h->cxt = AllocSetContextCreate(TopMemoryContext, "pool handle",
								   ALLOCSET_SMALL_SIZES);
	h->target_text = MemoryContextAlloc(h->cxt, VARSIZE_ANY_EXHDR(target_text) + 1);
	memcpy(h->target_text, VARDATA_ANY(target_text),
		   VARSIZE_ANY_EXHDR(target_text));
	h->target_text[VARSIZE_ANY_EXHDR(target_text)] = '\0';
	h->xact_depth = 0;
	h->rollback_to = 0;
	h->failed_level = 0;
	h->lost = false;
	h->pending = NULL;
	h->pending_cxt = NULL;
	h->pending_level = 0;
	return h;
}

/*
 * A command on a handle of transaction scope failed, or was given up on, at
 * remote level level: the remote transaction may be aborted there.
 */
static void
pool_handle_note_failure(PoolHandle *h, int level)
{
	if (h->transaction_scope && level > h->failed_level)
		h->failed_level = level;
}

/*
 * Forget the command in flight on a handle, telling the worker to stop it
 * if it still runs.
 */
static void
pool_handle_drop_pending(PoolHandle *h, bool failed)
{
	if (h->pending == NULL)
		return;
	if (failed)
		pool_handle_note_failure(h, h->pending_level);
	pool_call_abandon(&h->pending->call);
	h->pending = NULL;
	MemoryContextDelete(h->pending_cxt);
	h->pending_cxt = NULL;
}

static void
pool_handle_remove(PoolHandle *h)
{
	int64		handle = h->handle;

	/* a connection string may hold a password */
	memset(h->target_text, 0, strlen(h->target_text));
	MemoryContextDelete(h->cxt);
	hash_search(handles, &handle, HASH_REMOVE, NULL);
}

/*
 * This session's handle, or an error saying why not.  A handle belongs to
 * the role that took it, with the superuser status it had then: after SET
 * ROLE, SET SESSION AUTHORIZATION, or the return from a SECURITY DEFINER
 * function, another current user may not use it.
 */
static PoolHandle *
pool_handle_get(int64 handle)
{
	PoolHandle *h = NULL;
	int			slot;

	if (handles != NULL)
		h = hash_search(handles, &handle, HASH_FIND, NULL);
	if (h != NULL)
	{
		bool		other_role = h->owner != GetUserId();

		if (other_role || h->owner_superuser != superuser())
		{
			const char *owner = GetUserNameFromId(h->owner, true);

			if (owner == NULL)
				owner = "?";
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for handle " INT64_FORMAT, handle),
					 other_role ?
					 errdetail("It belongs to role \"%s\", which checked it out.",
							   owner) :
					 errdetail("The superuser status of role \"%s\" changed since it checked the handle out.",
							   owner),
					 other_role ?
					 errhint("Only that role may use it; DISCARD ALL gives back every handle of the session.") :
					 errhint("DISCARD ALL gives back every handle of the session.")));
		}
		return h;
	}

	/* Not ours: say whose, if anyone's, and which process only if allowed. */
	slot = POOL_HANDLE_SLOT((uint64) handle);
	if (handle > 0 && (handle & POOL_HANDLE_ASYNC_BIT) == 0 &&
		slot >= 0 && slot < pool_shared->max_connections)
	{
		PoolSlot	copy;

		pool_slot_read(&pool_shared->slots[slot], &copy, NULL);
		if (copy.handle == (uint64) handle && copy.state != POOL_SLOT_EMPTY &&
			copy.holder_pid != 0 && copy.holder_pid != MyProcPid)
		{
			bool		may_see = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) ||
			(OidIsValid(copy.holder_role) &&
			 has_privs_of_role(GetUserId(), copy.holder_role));

			if (may_see)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 errmsg("handle " INT64_FORMAT " belongs to another session", handle),
						 errdetail("Only the session that checked it out (process %d) may use it.",
								   copy.holder_pid)));
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("handle " INT64_FORMAT " belongs to another session", handle),
					 errdetail("Only the session that checked it out may use it.")));
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("handle " INT64_FORMAT " does not exist", handle),
			 errdetail("It was checked in, its command was fetched, or it was never given out in this session.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * Before a command on a reserved connection: the role must still be allowed
 * to use the handle's target (USAGE on its server, its user mapping, USAGE
 * on the foreign-data wrapper for a connection string), and the target must
 * still be the pool the handle came from.  Privilege and mapping changes so
 * act on the next command of every handle, as on every other call.
 */
static void
pool_handle_revalidate(PoolHandle *h)
{
	PoolTarget	now;
	text	   *target = cstring_to_text(h->target_text);

	pool_resolve_target(target, &now);
	memset(VARDATA(target), 0, VARSIZE_ANY_EXHDR(target));
	pfree(target);
	if (now.pool_index != h->target.pool_index ||
		now.pool_generation != h->target.pool_generation)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("handle " INT64_FORMAT " no longer belongs to the pool of its target",
						h->handle),
				 errdetail("The user mapping or the options the target resolves to changed since the handle was checked out."),
				 errhint("Check the handle in and check out another.")));
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
 * connection, wait for it and return its command tag.  A failure counts as
 * one at remote level level.
 */
static char *
pool_handle_command(PoolHandle *h, const char *sql, int level)
{
	PoolCallState st;

	memset(&st, 0, sizeof(st));
	st.target = h->target;
	st.handle = h->handle;
	st.role = h->owner;
	st.role_superuser = h->owner_superuser;
	PG_TRY();
	{
		pool_call_run(&st, POOL_REQ_EXEC, cstring_to_text(sql), NULL);
	}
	PG_CATCH();
	{
		pool_handle_note_failure(h, level);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return st.tag;
}

/*
 * Fail if the remote transaction of a handle is aborted, or may be.
 */
static void
pool_handle_check_failed(PoolHandle *h, bool committing)
{
	if (h->lost)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_DOES_NOT_EXIST),
				 errmsg("connection of handle " INT64_FORMAT " was lost in a remote transaction",
						h->handle),
				 errdetail("The remote transaction was rolled back."),
				 errhint("Roll back the local transaction.")));
	if (h->failed_level > 0)
		ereport(ERROR,
				(errcode(ERRCODE_IN_FAILED_SQL_TRANSACTION),
				 committing ?
				 errmsg("cannot commit: the remote transaction of handle " INT64_FORMAT " is aborted",
						h->handle) :
				 errmsg("the remote transaction of handle " INT64_FORMAT " is aborted",
						h->handle),
				 errdetail("A command on it failed or was cancelled."),
				 errhint("Roll back the local transaction, or to a savepoint taken before that command.")));
}

/*
 * Roll the remote transaction of a handle back to the savepoint a local
 * subtransaction abort left pending.
 */
static void
pool_handle_rollback_pending(PoolHandle *h)
{
	int			to = h->rollback_to;

	if (to == 0)
		return;
	(void) pool_handle_command(h,
							   psprintf("ROLLBACK TO SAVEPOINT pool_s%d; RELEASE SAVEPOINT pool_s%d",
										to, to),
							   h->xact_depth);
	/* only now: a rollback that did not happen is tried again */
	h->rollback_to = 0;
	if (h->failed_level >= to)
		h->failed_level = 0;
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
	pool_handle_rollback_pending(h);
	pool_handle_check_failed(h, false);
	if (h->xact_depth == 0)
	{
		(void) pool_handle_command(h, "BEGIN", 1);
		h->xact_depth = 1;
	}
	while (h->xact_depth < level)
	{
		(void) pool_handle_command(h, psprintf("SAVEPOINT pool_s%d",
											   h->xact_depth + 1),
								   h->xact_depth);
		h->xact_depth++;
	}
}

/*
 * Tell the worker a handle's connection goes back, without waiting: from
 * places that must not fail.  If it cannot be sent now, it goes with the
 * next call or transaction end of this session, or at the latest when the
 * session ends.
 */
static void
pool_handle_release_quietly(PoolHandle *h)
{
	StringInfoData request;

	pool_handle_drop_pending(h, false);
	if (!h->reserved || h->lost)
		return;
	pool_build_request(&request, POOL_REQ_CHECKIN, &h->target, h->handle,
					   h->owner, h->owner_superuser, false,
					   cstring_to_text(""), NULL);
	if (!pool_call_post(h->target.worker, &request))
		ereport(WARNING,
				(errmsg("could not check in handle " INT64_FORMAT " now", h->handle),
				 errdetail("Its connection goes back to the pool when this session ends.")));
	pfree(request.data);
}

/*
 * Before the local commit: check that every remote transaction can commit,
 * then commit them.  A failure here fails the local commit.  (Without
 * two-phase commit, a remote COMMIT that fails after another handle's
 * succeeded still leaves that one committed.)
 */
static void
pool_handles_pre_commit(void)
{
	HASH_SEQ_STATUS seq;
	PoolHandle *h;

	hash_seq_init(&seq, handles);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		if (!h->transaction_scope)
			continue;
		if (h->pending != NULL)
		{
			hash_seq_term(&seq);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot commit while a command is in progress on handle " INT64_FORMAT,
							h->handle),
					 errhint("Fetch or cancel it before the end of the transaction.")));
		}
		if (h->xact_depth > 0 &&
			(h->lost || (h->failed_level > 0 &&
						 (h->rollback_to == 0 || h->rollback_to > h->failed_level))))
		{
			hash_seq_term(&seq);
			pool_handle_check_failed(h, true);
		}
	}

	hash_seq_init(&seq, handles);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		char	   *tag;

		if (!h->transaction_scope || h->xact_depth == 0)
			continue;
		PG_TRY();
		{
			pool_handle_rollback_pending(h);
			pool_handle_check_failed(h, true);
			tag = pool_handle_command(h, "COMMIT", 1);
		}
		PG_CATCH();
		{
			hash_seq_term(&seq);
			PG_RE_THROW();
		}
		PG_END_TRY();
		h->xact_depth = 0;

		/* an aborted remote transaction answers COMMIT with ROLLBACK */
		if (tag == NULL || strcmp(tag, "COMMIT") != 0)
		{
			hash_seq_term(&seq);
			ereport(ERROR,
					(errcode(ERRCODE_TRANSACTION_ROLLBACK),
					 errmsg("the remote transaction of handle " INT64_FORMAT " was rolled back",
							h->handle),
					 errdetail("The remote server answered COMMIT with \"%s\".",
							   tag ? tag : ""),
					 errhint("A command on the handle failed or was cancelled earlier in the transaction.")));
		}
	}
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

	/* check-ins that found no free lane earlier */
	pool_channel_flush_posts();

	if (handles == NULL || hash_get_num_entries(handles) == 0)
		return;

	if (event == XACT_EVENT_PRE_COMMIT ||
		event == XACT_EVENT_PARALLEL_PRE_COMMIT)
	{
		pool_handles_pre_commit();
		return;
	}

	hash_seq_init(&seq, handles);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		if (!h->transaction_scope)
			continue;
		switch (event)
		{
			case XACT_EVENT_PRE_COMMIT:
			case XACT_EVENT_PARALLEL_PRE_COMMIT:
				break;			/* done above */
			case XACT_EVENT_PRE_PREPARE:
				if (h->xact_depth > 0)
				{
					hash_seq_term(&seq);
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("cannot PREPARE a transaction that used handle " INT64_FORMAT " of transaction scope",
									h->handle)));
				}
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
 * DISCARD ALL: give back every handle of the session, whoever took it, as
 * it drops prepared statements; commands in flight are cancelled.  (It
 * cannot run in a transaction block, so no handle is in a remote
 * transaction tied to a local one.)
 */
void
pool_handles_discard_all(void)
{
	HASH_SEQ_STATUS seq;
	PoolHandle *h;

	if (handles == NULL)
		return;
	hash_seq_init(&seq, handles);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		pool_handle_release_quietly(h);
		pool_handle_remove(h);
	}
}

/*
 * Local subtransaction events: a savepoint released releases the remote
 * one, keeping its work; one rolled back takes the remote back to where it
 * began.
 */
static void
pool_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS seq;
	PoolHandle *h;
	int			level;

	if (handles == NULL ||
		(event != SUBXACT_EVENT_PRE_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB))
		return;
	level = GetCurrentTransactionNestLevel();

	hash_seq_init(&seq, handles);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		if (!h->transaction_scope || h->xact_depth < level)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			pool_handle_drop_pending(h, false);
			if (h->rollback_to == 0 || level < h->rollback_to)
				h->rollback_to = level;
			h->xact_depth = level - 1;
			continue;
		}

		/*
		 * Before a subtransaction commits: release its remote savepoint,
		 * which would otherwise pile up.  With a command in flight, or the
		 * remote transaction aborted, the savepoint stays; it goes with the
		 * remote transaction.
		 */
		if (h->pending == NULL && !h->lost && h->failed_level == 0)
		{
			PG_TRY();
			{
				pool_handle_rollback_pending(h);
				(void) pool_handle_command(h, psprintf("RELEASE SAVEPOINT pool_s%d", level),
										   level);
			}
			PG_CATCH();
			{
				hash_seq_term(&seq);
				PG_RE_THROW();
			}
			PG_END_TRY();
		}
		if (h->failed_level >= level)
			h->failed_level = level - 1;
		h->xact_depth = level - 1;
	}
}

/*
 * Reserve a connection of st's target for the session (the call is
 * prepared by the caller); returns the handle the worker numbered it with.
 */
int64
pool_call_checkout(PoolCallState *st)
{
	pool_call_run(st, POOL_REQ_CHECKOUT, cstring_to_text(""), NULL);
	if (!st->has_number || st->number == 0 ||
		st->number > (uint64) PG_INT64_MAX)
		elog(ERROR, "pool worker answered a checkout without a handle");
	return (int64) st->number;
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
	handle = pool_call_checkout(&st);
	h = pool_handle_add(handle, PG_GETARG_TEXT_PP(0), &st.target);
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
	pool_handle_drop_pending(h, false);

	memset(&st, 0, sizeof(st));
	st.target = h->target;
	st.handle = h->handle;
	if (!h->lost)
	{
		PG_TRY();
		{
			pool_call_run(&st, POOL_REQ_CHECKIN, cstring_to_text(""), NULL);
		}
		PG_CATCH();
		{
			/*
			 * Interrupted before the worker heard it: the connection goes
			 * back at the next transaction end or call of this session.
			 */
			pool_handle_release_quietly(h);
			pool_handle_remove(h);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	pool_handle_remove(h);
	PG_RETURN_VOID();
}

/*
 * A command on a handle failed.  If its connection is gone (the worker
 * closed it), so is the handle: forget it, except that a handle in a remote
 * transaction stays, marked lost, so that the local transaction cannot
 * commit.  Errors the remote SQL command itself raised say nothing of the
 * connection.
 */
static void
pool_handle_after_error(PoolHandle *h, PoolCallState *st, int level,
						MemoryContext cxt)
{
	ErrorData  *edata;
	bool		gone;

	pool_handle_note_failure(h, level);
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	gone = st->connection_lost ||
		(!st->remote_error &&
		 (edata->sqlerrcode == ERRCODE_CONNECTION_DOES_NOT_EXIST ||
		  edata->sqlerrcode == ERRCODE_CONNECTION_FAILURE));
	FreeErrorData(edata);
	if (!gone)
		return;
	if (h->transaction_scope && h->xact_depth > 0)
		h->lost = true;
	else
		pool_handle_remove(h);
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
		pool_handle_after_error(h, st, h->xact_depth, cxt);
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
	pool_handle_revalidate(h);
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
	MemoryContext cxt;
	PoolCallState *st = NULL;

	pool_handle_check_idle(h);
	pool_handle_prepare_xact(h);

	/* what the command needs lives until it is fetched or cancelled */
	cxt = AllocSetContextCreate(h->cxt, "pool command", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		st = palloc0(sizeof(PoolCallState));
		st->target = h->target;
		st->handle = h->reserved ? h->handle : 0;
		pool_call_send(st, POOL_REQ_QUERY, sql, params);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	h->pending = st;
	h->pending_cxt = cxt;
	h->pending_level = h->xact_depth;
}

/*
 * A number for a new asynchronous one-shot command: the async bit, and a
 * counter below it that skips numbers still in use should it ever wrap.
 */
static int64
pool_next_async_handle(void)
{
	for (;;)
	{
		int64		handle;

		async_counter = (async_counter + 1) & (POOL_HANDLE_ASYNC_BIT - 1);
		if (async_counter == 0)
			continue;
		handle = POOL_HANDLE_ASYNC_BIT | (int64) async_counter;
		if (handles == NULL ||
			hash_search(handles, &handle, HASH_FIND, NULL) == NULL)
			return handle;
	}
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

	handle = pool_next_async_handle();
	h = pool_handle_add(handle, PG_GETARG_TEXT_PP(0), &target);
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
	else
		pool_handle_revalidate(h);
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
	MemoryContext fcxt = CurrentMemoryContext;
	MemoryContext cxt;
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
	cxt = h->pending_cxt;
	h->pending = NULL;			/* read once, whatever happens */
	h->pending_cxt = NULL;
	/* the command's memory goes with this call's */
	MemoryContextSetParent(cxt, fcxt);
	pool_call_init_rows(st, rsinfo, 0);
	PG_TRY();
	{
		pool_call_read(st);
	}
	PG_CATCH();
	{
		pool_call_abandon(&st->call);
		if (h->reserved)
			pool_handle_after_error(h, st, h->pending_level, fcxt);
		else
			pool_handle_remove(h);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!h->reserved)
		pool_handle_remove(h);
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
	/* in a remote transaction, a cancelled command may have aborted it */
	pool_handle_drop_pending(h, true);
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
	volatile int next_to_send = 0;	/* changed in PG_TRY, read in PG_CATCH */
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
	 * With more distinct targets than pools, resolving a later target may
	 * have taken the entry of an earlier one (it had no connection yet).
	 */
	for (i = 0; i < n; i++)
	{
		if (!pool_target_valid(&calls[i].target))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many pools"),
					 errdetail("pool.query_all needs a pool for each distinct target at once, more than the %d pools there are.",
							   pool_shared->max_pools),
					 errhint("Increase pool.max_pools.")));
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
			/* ahead only on lanes left over: commands in flight keep theirs */
			while (next_to_send < n &&
				   (next_to_send == i ||
					(next_to_send < i + POOL_MAX_LANES / 2 &&
					 pool_channel_idle_lanes() > 1)))
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
