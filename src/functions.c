/*-------------------------------------------------------------------------
 *
 * functions.c
 *	  The SQL functions that run one-shot remote commands (pool.query,
 *	  pool.exec) and administer pools, and the calls all remote commands go
 *	  through.
 *
 * A call resolves its target to a pool, sends one request through the
 * channel and reads the response records as they arrive: rows go into a
 * tuplestore (which spills to disk beyond work_mem), remote notices are
 * re-raised at their level, and the final record is either the command tag
 * or an error, which is re-thrown with the remote SQLSTATE, message, detail,
 * hint and context, plus a context line naming the pool.
 *
 * Values arrive as text and go through the input functions of the column
 * definition list's types, with the remote's DateStyle and IntervalStyle in
 * force while they do (as dblink does), so that any local setting parses
 * them right.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/functions.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "pool.h"
#include "shmem.h"
#include "wire.h"
#include "target.h"
#include "call.h"

#ifdef POOL_HAVE_SCRAM_PASSTHROUGH
#include "common/base64.h"
#include "common/scram-common.h"
#include "libpq/libpq-be.h"
#endif

PG_FUNCTION_INFO_V1(pool_query);
PG_FUNCTION_INFO_V1(pool_exec);
PG_FUNCTION_INFO_V1(pool_pause);
PG_FUNCTION_INFO_V1(pool_resume);
PG_FUNCTION_INFO_V1(pool_reset);

/* Most parameters a remote statement can take (the protocol's limit). */
#define POOL_MAX_PARAMS 65535

/* How much of the SQL text the context of a remote notice shows. */
#define POOL_NOTICE_SQL_LEN 256


/*
 * Refuse NULL arguments with a clear error.
 */
void
pool_check_not_null(FunctionCallInfo fcinfo, int arg, const char *what)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/*
 * Append this session's SCRAM keys to a request, base64 (18): a pool with
 * use_scram_passthrough authenticates its role to the remote with them.
 */
static void
pool_put_scram_keys(StringInfo buf)
{
#ifdef POOL_HAVE_SCRAM_PASSTHROUGH
	const uint8 *keys[2];
	int			i;

	if (MyProcPort == NULL || !MyProcPort->has_scram_keys)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("SCRAM pass-through needs a session that authenticated with SCRAM"),
				 errdetail("The pool's server or user mapping has use_scram_passthrough, but this session did not log in with a SCRAM password."),
				 errhint("Connect with a password as a role whose password is stored as a SCRAM secret.")));
	keys[0] = MyProcPort->scram_ClientKey;
	keys[1] = MyProcPort->scram_ServerKey;
	for (i = 0; i < 2; i++)
	{
		int			len = pg_b64_enc_len(SCRAM_MAX_KEY_LEN);
		int			encoded;

		enlargeStringInfo(buf, len + 1);
		encoded = pg_b64_encode(keys[i], SCRAM_MAX_KEY_LEN,
								buf->data + buf->len, len);
		if (encoded < 0)
			elog(ERROR, "could not encode a SCRAM key");
		buf->len += encoded;
		appendStringInfoChar(buf, '\0');
	}
#else
	elog(ERROR, "SCRAM pass-through needs PostgreSQL 18");
#endif
}

/*
 * Encode the request: kind, the role it runs for and whether that is a
 * superuser (given, since this may run where the catalogs cannot be read),
 * pool, handle, parameters out of band.
 */
