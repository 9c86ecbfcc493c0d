/* pool_dblink--1.0.sql: dblink 1.2's functions, type and wrapper on pool */

\echo Use "CREATE EXTENSION pool_dblink" to load this file. \quit

-- dblink's functions have the same names: the two cannot share a database
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'dblink') THEN
        RAISE EXCEPTION 'extension "pool_dblink" cannot be installed in a database that has extension "dblink"'
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'pool_dblink provides the functions of dblink under the same names.',
                  HINT = 'Drop extension dblink first (DROP EXTENSION dblink), then create pool_dblink.';
    END IF;
END
$$;

CREATE FUNCTION dblink_connect (text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_connect'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_connect (text, text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_connect'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_connect_u (text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_connect_u'
LANGUAGE C STRICT PARALLEL RESTRICTED
SECURITY DEFINER;

REVOKE ALL ON FUNCTION dblink_connect_u (text) FROM PUBLIC;

CREATE FUNCTION dblink_connect_u (text, text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_connect_u'
LANGUAGE C STRICT PARALLEL RESTRICTED
SECURITY DEFINER;

REVOKE ALL ON FUNCTION dblink_connect_u (text, text) FROM PUBLIC;

CREATE FUNCTION dblink_disconnect ()
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_disconnect'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_disconnect (text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_disconnect'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_open (text, text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_open'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_open (text, text, boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_open'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_open (text, text, text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_open'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_open (text, text, text, boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_open'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_fetch (text, int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_fetch'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_fetch (text, int, boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_fetch'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_fetch (text, text, int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_fetch'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_fetch (text, text, int, boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_fetch'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_close (text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_close'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_close (text, boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_close'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_close (text, text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_close'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_close (text, text, boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_close'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink (text, text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_record'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink (text, text, boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_record'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink (text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_record'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink (text, boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_record'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_exec (text, text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_exec'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_exec (text, text, boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_exec'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_exec (text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_exec'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_exec (text, boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_exec'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE TYPE dblink_pkey_results AS (position int, colname text);

CREATE FUNCTION dblink_get_pkey (text)
RETURNS SETOF dblink_pkey_results
AS 'MODULE_PATHNAME', 'pool_dblink_get_pkey'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_build_sql_insert (text, int2vector, int, text[], text[])
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_build_sql_insert'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_build_sql_delete (text, int2vector, int, text[])
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_build_sql_delete'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_build_sql_update (text, int2vector, int, text[], text[])
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_build_sql_update'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_current_query ()
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_current_query'
LANGUAGE C PARALLEL RESTRICTED;

CREATE FUNCTION dblink_send_query (text, text)
RETURNS int4
AS 'MODULE_PATHNAME', 'pool_dblink_send_query'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_is_busy (text)
RETURNS int4
AS 'MODULE_PATHNAME', 'pool_dblink_is_busy'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_get_result (text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_get_result'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_get_result (text, boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_get_result'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_get_connections ()
RETURNS text[]
AS 'MODULE_PATHNAME', 'pool_dblink_get_connections'
LANGUAGE C PARALLEL RESTRICTED;

CREATE FUNCTION dblink_cancel_query (text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_cancel_query'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_error_message (text)
RETURNS text
AS 'MODULE_PATHNAME', 'pool_dblink_error_message'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_get_notify (OUT notify_name text, OUT be_pid int4, OUT extra text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_get_notify'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_get_notify (conname text, OUT notify_name text, OUT be_pid int4, OUT extra text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_dblink_get_notify'
LANGUAGE C STRICT PARALLEL RESTRICTED;

CREATE FUNCTION dblink_fdw_validator (options text[], catalog oid)
RETURNS void
AS 'MODULE_PATHNAME', 'pool_dblink_fdw_validator'
LANGUAGE C STRICT PARALLEL SAFE;

CREATE FOREIGN DATA WRAPPER dblink_fdw VALIDATOR dblink_fdw_validator;
