/*-------------------------------------------------------------------------
 *
 * dblink.c
 *	  pool_dblink: dblink's functions on pooled connections.
 *
 * The first argument of a dblink function names, in this order, a
 * connection of this session (made by dblink_connect), a foreign server,
 * or a libpq connection string.  A connection of the session is a pooled
 * connection reserved for it: its remote transactions, cursors, temporary
 * tables and settings last across calls, and dblink_disconnect gives it
 * back to the pool, reset.  A server or connection string used directly is
 * a one-shot call through the shared pool, on a connection that stays warm
 * for the next call.  A server of the pool foreign-data wrapper is used as
 * pool uses it (its user mapping, pool's password rules); any other server
 * stands for the connection string its options make, as with dblink.
 *
 * Errors and what the caller sees are dblink's: a remote error is re-raised
 * with the remote SQLSTATE, message, detail, hint and context and a context
 * line saying what was done on which connection, or becomes a NOTICE when
 * fail_on_error is false; remote notices are not shown; values are
 * converted with the remote's DateStyle and IntervalStyle.  A connection of
 * the session is its role's, as pool's handles are: another current user
 * cannot use it, except the caller of the SECURITY DEFINER dblink_connect_u
 * that made it.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/dblink.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_type.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/scansup.h"
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
#include "dblink.h"

PG_FUNCTION_INFO_V1(pool_dblink_connect);
PG_FUNCTION_INFO_V1(pool_dblink_connect_u);
PG_FUNCTION_INFO_V1(pool_dblink_disconnect);
PG_FUNCTION_INFO_V1(pool_dblink_open);
PG_FUNCTION_INFO_V1(pool_dblink_close);
PG_FUNCTION_INFO_V1(pool_dblink_fetch);
PG_FUNCTION_INFO_V1(pool_dblink_record);
PG_FUNCTION_INFO_V1(pool_dblink_exec);
PG_FUNCTION_INFO_V1(pool_dblink_send_query);
PG_FUNCTION_INFO_V1(pool_dblink_is_busy);
PG_FUNCTION_INFO_V1(pool_dblink_get_result);
PG_FUNCTION_INFO_V1(pool_dblink_get_connections);
PG_FUNCTION_INFO_V1(pool_dblink_cancel_query);
PG_FUNCTION_INFO_V1(pool_dblink_error_message);
PG_FUNCTION_INFO_V1(pool_dblink_get_notify);
PG_FUNCTION_INFO_V1(pool_dblink_current_query);

/* A notification kept for dblink_get_notify. */
typedef struct DblinkNotify
{
	char	   *channel;
	int			pid;
	char	   *payload;
} DblinkNotify;

/* A connection of the session: a reserved pooled connection. */
typedef struct DblinkConn
{
	char		name[NAMEDATALEN];	/* hash key; "" for the unnamed one */
	bool		open;
	uint64		handle;
	PoolTarget	target;
	Oid			reserve_role;	/* whose credentials it was reserved with */
	bool		reserve_superuser;
	Oid			user;			/* the role that may use it besides: the
								 * session's role outside dblink_connect_u,
								 * for a connection made by it */
	bool		by_connect_u;	/* made by dblink_connect_u */
	char	   *target_text;	/* what it was made with (secrets and all,
								 * wiped when it goes), for the checks of each
								 * command */
	char		xact_status;	/* remote transaction status, 'I' idle */
	int			open_cursors;	/* of the transaction dblink_open began */
	bool		xact_for_cursors;	/* dblink_open began the transaction */
	char	   *last_error;		/* of its last command, or NULL */
	List	   *notifies;		/* DblinkNotify, oldest first */
	MemoryContext cxt;			/* notifications and the last error */

	/* a query of dblink_send_query not read yet */
	struct PoolCallState *pending;
	struct DblinkCall *pending_call;
	MemoryContext pending_cxt;
} DblinkConn;

/* What a call does, for its messages. */
typedef struct DblinkCall
{
	DblinkConn *conn;			/* connection of the session, or NULL */
	const char *conname;		/* its name, NULL if unnamed or one-shot */
	const char *what;			/* "while executing query" ... */
	bool		fail;			/* a remote error is an ERROR, else a NOTICE */
	bool		connecting;		/* a connection failure is dblink's "could not
								 * establish connection" */
	const char *internal;		/* an error is an internal one: "begin error" */
	bool		ignore_errors;	/* giving a connection back: whatever fails,
								 * it is gone */
	bool		failed;			/* a remote error became a NOTICE */
} DblinkCall;