void
pool_build_request(StringInfo buf, char kind, PoolTarget *target,
				   uint64 handle, Oid role, bool role_superuser,
				   bool may_pipeline, text *sql, ArrayType *params)
{
	Datum	   *elems = NULL;
	bool	   *elem_nulls = NULL;
	int			nparams = 0;
	int			i;
	bool		scram;

	if (params != NULL)
	{
		if (ARR_NDIM(params) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("parameters must be a one-dimensional array")));
		deconstruct_array(params, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elem_nulls, &nparams);
		if (nparams > POOL_MAX_PARAMS)
			ereport(ERROR,
					(errcode(ERRCODE_TOO_MANY_ARGUMENTS),
					 errmsg("too many parameters"),
					 errdetail("A remote statement takes at most %d parameters; %d were given.",
							   POOL_MAX_PARAMS, nparams)));
	}

	initStringInfo(buf);
	appendStringInfoChar(buf, kind);
	/* a pool that connects as the session's role needs its SCRAM keys */
	scram = target->scram_passthrough && handle == 0 &&
		(kind == POOL_REQ_QUERY || kind == POOL_REQ_EXEC ||
		 kind == POOL_REQ_CHECKOUT);
	pool_put_uint32(buf, role);
	pool_put_uint32(buf, (role_superuser ? POOL_REQ_FLAG_SUPERUSER : 0) |
					(scram ? POOL_REQ_FLAG_SCRAM : 0) |
					(may_pipeline && handle == 0 &&
					 (kind == POOL_REQ_QUERY || kind == POOL_REQ_EXEC) ?
					 POOL_REQ_FLAG_PIPELINE : 0));
	pool_put_uint32(buf, target->pool_index);
	pool_put_uint32(buf, target->pool_generation);
	appendBinaryStringInfo(buf, (char *) &handle, sizeof(uint64));
	pool_put_uint32(buf, nparams);
	appendBinaryStringInfo(buf, VARDATA_ANY(sql), VARSIZE_ANY_EXHDR(sql));
	appendStringInfoChar(buf, '\0');
	for (i = 0; i < nparams; i++)
	{
		if (elem_nulls[i])
			pool_put_uint32(buf, (uint32) -1);
		else
		{
			text	   *t = DatumGetTextPP(elems[i]);

			pool_put_uint32(buf, VARSIZE_ANY_EXHDR(t));
			appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			appendStringInfoChar(buf, '\0');
		}
	}
	if (scram)
		pool_put_scram_keys(buf);
}

/*
 * The local level of a remote notice.  A remote is not trusted: whatever
 * severity it claims, a notice is at most a WARNING, and never LOG or DEBUG,
 * which would write lines of its choosing into the local server log.
 */
static int
pool_notice_level(const char *severity)
{
	if (severity == NULL)
		return NOTICE;
	if (strcmp(severity, "WARNING") == 0 || strcmp(severity, "ERROR") == 0 ||
		strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0)
		return WARNING;
	if (strcmp(severity, "INFO") == 0)
		return INFO;
	return NOTICE;
}

/*
 * A remote message made valid in this database's encoding: bytes that are
 * not (the remote changed client_encoding) become '?'.
 */
const char *
pool_valid_text(const char *s)
{
	int			len;
	int			encoding = GetDatabaseEncoding();
	StringInfoData buf;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	if (pg_verifymbstr(s, len, true))
		return s;
	initStringInfo(&buf);
	while (len > 0)
	{
		int			l = pg_encoding_verifymbchar(encoding, s, len);

		if (l <= 0)
		{
			appendStringInfoChar(&buf, '?');
			l = 1;
		}
		else
			appendBinaryStringInfo(&buf, s, l);
		s += l;
		len -= l;
	}
	return buf.data;
}

/*
 * The beginning of a call's SQL text, for the context of its notices: it is
 * cut once, at a character, however many notices there are.
 */
static const char *
pool_clip_sql(PoolCallState *st)
{
	if (st->sql_clipped == NULL)
	{
		int			len = strlen(st->sql);

		if (len <= POOL_NOTICE_SQL_LEN)
			st->sql_clipped = st->sql;
		else
		{
			int			cut = pg_mbcliplen(st->sql, len, POOL_NOTICE_SQL_LEN);

			st->sql_clipped = psprintf("%.*s...", cut, st->sql);
		}
	}
	return st->sql_clipped;
}

/*
 * Is a SQLSTATE as the remote sent it well-formed: five digits or upper-case
 * letters?
 */
