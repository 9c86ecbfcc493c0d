# The core with two clusters: pooled queries over TCP with a password, many
# sessions sharing a few remote connections, the non-superuser password rule,
# dead connections replaced invisibly, settings reloaded, clean shutdown.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $remote = pool_remote('remote');
my $local = pool_local('local',
	conf => "pool.pool_size = 2\npool.max_overflow = 0\n");
my $target = tcp_target($remote);

# The worker runs under its own backend type, connected to no database.
is( $local->safe_psql(
		'postgres',
		"SELECT backend_type || ' ' || (datname IS NULL) FROM pg_stat_activity WHERE backend_type = 'pool worker'"
	),
	'pool worker true',
	'the worker shows in pg_stat_activity');

# Rows, typed, with parameters out of band.
is( $local->safe_psql(
		'postgres',
		"SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM pool.query('$target', 'SELECT id, name FROM items WHERE id > \$1 AND id <= \$2', '10', '12') AS t(id int, name text)"
	),
	'11:item 11,12:item 12',
	'query over TCP with a password returns typed rows');
is( $local->safe_psql(
		'postgres',
		"SELECT pool.exec('$target', 'UPDATE items SET name = \$1 WHERE id = \$2', 'x', '3')"
	),
	'UPDATE 1',
	'exec returns the command tag');
is($remote->safe_psql('app', 'SELECT name FROM items WHERE id = 3'),
	'x', 'the update reached the remote');

# Many sessions, few remote connections: 8 clients run 400 statements that
# each record which remote backend ran them.
$remote->safe_psql('app',
	'CREATE TABLE seen (pid int); ALTER TABLE seen OWNER TO app');
$local->pgbench(
	'--no-vacuum --client=8 --jobs=2 --transactions=50',
	0,
	[qr/number of failed transactions: 0/],
	[qr/^$/],
	'8 sessions run through the pool',
	{
		'001_pool_sessions' =>
		  "SELECT pool.exec('$target', 'INSERT INTO seen SELECT pg_backend_pid()');"
	});
is($remote->safe_psql('app', 'SELECT count(*) FROM seen'),
	'400', 'every statement ran on the remote');
my $distinct = $remote->safe_psql('app', 'SELECT count(DISTINCT pid) FROM seen');
ok($distinct >= 1 && $distinct <= 2,
	"8 sessions shared $distinct remote connections (pool_size 2)");
is( $remote->safe_psql(
		'app',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool'"),
	$distinct,
	'the remote sees only the pooled connections');
is( $local->safe_psql(
		'postgres',
		"SELECT open || ' ' || idle || ' ' || checkouts || ' ' || errors FROM pool.stats WHERE target LIKE '%port=" . $remote->port . "%' AND target LIKE '%user=app%'"
	),
	"$distinct $distinct 402 0",
	'pool.stats adds up: all checked in, 402 checkouts, no errors');

# A wrong password: a clear error naming host and port, never the password.
my ($rc, $out, $err) = $local->psql('postgres',
	"SELECT * FROM pool.query('" . tcp_target($remote, password => 'wrongpass')
	  . "', 'SELECT 1') AS t(x int)");
isnt($rc, 0, 'a wrong password fails');
like($err, qr/could not connect to pool/, 'error says the pool could not connect');
like($err, qr/127\.0\.0\.1.*port ${\ $remote->port}/s, 'error names host and port');
like($err, qr/password authentication failed/, 'error gives the reason');
unlike($err, qr/wrongpass/, 'error does not show the password');
like($local->safe_psql('postgres', "SELECT string_agg(target, ' ') FROM pool.stats"),
	qr/password=\*+/, 'pool names mask passwords');
unlike($local->safe_psql('postgres', "SELECT string_agg(target, ' ') FROM pool.stats"),
	qr/wrongpass|secret/, 'no view shows a password');
is( $local->safe_psql(
		'postgres',
		"SELECT x FROM pool.query('$target', 'SELECT 7') AS t(x int)"),
	'7',
	'the good pool still answers');

# The non-superuser rule: a password must be given and used.
$local->safe_psql('postgres', 'CREATE ROLE alice LOGIN; GRANT USAGE ON FOREIGN DATA WRAPPER pool TO alice');
($rc, $out, $err) = $local->psql('postgres',
	"SET ROLE alice; SELECT * FROM pool.query('" . socket_target($remote)
	  . " password=secret', 'SELECT 1') AS t(x int)");
# (from 16 on libpq itself refuses, with require_auth, before the login completes)
like($err, qr/password is required|authentication method requirement/,
	'a non-superuser cannot use a connection the remote did not ask a password for');
like($err, qr/does not request a password|server did not complete authentication/, 'the error says why');
is( $local->safe_psql(
		'postgres',
		"SET ROLE alice; SELECT x FROM pool.query('$target', 'SELECT 8') AS t(x int)"
	),
	'8',
	'a non-superuser with a password the remote asks for is served');

# A pooled connection found dead is replaced without the caller noticing:
# its remote backend is terminated...
my $before = remote_pids($remote);
$remote->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool' AND usename = 'app'"
);
is( $local->safe_psql(
		'postgres',
		"SELECT x FROM pool.query('$target', 'SELECT 9') AS t(x int)"),
	'9',
	'query after the remote backend was terminated succeeds');
# ... or the whole remote restarts.
$remote->restart;
is( $local->safe_psql(
		'postgres',
		"SELECT x FROM pool.query('$target', 'SELECT 10') AS t(x int)"),
	'10',
	'query after the remote restarted succeeds');
isnt(remote_pids($remote), $before, 'the pool opened new remote connections');

# Settings reload on SIGHUP, for existing pools too.
$local->safe_psql('postgres', 'ALTER SYSTEM SET pool.pool_size = 3');
$local->reload;
ok( wait_until(
		$local,
		"SELECT min(pool_size) || ' ' || max(pool_size) FROM pool.stats",
		'3 3', 10),
	'pool_size changed for every pool after a reload');

# Clean shutdown: the remote connections go away with the local server.
$local->stop('fast');
ok(wait_until($remote, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool'", '0', 10),
	'the remote connections closed when the local server stopped');
ok($local->log_contains(qr/pool worker 1 shutting down/),
	'the worker logged its shutdown');

# The worker comes back with the server.
$local->start;
is( $local->safe_psql(
		'postgres',
		"SELECT x FROM pool.query('$target', 'SELECT 11') AS t(x int)"),
	'11',
	'pools work again after a local restart');

done_testing();