static HTAB *dblink_conns = NULL;
static DblinkConn unnamed_conn;

static void pool_dblink_resolve_one_shot(const char *str, PoolTarget *target);

/*
 * The error of a connection that is not there.
 */
static void
pool_dblink_not_available(const char *conname)
{
	if (conname != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_DOES_NOT_EXIST),
				 errmsg("connection \"%s\" not available", conname)));
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_DOES_NOT_EXIST),
			 errmsg("connection not available")));
}

/*
 * A connection of the session may be used by the role that made it, or by
 * the role it was reserved for; by another current user, not at all.
 */
static void
pool_dblink_check_owner(DblinkConn *c)
{
	Oid			userid = GetUserId();
	const char *owner;

	if (userid == c->user || userid == c->reserve_role)
		return;
	owner = GetUserNameFromId(c->user, true);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 c->name[0] ?
			 errmsg("permission denied for dblink connection \"%s\"", c->name) :
			 errmsg("permission denied for the unnamed dblink connection"),
			 errdetail("It belongs to role \"%s\", which opened it.",
					   owner ? owner : "?")));
}

/*
 * The hash key of a connection name: cut as an identifier is.
 */
static char *
pool_dblink_key(const char *name)
{
	char	   *key = pstrdup(name);

	truncate_identifier(key, strlen(key), false);
	return key;
}

/*
 * The open connection of the session named name (NULL: the unnamed one),
 * or NULL.
 */
static DblinkConn *
pool_dblink_lookup(const char *name)
{
	DblinkConn *c;

	if (name == NULL)
		c = unnamed_conn.open ? &unnamed_conn : NULL;
	else if (dblink_conns == NULL)
		c = NULL;
	else
	{
		c = hash_search(dblink_conns, pool_dblink_key(name), HASH_FIND, NULL);
		if (c != NULL && !c->open)
			c = NULL;
	}
	if (c != NULL)
		pool_dblink_check_owner(c);
	return c;
}

/*
 * The same, or the error that it is not there.
 */
static DblinkConn *
pool_dblink_get(const char *name)
{
	DblinkConn *c = pool_dblink_lookup(name);

	if (c == NULL)
		pool_dblink_not_available(name);
	return c;
}

/*
 * Errors and notices of a call, as dblink reports them.
 */
static void
pool_dblink_on_message(PoolCallState *st, const PoolMessage *m)
{
	DblinkCall *dc = (DblinkCall *) st->hook_arg;
	char	   *where;

	if (!m->is_error || dc->ignore_errors)
		return;					/* dblink does not show remote notices */
	if (dc->conn != NULL)
	{
		if (st->xact_status != 0)
			dc->conn->xact_status = st->xact_status;
		if (dc->conn->last_error != NULL)
			pfree(dc->conn->last_error);
		dc->conn->last_error = MemoryContextStrdup(dc->conn->cxt,
												   m->message ? m->message : "");
	}
	if (dc->internal != NULL)
		elog(ERROR, "%s: %s", dc->internal, m->message ? m->message : "");
	/* a one-shot call connects, or takes a connection that is open */
	if (!m->remote && !m->lost && (dc->connecting || dc->conn == NULL) &&
		ERRCODE_TO_CATEGORY(m->sqlerrcode) == ERRCODE_CONNECTION_EXCEPTION)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not establish connection"),
				 m->detail ? errdetail_internal("%s", m->detail) :
				 m->message ? errdetail_internal("%s", m->message) : 0));

	if (dc->conname != NULL)
		where = psprintf("%s on dblink connection named \"%s\"", dc->what,
						 dc->conname);
	else
		where = psprintf("%s on unnamed dblink connection", dc->what);
	dc->failed = true;
	ereport(dc->fail ? ERROR : NOTICE,
			(errcode(m->sqlerrcode),
			 m->message && m->message[0] ? errmsg_internal("%s", m->message) :
			 errmsg("could not obtain message string for remote error"),
			 m->detail ? errdetail_internal("%s", m->detail) : 0,
			 m->hint ? errhint("%s", m->hint) : 0,
			 m->context ? errcontext("%s", m->context) : 0,
			 errcontext("%s", where)));
	pfree(where);
}

/*
 * Keep a notification of a connection of the session.
 */
