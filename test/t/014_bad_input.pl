# Hostile and malformed input to every function and option, table-driven:
# NULLs, empty and very long strings, invalid UTF-8 in SQL text, parameters
# and remote data, 65,536 parameters, connection strings with injected
# options, handles that are negative, huge or another session's, column
# definition lists of 1,600 columns and more, a row larger than the channel's
# queue, bad settings and bad foreign server options.  Each case either
# gives a clear error with the right SQLSTATE or, where the input is legal,
# the right answer; after each one the pool answers, holds no connection, and
# its worker is the same process.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $t_start = time();

my $remote = pool_remote('remote');
# a database that stores any bytes: what it returns need not be valid UTF-8
$remote->safe_psql('postgres',
	"CREATE DATABASE latin OWNER app TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'"
);
my $local = pool_local('local',
	conf => "pool.pool_size = 2\n"
	  . "pool.max_overflow = 2\n"
	  . "pool.max_pools = 64\n"
	  # below the remote's max_connections (50), with room for cancels
	  . "pool.max_connections = 30\n"
	  . "pool.idle_timeout = '2s'\n"
	  . "pool.checkout_timeout = '10s'\n"
	  . "pool.retry_delay = '100ms'\n");

# every case runs in a UTF8 database, whatever initdb chose
$local->safe_psql('postgres',
	"CREATE DATABASE u8 TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");
$local->safe_psql('u8', 'CREATE EXTENSION pool');

my $port = $remote->port;
my $t = tcp_target($remote);
my $lat = tcp_target($remote, dbname => 'latin');

$local->safe_psql('u8', qq{
CREATE ROLE mallory LOGIN;
-- may use connection strings: what it can do with them is what is tested
GRANT USAGE ON FOREIGN DATA WRAPPER pool TO mallory;
CREATE SERVER srv FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1', port '$port', dbname 'app');
CREATE USER MAPPING FOR PUBLIC SERVER srv OPTIONS (user 'app', password 'secret');
GRANT USAGE ON FOREIGN SERVER srv TO mallory;
-- quotes, backslashes and newlines in option values stay values
CREATE SERVER inject FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '$port', dbname E'app\\' user=\\'postgres\\' x=\\\\ \\n');
CREATE USER MAPPING FOR PUBLIC SERVER inject OPTIONS (user 'app', password 'secret');
GRANT USAGE ON FOREIGN SERVER inject TO mallory;
-- options only superusers may connect with, granted to a non-superuser
CREATE SERVER withpassfile FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '$port', dbname 'app', passfile '/dev/null');
CREATE USER MAPPING FOR PUBLIC SERVER withpassfile OPTIONS (user 'app', password 'secret');
GRANT USAGE ON FOREIGN SERVER withpassfile TO mallory;
CREATE SERVER injecthost FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1 user=postgres dbname=postgres', port '$port', dbname 'app');
CREATE USER MAPPING FOR PUBLIC SERVER injecthost OPTIONS (user 'app', password 'secret');
GRANT USAGE ON FOREIGN SERVER injecthost TO mallory;
-- a server on the SQL_ASCII database
CREATE SERVER latinsrv FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1', port '$port', dbname 'latin');
CREATE USER MAPPING FOR PUBLIC SERVER latinsrv OPTIONS (user 'app', password 'secret');
CREATE FOREIGN DATA WRAPPER other;
CREATE SERVER notpool FOREIGN DATA WRAPPER other;
});

my $worker_pid = pool_worker_pid($local);
my $first_worker_pid = $worker_pid;
like($worker_pid, qr/^\d+$/, "the pool worker runs (pid $worker_pid)");

# --- generated input -----------------------------------------------------------

sub cols
{
	my ($n, $type) = @_;
	return join(', ', map { "c$_ $type" } 1 .. $n);
}

sub select_list
{
	my ($n) = @_;
	return 'SELECT ' . join(', ', 1 .. $n);
}

# SQL that references $1 .. $n, so that the remote can type every parameter
sub param_sql
{
	my ($n) = @_;
	return "(SELECT 'SELECT cardinality(ARRAY[' || string_agg('\$' || g, ',') || ']::int[])' FROM generate_series(1, $n) g)";
}

my $long_reset = 'SELECT ' . join(' + ', (1) x 150);    # over 256 bytes
my $many_targets = 2000;
my $distinct_targets = 100;                               # more than max_pools

# --- state shared with hooks -----------------------------------------------------

my ($other, $other_handle);
my $held_by_others = 0;    # connections legitimately held meanwhile

# --- the cases -------------------------------------------------------------------
#
# [ description,
#   SQL run by psql in database u8 (or a sub returning it), with :'t' the
#     remote's app database over TCP and :'lat' its SQL_ASCII database,
#   'ok', or the SQLSTATE expected (alternatives separated by |),
#   for 'ok' the exact output, else a regexp for the primary message,
#   options:
#     role => who runs it (default postgres),
#     detail => a regexp for the DETAIL line,
#     out => the exact output of the statements that follow the failing one,
#     check_target => the target the pool must answer on afterwards (default :'t'),
#     before, after => subs run around the case ]

