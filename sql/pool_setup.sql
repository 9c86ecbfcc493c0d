--
-- Set-up: the extension, and this very instance as the remote server.
--
-- pg_regress sets PGHOST and PGPORT for the temporary instance, and the pool
-- worker inherits them, so a target naming only the database reaches this
-- instance over its Unix socket, and the pool's name stays the same from
-- run to run.
--
CREATE EXTENSION pool;

SELECT n.nspname AS schema, e.extversion, e.extrelocatable
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pool';

SELECT p.proname, p.proargtypes::regtype[]::text AS input_types,
       p.proretset AS returns_set,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_run
  FROM pg_proc p WHERE p.pronamespace = 'pool'::regnamespace
 ORDER BY 1, 2;
SELECT relname, relkind FROM pg_class
 WHERE relnamespace = 'pool'::regnamespace ORDER BY 1;

-- the worker is up, under its own backend type
SELECT backend_type, application_name, datname IS NULL AS no_database
  FROM pg_stat_activity WHERE backend_type = 'pool worker';

-- remote-side objects used by the other tests
CREATE TABLE items (id int PRIMARY KEY, name text, price numeric, seen date);
INSERT INTO items
SELECT g, 'item ' || g, g * 1.5, date '2024-01-01' + g
  FROM generate_series(1, 20) g;