static void
pool_dblink_on_notify(PoolCallState *st, int pid, const char *channel,
					  const char *payload)
{
	DblinkCall *dc = (DblinkCall *) st->hook_arg;
	MemoryContext old;
	DblinkNotify *n;

	if (dc->conn == NULL)
		return;
	old = MemoryContextSwitchTo(dc->conn->cxt);
	n = palloc(sizeof(DblinkNotify));
	n->channel = pstrdup(channel);
	n->pid = pid;
	n->payload = pstrdup(payload);
	dc->conn->notifies = lappend(dc->conn->notifies, n);
	MemoryContextSwitchTo(old);
}

/*
 * Before a command on a connection of the session, as for pool's handles:
 * the role it was made for must still reach its target (USAGE, a user
 * mapping, the password rule) with the superuser status it had, and the
 * target must still be the pool the connection came from.  A connection of
 * dblink_connect_u, used by the role outside it, stands on a superuser's
 * grant and is not checked again.
 */
static void
pool_dblink_revalidate(DblinkConn *c)
{
	PoolTarget	now;

	if (c->by_connect_u && GetUserId() != c->reserve_role)
		return;
	if (c->reserve_superuser != superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 c->name[0] ?
				 errmsg("permission denied for dblink connection \"%s\"", c->name) :
				 errmsg("permission denied for the unnamed dblink connection"),
				 errdetail("The superuser status of its role changed since the connection was made."),
				 errhint("Disconnect it and connect again.")));
	pool_dblink_resolve_one_shot(c->target_text, &now);
	if (now.pool_index != c->target.pool_index ||
		now.pool_generation != c->target.pool_generation)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 c->name[0] ?
				 errmsg("dblink connection \"%s\" no longer belongs to the pool of its target", c->name) :
				 errmsg("the unnamed dblink connection no longer belongs to the pool of its target"),
				 errdetail("The user mapping or the options its target resolves to changed since the connection was made."),
				 errhint("Disconnect it and connect again.")));
}

/*
 * Prepare a call of dc's on its connection, or on target for a one-shot.
 */
static void
pool_dblink_prepare(PoolCallState *st, DblinkCall *dc, PoolTarget *target)
{
	memset(st, 0, sizeof(*st));
	st->plain = true;
	st->on_message = pool_dblink_on_message;
	st->on_notify = pool_dblink_on_notify;
	st->hook_arg = dc;
	if (dc->conn != NULL)
	{
		/* giving it back always works */
		if (!dc->ignore_errors)
			pool_dblink_revalidate(dc->conn);
		st->target = dc->conn->target;
		st->handle = dc->conn->handle;
		st->role = dc->conn->reserve_role;
		st->role_superuser = dc->conn->reserve_superuser;
		if (dc->conn->last_error != NULL)
		{
			pfree(dc->conn->last_error);
			dc->conn->last_error = NULL;
		}
	}
	else
	{
		st->target = *target;
		st->may_pipeline = true;
	}
}

/*
 * After a call: the remote transaction status of its connection.
 */
static void
pool_dblink_finish(PoolCallState *st, DblinkCall *dc)
{
	if (dc->conn != NULL && st->xact_status != 0)
		dc->conn->xact_status = st->xact_status;
}

/*
 * Run sql for dc and wait for its end; rows go to rsinfo's tuplestore if
 * given.  Returns false when a remote error became a NOTICE.
 */
static bool
pool_dblink_run(DblinkCall *dc, PoolTarget *target, char kind,
				const char *sql, ReturnSetInfo *rsinfo, PoolCallState *st)
{
	pool_dblink_prepare(st, dc, target);
	if (rsinfo != NULL)
		pool_call_init_rows(st, rsinfo, 0);
	pool_call_run(st, kind, cstring_to_text(sql), NULL);
	pool_dblink_finish(st, dc);
	return !dc->failed;
}

/*
 * Resolve what a server name or connection string used directly stands
 * for: a pool of the shared pool.
 */
static void
pool_dblink_resolve_one_shot(const char *str, PoolTarget *target)
{
	ForeignServer *server = GetForeignServerByName(str, true);
	char	   *conninfo;
	char	   *parse_error = NULL;
	PQconninfoOption *opts;

	if (server != NULL)
	{
		ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);

		/* a server of pool's own: pool's rules */
		if (strcmp(fdw->fdwname, "pool") == 0)
		{
			pool_resolve_target(cstring_to_text(str), target);
			return;
		}
		conninfo = pool_dblink_server_conninfo(server);
	}
	else
		conninfo = pstrdup(str);

	opts = PQconninfoParse(conninfo, &parse_error);
	if (opts == NULL)
	{
		char	   *msg = parse_error ? pchomp(parse_error) : pstrdup("out of memory");

		if (parse_error)
			PQfreemem(parse_error);
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not establish connection"),
				 errdetail_internal("%s", msg)));
	}
	PQconninfoFree(opts);
	pool_dblink_check_password(conninfo);
	pool_resolve_target(cstring_to_text(conninfo), target);
	memset(conninfo, 0, strlen(conninfo));
	pfree(conninfo);
}

