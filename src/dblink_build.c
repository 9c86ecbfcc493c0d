/*-------------------------------------------------------------------------
 *
 * dblink_build.c
 *	  pool_dblink's local helpers: dblink_get_pkey and the builders of
 *	  INSERT, UPDATE and DELETE statements from a local row
 *	  (dblink_build_sql_insert, _update, _delete).
 *
 * They touch no remote.  Key columns are given by logical number (1-based,
 * dropped columns not counted), as dblink takes them; values are quoted as
 * literals, names as identifiers, and the table is named as the current
 * search path sees it.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/dblink_build.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/varlena.h"

#include "pool.h"
#include "dblink.h"

PG_FUNCTION_INFO_V1(pool_dblink_get_pkey);
PG_FUNCTION_INFO_V1(pool_dblink_build_sql_insert);
PG_FUNCTION_INFO_V1(pool_dblink_build_sql_update);
PG_FUNCTION_INFO_V1(pool_dblink_build_sql_delete);

/*
 * Open a table by its (possibly qualified) name, for reading: the current
 * user needs SELECT on it.
 */
static Relation
pool_dblink_open_rel(text *relname)
{
	RangeVar   *rv = makeRangeVarFromNameList(textToQualifiedNameList(relname));
	Relation	rel = table_openrv(rv, AccessShareLock);
	AclResult	aclresult;

	aclresult = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(),
								  ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));
	return rel;
}

/*
 * The table's name as SQL: qualified unless the search path finds it.
 */
static char *
pool_dblink_rel_sql_name(Relation rel)
{
	if (RelationIsVisible(RelationGetRelid(rel)))
		return pstrdup(quote_identifier(RelationGetRelationName(rel)));
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

/*
 * The physical (0-based) columns of the logical key column numbers given.
 */
static int *
pool_dblink_key_columns(Relation rel, int2vector *attnums, int32 count,
						int *nkeys)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int		   *cols;
	int			i;

	count = Min(count, attnums->dim1);
	if (count <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of key attributes must be > 0")));
	cols = palloc(sizeof(int) * count);
	for (i = 0; i < count; i++)
	{
		int			wanted = attnums->values[i];
		int			logical = 0;
		int			j;

		for (j = 0; j < tupdesc->natts && wanted > 0; j++)
		{
			if (TupleDescAttr(tupdesc, j)->attisdropped)
				continue;
			if (++logical == wanted)
				break;
		}
		if (wanted <= 0 || j >= tupdesc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid attribute number %d", wanted)));
		cols[i] = j;
	}
	*nkeys = count;
	return cols;
}

/*
 * The values of a text[] as C strings (NULL for NULL elements); one per
 * key column, or the error that says which array is wrong.
 */
static char **
pool_dblink_key_values(ArrayType *array, int nkeys, const char *which)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	  **values;
	int			i;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n != nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s key array length must match number of key attributes",
						which)));
	values = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		values[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return values;
}

/*
 * Which key, if any, physical column col is.
 */
static int
pool_dblink_key_of(int *keys, int nkeys, int col)
{
	int			i;

	for (i = 0; i < nkeys; i++)
		if (keys[i] == col)
			return i;
	return -1;
}

static void
pool_dblink_append_literal(StringInfo buf, const char *value)
{
	if (value == NULL)
		appendStringInfoString(buf, "NULL");
	else
		appendStringInfoString(buf, quote_literal_cstr(value));
}

/*
 * Append "WHERE k1 = 'v1' AND k2 IS NULL ..." for the key columns.
 */
static void
pool_dblink_append_where(StringInfo buf, Relation rel, int *keys, int nkeys,
						 char **values)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			i;

	appendStringInfoString(buf, " WHERE ");
	for (i = 0; i < nkeys; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, " AND ");
		appendStringInfoString(buf,
							   quote_identifier(NameStr(TupleDescAttr(tupdesc, keys[i])->attname)));
		if (values[i] == NULL)
			appendStringInfoString(buf, " IS NULL");
		else
			appendStringInfo(buf, " = %s", quote_literal_cstr(values[i]));
	}
}

/*
 * The values, as text, of every live column of the one local row whose key
 * columns have the given values, in column order (NULL for NULL).
 */
static char **
pool_dblink_source_row(Relation rel, int *keys, int nkeys, char **values)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	StringInfoData sql;
	char	  **row;
	int			ncols = 0;
	int			i;
	int			ret;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped)
			continue;
		if (ncols++ > 0)
			appendStringInfoChar(&sql, ',');
		appendStringInfoString(&sql, quote_identifier(NameStr(att->attname)));
	}
	appendStringInfo(&sql, " FROM %s", pool_dblink_rel_sql_name(rel));
	pool_dblink_append_where(&sql, rel, keys, nkeys, values);

	if ((ret = SPI_connect()) < 0)
		elog(ERROR, "SPI_connect failed: %d", ret);
	ret = SPI_exec(sql.data, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_exec failed: %d", ret);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("source row not found")));
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("source criteria matched more than one record")));

	row = SPI_palloc(sizeof(char *) * tupdesc->natts);
	ncols = 0;
	for (i = 0; i < tupdesc->natts; i++)
	{
		char	   *v;

		row[i] = NULL;
		if (TupleDescAttr(tupdesc, i)->attisdropped)
			continue;
		v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
						 ++ncols);
		if (v != NULL)
		{
			row[i] = SPI_palloc(strlen(v) + 1);
			strcpy(row[i], v);
		}
	}
	SPI_finish();
	return row;
}

/*
 * What the three builders share: the table, its key columns and the
 * arrays of key values.
 */
typedef struct DblinkBuild
{
	Relation	rel;
	int		   *keys;
	int			nkeys;
	char	  **src;			/* NULL for delete */
	char	  **tgt;
} DblinkBuild;

