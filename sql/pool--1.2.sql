/* pool--1.2.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pool" to load this file. \quit

-- The schema pool is this extension's.  One that existed before, owned by a
-- role that is not a superuser, would let that role put objects beside ours
-- (or in front of them): refuse it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1
                     FROM pg_catalog.pg_namespace n
                     JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner
                    WHERE n.nspname = 'pool'
                      AND (r.rolsuper OR r.rolname = current_user)) THEN
        RAISE EXCEPTION 'schema "pool" is owned by a role that is not a superuser'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The extension pool creates its objects in schema pool; another role owning it could replace them.',
                  HINT = 'Drop or rename that schema, or have a superuser own it, then create the extension.';
    END IF;
END
$$;

-- One-shot remote statements: check a connection out, run, check it in.

CREATE FUNCTION pool.query(target text, sql text,
                           VARIADIC params text[] DEFAULT '{}')
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_query'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.query(text, text, text[]) IS
'run a query on a pooled connection and return its rows, typed by a column definition list';

CREATE FUNCTION pool.exec(target text, sql text,
                          VARIADIC params text[] DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'pool_exec'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.exec(text, text, text[]) IS
'run a command on a pooled connection and return its command tag';

-- Reserved connections: a handle names one connection this session checked
-- out, until pool.checkin or the end of the session (or of the local
-- transaction, for scope 'transaction').

CREATE FUNCTION pool.checkout(target text, scope text DEFAULT 'session')
RETURNS bigint
AS 'MODULE_PATHNAME', 'pool_checkout_handle'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.checkout(text, text) IS
'reserve a pooled connection for this session (or transaction) and return its handle';

CREATE FUNCTION pool.checkin(handle bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'pool_checkin_handle'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.checkin(bigint) IS
'give a reserved connection back to its pool, rolled back and reset';

CREATE FUNCTION pool.query(handle bigint, sql text,
                           VARIADIC params text[] DEFAULT '{}')
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_query_handle'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.query(bigint, text, text[]) IS
'run a query on a reserved connection and return its rows';

CREATE FUNCTION pool.exec(handle bigint, sql text,
                          VARIADIC params text[] DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'pool_exec_handle'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.exec(bigint, text, text[]) IS
'run a command on a reserved connection and return its command tag';

-- Asynchronous commands and fan-out.

CREATE FUNCTION pool.send(target text, sql text,
                          VARIADIC params text[] DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'pool_send'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.send(text, text, text[]) IS
'start a command on a pooled connection and return a handle to fetch its result';

CREATE FUNCTION pool.send(handle bigint, sql text,
                          VARIADIC params text[] DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'pool_send_handle'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.send(bigint, text, text[]) IS
'start a command on a reserved connection; returns the handle';

CREATE FUNCTION pool.is_busy(handle bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pool_is_busy'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.is_busy(bigint) IS
'is the command started on a handle still running';

CREATE FUNCTION pool.fetch(handle bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_fetch'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.fetch(bigint) IS
'wait for the command started on a handle and return its rows';

CREATE FUNCTION pool.cancel(handle bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pool_cancel'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.cancel(bigint) IS
'cancel the command started on a handle; false if none was running';

CREATE FUNCTION pool.query_all(targets text[], sql text,
                               VARIADIC params text[] DEFAULT '{}')
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_query_all'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.query_all(text[], text, text[]) IS
'run a query on every target at once; the first column of each row names its target';

-- Monitoring.

CREATE FUNCTION pool.stats(
    OUT pool_id integer,
    OUT target text,
    OUT worker integer,
    OUT paused boolean,
    OUT failing boolean,
    OUT pool_size integer,
    OUT min_idle integer,
    OUT max_overflow integer,
    OUT checkout_timeout_ms integer,
    OUT connect_timeout_ms integer,
    OUT idle_timeout_ms integer,
    OUT max_lifetime_ms integer,
    OUT pre_ping_ms integer,
    OUT retry_delay_ms integer,
    OUT leak_threshold_ms integer,
    OUT reset_query text,
    OUT open integer,
    OUT idle integer,
    OUT unchecked integer,
    OUT active integer,
    OUT reserved integer,
    OUT validating integer,
    OUT connecting integer,
    OUT cleaning integer,
    OUT waiting integer,
    OUT max_wait_ms double precision,
    OUT checkouts bigint,
    OUT checkins bigint,
    OUT queries bigint,
    OUT errors bigint,
    OUT connects bigint,
    OUT connect_failures bigint,
    OUT checkout_timeouts bigint,
    OUT wait_time_ms double precision,
    OUT query_time_ms double precision,
    OUT closed_lifetime bigint,
    OUT closed_idle bigint,
    OUT closed_broken bigint,
    OUT closed_reset bigint,
    OUT closed_overflow bigint,
    OUT next_retry_at timestamptz,
    OUT last_error text,
    OUT created_at timestamptz,
    OUT stats_reset timestamptz,
    OUT max_row_size integer,
    OUT max_pipeline integer,
    OUT pipelined bigint,
    OUT max_depth integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW pool.stats AS
    SELECT * FROM pool.stats();

COMMENT ON VIEW pool.stats IS 'one row per pool';

CREATE FUNCTION pool.connections(
    OUT connection_id integer,
    OUT pool_id integer,
    OUT target text,
    OUT worker integer,
    OUT state text,
    OUT holder_pid integer,
    OUT handle bigint,
    OUT remote_pid integer,
    OUT remote_host text,
    OUT remote_port integer,
    OUT connected_at timestamptz,
    OUT checked_out_at timestamptz,
    OUT last_used_at timestamptz,
    OUT uses bigint,
    OUT queries bigint,
    OUT query text,
    OUT in_flight integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_connections'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW pool.connections AS
    SELECT * FROM pool.connections();

COMMENT ON VIEW pool.connections IS 'one row per pooled connection';

GRANT USAGE ON SCHEMA pool TO PUBLIC;
GRANT SELECT ON pool.stats, pool.connections TO PUBLIC;

-- Administration: superusers only, unless granted.  A pool is named by the
-- id shown in pool.stats or by its target.

CREATE FUNCTION pool.pause(pool text)
RETURNS void
AS 'MODULE_PATHNAME', 'pool_pause'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.pause(text) IS
'make new checkouts of a pool wait; connections already held finish';

CREATE FUNCTION pool.resume(pool text)
RETURNS void
AS 'MODULE_PATHNAME', 'pool_resume'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.resume(text) IS
'let a paused pool hand out connections again';

CREATE FUNCTION pool.reset(pool text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pool_reset'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.reset(text) IS
'close a pool''s idle connections now and the others at check-in; returns how many closed now';

CREATE FUNCTION pool.stats_reset(pool_id integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pool_stats_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pool.stats_reset(integer) IS
'zero the counters of pool.stats, of one pool or of all';

REVOKE ALL ON FUNCTION pool.pause(text), pool.resume(text), pool.reset(text),
    pool.stats_reset(integer) FROM PUBLIC;

-- Pools defined by foreign servers: connection options and pool settings on
-- the server, credentials in user mappings.  Every function that takes a
-- target takes the name of such a server.

CREATE FUNCTION pool.fdw_validator(options text[], catalog oid)
RETURNS void
AS 'MODULE_PATHNAME', 'pool_fdw_validator'
LANGUAGE C STRICT PARALLEL SAFE;

COMMENT ON FUNCTION pool.fdw_validator(text[], oid) IS
'checks the options of servers and user mappings of the pool foreign-data wrapper';

CREATE FOREIGN DATA WRAPPER pool VALIDATOR pool.fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER pool IS
'servers whose connections pool shares; the options of pool.* settings override them per server';
