--
-- Bad input: each gives a clear error, and the pool answers right after.
--
\set target 'dbname=contrib_regression'
\set VERBOSITY default

-- NULL arguments
SELECT * FROM pool.query(NULL, 'SELECT 1') AS t(x int);
SELECT * FROM pool.query(:'target', NULL) AS t(x int);
SELECT * FROM pool.query(:'target', 'SELECT 1', VARIADIC NULL::text[]) AS t(x int);
SELECT pool.exec(NULL, 'SELECT 1');
SELECT pool.exec(:'target', NULL);

-- a parameter array of more than one dimension
SELECT * FROM pool.query(:'target', 'SELECT $1', VARIADIC '{{1},{2}}'::text[]) AS t(x text);

-- unparsable connection strings; the string itself is never echoed
SELECT * FROM pool.query('host=localhost password=se cret', 'SELECT 1') AS t(x int);
SELECT * FROM pool.query('no_such_option=1', 'SELECT 1') AS t(x int);
SELECT * FROM pool.query('postgresql://u:p%zz@host/db', 'SELECT 1') AS t(x int);
SELECT * FROM pool.query('dbname=x replication=database', 'SELECT 1') AS t(x int);

-- an unreachable server: the error names host and port
SELECT * FROM pool.query('host=127.0.0.1 port=1 dbname=x connect_timeout=1', 'SELECT 1') AS t(x int);
SELECT pool.exec('host=127.0.0.1 port=1 dbname=x connect_timeout=1', 'SELECT 1');

-- a remote error keeps its SQLSTATE, detail, hint and context
SELECT * FROM pool.query(:'target', 'SELEC 1') AS t(x int);
SELECT pool.exec(:'target', $q$DO $b$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '22012', DETAIL = 'd', HINT = 'h'; END $b$$q$);
\set VERBOSITY sqlstate
SELECT pool.exec(:'target', $q$DO $b$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '22012'; END $b$$q$);
SELECT pool.exec(:'target', 'INSERT INTO items VALUES (1, $1)', 'dup');
SELECT * FROM pool.query('host=127.0.0.1 port=1 dbname=x connect_timeout=1', 'SELECT 1') AS t(x int);
\set VERBOSITY default
SELECT * FROM pool.query(:'target', 'SELECT 1/0') AS t(x int);
SELECT pool.exec(:'target', 'INSERT INTO items VALUES (1, $1)', 'dup');

-- a column definition list that does not match
SELECT * FROM pool.query(:'target', 'SELECT 1, 2') AS t(x int);
SELECT * FROM pool.query(:'target', 'SELECT 1') AS t(x int, y int);
SELECT * FROM pool.query(:'target', 'SELECT now()') AS t(x int);
SELECT * FROM pool.query(:'target', 'SELECT true') AS t(x date);
SELECT * FROM pool.query(:'target', 'SELECT ''abc''') AS t(x int);
SELECT * FROM pool.query(:'target', 'SELECT g FROM generate_series(1, 200) g') AS t(x small_int);

-- a parameter that does not convert on the remote
SELECT * FROM pool.query(:'target', 'SELECT $1::int', 'abc') AS t(x int);

-- too many parameters for the protocol
SELECT * FROM pool.query(:'target', 'SELECT 1',
    VARIADIC (SELECT array_agg(g::text) FROM generate_series(1, 65536) g)) AS t(x int);

-- COPY cannot go through a pool
SELECT pool.exec(:'target', 'COPY items TO STDOUT');

-- a connection string longer than a pool key may be
SELECT * FROM pool.query('dbname=' || repeat('x', 3000), 'SELECT 1') AS t(x int);

-- a non-superuser may use connection strings only with USAGE on the
-- wrapper, and must give a password (dblink's rule)
CREATE ROLE pool_regress_user;
SET ROLE pool_regress_user;
SELECT * FROM pool.query(:'target', 'SELECT 1') AS t(x int);
RESET ROLE;
GRANT USAGE ON FOREIGN DATA WRAPPER pool TO pool_regress_user;
SET ROLE pool_regress_user;
SELECT * FROM pool.query(:'target', 'SELECT 1') AS t(x int);
SELECT pool.exec('host=127.0.0.1 port=1 dbname=x', 'SELECT 1');
RESET ROLE;
REVOKE USAGE ON FOREIGN DATA WRAPPER pool FROM pool_regress_user;
-- ... checked at every call, not only the first
SET ROLE pool_regress_user;
SELECT pool.exec('host=127.0.0.1 port=1 dbname=x', 'SELECT 1');
RESET ROLE;
DROP ROLE pool_regress_user;

-- after all that, the pool still answers, and no connection is held
SELECT * FROM pool.query(:'target', 'SELECT 42') AS t(x int);
SELECT state, count(*) FROM pool.connections WHERE target = :'target' GROUP BY state;