static void
pool_dblink_build_start(FunctionCallInfo fcinfo, DblinkBuild *b,
						bool has_source)
{
	b->rel = pool_dblink_open_rel(PG_GETARG_TEXT_PP(0));
	b->keys = pool_dblink_key_columns(b->rel,
									  (int2vector *) PG_GETARG_POINTER(1),
									  PG_GETARG_INT32(2), &b->nkeys);
	if (has_source)
	{
		b->src = pool_dblink_key_values(PG_GETARG_ARRAYTYPE_P(3), b->nkeys,
										"source");
		b->tgt = pool_dblink_key_values(PG_GETARG_ARRAYTYPE_P(4), b->nkeys,
										"target");
	}
	else
	{
		b->src = NULL;
		b->tgt = pool_dblink_key_values(PG_GETARG_ARRAYTYPE_P(3), b->nkeys,
										"target");
	}
}

/*
 * The value a built INSERT or UPDATE gives physical column col: the target
 * key value for a key column, the local row's otherwise.
 */
static void
pool_dblink_append_value(StringInfo buf, DblinkBuild *b, char **row, int col)
{
	int			k = pool_dblink_key_of(b->keys, b->nkeys, col);

	pool_dblink_append_literal(buf, k >= 0 ? b->tgt[k] : row[col]);
}

/*
 * Build the INSERT, or the UPDATE, that copies a local row to a remote
 * table with the target key values.
 */
static text *
pool_dblink_build_copy(FunctionCallInfo fcinfo, bool update)
{
	DblinkBuild b;
	TupleDesc	tupdesc;
	char	  **row;
	StringInfoData sql;
	int			n = 0;
	int			i;

	pool_dblink_build_start(fcinfo, &b, true);
	tupdesc = RelationGetDescr(b.rel);
	row = pool_dblink_source_row(b.rel, b.keys, b.nkeys, b.src);

	initStringInfo(&sql);
	appendStringInfo(&sql, update ? "UPDATE %s SET " : "INSERT INTO %s(",
					 pool_dblink_rel_sql_name(b.rel));
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped)
			continue;
		if (n++ > 0)
			appendStringInfoString(&sql, update ? ", " : ",");
		appendStringInfoString(&sql, quote_identifier(NameStr(att->attname)));
		if (update)
		{
			appendStringInfoString(&sql, " = ");
			pool_dblink_append_value(&sql, &b, row, i);
		}
	}
	if (update)
		pool_dblink_append_where(&sql, b.rel, b.keys, b.nkeys, b.tgt);
	else
	{
		appendStringInfoString(&sql, ") VALUES(");
		n = 0;
		for (i = 0; i < tupdesc->natts; i++)
		{
			if (TupleDescAttr(tupdesc, i)->attisdropped)
				continue;
			if (n++ > 0)
				appendStringInfoChar(&sql, ',');
			pool_dblink_append_value(&sql, &b, row, i);
		}
		appendStringInfoChar(&sql, ')');
	}

	relation_close(b.rel, AccessShareLock);
	return cstring_to_text(sql.data);
}

/*
 * dblink_build_sql_insert(relname text, pkattnums int2vector, pknumatts
 * int, src_pkattvals text[], tgt_pkattvals text[]) returns text
 */
Datum
pool_dblink_build_sql_insert(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(pool_dblink_build_copy(fcinfo, false));
}

/*
 * dblink_build_sql_update(relname text, pkattnums int2vector, pknumatts
 * int, src_pkattvals text[], tgt_pkattvals text[]) returns text
 */
Datum
pool_dblink_build_sql_update(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(pool_dblink_build_copy(fcinfo, true));
}

/*
 * dblink_build_sql_delete(relname text, pkattnums int2vector, pknumatts
 * int, tgt_pkattvals text[]) returns text
 */
Datum
pool_dblink_build_sql_delete(PG_FUNCTION_ARGS)
{
	DblinkBuild b;
	StringInfoData sql;

	pool_dblink_build_start(fcinfo, &b, false);
	initStringInfo(&sql);
	appendStringInfo(&sql, "DELETE FROM %s", pool_dblink_rel_sql_name(b.rel));
	pool_dblink_append_where(&sql, b.rel, b.keys, b.nkeys, b.tgt);

	relation_close(b.rel, AccessShareLock);
	PG_RETURN_TEXT_P(cstring_to_text(sql.data));
}

/*
 * dblink_get_pkey(relname text) returns setof dblink_pkey_results: the
 * key columns of the table's primary key, by position.
 */
Datum
pool_dblink_get_pkey(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	rel;
	Oid			indexoid;

	InitMaterializedSRF(fcinfo, 0);
	rel = pool_dblink_open_rel(PG_GETARG_TEXT_PP(0));
#if PG_VERSION_NUM >= 180000
	indexoid = RelationGetPrimaryKeyIndex(rel, true);
#else
	indexoid = RelationGetPrimaryKeyIndex(rel);
#endif
	if (OidIsValid(indexoid))
	{
		Relation	index = index_open(indexoid, AccessShareLock);
		int			nkeys = IndexRelationGetNumberOfKeyAttributes(index);
		int			i;

		for (i = 0; i < nkeys; i++)
		{
			AttrNumber	attnum = index->rd_index->indkey.values[i];
			Datum		values[2];
			bool		nulls[2] = {false, false};

			values[0] = Int32GetDatum(i + 1);
			values[1] = CStringGetTextDatum(NameStr(TupleDescAttr(RelationGetDescr(rel),
																  attnum - 1)->attname));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
								 nulls);
		}
		index_close(index, AccessShareLock);
	}
	relation_close(rel, AccessShareLock);
	return (Datum) 0;
}