/*
 * The connection a first argument names: a connection of the session (set
 * in dc), or else a one-shot target.
 */
static void
pool_dblink_resolve(const char *conname_or_str, DblinkCall *dc,
					PoolTarget *target)
{
	DblinkConn *c = pool_dblink_lookup(conname_or_str);

	if (c != NULL)
	{
		dc->conn = c;
		dc->conname = c->name;
		return;
	}
	dc->conn = NULL;
	dc->conname = NULL;
	pool_dblink_resolve_one_shot(conname_or_str, target);
}

/*
 * The unnamed connection, for dc, or the error that it is not there.
 */
static void
pool_dblink_use_unnamed(DblinkCall *dc)
{
	dc->conn = pool_dblink_get(NULL);
	dc->conname = NULL;
}

/*
 * A named connection, for dc, or the error that it is not there.
 */
static void
pool_dblink_use_named(DblinkCall *dc, const char *name)
{
	dc->conn = pool_dblink_get(name);
	dc->conname = dc->conn->name;
}

/*
 * Is argument i of the call of type boolean (dblink's functions tell their
 * variants apart so)?
 */
static bool
pool_dblink_arg_is_bool(FunctionCallInfo fcinfo, int i)
{
	return get_fn_expr_argtype(fcinfo->flinfo, i) == BOOLOID;
}

/*
 * Sort out the variant of a call of a dblink function whose own arguments
 * are nown: [conname,] own arguments [, fail bool].  Sets dc->fail and
 * returns the name given, or NULL; *first is the number of the first own
 * argument.
 */
static char *
pool_dblink_variant(FunctionCallInfo fcinfo, int nown, DblinkCall *dc,
					int *first)
{
	int			nargs = PG_NARGS();
	bool		has_fail = nargs > nown &&
	pool_dblink_arg_is_bool(fcinfo, nargs - 1);

	*first = nargs - nown - (has_fail ? 1 : 0);
	dc->fail = has_fail ? PG_GETARG_BOOL(nargs - 1) : true;
	return *first > 0 ? text_to_cstring(PG_GETARG_TEXT_PP(0)) : NULL;
}

/*
 * The connection of a call on a connection of the session: the one named,
 * or the unnamed one.
 */
static void
pool_dblink_use(DblinkCall *dc, const char *conname)
{
	if (conname != NULL)
		pool_dblink_use_named(dc, conname);
	else
		pool_dblink_use_unnamed(dc);
}

/*
 * The connection of dblink or dblink_exec: the one named, a one-shot
 * target, or the unnamed one.
 */
static void
pool_dblink_use_any(DblinkCall *dc, const char *conname_or_str,
					PoolTarget *target)
{
	if (conname_or_str != NULL)
		pool_dblink_resolve(conname_or_str, dc, target);
	else
		pool_dblink_use_unnamed(dc);
}

/*
 * Give a reserved connection back to the pool; a query in flight is
 * abandoned (the worker cancels it).
 */
static void
pool_dblink_release(DblinkConn *c)
{
	PoolCallState st;
	DblinkCall	dc;

	if (c->pending != NULL)
	{
		pool_call_abandon(&c->pending->call);
		MemoryContextDelete(c->pending_cxt);
		c->pending = NULL;
		c->pending_call = NULL;
		c->pending_cxt = NULL;
	}
	c->open = false;
	memset(&dc, 0, sizeof(dc));
	dc.conn = c;
	dc.what = "while disconnecting";
	dc.fail = true;
	dc.ignore_errors = true;
	pool_dblink_prepare(&st, &dc, NULL);
	PG_TRY();
	{
		pool_call_run(&st, POOL_REQ_CHECKIN, cstring_to_text(""), NULL);
	}
	PG_FINALLY();
	{
		if (c->target_text != NULL)
			memset(c->target_text, 0, strlen(c->target_text));
		c->target_text = NULL;
		MemoryContextDelete(c->cxt);
		c->cxt = NULL;
	}
	PG_END_TRY();
}