static bool
pool_sqlstate_valid(const char *s)
{
	int			i;

	for (i = 0; i < 5; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return s[5] == '\0';
}

/*
 * Raise an error or notice record.  For an error the call is over already,
 * so this does not return.  A remote is not trusted: an error is always an
 * ERROR here, whatever severity or SQLSTATE class it claims, so that it can
 * never pass for success; a notice is at most a WARNING.
 */
static void
pool_raise(PoolCallState *st, const char *p, uint32 len, bool is_error)
{
	const char *end = p + len;
	const char *severity = NULL;
	const char *sqlstate = "XX000";
	const char *message = NULL;
	const char *detail = NULL;
	const char *hint = NULL;
	const char *context = NULL;
	char	   *our_context;
	bool		remote = false;
	bool		lost = false;

	while (p < end && *p != '\0')
	{
		char		code = *p++;
		const char *value = p;

		p += strlen(p) + 1;
		switch (code)
		{
			case PG_DIAG_SEVERITY_NONLOCALIZED:
				severity = value;
				break;
			case PG_DIAG_SQLSTATE:
				if (pool_sqlstate_valid(value))
					sqlstate = value;
				break;
			case PG_DIAG_MESSAGE_PRIMARY:
				message = value;
				break;
			case PG_DIAG_MESSAGE_DETAIL:
				detail = value;
				break;
			case PG_DIAG_MESSAGE_HINT:
				hint = value;
				break;
			case PG_DIAG_CONTEXT:
				context = value;
				break;
			case POOL_FIELD_REMOTE:
				remote = true;
				break;
			case POOL_FIELD_LOST:
				lost = true;
				break;
		}
	}
	message = pool_valid_text(message);
	detail = pool_valid_text(detail);
	hint = pool_valid_text(hint);
	context = pool_valid_text(context);

	/* a FATAL error ended the remote session */
	if (severity != NULL &&
		(strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
		lost = true;
	if (is_error)
	{
		st->remote_error = remote && !lost;
		st->connection_lost = lost;
		/* success, warning and no-data classes are no error's */
		if (strncmp(sqlstate, "00", 2) == 0 || strncmp(sqlstate, "01", 2) == 0 ||
			strncmp(sqlstate, "02", 2) == 0)
			sqlstate = "XX000";
	}

	if (st->on_message != NULL)
	{
		PoolMessage m;

		m.is_error = is_error;
		m.remote = remote;
		m.lost = lost;
		m.sqlerrcode = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
									 sqlstate[3], sqlstate[4]);
		m.message = message;
		m.detail = detail;
		m.hint = hint;
		m.context = context;
		st->on_message(st, &m);
		if (is_error)
			st->error_handled = true;
		return;
	}

	/*
	 * errcontext() is a macro that must not be an operand of ?:.  A notice
	 * names the command by its beginning only: a remote may send many.
	 */
	if (remote && is_error)
		our_context = psprintf("remote SQL command on pool \"%s\": %s",
							   st->target.name, st->sql);
	else if (remote)
		our_context = psprintf("remote SQL command on pool \"%s\": %s",
							   st->target.name, pool_clip_sql(st));
	else
		our_context = psprintf("pool \"%s\"", st->target.name);

	ereport(is_error ? ERROR : pool_notice_level(severity),
			(errcode(MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
								   sqlstate[3], sqlstate[4])),
			 message ? errmsg_internal("%s", message) :
			 errmsg("could not obtain message string for remote error"),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 context ? errcontext("%s", context) : 0,
			 errcontext("%s", our_context)));
	pfree(our_context);
}

/*
 * Error context while converting a value.
 */
static void
pool_convert_context(void *arg)
{
	PoolCallState *st = (PoolCallState *) arg;

	if (st->converting >= 0 && !st->plain)
		errcontext("column \"%s\" of a row returned by pool \"%s\"",
				   NameStr(TupleDescAttr(st->tupdesc, st->converting)->attname),
				   st->target.name);
}

/*
 * Check a row description against the column definition list, and make the
 * remote's date and interval styles apply while values are converted.
 */
static void
pool_check_rowdesc(PoolCallState *st, const char *p, uint32 len)
{
	uint32		ncols = pool_get_uint32(p);
	const char *datestyle;
	const char *intervalstyle;
	int			i;

	p += sizeof(uint32);
	datestyle = p;
	p += strlen(p) + 1;
	intervalstyle = p;
	p += strlen(p) + 1;

	if (ncols + st->first_col != (uint32) st->tupdesc->natts && st->plain)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query result rowtype does not match the specified FROM clause rowtype")));
	if (ncols + st->first_col != (uint32) st->tupdesc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query result rowtype does not match the specified FROM clause rowtype"),
				 errdetail_plural("The remote query returned %u column, but the column definition list has %d for it.",
								  "The remote query returned %u columns, but the column definition list has %d for them.",
								  ncols, ncols, st->tupdesc->natts - st->first_col),
				 errcontext("remote SQL command on pool \"%s\": %s",
							st->target.name, st->sql)));

	for (i = 0; i < (int) ncols; i++)
	{
		Oid			remote_type = pool_get_uint32(p);
		const char *name = p + sizeof(uint32);
		Form_pg_attribute att = TupleDescAttr(st->tupdesc, st->first_col + i);
		Oid			local_type = getBaseType(att->atttypid);
		char		remote_cat;
		char		local_cat;
		bool		preferred;

		p = name + strlen(name) + 1;

		/*
		 * Both types built in (same OIDs on both sides): refuse pairs whose
		 * text forms cannot convert, such as a timestamp into an integer,
		 * even before any row arrives.  Strings go anywhere, anything goes
		 * into a string, and other types are left to their input functions.
		 */
		if (st->plain || remote_type == local_type ||
			remote_type >= FirstGenbkiObjectId ||
			local_type >= FirstGenbkiObjectId ||
			!SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(remote_type)))
			continue;			/* the remote may be newer */
		get_type_category_preferred(remote_type, &remote_cat, &preferred);
		get_type_category_preferred(local_type, &local_cat, &preferred);
		if (remote_cat == local_cat ||
			remote_cat == TYPCATEGORY_STRING || local_cat == TYPCATEGORY_STRING ||
			remote_cat == TYPCATEGORY_UNKNOWN || local_cat == TYPCATEGORY_UNKNOWN ||
			remote_cat == TYPCATEGORY_USER || local_cat == TYPCATEGORY_USER)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote column \"%s\" of type %s does not match type %s of column \"%s\" in the column definition list",
						name, format_type_be(remote_type),
						format_type_be(local_type),
						NameStr(att->attname)),
				 errcontext("remote SQL command on pool \"%s\": %s",
							st->target.name, st->sql)));
	}

	/*
	 * A later result replaces an earlier one, as with dblink (except in
	 * pool.query_all, whose tuplestore holds the rows of every target).
	 */
	if (st->have_rows && st->first_col == 0)
	{
		tuplestore_clear(st->tupstore);
		st->have_rows = false;
	}

	if (st->guc_nestlevel == 0 &&
		(strcmp(datestyle, GetConfigOption("DateStyle", false, false)) != 0 ||
		 strcmp(intervalstyle, GetConfigOption("IntervalStyle", false, false)) != 0))
	{
		st->guc_nestlevel = NewGUCNestLevel();
		if (datestyle[0])
			(void) set_config_option("DateStyle", datestyle,
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
		if (intervalstyle[0])
			(void) set_config_option("IntervalStyle", intervalstyle,
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
	}
}

/*
 * Convert one row and add it to the tuplestore.
 */
static void
pool_store_row(PoolCallState *st, const char *p, uint32 len)
{
	TupleDesc	tupdesc = st->tupdesc;
	const char *end = p + len;
	MemoryContext old;
	int			i;

	old = MemoryContextSwitchTo(st->rowcxt);
	for (i = 0; i < st->first_col; i++)
	{
		st->values[i] = st->label;
		st->nulls[i] = false;
	}
	for (i = st->first_col; i < tupdesc->natts; i++)
	{
		int32		vlen;
		char	   *value = NULL;

		if (p + sizeof(uint32) > end)
			elog(ERROR, "truncated row record from pool worker");
		vlen = (int32) pool_get_uint32(p);
		p += sizeof(uint32);
		st->converting = i;
		if (vlen >= 0)
		{
			value = (char *) p;
			p += vlen + 1;
			/* the remote may have changed client_encoding behind our back */
			pg_verifymbstr(value, vlen, false);
		}

		st->values[i] = InputFunctionCall(&st->attinmeta->attinfuncs[i],
										  value,
										  st->attinmeta->attioparams[i],
										  st->attinmeta->atttypmods[i]);
		st->nulls[i] = (value == NULL);
	}
	st->converting = -1;
	MemoryContextSwitchTo(old);

	tuplestore_putvalues(st->tupstore, tupdesc, st->values, st->nulls);
	st->have_rows = true;
	MemoryContextReset(st->rowcxt);
}

/*
 * Handle the records of one response message.  Returns true after the final
 * record.
 */
static bool
pool_handle_message(PoolCallState *st, const char *data, Size len)
{
	const char *p = data;
	const char *end = data + len;

	while (p < end)
	{
		char		type = *p;
		uint32		rlen = pool_get_uint32(p + 1);
		const char *payload = p + 1 + sizeof(uint32);

		p = payload + rlen;
		switch (type)
		{
			case POOL_REC_ROWDESC:
				st->saw_rowdesc = true;
				if (st->tupdesc != NULL)
					pool_check_rowdesc(st, payload, rlen);
				break;
			case POOL_REC_ROW:
				if (st->tupdesc != NULL)
					pool_store_row(st, payload, rlen);
				break;
			case POOL_REC_NOTICE:
				pool_raise(st, payload, rlen, false);
				break;
			case POOL_REC_NOTIFY:
				if (st->on_notify != NULL && rlen > sizeof(uint32))
				{
					const char *channel = payload + sizeof(uint32);

					st->on_notify(st, (int) pool_get_uint32(payload),
								  pool_valid_text(channel),
								  pool_valid_text(channel + strlen(channel) + 1));
				}
				break;
			case POOL_REC_XACT:
				if (rlen >= 1)
					st->xact_status = payload[0];
				break;
			case POOL_REC_ERROR:
				pool_call_finish(&st->call);
				pool_raise(st, payload, rlen, true);
				return true;	/* only when on_message took the error */
			case POOL_REC_NUMBER:
				if (rlen != sizeof(uint64))
					elog(ERROR, "malformed number record from pool worker");
				st->number = pool_get_uint64(payload);
				st->has_number = true;
				break;
			case POOL_REC_DONE:
				st->tag = pstrdup(pool_valid_text(payload));
				pool_call_finish(&st->call);
				return true;
			default:
				elog(ERROR, "unexpected record type %d from pool worker", type);
		}
	}
	return false;
}

/*
 * Prepare a call to put the rows it receives into the tuplestore of a
 * materialize-mode SRF; the first first_col columns get label.
 */
void
pool_call_init_rows(PoolCallState *st, ReturnSetInfo *rsinfo, int first_col)
{
	st->tupdesc = rsinfo->setDesc;
	st->tupstore = rsinfo->setResult;
	st->attinmeta = TupleDescGetAttInMetadata(st->tupdesc);
	st->values = palloc(sizeof(Datum) * st->tupdesc->natts);
	st->nulls = palloc(sizeof(bool) * st->tupdesc->natts);
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pool row",
									   ALLOCSET_DEFAULT_SIZES);
	st->first_col = first_col;
	st->have_rows = false;
}

