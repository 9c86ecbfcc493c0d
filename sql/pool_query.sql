--
-- One-shot queries and commands.
--
\set target 'dbname=contrib_regression'

-- rows, typed by the column definition list
SELECT * FROM pool.query(:'target', 'SELECT id, name FROM items WHERE id > $1 ORDER BY id', '15')
    AS t(id int, name text);

-- without parameters
SELECT * FROM pool.query(:'target', 'SELECT count(*) FROM items') AS t(n bigint);

-- parameters travel out of band: a quote or a semicolon is only data
SELECT * FROM pool.query(:'target', 'SELECT $1::text AS v', 'it''s; DROP TABLE items; --') AS t(v text);
SELECT count(*) FROM items;

-- NULL parameters and NULL values stay NULL
SELECT x IS NULL AS x_null, y FROM pool.query(:'target', 'SELECT $1::int, $2::text', NULL, 'b') AS t(x int, y text);
SELECT * FROM pool.query(:'target', 'SELECT NULL::int, NULL::text') AS t(a int, b text);

-- values convert through the local types' input functions
SELECT * FROM pool.query(:'target', 'SELECT price, seen, id FROM items WHERE id = 3')
    AS t(price numeric, seen date, id bigint);
SELECT * FROM pool.query(:'target', 'SELECT 1.5::float8, true, ''{1,2}''::int[], ''1 day 02:00''::interval, ''{"a": 1}''::jsonb')
    AS t(f float8, b bool, a int[], i interval, j jsonb);
-- a text column can take anything, and a value can go into a domain
CREATE DOMAIN small_int AS int CHECK (VALUE < 100);
SELECT * FROM pool.query(:'target', 'SELECT 42, now()::date = current_date') AS t(a small_int, b text);

-- the remote's date style, whatever the local one
SET datestyle = 'SQL, DMY';
SELECT * FROM pool.query(:'target', 'SELECT seen FROM items WHERE id = 1') AS t(seen date);
RESET datestyle;

-- an empty result, and one from a statement with no rows at all
SELECT * FROM pool.query(:'target', 'SELECT id FROM items WHERE id < 0') AS t(id int);
SELECT * FROM pool.query(:'target', 'ANALYZE items') AS t(x int);

-- with several statements (no parameters), the rows of the last one count,
-- as with dblink; each must match the column definition list
SELECT * FROM pool.query(:'target', 'SELECT 1, ''one''; SELECT 2, ''two''') AS t(a int, b text);

-- commands return their tag
SELECT pool.exec(:'target', 'CREATE TABLE remote_t (a int, b text)');
SELECT pool.exec(:'target', 'INSERT INTO remote_t VALUES ($1, $2), ($3, $4)', '1', 'one', '2', NULL);
SELECT pool.exec(:'target', 'UPDATE remote_t SET b = $1 WHERE a = $2', 'x', '2');
SELECT pool.exec(:'target', 'DELETE FROM remote_t WHERE a = $1', '42');
SELECT pool.exec(:'target', 'SELECT * FROM remote_t');
SELECT pool.exec(:'target', '');
SELECT * FROM remote_t ORDER BY a;

-- a remote transaction left open by a one-shot command is rolled back at
-- check-in: the insert is gone, and the next command runs outside any
-- transaction
SELECT pool.exec(:'target', 'BEGIN; INSERT INTO remote_t VALUES (3, ''three'')');
SELECT count(*) FROM remote_t WHERE a = 3;
SELECT pool.exec(:'target', 'BEGIN');
SELECT * FROM pool.query(:'target', 'SELECT pg_catalog.txid_current_if_assigned() IS NULL, pg_catalog.current_setting(''transaction_isolation'')')
    AS t(no_xact bool, iso text);

-- remote notices and warnings reach us at their level, naming the pool
\set SHOW_CONTEXT always
SELECT pool.exec(:'target', $q$DO $b$ BEGIN RAISE NOTICE 'hello from %', 'remote'; RAISE WARNING 'careful' USING DETAIL = 'a detail'; END $b$$q$);
\set SHOW_CONTEXT errors

-- a result larger than the channel's queue streams through
SELECT count(*), sum(length(t)), min(i), max(i)
  FROM pool.query(:'target', 'SELECT g, repeat(''x'', 100) FROM generate_series(1, 50000) g') AS r(i int, t text);

-- a single value larger than the queue
SELECT length(v) FROM pool.query(:'target', 'SELECT repeat(''y'', 1000000)') AS t(v text);

-- many parameters
SELECT * FROM pool.query(:'target',
    'SELECT ' || (SELECT string_agg('$' || g || '::int', '+') FROM generate_series(1, 1000) g),
    VARIADIC (SELECT array_agg(g::text) FROM generate_series(1, 1000) g)) AS t(s int);

-- the same pool serves calls from within one statement
SELECT i, (SELECT x FROM pool.query(:'target', 'SELECT $1::int * 10', i::text) AS t(x int))
  FROM generate_series(1, 3) i;