/*
 * Reserve a connection for the session, named or unnamed.  Made by
 * dblink_connect_u (SECURITY DEFINER), it is reserved for the function's
 * owner and used by the session's role outside it; otherwise it is the
 * current role's alone.
 */
static Datum
pool_dblink_connect_common(FunctionCallInfo fcinfo, bool by_connect_u)
{
	char	   *name = NULL;
	char	   *str;
	PoolTarget	target;
	PoolCallState st;
	DblinkCall	dc;
	DblinkConn	made;
	DblinkConn *c;
	int64		handle;

	pool_check_loaded();
	if (PG_NARGS() == 2)
	{
		name = pool_dblink_key(text_to_cstring(PG_GETARG_TEXT_PP(0)));
		str = text_to_cstring(PG_GETARG_TEXT_PP(1));
	}
	else
		str = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (name != NULL && dblink_conns != NULL &&
		hash_search(dblink_conns, name, HASH_FIND, NULL) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("duplicate connection name")));
	/* an unnamed connection of another role is not this one's to replace */
	if (name == NULL && unnamed_conn.open)
		pool_dblink_check_owner(&unnamed_conn);

	/*
	 * Everything that can fail once the connection is reserved is done first:
	 * the hash table and the connection's memory.
	 */
	if (name != NULL && dblink_conns == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(DblinkConn);
		ctl.hcxt = TopMemoryContext;
		dblink_conns = hash_create("pool_dblink connections", 16, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	memset(&made, 0, sizeof(made));
	made.cxt = AllocSetContextCreate(TopMemoryContext, "pool_dblink connection",
									 ALLOCSET_SMALL_SIZES);
	made.target_text = MemoryContextStrdup(made.cxt, str);
	c = NULL;
	if (name != NULL)
	{
		bool		found;

		/* not open until the checkout is done: lookups pass it by */
		c = hash_search(dblink_conns, name, HASH_ENTER, &found);
		memset(c, 0, sizeof(*c));
		strlcpy(c->name, name, NAMEDATALEN);
	}

	memset(&dc, 0, sizeof(dc));
	dc.conname = name;
	dc.what = "while connecting";
	dc.fail = true;
	dc.connecting = true;
	PG_TRY();
	{
		pool_dblink_resolve_one_shot(str, &target);
		pool_dblink_prepare(&st, &dc, &target);
		st.may_pipeline = false;
		handle = pool_call_checkout(&st);
	}
	PG_CATCH();
	{
		memset(made.target_text, 0, strlen(made.target_text));
		MemoryContextDelete(made.cxt);
		if (name != NULL)
			hash_search(dblink_conns, name, HASH_REMOVE, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();
	memset(str, 0, strlen(str));

	made.open = true;
	made.handle = (uint64) handle;
	made.target = target;
	made.reserve_role = GetUserId();
	made.reserve_superuser = superuser();
	made.by_connect_u = by_connect_u;
	/* inside dblink_connect_u, the role outside it uses the connection */
	made.user = by_connect_u ? GetOuterUserId() : GetUserId();
	made.xact_status = 'I';

	if (name == NULL)
	{
		DblinkConn	old = unnamed_conn;

		unnamed_conn = made;
		if (old.open)
			pool_dblink_release(&old);
	}
	else
	{
		strlcpy(made.name, name, NAMEDATALEN);
		*c = made;
	}
	PG_RETURN_TEXT_P(cstring_to_text("OK"));
}

/*
 * dblink_connect([name text,] connstr text) returns text
 */
Datum
pool_dblink_connect(PG_FUNCTION_ARGS)
{
	return pool_dblink_connect_common(fcinfo, false);
}

/*
 * dblink_connect_u([name text,] connstr text) returns text, SECURITY
 * DEFINER and revoked from PUBLIC
 */
Datum
pool_dblink_connect_u(PG_FUNCTION_ARGS)
{
	return pool_dblink_connect_common(fcinfo, true);
}

/*
 * dblink_disconnect([name text]) returns text
 */
Datum
pool_dblink_disconnect(PG_FUNCTION_ARGS)
{
	DblinkConn *c;
	char	   *name = NULL;

	pool_check_loaded();
	if (PG_NARGS() == 1)
		name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	c = pool_dblink_get(name);
	if (name == NULL)
		pool_dblink_release(c);
	else
	{
		char	   *key = pstrdup(c->name);

		PG_TRY();
		{
			pool_dblink_release(c);
		}
		PG_FINALLY();
		{
			hash_search(dblink_conns, key, HASH_REMOVE, NULL);
		}
		PG_END_TRY();
	}
	PG_RETURN_TEXT_P(cstring_to_text("OK"));
}

/*
 * dblink_open([conname text,] curname text, sql text [, fail bool])
 * returns text: declare a cursor, in a remote transaction begun for it if
 * none is open.
 */
Datum
pool_dblink_open(PG_FUNCTION_ARGS)
{
	DblinkCall	dc;
	PoolCallState st;
	DblinkConn *c;
	char	   *conname;
	char	   *curname;
	char	   *sql;
	int			first;

	pool_check_loaded();
	memset(&dc, 0, sizeof(dc));
	conname = pool_dblink_variant(fcinfo, 2, &dc, &first);
	curname = text_to_cstring(PG_GETARG_TEXT_PP(first));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(first + 1));
	pool_dblink_use(&dc, conname);
	c = dc.conn;

	if (c->xact_status == 'I')
	{
		DblinkCall	begin = dc;

		begin.internal = "begin error";
		(void) pool_dblink_run(&begin, NULL, POOL_REQ_EXEC, "BEGIN", NULL, &st);
		c->xact_for_cursors = true;
		/* an ABORT may have ended a transaction of earlier cursors */
		c->open_cursors = 0;
	}
	if (c->xact_for_cursors)
		c->open_cursors++;

	dc.what = psprintf("while opening cursor \"%s\"", curname);
	if (!pool_dblink_run(&dc, NULL, POOL_REQ_EXEC,
						 psprintf("DECLARE %s CURSOR FOR %s", curname, sql),
						 NULL, &st))
		PG_RETURN_TEXT_P(cstring_to_text("ERROR"));
	PG_RETURN_TEXT_P(cstring_to_text("OK"));
}

/*
 * dblink_close([conname text,] curname text [, fail bool]) returns text:
 * close a cursor, and commit the transaction begun for cursors with the
 * last of them.
 */
Datum
pool_dblink_close(PG_FUNCTION_ARGS)
{
	DblinkCall	dc;
	PoolCallState st;
	DblinkConn *c;
	char	   *conname;
	char	   *curname;
	int			first;

	pool_check_loaded();
	memset(&dc, 0, sizeof(dc));
	conname = pool_dblink_variant(fcinfo, 1, &dc, &first);
	curname = text_to_cstring(PG_GETARG_TEXT_PP(first));
	pool_dblink_use(&dc, conname);
	c = dc.conn;

	dc.what = psprintf("while closing cursor \"%s\"", curname);
	if (!pool_dblink_run(&dc, NULL, POOL_REQ_EXEC,
						 psprintf("CLOSE %s", curname), NULL, &st))
		PG_RETURN_TEXT_P(cstring_to_text("ERROR"));

	if (c->xact_for_cursors && --c->open_cursors == 0)
	{
		DblinkCall	commit = dc;

		c->xact_for_cursors = false;
		commit.internal = "commit error";
		(void) pool_dblink_run(&commit, NULL, POOL_REQ_EXEC, "COMMIT", NULL,
							   &st);
	}
	PG_RETURN_TEXT_P(cstring_to_text("OK"));
}

/*
 * A command's result as dblink returns it from a query function: one row
 * of its status.
 */
static void
pool_dblink_status_row(ReturnSetInfo *rsinfo, const char *tag)
{
	TupleDesc	tupdesc = rsinfo->setDesc;
	AttInMetadata *attinmeta;
	Datum		value;
	bool		isnull = false;

	if (tupdesc->natts != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query result rowtype does not match the specified FROM clause rowtype")));
	attinmeta = TupleDescGetAttInMetadata(tupdesc);
	value = InputFunctionCall(&attinmeta->attinfuncs[0], (char *) tag,
							  attinmeta->attioparams[0],
							  attinmeta->atttypmods[0]);
	tuplestore_putvalues(rsinfo->setResult, tupdesc, &value, &isnull);
}

/*
 * dblink_fetch([conname text,] curname text, howmany int [, fail bool])
 * returns setof record
 */
Datum
pool_dblink_fetch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DblinkCall	dc;
	PoolCallState st;
	char	   *conname;
	char	   *curname;
	int			howmany;
	int			first;

	pool_check_loaded();
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	memset(&dc, 0, sizeof(dc));
	conname = pool_dblink_variant(fcinfo, 2, &dc, &first);
	curname = text_to_cstring(PG_GETARG_TEXT_PP(first));
	howmany = PG_GETARG_INT32(first + 1);
	pool_dblink_use(&dc, conname);

	dc.what = psprintf("while fetching from cursor \"%s\"", curname);
	if (!pool_dblink_run(&dc, NULL, POOL_REQ_QUERY,
						 psprintf("FETCH %d FROM %s", howmany, curname),
						 rsinfo, &st))
	{
		tuplestore_clear(rsinfo->setResult);
		return (Datum) 0;
	}
	if (!st.saw_rowdesc)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_CURSOR_NAME),
				 errmsg("cursor \"%s\" does not exist", curname)));
	return (Datum) 0;
}