my @cases = (

	# NULL in every argument position
	[ 'query: NULL target', q{SELECT * FROM pool.query(NULL, 'SELECT 1') AS t(x int)}, '22004', qr/^target must not be null$/ ],
	[ 'query: NULL SQL', q{SELECT * FROM pool.query(:'t', NULL) AS t(x int)}, '22004', qr/^SQL command must not be null$/ ],
	[ 'query: NULL parameter array', q{SELECT * FROM pool.query(:'t', 'SELECT 1', VARIADIC NULL::text[]) AS t(x int)}, '22004', qr/^parameter array must not be null$/ ],
	[ 'query: a NULL parameter stays NULL', q{SELECT * FROM pool.query(:'t', 'SELECT $1::text IS NULL, $2::text', NULL, 'b') AS t(x bool, y text)}, 'ok', 't|b' ],
	[ 'exec: NULL target', q{SELECT pool.exec(NULL, 'SELECT 1')}, '22004', qr/^target must not be null$/ ],
	[ 'exec: NULL SQL', q{SELECT pool.exec(:'t', NULL)}, '22004', qr/^SQL command must not be null$/ ],
	[ 'exec: NULL parameter array', q{SELECT pool.exec(:'t', 'SELECT 1', VARIADIC NULL::text[])}, '22004', qr/^parameter array must not be null$/ ],
	[ 'checkout: NULL target', q{SELECT pool.checkout(NULL)}, '22004', qr/^target must not be null$/ ],
	[ 'checkout: NULL scope', q{SELECT pool.checkout(:'t', NULL)}, '22004', qr/^scope must not be null$/ ],
	[ 'query(handle): NULL handle', q{SELECT * FROM pool.query(NULL::bigint, 'SELECT 1') AS t(x int)}, '22004', qr/^handle must not be null$/ ],
	[ 'query(handle): NULL SQL', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT * FROM pool.query(:h, NULL) AS t(x int);\nSELECT pool.checkin(:h);}, '22004', qr/^SQL command must not be null$/ ],
	[ 'query(handle): NULL parameter array', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT * FROM pool.query(:h, 'SELECT 1', VARIADIC NULL::text[]) AS t(x int);\nSELECT pool.checkin(:h);}, '22004', qr/^parameter array must not be null$/ ],
	[ 'exec(handle): NULL handle', q{SELECT pool.exec(NULL::bigint, 'SELECT 1')}, '22004', qr/^handle must not be null$/ ],
	[ 'exec(handle): NULL SQL', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT pool.exec(:h, NULL);\nSELECT pool.checkin(:h);}, '22004', qr/^SQL command must not be null$/ ],
	[ 'exec(handle): NULL parameter array', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT pool.exec(:h, 'SELECT 1', VARIADIC NULL::text[]);\nSELECT pool.checkin(:h);}, '22004', qr/^parameter array must not be null$/ ],
	[ 'checkin: NULL handle', q{SELECT pool.checkin(NULL)}, '22004', qr/^handle must not be null$/ ],
	[ 'send: NULL target', q{SELECT pool.send(NULL::text, 'SELECT 1')}, '22004', qr/^target must not be null$/ ],
	[ 'send: NULL SQL', q{SELECT pool.send(:'t', NULL)}, '22004', qr/^SQL command must not be null$/ ],
	[ 'send: NULL parameter array', q{SELECT pool.send(:'t', 'SELECT 1', VARIADIC NULL::text[])}, '22004', qr/^parameter array must not be null$/ ],
	[ 'send(handle): NULL handle', q{SELECT pool.send(NULL::bigint, 'SELECT 1')}, '22004', qr/^handle must not be null$/ ],
	[ 'send(handle): NULL SQL', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT pool.send(:h, NULL);\nSELECT pool.checkin(:h);}, '22004', qr/^SQL command must not be null$/ ],
	[ 'is_busy: NULL handle is NULL (strict)', q{SELECT pool.is_busy(NULL) IS NULL}, 'ok', 't' ],
	[ 'fetch: NULL handle', q{SELECT * FROM pool.fetch(NULL) AS t(x int)}, '22004', qr/^handle must not be null$/ ],
	[ 'cancel: NULL handle is NULL (strict)', q{SELECT pool.cancel(NULL) IS NULL}, 'ok', 't' ],
	[ 'query_all: NULL target array', q{SELECT * FROM pool.query_all(NULL, 'SELECT 1') AS t(target text, x int)}, '22004', qr/^target array must not be null$/ ],
	[ 'query_all: NULL SQL', q{SELECT * FROM pool.query_all(ARRAY[:'t'], NULL) AS t(target text, x int)}, '22004', qr/^SQL command must not be null$/ ],
	[ 'query_all: NULL parameter array', q{SELECT * FROM pool.query_all(ARRAY[:'t'], 'SELECT 1', VARIADIC NULL::text[]) AS t(target text, x int)}, '22004', qr/^parameter array must not be null$/ ],
	[ 'query_all: a NULL target in the array', q{SELECT * FROM pool.query_all(ARRAY[:'t', NULL], 'SELECT 1') AS t(target text, x int)}, '22004', qr/^target must not be null$/ ],
	[ 'pause: NULL is NULL (strict)', q{SELECT pool.pause(NULL) IS NULL}, 'ok', 't' ],
	[ 'resume: NULL is NULL (strict)', q{SELECT pool.resume(NULL) IS NULL}, 'ok', 't' ],
	[ 'reset: NULL is NULL (strict)', q{SELECT pool.reset(NULL) IS NULL}, 'ok', 't' ],
	[ 'stats_reset: NULL resets every pool', q{SELECT pool.stats_reset(NULL)}, 'ok', '' ],

	# empty strings
	[ 'query: empty SQL returns no rows', q{SELECT count(*) FROM pool.query(:'t', '') AS t(x int)}, 'ok', '0' ],
	[ 'exec: empty SQL returns an empty tag', q{SELECT '[' || pool.exec(:'t', '') || ']'}, 'ok', '[]' ],
	[ 'exec: a comment alone', q{SELECT '[' || pool.exec(:'t', '-- nothing') || ']'}, 'ok', '[]' ],
	[ 'exec: empty SQL with a parameter', q{SELECT pool.exec(:'t', '', 'x')}, '08P01', qr/^bind message supplies 1 parameters, but prepared statement "" requires 0$/ ],
	[ 'query: empty target as a non-superuser', q{SELECT * FROM pool.query('', 'SELECT 1') AS t(x int)}, '2F003', qr/^password is required$/, role => 'mallory' ],
	[ 'checkout: empty scope', q{SELECT pool.checkout(:'t', '')}, '22023', qr/^invalid scope ""$/ ],
	[ 'query_all: empty target array', q{SELECT count(*) FROM pool.query_all('{}', 'SELECT 1') AS t(target text, x int)}, 'ok', '0' ],
	[ 'query: empty parameter array', q{SELECT * FROM pool.query(:'t', 'SELECT 7', VARIADIC '{}'::text[]) AS t(x int)}, 'ok', '7' ],
	[ 'query: an empty string parameter', q{SELECT * FROM pool.query(:'t', 'SELECT length($1::text)', '') AS t(x int)}, 'ok', '0' ],
	[ 'pause: empty pool name', q{SELECT pool.pause('')}, '42704', qr/^pool "\(defaults\)" does not exist$/ ],

	# very long strings
	[ 'query: 4 MB of SQL text', q{SELECT * FROM pool.query(:'t', 'SELECT length(''' || repeat('x', 4 * 1024 * 1024) || ''')') AS t(n int)}, 'ok', '4194304' ],
	[ 'exec: 4 MB of SQL text, mostly a comment', q{SELECT pool.exec(:'t', 'SELECT 1 /*' || repeat('*', 4 * 1024 * 1024) || '*/')}, 'ok', 'SELECT 1' ],
	[ 'query: a 10 MB parameter', q{SELECT * FROM pool.query(:'t', 'SELECT length($1)', repeat('y', 10 * 1024 * 1024)) AS t(n int)}, 'ok', '10485760' ],
	[ 'send/fetch: 4 MB of SQL text', qq{SELECT pool.send(:'t', 'SELECT length(''' || repeat('x', 4 * 1024 * 1024) || ''')') AS a \\gset\nSELECT * FROM pool.fetch(:a) AS t(n int);}, 'ok', '4194304' ],
	[ 'query: a target longer than a pool key', q{SELECT * FROM pool.query('dbname=' || repeat('x', 3000), 'SELECT 1') AS t(x int)}, '54000', qr/^connection string is too long$/ ],
	[ 'query: a 4 MB target', q{SELECT * FROM pool.query('dbname=' || repeat('x', 4 * 1024 * 1024), 'SELECT 1') AS t(x int)}, '54000', qr/^connection string is too long$/ ],
	[ 'query: a 4 MB target, non-superuser', q{SELECT * FROM pool.query('password=x dbname=' || repeat('x', 4 * 1024 * 1024), 'SELECT 1') AS t(x int)}, '54000', qr/^connection string is too long$/, role => 'mallory' ],
	[ 'query: a long word is a server that does not exist', q{SELECT * FROM pool.query(repeat('s', 100), 'SELECT 1') AS t(x int)}, '42704', qr/^server "s+" does not exist$/ ],
	[ 'query: a 63-byte word is a server that does not exist', q{SELECT * FROM pool.query(repeat('s', 63), 'SELECT 1') AS t(x int)}, '42704', qr/^server "s{63}" does not exist$/ ],
	[ 'checkout: a long scope', q{SELECT pool.checkout(:'t', repeat('s', 10000))}, '22023', qr/^invalid scope "s+"$/ ],
	[ 'reset: a pool name longer than a pool key', q{SELECT pool.reset('dbname=' || repeat('x', 3000))}, '54000', qr/^connection string is too long$/ ],
	[ 'pause: a huge pool id', q{SELECT pool.pause('99999999999999999999999')}, '42704', qr/^pool 99999999999999999999999 does not exist$/ ],

	# invalid UTF-8 in what the local server receives: refused at input
	[ 'SQL text with a raw 0xff byte', "SELECT * FROM pool.query(:'t', 'SELECT ''a\xffb''') AS t(x text)", '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/ ],
	[ 'a parameter with a raw 0xff byte', "SELECT * FROM pool.query(:'t', 'SELECT \$1', 'a\xffb') AS t(x text)", '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/ ],
	[ 'a parameter with an escaped 0xff byte', q{SELECT * FROM pool.query(:'t', 'SELECT $1', E'a\xffb') AS t(x text)}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/ ],
	[ 'a target with a raw 0xc3 byte', "SELECT * FROM pool.query('dbname=\xc3', 'SELECT 1') AS t(x int)", '22021', qr/^invalid byte sequence for encoding "UTF8": 0xc3/ ],

	# invalid UTF-8 that a SQL_ASCII remote returns: refused, never stored
	[ 'SQL_ASCII remote: valid UTF-8 passes', q{SELECT x, length(x) FROM pool.query(:'lat', $q$SELECT E'\xc3\xa9'$q$) AS t(x text)}, 'ok', "\xc3\xa9|1", check_target => $lat ],
	[ 'SQL_ASCII remote: a 0xff byte in a text value', q{SELECT x::bytea FROM pool.query(:'lat', $q$SELECT E'a\xffb'$q$) AS t(x text)}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/, check_target => $lat ],
	[ 'SQL_ASCII remote: a truncated sequence in a varchar value', q{SELECT x::bytea FROM pool.query(:'lat', $q$SELECT E'ab\xc3'$q$) AS t(x varchar)}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xc3/, check_target => $lat ],
	[ 'SQL_ASCII remote: a 0xff byte in a json value', q{SELECT x::text::bytea FROM pool.query(:'lat', $q$SELECT E'"a\xffb"'$q$) AS t(x json)}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/, check_target => $lat ],
	[ 'SQL_ASCII remote: a 0xff byte in the 5,000th row', q{SELECT count(*) FROM pool.query(:'lat', $q$SELECT CASE WHEN g = 5000 THEN E'\xff' ELSE 'x' END FROM generate_series(1, 10000) g$q$) AS t(x text) WHERE x::bytea = '\xff'}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/, check_target => $lat ],
	[ 'SQL_ASCII remote: fetch of a 0xff byte', qq{SELECT pool.send(:'lat', \$q\$SELECT E'\\xff'\$q\$) AS a \\gset\nSELECT x::bytea FROM pool.fetch(:a) AS t(x text);}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/, check_target => $lat ],
	[ 'SQL_ASCII remote: query_all of a 0xff byte', q{SELECT x::bytea FROM pool.query_all(ARRAY[:'lat'], $q$SELECT E'\xff'$q$) AS t(target text, x text)}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/, check_target => $lat ],
	[ 'SQL_ASCII remote: a 0xff byte on a handle', qq{SELECT pool.checkout(:'lat') AS h \\gset\nSELECT x::bytea FROM pool.query(:h, \$q\$SELECT E'\\xff'\$q\$) AS t(x text);\nSELECT pool.checkin(:h);}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/, check_target => $lat ],
	[ 'SQL_ASCII remote: a 0xff byte in an error message', q{SELECT pool.exec(:'lat', $q$DO $$BEGIN RAISE EXCEPTION E'bad \xff byte'; END $$ $q$)}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff$/, check_target => $lat ],

	# ... also when the remote SQL changes client_encoding behind the pool's back
	[ 'remote SET client_encoding LATIN1, then a non-ASCII value', q{SELECT x::bytea FROM pool.query(:'t', $q$SET client_encoding = 'LATIN1'; SELECT chr(233)$q$) AS t(x text)}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xe9/ ],
	[ 'SQL_ASCII remote: SET client_encoding SQL_ASCII, then a 0xff byte', q{SELECT x::bytea FROM pool.query(:'lat', $q$SET client_encoding = 'SQL_ASCII'; SELECT E'a\xffb'$q$) AS t(x text)}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/, check_target => $lat ],
	[ 'SQL_ASCII remote: SET client_encoding SQL_ASCII, then a 0xff byte in an error', q{SELECT pool.exec(:'lat', $q$SET client_encoding = 'SQL_ASCII'; DO $$BEGIN RAISE EXCEPTION E'bad \xff byte'; END $$ $q$)}, 'P0001|22021', qr/^(bad .* byte|invalid byte sequence for encoding "UTF8": 0xff)$/, check_target => $lat ],
	[ 'SQL_ASCII remote: SET client_encoding SQL_ASCII, then a 0xff byte in a notice', q{SELECT pool.exec(:'lat', $q$SET client_encoding = 'SQL_ASCII'; DO $$BEGIN RAISE NOTICE E'note \xff byte'; END $$ $q$)}, 'ok', 'DO', check_target => $lat ],
	[ 'a handle whose remote session switched to LATIN1', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT pool.exec(:h, \$\$SET client_encoding = 'LATIN1'\$\$);\nSELECT x::bytea FROM pool.query(:h, 'SELECT chr(233)') AS t(x text);\nSELECT pool.checkin(:h);}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xe9/ ],
	[ 'target: options=-c client_encoding=LATIN1 does not win', qq{SELECT * FROM pool.query(:'t' || \$\$ options='-c client_encoding=LATIN1'\$\$, 'SHOW client_encoding') AS t(x text)}, 'ok', 'UTF8' ],
	[ 'server on a SQL_ASCII remote: client_encoding is the local one', q{SELECT * FROM pool.query('latinsrv', 'SHOW client_encoding') AS t(x text)}, 'ok', 'UTF8', check_target => 'latinsrv' ],
	[ 'server on a SQL_ASCII remote: a 0xff byte', q{SELECT x::bytea FROM pool.query('latinsrv', $q$SELECT E'a\xffb'$q$) AS t(x text)}, '22021', qr/^invalid byte sequence for encoding "UTF8": 0xff/, check_target => 'latinsrv' ],

	# parameters: how many
	[ '65,536 parameters', q{SELECT * FROM pool.query(:'t', 'SELECT 1', VARIADIC array_fill('1'::text, ARRAY[65536])) AS t(x int)}, '54023', qr/^too many parameters$/ ],
	[ '65,536 parameters to exec on a handle', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT pool.exec(:h, 'SELECT 1', VARIADIC array_fill('1'::text, ARRAY[65536]));\nSELECT pool.checkin(:h);}, '54023', qr/^too many parameters$/ ],
	[ '65,536 parameters to send', q{SELECT pool.send(:'t', 'SELECT 1', VARIADIC array_fill('1'::text, ARRAY[65536]))}, '54023', qr/^too many parameters$/ ],
	[ '65,536 parameters to query_all', q{SELECT * FROM pool.query_all(ARRAY[:'t'], 'SELECT 1', VARIADIC array_fill('1'::text, ARRAY[65536])) AS t(target text, x int)}, '54023', qr/^too many parameters$/ ],
	[ '100,000 NULL parameters', q{SELECT * FROM pool.query(:'t', 'SELECT 1', VARIADIC array_fill(NULL::text, ARRAY[100000])) AS t(x int)}, '54023', qr/^too many parameters$/ ],
	[ '65,535 parameters, all used', 'SELECT * FROM pool.query(:\'t\', ' . param_sql(65535) . q{, VARIADIC array_fill('1'::text, ARRAY[65535])) AS t(n int)}, 'ok', '65535' ],
	[ 'a two-dimensional parameter array', q{SELECT * FROM pool.query(:'t', 'SELECT $1', VARIADIC '{{a,b},{c,d}}'::text[]) AS t(x text)}, '2202E', qr/^parameters must be a one-dimensional array$/ ],
	[ 'a parameter array that starts at 5', q{SELECT * FROM pool.query(:'t', 'SELECT $1::text || $2::text', VARIADIC '[5:6]={a,b}'::text[]) AS t(x text)}, 'ok', 'ab' ],
	[ 'a parameter the remote cannot convert', q{SELECT * FROM pool.query(:'t', 'SELECT $1::int', 'abc') AS t(x int)}, '22P02', qr/invalid input syntax for type integer: "abc"/ ],
	[ 'parameters with several statements', q{SELECT pool.exec(:'t', 'SELECT $1; SELECT 2', 'a')}, '42601', qr/cannot insert multiple commands into a prepared statement/ ],

	# connection strings with injected options
	[ 'target: an injected quote', q{SELECT * FROM pool.query($$host=127.0.0.1 dbname=app' user='postgres$$, 'SELECT 1') AS t(x int)}, '42601', qr/^invalid connection string syntax$/ ],
	[ 'target: an injected quote, non-superuser', q{SELECT * FROM pool.query($$host=127.0.0.1 dbname=app' user='postgres password=x$$, 'SELECT 1') AS t(x int)}, '42601', qr/^invalid connection string syntax$/, role => 'mallory' ],
	[ 'target: the error does not echo a password', q{SELECT * FROM pool.query($$password='hunter2 dbname=x$$, 'SELECT 1') AS t(x int)}, '42601', qr/^invalid connection string syntax$/ ],
	[ 'target: an unknown option', q{SELECT * FROM pool.query('host=127.0.0.1 evil=1', 'SELECT 1') AS t(x int)}, '42601', qr/^invalid connection string syntax$/ ],
	[ 'target: replication', qq{SELECT * FROM pool.query(:'t' || ' replication=database', 'SELECT 1') AS t(x int)}, '0A000', qr/^connection option "replication" is not supported$/ ],
	[ 'target: client_encoding is always the local one', qq{SELECT * FROM pool.query(:'t' || ' client_encoding=LATIN1', 'SHOW client_encoding') AS t(x text)}, 'ok', 'UTF8' ],
	[ 'target: options=-c sets a remote setting the remote allows', qq{SELECT * FROM pool.query(:'t' || \$\$ options='-c search_path=nowhere'\$\$, 'SHOW search_path') AS t(x text)}, 'ok', 'nowhere' ],
	[ 'target: options=-c of a superuser-only remote setting', qq{SELECT * FROM pool.query(:'t' || \$\$ options='-c log_statement=none'\$\$, 'SELECT 1') AS t(x int)}, '08001', qr/^could not connect to pool/ ],
	[ 'target: a password of quotes, backslashes and a newline', qq{SELECT * FROM pool.query(:'t' || E' password=\\'x\\\\\\' y\\nz\\'', 'SELECT 1') AS t(x int)}, '08001', qr/^could not connect to pool/ ],
	[ 'target: passfile, non-superuser', qq{SELECT * FROM pool.query(:'t' || ' passfile=/dev/null', 'SELECT 1') AS t(x int)}, '42501', qr/^permission denied to use connection option "passfile"$/, role => 'mallory' ],
	[ 'target: sslkey, non-superuser', qq{SELECT * FROM pool.query(:'t' || ' sslkey=/etc/ssl/private/x.key', 'SELECT 1') AS t(x int)}, '42501', qr/^permission denied to use connection option "sslkey"$/, role => 'mallory' ],
	[ 'target: sslcert, non-superuser', qq{SELECT * FROM pool.query(:'t' || ' sslcert=/tmp/x.crt', 'SELECT 1') AS t(x int)}, '42501', qr/^permission denied to use connection option "sslcert"$/, role => 'mallory' ],
	[ 'target: service, non-superuser', qq{SELECT * FROM pool.query(:'t' || ' service=x', 'SELECT 1') AS t(x int)}, '42501', qr/^permission denied to use connection option "service"$/, role => 'mallory' ],
	[ 'target: a URI with passfile, non-superuser', "SELECT * FROM pool.query('postgresql://app:secret\@127.0.0.1:$port/app?passfile=/dev/null', 'SELECT 1') AS t(x int)", '42501', qr/^permission denied to use connection option "passfile"$/, role => 'mallory' ],
	[ 'target: an empty password, non-superuser', qq{SELECT * FROM pool.query('host=127.0.0.1 port=$port dbname=app user=app password=''''', 'SELECT 1') AS t(x int)}, '2F003', qr/^password is required$/, role => 'mallory' ],
	[ 'server: quotes in an option value stay in the value', q{SELECT * FROM pool.query('inject', 'SELECT current_user') AS t(x text)}, '08001', qr/^could not connect to pool "inject user=app"$/, role => 'mallory', detail => qr/database "app' user='postgres' x=\\ \n" does not exist/ ],
	[ 'server: a host with injected options stays a host name', q{SELECT * FROM pool.query('injecthost', 'SELECT current_user') AS t(x text)}, '08001', qr/^could not connect to pool "injecthost user=app"$/, role => 'mallory', detail => qr/could not translate host name "127\.0\.0\.1 user=postgres dbname=postgres"/ ],
	[ 'server: passfile on the server, non-superuser', q{SELECT * FROM pool.query('withpassfile', 'SELECT 1') AS t(x int)}, '42501', qr/^permission denied to use connection option "passfile"$/, role => 'mallory' ],
	[ 'server: of another wrapper', q{SELECT * FROM pool.query('notpool', 'SELECT 1') AS t(x int)}, '42809', qr/^server "notpool" does not belong to the pool foreign-data wrapper$/ ],
	[ 'server: a name like SQL', q{SELECT * FROM pool.query('x; DROP TABLE y', 'SELECT 1') AS t(x int)}, '42704', qr/^server "x; DROP TABLE y" does not exist$/ ],
	[ 'server: works for a non-superuser', q{SELECT * FROM pool.query('srv', 'SELECT current_user') AS t(x text)}, 'ok', 'app', role => 'mallory' ],

	# handles: made up, negative, huge, of another session
	[ 'query(handle): -1', q{SELECT * FROM pool.query(-1, 'SELECT 1') AS t(x int)}, '42704', qr/^handle -1 does not exist$/ ],
	[ 'exec(handle): 0', q{SELECT pool.exec(0, 'SELECT 1')}, '42704', qr/^handle 0 does not exist$/ ],
	[ 'exec(handle): 9223372036854775807', q{SELECT pool.exec(9223372036854775807, 'SELECT 1')}, '42704', qr/^handle 9223372036854775807 does not exist$/ ],
	[ 'exec(handle): -9223372036854775808', q{SELECT pool.exec((-9223372036854775807 - 1)::bigint, 'SELECT 1')}, '42704', qr/^handle -9223372036854775808 does not exist$/ ],
	[ 'exec(handle): slot 1, made-up reservation', q{SELECT pool.exec((12345::bigint << 20) | 1, 'SELECT 1')}, '42704', qr/^handle \d+ does not exist$/ ],
	[ 'exec(handle): an asynchronous handle never given out', q{SELECT pool.exec((1::bigint << 62) | 1, 'SELECT 1')}, '42704', qr/^handle 4611686018427387905 does not exist$/ ],
	[ 'checkin: -1', q{SELECT pool.checkin(-1)}, '42704', qr/^handle -1 does not exist$/ ],
	[ 'checkin: 9223372036854775807', q{SELECT pool.checkin(9223372036854775807)}, '42704', qr/^handle 9223372036854775807 does not exist$/ ],
	[ 'checkin: twice', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT pool.checkin(:h);\nSELECT pool.checkin(:h);}, '42704', qr/^handle \d+ does not exist$/ ],
	[ 'send(handle): -1', q{SELECT pool.send(-1, 'SELECT 1')}, '42704', qr/^handle -1 does not exist$/ ],
	[ 'is_busy: -1', q{SELECT pool.is_busy(-1)}, '42704', qr/^handle -1 does not exist$/ ],
	[ 'fetch: -1', q{SELECT * FROM pool.fetch(-1) AS t(x int)}, '42704', qr/^handle -1 does not exist$/ ],
	[ 'fetch: 9223372036854775807', q{SELECT * FROM pool.fetch(9223372036854775807) AS t(x int)}, '42704', qr/^handle 9223372036854775807 does not exist$/ ],
	[ 'cancel: 0', q{SELECT pool.cancel(0)}, '42704', qr/^handle 0 does not exist$/ ],
	[ 'fetch: twice', qq{SELECT pool.send(:'t', 'SELECT 1') AS a \\gset\nSELECT * FROM pool.fetch(:a) AS t(x int);\nSELECT * FROM pool.fetch(:a) AS t(x int);}, '42704', qr/^handle \d+ does not exist$/ ],
	[ 'fetch: a reserved handle with no command', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT * FROM pool.fetch(:h) AS t(x int);\nSELECT pool.checkin(:h);}, '55000', qr/^handle \d+ has no command in progress$/ ],
	[ 'checkin: an asynchronous handle', qq{SELECT pool.send(:'t', 'SELECT 1') AS a \\gset\nSELECT pool.checkin(:a);}, '42809', qr/^handle \d+ is not a checked-out connection$/ ],
	[ 'exec: on an asynchronous handle', qq{SELECT pool.send(:'t', 'SELECT 1') AS a \\gset\nSELECT pool.exec(:a, 'SELECT 2');}, '42809', qr/^handle \d+ is not a checked-out connection$/ ],
	[ 'send: twice on an asynchronous handle', qq{SELECT pool.send(:'t', 'SELECT pg_sleep(0.2)') AS a \\gset\nSELECT pool.send(:a, 'SELECT 2');}, '55006', qr/^another command is already in progress on handle \d+$/ ],
	[ 'a handle of transaction scope after its transaction', qq{BEGIN;\nSELECT pool.checkout(:'t', 'transaction') AS h \\gset\nCOMMIT;\nSELECT pool.exec(:h, 'SELECT 1');}, '42704', qr/^handle \d+ does not exist$/ ],
	[ 'checkin: a handle in a remote transaction tied to the local one', qq{BEGIN;\nSELECT pool.checkout(:'t', 'transaction') AS h \\gset\nSELECT pool.exec(:h, 'SELECT 1');\nSELECT pool.checkin(:h);\nROLLBACK;}, '25001', qr/^handle \d+ is in a remote transaction tied to this one$/ ],
	[ 'exec: another session\'s handle', sub { "SELECT pool.exec($other_handle, 'SELECT 1')" }, '55006', qr/^handle \d+ belongs to another session$/,
		before => sub {
			$other = $local->background_psql('u8', on_error_stop => 0);
			$other_handle = $other->query_safe("SELECT pool.checkout('$t')");
			$held_by_others = 1;
		} ],
	[ 'query: another session\'s handle', sub { "SELECT * FROM pool.query($other_handle, 'SELECT 1') AS t(x int)" }, '55006', qr/^handle \d+ belongs to another session$/ ],
	[ 'send: another session\'s handle', sub { "SELECT pool.send($other_handle, 'SELECT 1')" }, '55006', qr/^handle \d+ belongs to another session$/ ],
	[ 'fetch: another session\'s handle', sub { "SELECT * FROM pool.fetch($other_handle) AS t(x int)" }, '55006', qr/^handle \d+ belongs to another session$/ ],
	[ 'is_busy: another session\'s handle', sub { "SELECT pool.is_busy($other_handle)" }, '55006', qr/^handle \d+ belongs to another session$/ ],
	[ 'cancel: another session\'s handle', sub { "SELECT pool.cancel($other_handle)" }, '55006', qr/^handle \d+ belongs to another session$/ ],
	[ 'checkin: another session\'s handle', sub { "SELECT pool.checkin($other_handle)" }, '55006', qr/^handle \d+ belongs to another session$/,
		after => sub {
			is($other->query_safe("SELECT pool.exec($other_handle, 'SELECT 1')"), 'SELECT 1',
				'the other session\'s handle still works after all that');
			$other->query_safe("SELECT pool.checkin($other_handle)");
			$other->quit;
			$held_by_others = 0;
		} ],

	# scope
	[ 'checkout: scope SESSION in capitals', q{SELECT pool.checkout(:'t', 'SESSION')}, '22023', qr/^invalid scope "SESSION"$/ ],
	[ 'checkout: scope with a trailing space', q{SELECT pool.checkout(:'t', 'session ')}, '22023', qr/^invalid scope "session "$/ ],
	[ 'checkout: scope transaction outside a transaction block', q{SELECT pool.checkout(:'t', 'transaction')}, '25P01', qr/^a handle of transaction scope can only be checked out in a transaction block$/ ],

	# column definition lists
	[ '1,600 columns', "SELECT c1 + c800 + c1600 FROM pool.query(:'t', '" . select_list(1600) . "') AS t(" . cols(1600, 'int') . ")", 'ok', '2401' ],
	[ '1,601 columns', "SELECT c1 FROM pool.query(:'t', '" . select_list(1601) . "') AS t(" . cols(1601, 'int') . ")", '54011', qr/^column definition lists can have at most 1600 entries$/ ],
	[ '1,601 columns to query_all', "SELECT c1 FROM pool.query_all(ARRAY[:'t'], '" . select_list(1600) . "') AS t(target text, " . cols(1600, 'int') . ")", '54011', qr/^column definition lists can have at most 1600 entries$/ ],
	[ '1,600 columns and the target to query_all', "SELECT c1 + c1599 FROM pool.query_all(ARRAY[:'t'], '" . select_list(1599) . "') AS t(target text, " . cols(1599, 'int') . ")", 'ok', '1600' ],
	[ '1,600 columns through send and fetch', "SELECT pool.send(:'t', '" . select_list(1600) . "') AS a \\gset\nSELECT c1600 FROM pool.fetch(:a) AS t(" . cols(1600, 'int') . ");", 'ok', '1600' ],
	[ '1,600 columns on a handle', "SELECT pool.checkout(:'t') AS h \\gset\nSELECT c1600 FROM pool.query(:h, '" . select_list(1600) . "') AS t(" . cols(1600, 'int') . ");\nSELECT pool.checkin(:h);", 'ok', "1600\n" ],
	[ '1,665 columns from the remote', "SELECT c1 FROM pool.query(:'t', '" . select_list(1665) . "') AS t(" . cols(1600, 'int') . ")", '54011', qr/^target lists can have at most 1664 entries$/ ],
	[ '1,600 columns in the list, 1,601 from the remote', "SELECT c1 FROM pool.query(:'t', '" . select_list(1601) . "') AS t(" . cols(1600, 'int') . ")", '42804', qr/^remote query result rowtype does not match the specified FROM clause rowtype$/ ],
	[ '1,600 columns of 1 kB text: a row larger than the queue', "SELECT length(c1) + length(c1600) FROM pool.query(:'t', 'SELECT " . join(', ', map { "repeat(''x'', 1024)" } 1 .. 1600) . "') AS t(" . cols(1600, 'text') . ")", 'ok', '2048' ],
	[ 'too few columns in the list', q{SELECT * FROM pool.query(:'t', 'SELECT 1, 2') AS t(x int)}, '42804', qr/^remote query result rowtype does not match the specified FROM clause rowtype$/ ],
	[ 'too many columns in the list', q{SELECT * FROM pool.query(:'t', 'SELECT 1') AS t(x int, y int)}, '42804', qr/^remote query result rowtype does not match the specified FROM clause rowtype$/ ],
	[ 'a type that cannot convert', q{SELECT * FROM pool.query(:'t', 'SELECT now()') AS t(x int)}, '42804', qr/^remote column "now" of type timestamp with time zone does not match type integer of column "x"/ ],
	[ 'a value that does not convert, in the 500th row', q{SELECT count(*) FROM pool.query(:'t', 'SELECT CASE WHEN g = 500 THEN ''abc'' ELSE g::text END FROM generate_series(1, 1000) g') AS t(x int)}, '22P02', qr/^invalid input syntax for type integer: "abc"$/ ],
	[ 'a value out of range', q{SELECT * FROM pool.query(:'t', 'SELECT 99999') AS t(x smallint)}, '22003', qr/out of range for type smallint/ ],
	[ 'no column definition list', q{SELECT * FROM pool.query(:'t', 'SELECT 1')}, '42601', qr/a column definition list is required for functions returning "record"/ ],
	[ 'pool.query in the select list', q{SELECT pool.query(:'t', 'SELECT 1')}, '0A000', qr/set-valued function called in context that cannot accept a set|materialize mode required/ ],
	[ 'query_all: first column not a string', q{SELECT * FROM pool.query_all(ARRAY[:'t'], 'SELECT 1') AS t(x int, y int)}, '42804', qr/^the first column of the column definition list of pool.query_all must be of a string type$/ ],
	[ 'query_all: only the target column', q{SELECT * FROM pool.query_all(ARRAY[:'t'], 'SELECT 1') AS t(target text)}, '42804', qr/^remote query result rowtype does not match the specified FROM clause rowtype$/ ],
	[ 'fetch: a column definition list that does not match', qq{SELECT pool.send(:'t', 'SELECT 1, 2') AS a \\gset\nSELECT * FROM pool.fetch(:a) AS t(x int);}, '42804', qr/^remote query result rowtype does not match the specified FROM clause rowtype$/ ],

	# a result row larger than the shared-memory queue (64 kB)
	[ 'a 64 MB value', q{SELECT length(x) FROM pool.query(:'t', $$SELECT repeat('x', 64 * 1024 * 1024)$$) AS t(x text)}, 'ok', '67108864' ],
	[ 'a 64 MB value through send and fetch', qq{SELECT pool.send(:'t', \$\$SELECT repeat('x', 64 * 1024 * 1024)\$\$) AS a \\gset\nSELECT length(x) FROM pool.fetch(:a) AS t(x text);}, 'ok', '67108864' ],
	[ 'a 64 MB value that does not fit', q{SELECT length(x) FROM pool.query(:'t', $$SELECT repeat('x', 64 * 1024 * 1024)$$) AS t(x varchar(10))}, '22001', qr/^value too long for type character varying\(10\)$/ ],
	[ 'a 64 MB value on a handle, then the handle again', qq{SELECT pool.checkout(:'t') AS h \\gset\nSELECT length(x) FROM pool.query(:h, \$\$SELECT repeat('x', 64 * 1024 * 1024)\$\$) AS t(x text);\nSELECT x FROM pool.query(:h, 'SELECT 5') AS t(x int);\nSELECT pool.checkin(:h);}, 'ok', "67108864\n5\n" ],

	# query_all with many targets
	[ "query_all: $many_targets times the same target", "SELECT count(*), sum(x) FROM pool.query_all(array_fill(:'t'::text, ARRAY[$many_targets]), 'SELECT 1') AS t(target text, x int)", 'ok', "$many_targets|$many_targets" ],
	[ "query_all: $many_targets targets, one unknown at the end", "SELECT count(*) FROM pool.query_all(array_fill(:'t'::text, ARRAY[$many_targets]) || 'nosuchserver'::text, 'SELECT 1') AS t(target text, x int)", '42704', qr/^server "nosuchserver" does not exist$/ ],
	[ "query_all: $many_targets targets, one failing remotely", "SELECT count(*) FROM pool.query_all(array_fill(:'t'::text, ARRAY[$many_targets]) || (:'t' || ' dbname=nosuchdb'), 'SELECT 1') AS t(target text, x int)", '08001', qr/^could not connect to pool/ ],
	[ 'query_all: a two-dimensional target array', q{SELECT * FROM pool.query_all(ARRAY[[:'t'], [:'t']], 'SELECT 1') AS t(target text, x int)}, '2202E', qr/^targets must be a one-dimensional array$/ ],

	# administration
	[ 'pause: pool 0', q{SELECT pool.pause('0')}, '42704', qr/^pool 0 does not exist$/ ],
	[ 'pause: pool -1', q{SELECT pool.pause('-1')}, '42704', qr/^server "-1" does not exist$/ ],
	[ 'resume: pool 65', q{SELECT pool.resume('65')}, '42704', qr/^pool 65 does not exist$/ ],
	[ 'reset: an unknown server', q{SELECT pool.reset('nosuch')}, '42704', qr/^server "nosuch" does not exist$/ ],
	[ 'reset: a server of another wrapper', q{SELECT pool.reset('notpool')}, '42704', qr/^server "notpool" has no pool$/ ],
	[ 'reset: an unknown connection string', q{SELECT pool.reset('host=nowhere dbname=x')}, '42704', qr/^pool "dbname=x host=nowhere" does not exist$/ ],
	[ 'reset: an unparsable connection string', q{SELECT pool.reset($$host='nowhere$$)}, '42601', qr/^invalid connection string syntax$/ ],
	[ 'pause and resume: a pool by its target', q{SELECT pool.pause(:'t'); SELECT pool.resume(:'t'); SELECT 'done'}, 'ok', "\n\ndone" ],
	[ 'stats_reset: -1', q{SELECT pool.stats_reset(-1)}, '42704', qr/^pool -1 does not exist$/ ],
	[ 'stats_reset: 0', q{SELECT pool.stats_reset(0)}, '42704', qr/^pool 0 does not exist$/ ],
	[ 'stats_reset: 2147483647', q{SELECT pool.stats_reset(2147483647)}, '42704', qr/^pool 2147483647 does not exist$/ ],
	[ 'pause: by a non-superuser', q{SELECT pool.pause('1')}, '42501', qr/^permission denied for function pause$/, role => 'mallory' ],
	[ 'stats_reset: by a non-superuser', q{SELECT pool.stats_reset()}, '42501', qr/^permission denied for function stats_reset$/, role => 'mallory' ],

	# settings
	[ 'ALTER SYSTEM: pool_size -1', q{ALTER SYSTEM SET pool.pool_size = -1}, '22023', qr/^-1 is outside the valid range for parameter "pool.pool_size" \(1 \.\. 10000\)$/ ],
	[ 'ALTER SYSTEM: pool_size abc', q{ALTER SYSTEM SET pool.pool_size = 'abc'}, '22023', qr/^invalid value for parameter "pool.pool_size": "abc"$/ ],
	[ 'ALTER SYSTEM: pool_size huge', q{ALTER SYSTEM SET pool.pool_size = 99999999999999}, '22023', qr/^invalid value for parameter "pool.pool_size": "99999999999999"$/ ],
	[ 'ALTER SYSTEM: checkout_timeout -5s', q{ALTER SYSTEM SET pool.checkout_timeout = '-5s'}, '22023', qr/outside the valid range for parameter "pool.checkout_timeout"/ ],
	[ 'ALTER SYSTEM: checkout_timeout in fortnights', q{ALTER SYSTEM SET pool.checkout_timeout = '1 fortnight'}, '22023', qr/^invalid value for parameter "pool.checkout_timeout": "1 fortnight"$/ ],
	[ 'ALTER SYSTEM: pre_ping -2', q{ALTER SYSTEM SET pool.pre_ping = -2}, '22023', qr/^-2 ms is outside the valid range for parameter "pool.pre_ping"/ ],
	[ 'ALTER SYSTEM: workers 0', q{ALTER SYSTEM SET pool.workers = 0}, '22023', qr/^0 is outside the valid range for parameter "pool.workers" \(1 \.\. 16\)$/ ],
	# 18 refuses a name under a reserved prefix the way SET does
	[ 'ALTER SYSTEM: an unknown pool setting', q{ALTER SYSTEM SET pool.pool_sise = 3}, '42704|42602', qr/^(unrecognized|invalid) configuration parameter( name)? "pool.pool_sise"$/ ],
	[ 'ALTER SYSTEM: a reset_query longer than a pool keeps', "ALTER SYSTEM SET pool.reset_query = '$long_reset'", '22023', qr/pool.reset_query/,
		after => sub { $local->safe_psql('postgres', 'ALTER SYSTEM RESET pool.reset_query'); $local->reload; } ],
	[ 'SET: a sighup setting in a session', q{SET pool.pool_size = 3}, '55P02', qr/^parameter "pool.pool_size" cannot be changed now$/ ],
	[ 'SET: a postmaster setting in a session', q{SET pool.max_pools = 3}, '55P02', qr/^parameter "pool.max_pools" cannot be changed without restarting the server$/ ],
	[ 'SET: an unknown pool setting', q{SET pool.nosuch = 3}, '42602', qr/^invalid configuration parameter name "pool.nosuch"$/ ],
	[ 'SET: pool_size by a non-superuser', q{SET pool.pool_size = 3}, '55P02', qr/^parameter "pool.pool_size" cannot be changed now$/, role => 'mallory' ],

	# foreign server and user mapping options
	[ 'server option pool_size -1', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (pool_size '-1')}, '22023', qr/^value for option "pool_size" is out of range: "-1"$/ ],
	[ 'server option pool_size abc', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (pool_size 'abc')}, '22023', qr/^invalid value for option "pool_size": "abc"$/ ],
	[ 'server option pool_size empty', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (pool_size '')}, '22023', qr/^invalid value for option "pool_size": ""$/ ],
	[ 'server option pool_size huge', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (pool_size '99999999999999')}, '22023', qr/^invalid value for option "pool_size": "99999999999999"$/ ],
	[ 'server option checkout_timeout soon', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (checkout_timeout 'soon')}, '22023', qr/^invalid value for option "checkout_timeout": "soon"$/ ],
	[ 'server option checkout_timeout 0', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (checkout_timeout '0')}, '22023', qr/^value for option "checkout_timeout" is out of range: "0"$/ ],
	[ 'server option reset_query too long', "CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (reset_query '$long_reset')", '22023', qr/^value for option "reset_query" is too long$/ ],
	[ 'server option unknown', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (evil 'x')}, 'HV00D', qr/^invalid option "evil"$/ ],
	[ 'server option password', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (password 'x')}, 'HV00D', qr/^option "password" is not allowed on a foreign server$/ ],
	[ 'server option client_encoding', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (client_encoding 'LATIN1')}, 'HV00D', qr/^invalid option "client_encoding"$/ ],
	[ 'server option replication', q{CREATE SERVER bad FOREIGN DATA WRAPPER pool OPTIONS (replication 'database')}, 'HV00D', qr/^invalid option "replication"$/ ],
	[ 'ALTER SERVER: pool_size -1 on a server in use', q{ALTER SERVER srv OPTIONS (ADD pool_size '-1')}, '22023', qr/^value for option "pool_size" is out of range: "-1"$/, check_target => 'srv' ],
	[ 'wrapper option', q{ALTER FOREIGN DATA WRAPPER pool OPTIONS (host 'x')}, 'HV00D', qr/^invalid option "host"$/ ],
	[ 'user mapping option host', q{CREATE USER MAPPING FOR mallory SERVER srv OPTIONS (host 'x')}, 'HV00D', qr/^option "host" is not allowed on a user mapping$/ ],
	[ 'user mapping option pool_size', q{CREATE USER MAPPING FOR mallory SERVER srv OPTIONS (pool_size '3')}, 'HV00D', qr/^option "pool_size" is not allowed on a user mapping$/ ],
	[ 'user mapping option password_required maybe', q{CREATE USER MAPPING FOR mallory SERVER srv OPTIONS (password_required 'maybe')}, '42601', qr/^password_required requires a Boolean value$/ ],
	[ 'user mapping option sslkey, non-superuser', q{CREATE USER MAPPING FOR mallory SERVER srv OPTIONS (user 'app', password 'secret', sslkey '/etc/ssl/private/x.key')}, '42501', qr/^permission denied to set option "sslkey"$/, role => 'mallory' ],
	[ 'fdw_validator: NULL options is NULL (strict)', q{SELECT pool.fdw_validator(NULL, 0) IS NULL}, 'ok', 't' ],
	[ 'fdw_validator: called directly with a bad value', q{SELECT pool.fdw_validator('{pool_size=-1}', 'pg_foreign_server'::regclass)}, '22023', qr/^value for option "pool_size" is out of range: "-1"$/ ],
	[ 'fdw_validator: an option without a value', q{SELECT pool.fdw_validator('{host}', 'pg_foreign_server'::regclass)}, '42601', qr/^host requires a parameter$/ ],
	[ 'fdw_validator: no catalog', q{SELECT pool.fdw_validator('{host=x}', 0)}, 'HV00D', qr/^invalid option "host"$/ ],
	[ 'fdw_validator: sslkey on a mapping, non-superuser', q{SELECT pool.fdw_validator('{sslkey=/x}', 'pg_user_mapping'::regclass)}, '42501', qr/^permission denied to set option "sslkey"$/, role => 'mallory' ],
	[ 'user mapping option password_required false, non-superuser', q{CREATE USER MAPPING FOR mallory SERVER srv OPTIONS (user 'app', password_required 'false')}, '42501', qr/^permission denied to set option "password_required"$/, role => 'mallory' ],

	# remote misbehaviour that reaches every function
	[ 'COPY through a pool', q{SELECT pool.exec(:'t', 'COPY items TO STDOUT')}, '0A000', qr/^COPY is not supported through pool$/ ],
	[ 'a remote syntax error', q{SELECT * FROM pool.query(:'t', 'SELEC 1') AS t(x int)}, '42601', qr/^syntax error at or near "SELEC"$/ ],

	# an empty target as a superuser: libpq's defaults (the worker's PG* environment)
	[ 'query: empty target as a superuser', q{SELECT * FROM pool.query('', 'SELECT 1') AS t(x int)}, 'ok', '1' ],

	# last, since what they find may take the server down: query_all failing
	# while commands of the same call are still in flight
	[ 'query_all: an error on the first target, five more in flight', qq{SELECT count(*) FROM pool.query_all(array_fill(:'t'::text, ARRAY[6]), 'SELECT 1/0') AS t(target text, x int);\nSELECT count(pool.send(:'t', 'SELECT 1')) FROM generate_series(1, 60);}, '22012', qr/^division by zero$/, out => '60' ],
	[ 'query_all: an error on the first target while the others stream rows', qq{SELECT count(*) FROM pool.query_all(ARRAY[:'t' || ' application_name=bad', :'t', :'t'], \$\$SELECT repeat('x', 100000) FROM generate_series(1, 10 / (length(current_setting('application_name')) - 3))\$\$) AS t(target text, x text);\nSELECT pg_sleep(1);\nSELECT coalesce(sum(checkouts - checkins), 0) FROM pool.stats;}, '22012', qr/^division by zero$/, out => "\n0" ],
	[ "query_all: $distinct_targets distinct targets, more than pool.max_pools", "SELECT count(*) FROM pool.query_all((SELECT array_agg(:'t' || ' application_name=qa' || g) FROM generate_series(1, $distinct_targets) g), 'SELECT 1') AS t(target text, x int);\nSELECT pg_sleep(0.2);\nSELECT count(pool.send(:'t', 'SELECT 1')) FROM generate_series(1, 60);", '53400', qr/^too many pools$/, out => "\n60" ],
);

# --- running them -----------------------------------------------------------------

my @vars = ('-v', "t=$t", '-v', "lat=$lat");

sub run_psql
{
	my ($role, $sql) = @_;
	my ($out, $err, $timed_out);
	my $rc = $local->psql(
		'u8', $sql,
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 0,
		timeout => 120,
		timed_out => \$timed_out,
		extra_params => [ @vars, '-U', $role ]);
	return ($rc, $out // '', $err // '', $timed_out);
}

# the worker's pid, or '' when the server does not answer
sub worker_pid
{
	my ($rc, $out) = $local->psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pool worker'");
	return $rc == 0 ? $out : '';
}

# what the local server logged since the last call
my $log_offset = 0;

sub new_log
{
	open my $fh, '<', $local->logfile or die $!;
	seek($fh, $log_offset, 0);
	local $/;
	my $text = <$fh> // '';
	$log_offset = tell($fh);
	close $fh;
	return $text;
}

my $crashes = 0;
my %outcomes;

sub check_after
{
	my ($desc, $role, $target) = @_;
	my $answer_sql = "\\set check '$target'\nSELECT x FROM pool.query(:'check', 'SELECT 1') AS t(x int)";
	my ($rc, $out, $err) = run_psql($role, $answer_sql);

	# a backend that crashed on its way out is reported a moment later
	my $down = $local->psql('postgres', 'SELECT 1') != 0;
	usleep(500_000) if $down;
	my $log = new_log();
	unlike($log, qr/terminated by signal|was terminated|PANIC/, "$desc: no process crashed");
	if ($down)
	{
		# restart_after_crash is off: start the server again for the next cases
		$crashes++;
		my $pidfile = $local->data_dir . '/postmaster.pid';
		for (1 .. 100)
		{
			last unless -e $pidfile;
			usleep(100_000);
		}
		$local->_update_pid(0);
		$local->start;
		$worker_pid = worker_pid();
		new_log();
		($rc, $out, $err) = run_psql($role, $answer_sql);
	}
	is($out, '1', "$desc: then the pool answers") or diag($err);

	# a connection given up on comes back once it is cleaned
	my $held_sql =
	  q{SELECT coalesce(sum(checkouts - checkins), 0) || '/' || (SELECT count(*) FROM pool.connections WHERE holder_pid IS NOT NULL) FROM pool.stats};
	my $held;
	($rc, $held) = $local->psql('postgres', $held_sql);
	my $want = "$held_by_others/$held_by_others";
	ok($held eq $want || wait_until($local, $held_sql, $want, 15),
		"$desc: then no connection is held (checkouts - checkins / holders: $held)");
	is(worker_pid(), $worker_pid, "$desc: the worker is the same process");
}

sub is_utf8
{
	my ($bytes) = @_;
	return utf8::decode($bytes);
}

my %seen;
for my $case (@cases)
{
	my ($desc, $sql, $expect, $check, %o) = @$case;
	die "duplicate case \"$desc\"" if $seen{$desc}++;
	my $role = $o{role} // 'postgres';
	$o{before}->() if $o{before};
	$sql = $sql->() if ref $sql eq 'CODE';

	my $t0 = time();
	my ($rc, $out, $err, $timed_out) = run_psql($role, "\\set VERBOSITY verbose\n$sql");
	my $took = time() - $t0;
	ok(!$timed_out, "$desc: returns") or next;
	# PostgreSQL's own messages may quote a value of any size
	$err = substr($err, 0, 20000);

	# the local server never hands a client invalid UTF-8
	ok(is_utf8($out) && is_utf8($err), "$desc: the output is valid UTF-8");

	if ($expect eq 'ok')
	{
		my @errors = $err =~ /^((?:psql:\S+: )?(?:ERROR|FATAL|PANIC):.*)$/mg;
		is(scalar(@errors), 0, "$desc: no error") or diag(join("\n", @errors));
		is($out, $check, "$desc: the right answer");
		note(sprintf("%-60s ok (%.2f s)", $desc, $took));
		$outcomes{ok}++;
	}
	else
	{
		my ($level, $state, $msg) =
		  $err =~ /^(?:psql:\S+: )?(ERROR|FATAL|PANIC):  ([0-9A-Z]{5}): (.*)$/m;
		$state //= '(none)';
		$msg //= '';
		like($state, qr/^(?:$expect)$/, "$desc: SQLSTATE $expect") or diag($err);
		# the hostile statement's error is the only one
		my @states = $err =~ /^(?:psql:\S+: )?ERROR:  ([0-9A-Z]{5}):/mg;
		is(scalar(grep { $_ ne $state } @states), 0, "$desc: no other error")
		  or diag($err);
		is($out, $o{out}, "$desc: what follows in the session works") if defined $o{out};
		like($msg, $check, "$desc: message");
		# a PostgreSQL-style message: one line, no trailing period, no internal error
		ok( $msg ne '' && $msg !~ /\.$/ && $state ne 'XX000' && ($level // '') eq 'ERROR',
			"$desc: a clear error");
		if ($o{detail})
		{
			my ($detail) = $err =~ /^DETAIL:  (.*?)(?=^[A-Z]+:  |\z)/ms;
			like($detail // '', $o{detail}, "$desc: detail");
		}
		note(sprintf("%-60s %s: %s (%.2f s)", $desc, $state, substr($msg, 0, 200), $took));
		$outcomes{$state}++;
	}
	$o{after}->() if $o{after};
	check_after($desc, $o{check_role} // 'postgres', $o{check_target} // $t);
}

# --- the server survived all of it --------------------------------------------------

is($crashes, 0, 'the local server never crashed');
is(worker_pid(), $first_worker_pid, 'the worker never restarted');
my $log = slurp_file($local->logfile);
unlike($log, qr/terminated by signal|was terminated|PANIC|server process .* exited with exit code/,
	'no process crashed or was terminated');
unlike($log, qr/pool worker recovered from an error/, 'the worker never had to recover from an error');
my ($rc, $held) = $local->psql('postgres',
	q{SELECT coalesce(sum(checkouts - checkins), 0) FROM pool.stats});
is($held, '0', 'no connection is held at the end');
# after a crash the server may be down: let the teardown find it so
$local->_update_pid(0) if $rc != 0;

note(sprintf('bad input: %d cases in %.1f s, %d legal ones answered right, %d refused with %d distinct SQLSTATEs (%s); %d crashes, worker %s, %s connections held after',
		scalar(@cases), time() - $t_start, $outcomes{ok} // 0,
		scalar(@cases) - ($outcomes{ok} // 0),
		scalar(grep { $_ ne 'ok' } keys %outcomes),
		join(' ', sort grep { $_ ne 'ok' } keys %outcomes), $crashes,
		(worker_pid() // '') eq $first_worker_pid ? 'never restarted' : 'restarted',
		$held // '?'));

done_testing();
