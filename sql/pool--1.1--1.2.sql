/* pool--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pool UPDATE TO '1.2'" to load this file. \quit

-- Pipelining: pool.stats gains the setting max_pipeline and the counters
-- pipelined and max_depth, pool.connections the statements in flight on
-- each connection, as their last columns.
DROP VIEW pool.stats;
DROP FUNCTION pool.stats();
DROP VIEW pool.connections;
DROP FUNCTION pool.connections();

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

GRANT SELECT ON pool.stats, pool.connections TO PUBLIC;