/*
 * dblink([conname_or_str text,] sql text [, fail bool]) returns setof
 * record
 */
Datum
pool_dblink_record(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DblinkCall	dc;
	PoolCallState st;
	PoolTarget	target;
	char	   *conname_or_str;
	char	   *sql;
	int			first;

	pool_check_loaded();
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	memset(&dc, 0, sizeof(dc));
	dc.what = "while executing query";
	conname_or_str = pool_dblink_variant(fcinfo, 1, &dc, &first);
	sql = text_to_cstring(PG_GETARG_TEXT_PP(first));
	pool_dblink_use_any(&dc, conname_or_str, &target);

	if (!pool_dblink_run(&dc, &target, POOL_REQ_QUERY, sql, rsinfo, &st))
	{
		tuplestore_clear(rsinfo->setResult);
		return (Datum) 0;
	}
	if (!st.saw_rowdesc)
		pool_dblink_status_row(rsinfo, st.tag);
	return (Datum) 0;
}

/*
 * dblink_exec([conname_or_str text,] sql text [, fail bool]) returns text
 */
Datum
pool_dblink_exec(PG_FUNCTION_ARGS)
{
	DblinkCall	dc;
	PoolCallState st;
	PoolTarget	target;
	char	   *conname_or_str;
	char	   *sql;
	int			first;

	pool_check_loaded();
	memset(&dc, 0, sizeof(dc));
	dc.what = "while executing command";
	conname_or_str = pool_dblink_variant(fcinfo, 1, &dc, &first);
	sql = text_to_cstring(PG_GETARG_TEXT_PP(first));
	pool_dblink_use_any(&dc, conname_or_str, &target);

	/* a query, so that a statement returning rows can be told apart */
	if (!pool_dblink_run(&dc, &target, POOL_REQ_QUERY, sql, NULL, &st))
		PG_RETURN_TEXT_P(cstring_to_text("ERROR"));
	if (st.saw_rowdesc)
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("statement returning results not allowed")));
	PG_RETURN_TEXT_P(cstring_to_text(st.tag));
}

