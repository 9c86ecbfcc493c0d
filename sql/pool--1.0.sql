/* pool--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pool" to load this file. \quit

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

-- Monitoring.

CREATE FUNCTION pool.stats(
    OUT pool_id integer,
    OUT target text,
    OUT worker integer,
    OUT pool_size integer,
    OUT max_overflow integer,
    OUT checkout_timeout_ms integer,
    OUT connect_timeout_ms integer,
    OUT open integer,
    OUT idle integer,
    OUT active integer,
    OUT connecting integer,
    OUT cleaning integer,
    OUT waiting integer,
    OUT checkouts bigint,
    OUT queries bigint,
    OUT errors bigint,
    OUT connects bigint,
    OUT connect_failures bigint,
    OUT checkout_timeouts bigint,
    OUT wait_time_ms double precision,
    OUT query_time_ms double precision,
    OUT created_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;

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
    OUT remote_pid integer,
    OUT connected_at timestamptz,
    OUT checked_out_at timestamptz,
    OUT last_used_at timestamptz,
    OUT uses bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_connections'
LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE VIEW pool.connections AS
    SELECT * FROM pool.connections();

COMMENT ON VIEW pool.connections IS 'one row per pooled connection';

GRANT USAGE ON SCHEMA pool TO PUBLIC;
GRANT SELECT ON pool.stats, pool.connections TO PUBLIC;
