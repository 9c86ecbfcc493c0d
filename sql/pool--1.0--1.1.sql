/* pool--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pool UPDATE TO '1.1'" to load this file. \quit

-- Like core's activity functions, the views' functions read this backend's
-- state of shared memory: parallel restricted.
ALTER FUNCTION pool.connections() PARALLEL RESTRICTED;

-- pool.stats gains the setting max_row_size, as its last column.
DROP VIEW pool.stats;
DROP FUNCTION pool.stats();

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
    OUT max_row_size integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pool_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW pool.stats AS
    SELECT * FROM pool.stats();

COMMENT ON VIEW pool.stats IS 'one row per pool';

GRANT SELECT ON pool.stats TO PUBLIC;