/*
 * dblink_send_query(conname text, sql text) returns int: 1 when sent
 */
Datum
pool_dblink_send_query(PG_FUNCTION_ARGS)
{
	DblinkCall	dc;
	DblinkConn *c;
	MemoryContext cxt;
	MemoryContext old;

	pool_check_loaded();
	memset(&dc, 0, sizeof(dc));
	pool_dblink_use_named(&dc, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	c = dc.conn;
	if (c->pending != NULL)
	{
		ereport(NOTICE,
				(errmsg("could not send query: %s",
						"another command is already in progress")));
		PG_RETURN_INT32(0);
	}

	cxt = AllocSetContextCreate(TopMemoryContext, "pool_dblink query",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		DblinkCall *call = palloc(sizeof(DblinkCall));
		PoolCallState *st = palloc(sizeof(PoolCallState));

		*call = dc;
		call->what = "while executing query";
		call->fail = true;
		pool_dblink_prepare(st, call, NULL);
		pool_call_send(st, POOL_REQ_QUERY, PG_GETARG_TEXT_PP(1), NULL);
		c->pending = st;
		c->pending_call = call;
		c->pending_cxt = cxt;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	PG_RETURN_INT32(1);
}

/*
 * dblink_is_busy(conname text) returns int: 1 while its query runs
 */
Datum
pool_dblink_is_busy(PG_FUNCTION_ARGS)
{
	DblinkConn *c;

	pool_check_loaded();
	c = pool_dblink_get(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_INT32(c->pending != NULL &&
					pool_call_is_busy(&c->pending->call) ? 1 : 0);
}

/*
 * dblink_get_result(conname text [, fail bool]) returns setof record: the
 * result of the query dblink_send_query sent; no rows once it was read.
 */
Datum
pool_dblink_get_result(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DblinkConn *c;
	PoolCallState *st;
	DblinkCall *call;
	MemoryContext cxt;

	pool_check_loaded();
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	c = pool_dblink_get(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (c->pending == NULL)
		return (Datum) 0;

	/* read once, whatever happens; its memory goes with this call's */
	st = c->pending;
	call = c->pending_call;
	cxt = c->pending_cxt;
	c->pending = NULL;
	c->pending_call = NULL;
	c->pending_cxt = NULL;
	MemoryContextSetParent(cxt, CurrentMemoryContext);
	if (PG_NARGS() == 2)
		call->fail = PG_GETARG_BOOL(1);

	pool_call_init_rows(st, rsinfo, 0);
	PG_TRY();
	{
		pool_call_read(st);
	}
	PG_CATCH();
	{
		pool_call_abandon(&st->call);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pool_dblink_finish(st, call);
	if (call->failed)
		tuplestore_clear(rsinfo->setResult);
	else if (!st->saw_rowdesc)
		pool_dblink_status_row(rsinfo, st->tag);
	return (Datum) 0;
}

/*
 * dblink_get_connections() returns text[]: the names of the session's
 * connections, or NULL when there are none.
 */
Datum
pool_dblink_get_connections(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	DblinkConn *c;
	ArrayBuildState *astate = NULL;

	if (dblink_conns != NULL)
	{
		hash_seq_init(&seq, dblink_conns);
		while ((c = hash_seq_search(&seq)) != NULL)
			astate = accumArrayResult(astate, CStringGetTextDatum(c->name),
									  false, TEXTOID, CurrentMemoryContext);
	}
	if (astate == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(makeArrayResult(astate, CurrentMemoryContext));
}

/*
 * dblink_cancel_query(conname text) returns text: stop the query
 * dblink_send_query sent (the worker cancels it remotely).
 */
Datum
pool_dblink_cancel_query(PG_FUNCTION_ARGS)
{
	DblinkConn *c;

	pool_check_loaded();
	c = pool_dblink_get(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (c->pending != NULL)
	{
		pool_call_abandon(&c->pending->call);
		MemoryContextDelete(c->pending_cxt);
		c->pending = NULL;
		c->pending_call = NULL;
		c->pending_cxt = NULL;
		/* a cancelled query may have aborted the remote transaction */
		if (c->xact_status == 'T')
			c->xact_status = 'E';
	}
	PG_RETURN_TEXT_P(cstring_to_text("OK"));
}

/*
 * dblink_error_message(conname text) returns text: the error of the
 * connection's last command, or OK.
 */
Datum
pool_dblink_error_message(PG_FUNCTION_ARGS)
{
	DblinkConn *c;

	pool_check_loaded();
	c = pool_dblink_get(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (c->last_error == NULL || c->last_error[0] == '\0')
		PG_RETURN_TEXT_P(cstring_to_text("OK"));
	PG_RETURN_TEXT_P(cstring_to_text(c->last_error));
}

/*
 * dblink_get_notify([conname text]) returns setof (notify_name text,
 * be_pid int, extra text): the notifications that came on a connection of
 * the session since they were last read.
 */
Datum
pool_dblink_get_notify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DblinkCall	dc;
	DblinkConn *c;
	ListCell   *lc;

	pool_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	memset(&dc, 0, sizeof(dc));
	if (PG_NARGS() == 1)
		pool_dblink_use_named(&dc, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	else
		pool_dblink_use_unnamed(&dc);
	c = dc.conn;

	/* those that came while it was idle wait in the worker: collect them */
	if (c->pending == NULL)
	{
		PoolCallState st;

		dc.what = "while reading notifications";
		dc.fail = true;
		(void) pool_dblink_run(&dc, NULL, POOL_REQ_EXEC, "", NULL, &st);
	}

	foreach(lc, c->notifies)
	{
		DblinkNotify *n = (DblinkNotify *) lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(n->channel);
		values[1] = Int32GetDatum(n->pid);
		values[2] = CStringGetTextDatum(n->payload);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	foreach(lc, c->notifies)
	{
		DblinkNotify *n = (DblinkNotify *) lfirst(lc);

		pfree(n->channel);
		pfree(n->payload);
	}
	list_free_deep(c->notifies);
	c->notifies = NIL;
	return (Datum) 0;
}

/*
 * dblink_current_query() returns text, as dblink still offers it
 */
Datum
pool_dblink_current_query(PG_FUNCTION_ARGS)
{
	return current_query(fcinfo);
}
