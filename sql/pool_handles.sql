--
-- Reserved connections, transactions, asynchronous commands and fan-out.
--
\set target 'dbname=contrib_regression'

-- Handles are numbers that depend on which connection slot a checkout got:
-- errors that name one show it as N.
CREATE FUNCTION pool_try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]{4,}', 'N', 'g');
END $$;

-- a reserved connection keeps remote session state across calls
SELECT pool.checkout(:'target') AS h \gset
SELECT pool.exec(:h, 'CREATE TEMP TABLE scratch (a int)');
SELECT pool.exec(:h, 'INSERT INTO scratch VALUES ($1), ($2)', '1', '2');
SELECT pool.exec(:h, 'PREPARE twice (int) AS SELECT $1 * 2');
SELECT * FROM pool.query(:h, 'SELECT sum(a) FROM scratch') AS t(s bigint);
SELECT * FROM pool.query(:h, 'EXECUTE twice(21)') AS t(x int);

-- a remote transaction spans calls
SELECT pool.exec(:h, 'BEGIN');
SELECT pool.exec(:h, 'INSERT INTO scratch VALUES (3)');
SELECT pool.exec(:h, 'ROLLBACK');
SELECT * FROM pool.query(:h, 'SELECT count(*) FROM scratch') AS t(n bigint);

-- pool.connections shows it reserved by this session
SELECT state, holder_pid = pg_backend_pid() AS mine, handle = :h AS its_handle
  FROM pool.connections WHERE handle IS NOT NULL;

-- checked in, the handle is gone, and the connection comes back reset
SELECT pool.checkin(:h);
SELECT pool_try(format('SELECT pool.exec(%s, ''SELECT 1'')', :h));
SELECT pool_try(format('SELECT pool.checkin(%s)', :h));
SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL;
SELECT * FROM pool.query(:'target', 'SELECT count(*) FROM pg_prepared_statements') AS t(n bigint);

-- made-up, negative, huge and NULL handles
SELECT pool_try('SELECT pool.exec(12345, ''SELECT 1'')');
SELECT * FROM pool.query(-1, 'SELECT 1') AS t(x int);
SELECT pool_try('SELECT pool.checkin(9223372036854775807)');
SELECT pool.exec(NULL::bigint, 'SELECT 1');
SELECT pool.fetch(42);

-- bad scope, and transaction scope outside a transaction block
SELECT pool.checkout(:'target', scope => 'forever');
SELECT pool.checkout(:'target', scope => 'transaction');

-- a remote error on a reserved connection leaves the handle usable
SELECT pool.checkout(:'target') AS h \gset
SELECT pool.exec(:h, 'SELECT 1/0');
SELECT pool.exec(:h, 'SELECT 1');
-- and a failed remote transaction stays failed until the holder ends it
SELECT pool.exec(:h, 'BEGIN');
SELECT pool.exec(:h, 'SELECT 1/0');
SELECT pool.exec(:h, 'SELECT 1');
SELECT pool.exec(:h, 'ROLLBACK');
SELECT pool.checkin(:h);

-- transaction scope: committed with the local transaction
CREATE TABLE tx_items (a int);
BEGIN;
SELECT pool.checkout(:'target', scope => 'transaction') AS th \gset
SELECT pool.exec(:th, 'INSERT INTO tx_items VALUES (1)');
SAVEPOINT sp;
SELECT pool.exec(:th, 'INSERT INTO tx_items VALUES (2)');
ROLLBACK TO sp;
SELECT pool.exec(:th, 'INSERT INTO tx_items VALUES (3)');
RELEASE sp;
COMMIT;
-- the remote is this very instance, so its work shows here: 2 was rolled
-- back with the local savepoint, 1 and 3 committed with the transaction
SELECT array_agg(a ORDER BY a) FROM tx_items;

-- a handle of transaction scope cannot be checked in while in use, and a
-- local rollback to a savepoint set before its work takes that work back
BEGIN;
SELECT pool.checkout(:'target', scope => 'transaction') AS th \gset
SAVEPOINT before_remote;
SELECT pool.exec(:th, 'INSERT INTO tx_items VALUES (10)');
SELECT pool_try(format('SELECT pool.checkin(%s)', :th));
ROLLBACK TO before_remote;
SELECT pool.exec(:th, 'INSERT INTO tx_items VALUES (11)');
COMMIT;
SELECT array_agg(a ORDER BY a) FROM tx_items;
SELECT pool_try(format('SELECT pool.exec(%s, ''SELECT 1'')', :th));

