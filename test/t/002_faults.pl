# Faults: a remote that stops answering does not slow the other pools, a
# connection attempt to it times out, an error on one connection leaves the
# others alone, and a worker that is terminated or killed comes back while
# its waiting backends get an error instead of a hang.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $remote_a = pool_remote('remote_a');
my $remote_b = pool_remote('remote_b');
my $local = pool_local('local',
	conf => "pool.connect_timeout = '1s'\npool.checkout_timeout = '5s'\n"
	  . "restart_after_crash = on\n");
my $a = socket_target($remote_a);
my $b = socket_target($remote_b);

sub one
{
	my ($target, $value) = @_;
	return $local->safe_psql('postgres',
		"SELECT x FROM pool.query('$target', 'SELECT $value') AS t(x int)");
}

is(one($a, 1), '1', 'remote A answers');
is(one($b, 2), '2', 'remote B answers');

# --- remote A stops answering (SIGSTOP on all its processes) -------------
my $stuck = $local->background_psql('postgres', on_error_stop => 0);
signal_cluster($remote_a, 'STOP');
$stuck->query_until(qr/sent/, "SET statement_timeout = '3s';\n\\echo sent\nSELECT pool.exec('$a', 'SELECT 1');\n");

# B goes on at full speed meanwhile
my $t0 = time();
my $sum = $local->safe_psql('postgres',
	"SELECT sum(x) FROM generate_series(1, 200) g, pool.query('$b', 'SELECT \$1::int', g::text) AS t(x int)"
);
my $took = elapsed_since($t0);
is($sum, '20100', '200 queries to B while A is stopped');
cmp_ok($took, '<', 2, "they took ${\ sprintf('%.3f', $took)} s, not blocked by A");

# a new connection to stopped A times out after connect_timeout
$t0 = time();
my ($rc, $out, $err) = $local->psql('postgres',
	"SELECT * FROM pool.query('" . socket_target($remote_a, dbname => 'postgres')
	  . "', 'SELECT 1') AS t(x int)");
$took = elapsed_since($t0);
like($err, qr/could not connect to pool .*\n.*timed out after 1000 ms/,
	'connecting to a stopped remote times out');
cmp_ok($took, '<', 3, "after ${\ sprintf('%.3f', $took)} s");

# the statement stuck on A ends with its statement_timeout
my ($o, $e) = $stuck->query('SELECT 1');
like($stuck->{stderr}, qr/canceling statement due to statement timeout/,
	'a statement stuck on the stopped remote ends at statement_timeout');
$stuck->quit;

signal_cluster($remote_a, 'CONT');
ok( wait_until(
		$local,
		"SELECT x FROM pool.query('$a', 'SELECT 3') AS t(x int)",
		'3', 30),
	'A answers again once it resumes');

# --- an error on one connection leaves the others alone ------------------
my $b_pids = remote_pids($remote_b);
my $long = $local->background_psql('postgres', on_error_stop => 0);
$long->query_until(qr/sent/, "\\echo sent\nSELECT pool.exec('$b', 'SELECT pg_sleep(1)');\n");
($rc, $out, $err) = $local->psql('postgres',
	"SELECT pool.exec('$a', 'SELECT pg_terminate_backend(pg_backend_pid())')");
like($err, qr/terminating connection due to administrator command/,
	'a connection dying mid-request reports the remote error');
($o, $e) = $long->query('SELECT 1');
is($long->{stderr}, '', 'the request running on B meanwhile was not disturbed');
$long->quit;
is(remote_pids($remote_b), $b_pids, 'B kept its connection');
is(one($a, 4), '4', 'A serves again on a new connection');

# --- the worker is terminated (SIGTERM) while a backend waits on it -------
my $worker = pool_worker_pid($local);
my $waiting = $local->background_psql('postgres', on_error_stop => 0);
$waiting->query_until(qr/sent/, "\\echo sent\nSELECT pool.exec('$b', 'SELECT pg_sleep(30)');\n");
ok( wait_until(
		$remote_b,
		"SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'",
		'1', 10),
	'the long query runs on B');
$t0 = time();
$local->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
($o, $e) = $waiting->query('SELECT 1');
$took = elapsed_since($t0);
like($waiting->{stderr}, qr/pool worker stopped while serving a request/,
	'the waiting backend gets an error');
cmp_ok($took, '<', 3, "within ${\ sprintf('%.3f', $took)} s");
$waiting->quit;
ok( wait_until(
		$local,
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pool worker' AND pid <> $worker",
		'1', 10),
	'the postmaster restarted the worker');
is(one($b, 5), '5', 'pools work after the worker restarted');
is( $local->safe_psql('postgres', "SELECT count(*) FROM pool.connections WHERE holder_pid IS NOT NULL"),
	'0', 'no connection is shown as held');

# --- the worker is killed (SIGKILL): the postmaster reinitialises ---------
$worker = pool_worker_pid($local);
kill 'KILL', $worker;
ok( wait_until(
		$local,
		"SELECT x FROM pool.query('$b', 'SELECT 6') AS t(x int)",
		'6', 30),
	'pools work after the crash restart');
ok($local->log_contains(qr/terminated by signal 9: Killed/),
	'the postmaster saw the worker killed');

# --- a failing pool that nobody uses stops retrying ------------------------
$local->safe_psql('postgres',
	"ALTER SYSTEM SET pool.retry_delay = '100ms'; SELECT pg_reload_conf()");
my $nowhere = "host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2";
my $attempts = "SELECT connect_failures FROM pool.stats WHERE target LIKE '%dbname=nowhere%'";
($rc, $out, $err) = $local->psql('postgres',
	"SELECT * FROM pool.query('$nowhere', 'SELECT 1') AS t(x int)");
like($err, qr/could not connect to pool/, 'a remote that refuses connections');
# back-offs of 0.1, 0.2, 0.4, 0.8 and 1.6 s, then 30 retry_delays without use
ok( wait_until(
		$local, "SELECT failing FROM pool.stats WHERE target LIKE '%dbname=nowhere%'",
		'f', 20),
	'after a whole back-off without use, the pool stops retrying');
my $tried = $local->safe_psql('postgres', $attempts);
cmp_ok($tried, '>=', 3, "it had retried in the background ($tried attempts)");
sleep 1;
is($local->safe_psql('postgres', $attempts), $tried, 'and then made no more attempts');
($rc, $out, $err) = $local->psql('postgres',
	"SELECT * FROM pool.query('$nowhere', 'SELECT 1') AS t(x int)");
like($err, qr/could not connect to pool .*\n.*refused/, 'its next use tries again');
is($local->safe_psql('postgres', $attempts), $tried + 1, 'with one new attempt');

done_testing();