/*
 * Send a call's request (on st->handle's connection if set, else to
 * st->target's pool); the queue handles live in CurrentMemoryContext.
 */
void
pool_call_send(PoolCallState *st, char kind, text *sql, ArrayType *params)
{
	StringInfoData request;

	st->sql = text_to_cstring(sql);
	st->converting = -1;
	/* the current user, unless the call runs for a handle's owner */
	if (OidIsValid(st->role))
		pool_build_request(&request, kind, &st->target, st->handle, st->role,
						   st->role_superuser, st->may_pipeline, sql, params);
	else
		pool_build_request(&request, kind, &st->target, st->handle,
						   GetUserId(), superuser(), st->may_pipeline, sql,
						   params);

	PG_TRY();
	{
		pool_call_start(&st->call, st->target.worker, &request);
	}
	PG_CATCH();
	{
		pool_call_abandon(&st->call);
		PG_RE_THROW();
	}
	PG_END_TRY();
	/* it may hold SCRAM keys */
	if (st->target.scram_passthrough)
		explicit_bzero(request.data, request.len);
	pfree(request.data);
}

/*
 * Read a call's response to its final record: rows into the tuplestore (if
 * any), notices raised, the command tag kept, an error re-thrown.  On any
 * error the call is abandoned, so the worker cancels what runs remotely.
 */