-- ... and rolled back with it
BEGIN;
SELECT pool.checkout(:'target', scope => 'transaction') AS th \gset
SELECT pool.exec(:th, 'INSERT INTO tx_items VALUES (4)');
ROLLBACK;
SELECT array_agg(a ORDER BY a) FROM tx_items;

-- ... and when the local transaction fails
BEGIN;
SELECT pool.checkout(:'target', scope => 'transaction') AS th \gset
SELECT pool.exec(:th, 'INSERT INTO tx_items VALUES (5)');
SELECT 1/0;
COMMIT;
SELECT array_agg(a ORDER BY a) FROM tx_items;

-- a remote commit that fails fails the local commit
CREATE TABLE tx_unique (a int UNIQUE DEFERRABLE INITIALLY DEFERRED);
BEGIN;
SELECT pool.checkout(:'target', scope => 'transaction') AS th \gset
SELECT pool.exec(:th, 'INSERT INTO tx_unique VALUES (1), (1)');
CREATE TEMP TABLE local_work (a int);
COMMIT;
SELECT count(*) FROM tx_unique;
SELECT to_regclass('pg_temp.local_work') IS NULL AS local_work_rolled_back;

-- asynchronous commands, fetched later
SELECT pool.send(:'target', 'SELECT 1 AS x, ''one''') AS a1 \gset
SELECT pool.send(:'target', 'SELECT 2 AS x, ''two''') AS a2 \gset
SELECT * FROM pool.fetch(:a2) AS t(x int, y text);
SELECT * FROM pool.fetch(:a1) AS t(x int, y text);
SELECT pool_try(format('SELECT * FROM pool.fetch(%s) AS t(x int, y text)', :a1));
-- an error arrives at fetch
SELECT pool.send(:'target', 'SELECT 1/0') AS a3 \gset
SELECT * FROM pool.fetch(:a3) AS t(x int);
-- on a reserved connection, one command at a time
SELECT pool.checkout(:'target') AS h \gset
SELECT pool.send(:h, 'SELECT 10') = :h AS same_handle;
SELECT pool_try(format('SELECT pool.exec(%s, ''SELECT 1'')', :h));
SELECT pool_try(format('SELECT pool.send(%s, ''SELECT 11'')', :h));
SELECT * FROM pool.fetch(:h) AS t(x int);
SELECT pool.is_busy(:h), pool.cancel(:h);
SELECT pool_try(format('SELECT * FROM pool.fetch(%s) AS t(x int)', :h));
SELECT pool.checkin(:h);
-- cancel an asynchronous command
SELECT pool.send(:'target', 'SELECT pg_sleep(60)') AS a4 \gset
SELECT pool.is_busy(:a4), pool.cancel(:a4);
SELECT pool_try(format('SELECT pool.cancel(%s)', :a4));

-- fan-out: every target at once, each row with the target it came from
SELECT * FROM pool.query_all(ARRAY[:'target', :'target' || ' application_name=second'],
                             'SELECT count(*) FROM items WHERE id <= $1', '5')
    AS t(target text, n bigint) ORDER BY target;
SELECT * FROM pool.query_all(ARRAY[:'target'], 'SELECT 1') AS t(x int);
SELECT * FROM pool.query_all(ARRAY[:'target', NULL], 'SELECT 1') AS t(target text, x int);
SELECT * FROM pool.query_all(ARRAY[]::text[], 'SELECT 1') AS t(target text, x int);

-- nothing is left held (a cancelled connection may still be cleaning for a
-- moment, and how many the pool opened meanwhile depends on timing)
CREATE FUNCTION pg_temp.settled_idle(t text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..500 LOOP
        IF NOT EXISTS (SELECT 1 FROM pool.connections
                        WHERE target = t AND state <> 'idle') THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN false;
END
$$;
SELECT pg_temp.settled_idle(:'target');
SELECT count(*) FILTER (WHERE state <> 'idle') AS held, count(*) > 0 AS some_idle
  FROM pool.connections WHERE target = :'target';
