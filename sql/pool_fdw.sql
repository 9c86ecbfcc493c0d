--
-- Pools defined by foreign servers and user mappings: the validator, using
-- a server, changing and dropping it, and the rules for non-superusers.
--
SELECT fdwname, fdwvalidator::regproc FROM pg_foreign_data_wrapper
 WHERE fdwname = 'pool';

-- the workers apply a changed server moments after the commit: wait for it
CREATE FUNCTION pg_temp.settled(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    FOR i IN 1..500 LOOP
        EXECUTE q INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
    RETURN false;
END
$$;

-- the validator: what goes where, and malformed values
CREATE SERVER loop FOREIGN DATA WRAPPER pool
    OPTIONS (dbname 'contrib_regression', pool_size '2', max_overflow '0',
             checkout_timeout '5s', min_idle '0', application_name 'pool_fdw');
CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (password 'secret');
CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (user 'app');
CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (pool_size '-1');
CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (pool_size 'ten');
CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (checkout_timeout 'soon');
CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (idle_timeout '-5s');
-- (terse: the hint lists libpq's options, which differ between majors)
\set VERBOSITY terse
CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (client_encoding 'LATIN1');
CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (hots 'localhost');
\set VERBOSITY default
ALTER FOREIGN DATA WRAPPER pool OPTIONS (pool_size '3');
ALTER SERVER loop OPTIONS (ADD password 'secret');
ALTER SERVER loop OPTIONS (SET pool_size '0');
CREATE USER MAPPING FOR PUBLIC SERVER loop OPTIONS (pool_size '3');
CREATE USER MAPPING FOR PUBLIC SERVER loop OPTIONS (host 'elsewhere');
\set VERBOSITY terse
CREATE USER MAPPING FOR PUBLIC SERVER loop OPTIONS (passwd 'x');
\set VERBOSITY default
CREATE USER MAPPING FOR PUBLIC SERVER loop OPTIONS (password_required 'maybe');
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname = 'loop';

-- a server with no user mapping for the role
SELECT * FROM pool.query('loop', 'SELECT 1') AS t(x int);

-- with one, every function that takes a target takes the server's name
CREATE USER MAPPING FOR CURRENT_USER SERVER loop;
SELECT * FROM pool.query('loop', 'SELECT $1::int + 1', '41') AS t(x int);
SELECT pool.exec('loop', 'SELECT 1');
SELECT pool.checkout('loop') AS h \gset
SELECT * FROM pool.query(:h, 'SELECT current_setting(''application_name'')') AS t(a text);
SELECT pool.checkin(:h);
SELECT * FROM pool.fetch(pool.send('loop', 'SELECT 7')) AS t(x int);
SELECT * FROM pool.query_all(ARRAY['loop', 'loop'], 'SELECT 1') AS t(target text, x int);

-- the server's settings are the pool's; the pool is named after the server
SELECT target, pool_size, max_overflow, checkout_timeout_ms, min_idle
  FROM pool.stats WHERE target LIKE 'loop%';

-- ALTER SERVER takes effect without a restart
ALTER SERVER loop OPTIONS (SET pool_size '3', ADD idle_timeout '1min');
SELECT pg_temp.settled($$SELECT idle_timeout_ms = 60000 FROM pool.stats
                         WHERE target LIKE 'loop%'$$);
SELECT target, pool_size, idle_timeout_ms FROM pool.stats WHERE target LIKE 'loop%';
ALTER SERVER loop OPTIONS (DROP idle_timeout);
SELECT pg_temp.settled($$SELECT idle_timeout_ms <> 60000 FROM pool.stats
                         WHERE target LIKE 'loop%'$$);
SELECT target, pool_size,
       idle_timeout_ms = (SELECT setting::int FROM pg_settings
                           WHERE name = 'pool.idle_timeout') AS default_again
  FROM pool.stats WHERE target LIKE 'loop%';
-- new connection options replace the pool's connections
ALTER SERVER loop OPTIONS (SET application_name 'pool_fdw_2');
SELECT * FROM pool.query('loop', 'SELECT current_setting(''application_name'')') AS t(a text);

-- the pool of a PUBLIC mapping serves on when a role that used it gets a
-- mapping of its own (other roles still use the PUBLIC one)
CREATE SERVER pub FOREIGN DATA WRAPPER pool
    OPTIONS (dbname 'contrib_regression', application_name 'pool_pub');
CREATE USER MAPPING FOR PUBLIC SERVER pub;
SELECT * FROM pool.query('pub', 'SELECT 1') AS t(x int);
SELECT pool_id AS pub_id FROM pool.stats WHERE target LIKE 'pub%' \gset
CREATE USER MAPPING FOR CURRENT_USER SERVER pub;
SELECT pg_sleep(0.5);
SELECT count(*) AS public_pool_kept FROM pool.stats WHERE pool_id = :pub_id;
DROP USER MAPPING FOR CURRENT_USER SERVER pub;
DROP USER MAPPING FOR PUBLIC SERVER pub;
DROP SERVER pub;

-- administration by server name
SELECT pool.pause('loop');
SELECT paused FROM pool.stats WHERE target LIKE 'loop%';
SELECT pool.resume('loop');
SELECT pool.reset('nosuchserver');

-- a word that is no server is not taken for a connection string
SELECT * FROM pool.query('nosuchserver', 'SELECT 1') AS t(x int);

-- a server of another wrapper
CREATE FOREIGN DATA WRAPPER other_fdw;
CREATE SERVER other FOREIGN DATA WRAPPER other_fdw;
SELECT * FROM pool.query('other', 'SELECT 1') AS t(x int);
DROP FOREIGN DATA WRAPPER other_fdw CASCADE;

-- non-superusers: USAGE, a mapping, and a password
CREATE ROLE pool_fdw_user;
GRANT pool_fdw_user TO CURRENT_USER;
SET ROLE pool_fdw_user;
SELECT * FROM pool.query('loop', 'SELECT 1') AS t(x int);
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER loop TO pool_fdw_user;
SET ROLE pool_fdw_user;
SELECT * FROM pool.query('loop', 'SELECT 1') AS t(x int);
RESET ROLE;
CREATE USER MAPPING FOR pool_fdw_user SERVER loop OPTIONS (user 'pool_fdw_user');
SET ROLE pool_fdw_user;
SELECT * FROM pool.query('loop', 'SELECT 1') AS t(x int);
-- options only superusers may set or use
ALTER USER MAPPING FOR pool_fdw_user SERVER loop OPTIONS (ADD password_required 'false');
ALTER USER MAPPING FOR pool_fdw_user SERVER loop OPTIONS (ADD sslkey '/tmp/key');
-- connection strings need USAGE on the wrapper, which CREATE SERVER needs too
SELECT * FROM pool.query('dbname=contrib_regression password=p', 'SELECT 1') AS t(x int);
RESET ROLE;
GRANT USAGE ON FOREIGN DATA WRAPPER pool TO pool_fdw_user;
SET ROLE pool_fdw_user;
SELECT * FROM pool.query('dbname=contrib_regression passfile=/tmp/x password=p', 'SELECT 1') AS t(x int);
SELECT * FROM pool.query('dbname=contrib_regression service=foo password=p', 'SELECT 1') AS t(x int);
SELECT * FROM pool.query('dbname=contrib_regression sslcert=/tmp/x password=p', 'SELECT 1') AS t(x int);
-- what it may see of pools that are not its own
SELECT count(*) > 0 AS sees_rows, bool_and(target = '<insufficient privilege>') AS hidden
  FROM pool.stats;
-- and no administration
SELECT pool.reset('loop');
RESET ROLE;

-- DROP SERVER closes its pools
DROP SERVER loop CASCADE;
SELECT pg_temp.settled($$SELECT count(*) = 0 FROM pool.stats
                         WHERE target LIKE 'loop%'$$);
SELECT count(*) FROM pool.stats WHERE target LIKE 'loop%';
REVOKE USAGE ON FOREIGN DATA WRAPPER pool FROM pool_fdw_user;
DROP ROLE pool_fdw_user;