void
pool_call_read(PoolCallState *st)
{
	ErrorContextCallback errcb;

	errcb.callback = pool_convert_context;
	errcb.arg = st;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	PG_TRY();
	{
		for (;;)
		{
			char	   *data;
			Size		len;

			if (!pool_call_receive(&st->call, &data, &len))
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("pool worker stopped while serving a request on pool \"%s\"",
								st->target.name),
						 errdetail("The worker was terminated; it is restarted automatically."),
						 errhint("Run the command again.")));
			if (pool_handle_message(st, data, len))
				break;
		}
		/* an error was raised above: the end of a call is its tag */
		if (st->tag == NULL && !st->error_handled)
			elog(ERROR, "pool worker ended a call without a command tag");
	}
	PG_CATCH();
	{
		pool_call_abandon(&st->call);
		PG_RE_THROW();
	}
	PG_END_TRY();

	error_context_stack = errcb.previous;
	if (st->guc_nestlevel > 0)
	{
		AtEOXact_GUC(true, st->guc_nestlevel);
		st->guc_nestlevel = 0;
	}
	if (st->rowcxt != NULL)
	{
		MemoryContextDelete(st->rowcxt);
		st->rowcxt = NULL;
	}
}

/*
 * Send a request and read its response.
 */
void
pool_call_run(PoolCallState *st, char kind, text *sql, ArrayType *params)
{
	pool_call_send(st, kind, sql, params);
	pool_call_read(st);
}

