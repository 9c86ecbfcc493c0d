--
-- The monitoring views.
--
\set target 'dbname=contrib_regression'

SELECT * FROM pool.query(:'target', 'SELECT 1') AS t(x int);

\d pool.stats
\d pool.connections

-- one row per pool, the password never shown
SELECT pool_id > 0 AS has_id, target, worker, pool_size, max_overflow,
       checkout_timeout_ms, connect_timeout_ms,
       open >= 1 AS has_open, idle = open AS all_idle, active, connecting,
       waiting, checkouts > 0 AS used, checkouts = queries AS one_query_each,
       connects >= 1 AS connected, wait_time_ms >= 0 AS wait_ok,
       query_time_ms >= 0 AS query_ok, created_at <= now() AS created_ok
  FROM pool.stats WHERE target = :'target';

-- one row per pooled connection
SELECT connection_id > 0 AS has_id, target, worker, state,
       holder_pid IS NULL AS unheld, remote_pid IS NOT NULL AS has_remote_pid,
       connected_at <= now() AS connected_ok, checked_out_at IS NULL AS not_out,
       last_used_at >= connected_at AS used_ok, uses > 0 AS used
  FROM pool.connections WHERE target = :'target';

-- the remote pid is a real backend of the remote, run by the pool
SELECT c.remote_pid = r.pid AS same, r.application_name
  FROM pool.connections c,
       pool.query(:'target', 'SELECT pid, application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()')
         AS r(pid int, application_name text)
 WHERE c.target = :'target';

-- counters move: one more checkout, one more query, one more error
SELECT checkouts AS c0, checkins AS i0, queries AS q0, errors AS e0
  FROM pool.stats WHERE target = :'target' \gset
SELECT * FROM pool.query(:'target', 'SELECT 1') AS t(x int);
SELECT * FROM pool.query(:'target', 'SELECT 1/0') AS t(x int);
SELECT checkouts - :c0 AS checkouts, checkins - :i0 AS checkins,
       queries - :q0 AS queries, errors - :e0 AS errors
  FROM pool.stats WHERE target = :'target';
-- a handle is a checkout until it is checked in
SELECT pool.checkout(:'target') AS h \gset
SELECT checkouts - checkins AS held, reserved FROM pool.stats WHERE target = :'target';
SELECT pool.checkin(:h);
SELECT checkouts - checkins AS held, reserved FROM pool.stats WHERE target = :'target';
-- zeroing the counters keeps what is held
SELECT pool.checkout(:'target') AS h \gset
SELECT pool.stats_reset(pool_id) FROM pool.stats WHERE target = :'target';
SELECT checkouts, checkins FROM pool.stats WHERE target = :'target';
SELECT pool.checkin(:h);
SELECT checkouts, checkins FROM pool.stats WHERE target = :'target';

-- a password stays out of every view: a connection string with a password
-- gives a pool of its own, named with the password masked
SELECT * FROM pool.query(:'target' || ' password=hunter2', 'SELECT 1') AS t(x int);
SELECT count(*) FROM pool.stats WHERE target LIKE '%hunter2%';
SELECT count(*) FROM pool.connections WHERE target LIKE '%hunter2%';
SELECT target FROM pool.stats WHERE target LIKE '%' || :'target' || '%' ORDER BY pool_id;

-- anyone may read the views
CREATE ROLE pool_regress_reader;
SET ROLE pool_regress_reader;
SELECT count(*) > 0 AS visible FROM pool.stats;
RESET ROLE;
DROP ROLE pool_regress_reader;