/*
 * pool.query(target text, sql text, VARIADIC params text[]) returns setof
 * record
 */
Datum
pool_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PoolCallState st;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "target");
	pool_check_not_null(fcinfo, 1, "SQL command");
	pool_check_not_null(fcinfo, 2, "parameter array");

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);

	memset(&st, 0, sizeof(st));
	pool_call_init_rows(&st, rsinfo, 0);
	pool_resolve_target(PG_GETARG_TEXT_PP(0), &st.target);
	st.may_pipeline = true;
	pool_call_run(&st, POOL_REQ_QUERY, PG_GETARG_TEXT_PP(1),
				  PG_GETARG_ARRAYTYPE_P(2));
	return (Datum) 0;
}

/*
 * pool.exec(target text, sql text, VARIADIC params text[]) returns text
 */
Datum
pool_exec(PG_FUNCTION_ARGS)
{
	PoolCallState st;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "target");
	pool_check_not_null(fcinfo, 1, "SQL command");
	pool_check_not_null(fcinfo, 2, "parameter array");

	memset(&st, 0, sizeof(st));
	pool_resolve_target(PG_GETARG_TEXT_PP(0), &st.target);
	st.may_pipeline = true;
	pool_call_run(&st, POOL_REQ_EXEC, PG_GETARG_TEXT_PP(1),
				  PG_GETARG_ARRAYTYPE_P(2));

	PG_RETURN_TEXT_P(cstring_to_text(st.tag));
}

/*
 * Send an administrative request to every pool `name` names; returns the sum
 * of the numbers in their command tags.
 */
static int
pool_admin_call(FunctionCallInfo fcinfo, char kind)
{
	PoolTarget *targets;
	int			n;
	int			i;
	int			total = 0;

	pool_check_loaded();
	pool_check_not_null(fcinfo, 0, "pool");

	targets = palloc(sizeof(PoolTarget) * pool_shared->max_pools);
	n = pool_lookup_pools(PG_GETARG_TEXT_PP(0), targets);
	for (i = 0; i < n; i++)
	{
		PoolCallState st;

		memset(&st, 0, sizeof(st));
		st.target = targets[i];
		pool_call_run(&st, kind, cstring_to_text(""), NULL);
		if (st.has_number)
			total += (int) st.number;
	}
	return total;
}

/*
 * pool.pause(pool text): new checkouts wait; held connections finish.
 */
Datum
pool_pause(PG_FUNCTION_ARGS)
{
	(void) pool_admin_call(fcinfo, POOL_REQ_PAUSE);
	PG_RETURN_VOID();
}

/*
 * pool.resume(pool text)
 */
Datum
pool_resume(PG_FUNCTION_ARGS)
{
	(void) pool_admin_call(fcinfo, POOL_REQ_RESUME);
	PG_RETURN_VOID();
}

/*
 * pool.reset(pool text): close idle connections now, the others when they
 * are checked in; returns how many closed at once.
 */
Datum
pool_reset(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(pool_admin_call(fcinfo, POOL_REQ_RESET));
}
