# The lifecycle of pooled connections: warm-up to min_idle, idle timeout,
# lifetime recycling, pre-ping, reset of session state, fail-fast and
# recovery against a stopped remote, and the leak report.  Every wait polls
# with a deadline.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $remote = pool_remote('remote');
my $local = pool_local('local',
	conf => "pool.pool_size = 5\npool.max_overflow = 0\npool.idle_timeout = 0\n"
	  . "pool.max_lifetime = 0\npool.pre_ping = -1\n");
my $target = socket_target($remote);

sub set_pool
{
	my (%settings) = @_;
	for my $name (sort keys %settings)
	{
		$local->safe_psql('postgres', "ALTER SYSTEM SET pool.$name = '$settings{$name}'");
	}
	$local->reload;
	my ($name) = sort keys %settings;
	my $column = {
		min_idle => 'min_idle', idle_timeout => 'idle_timeout_ms',
		max_lifetime => 'max_lifetime_ms', pre_ping => 'pre_ping_ms',
		retry_delay => 'retry_delay_ms', leak_threshold => 'leak_threshold_ms',
		connect_timeout => 'connect_timeout_ms', reset_query => 'reset_query'
	}->{$name};
	return unless $column;
	# wait until the worker has the settings in force (first key)
	my $want = $local->safe_psql('postgres',
		"SELECT setting FROM pg_settings WHERE name = 'pool.$name'");
	ok(wait_until($local, "SELECT min($column)::text FROM pool.stats", $want, 10),
		"pool.$name = $settings{$name} in force");
}

sub pool_stat
{
	my ($column) = @_;
	return $local->safe_psql('postgres',
		"SELECT $column FROM pool.stats WHERE target = '"
		  . "dbname=app host=" . $remote->host . " port=" . $remote->port . "'");
}

sub q1
{
	my ($sql) = @_;
	return $local->safe_psql('postgres',
		"SELECT x FROM pool.query('$target', \$q\$$sql\$q\$) AS t(x text)");
}

is(q1('SELECT 1'), '1', 'the pool works');

# --- min_idle: warm-up without demand, and after a close ------------------
set_pool(min_idle => 2);
ok(wait_until($local, "SELECT idle FROM pool.stats", '2', 10),
	'the worker opened connections up to min_idle by itself');
my $pids = remote_pids($remote);
my ($victim) = split /,/, $pids;
$remote->safe_psql('postgres', "SELECT pg_terminate_backend($victim)");
ok( wait_until(
		$remote,
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool' AND pid <> $victim",
		'2', 10),
	'a closed connection was replaced to keep min_idle');

# --- idle_timeout: idle connections beyond min_idle close ---------------
set_pool(min_idle => 1, idle_timeout => '1s');
my @sleepers = map {
	my $s = $local->background_psql('postgres', on_error_stop => 0);
	$s->query_until(qr/sent/, "\\echo sent\nSELECT pool.exec('$target', 'SELECT pg_sleep(0.5)');\n");
	$s
} 1 .. 3;
ok(wait_until($local, 'SELECT active FROM pool.stats', '3', 10), 'three connections busy');
$_->query('SELECT 1'), $_->quit for @sleepers;
my $closed_idle = pool_stat('closed_idle');
ok(wait_until($local, 'SELECT open FROM pool.stats', '1', 10),
	'idle connections beyond min_idle closed after idle_timeout');
cmp_ok(pool_stat('closed_idle'), '>', $closed_idle, 'counted as closed for idle');

# --- max_lifetime: recycled while idle, never while checked out -------------
set_pool(max_lifetime => '2s', idle_timeout => 0);
my $before = remote_pids($remote);
ok( wait_until(
		$remote,
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool' AND pid NOT IN ($before)",
		'1', 10),
	'an idle connection past max_lifetime was replaced by a new one');
cmp_ok(pool_stat('closed_lifetime'), '>=', 1, 'counted as closed for lifetime');

set_pool(max_lifetime => '1s');
my $t0 = time();
is( $local->safe_psql(
		'postgres',
		"SELECT x FROM pool.query('$target', 'SELECT pg_backend_pid()::text || '':'' || pg_sleep(2.5)::text') AS t(x text)"
	) =~ /^\d+:$/ ? 'ok' : 'failed',
	'ok',
	'a query longer than max_lifetime runs to its end');
set_pool(max_lifetime => 0);

# --- pre_ping: a connection that does not answer is replaced unnoticed ----
set_pool(pre_ping => 0, connect_timeout => '1s', min_idle => 0);
q1('SELECT 1');
ok(wait_until($local, 'SELECT open FROM pool.stats', '1', 10), 'one connection');
my $stopped = remote_pids($remote);
kill 'STOP', $stopped;
$t0 = time();
is(q1('SELECT 2'), '2', 'the query succeeds though its connection stopped answering');
my $took = elapsed_since($t0);
cmp_ok($took, '<', 5, "the check gave up after connect_timeout (${\ sprintf('%.3f', $took)} s)");
isnt($local->safe_psql('postgres', 'SELECT string_agg(remote_pid::text, \',\') FROM pool.connections'),
	$stopped, 'on a new connection');
kill 'CONT', $stopped;
cmp_ok(pool_stat('closed_broken'), '>=', 1, 'the unanswering connection counted as broken');
set_pool(pre_ping => -1);

# a remote backend killed while idle: replaced without the caller noticing
($victim) = split /,/, remote_pids($remote);
$remote->safe_psql('postgres', "SELECT pg_terminate_backend($victim)");
is(q1('SELECT 3'), '3', 'query after the idle connection was killed succeeds');

# --- reset_query: session state does not outlive its holder -----------------
q1('SELECT 1');
$local->safe_psql('postgres', "SELECT pool.exec('$target', 'SET work_mem = ''1234kB''')");
is(q1('SHOW work_mem'), '4MB', 'SET by one caller is reset for the next');
$local->safe_psql('postgres', "SELECT pool.exec('$target', \$\$SELECT '--'; SET work_mem = '1235kB'\$\$)");
is(q1('SHOW work_mem'), '4MB', 'a SET after a string that looks like a comment is seen');
$local->safe_psql('postgres',
	"SELECT pool.exec('$target', 'CREATE TEMP TABLE leftover (a int)')");
is(q1("SELECT count(*) FROM pg_class WHERE relname = 'leftover'"),
	'0', 'a temporary table is gone for the next caller');

# state changed inside a function is invisible to the check, but never
# passes to another local role
$remote->safe_psql('app',
	"CREATE FUNCTION sneaky() RETURNS text LANGUAGE sql AS \$\$SELECT set_config('work_mem', '2222kB', false)\$\$"
);
$local->safe_psql('postgres', 'CREATE ROLE role_a SUPERUSER; CREATE ROLE role_b SUPERUSER');
$local->safe_psql('postgres', "ALTER SYSTEM SET pool.pool_size = 1");
$local->reload;
ok(wait_until($local, 'SELECT pool_size FROM pool.stats', '1', 10), 'pool_size 1');
ok(wait_until($local, 'SELECT open FROM pool.stats', '1', 10), 'one connection left');
is( $local->safe_psql(
		'postgres',
		"SET ROLE role_a; SELECT x FROM pool.query('$target', 'SELECT sneaky()') AS t(x text)"),
	'2222kB',
	'role_a changes work_mem inside a function');
is( $local->safe_psql(
		'postgres',
		"SET ROLE role_a; SELECT x FROM pool.query('$target', 'SHOW work_mem') AS t(x text)"),
	'2222kB',
	'role_a itself still sees it (the check cannot see into functions)');
is( $local->safe_psql(
		'postgres',
		"SET ROLE role_b; SELECT x FROM pool.query('$target', 'SHOW work_mem') AS t(x text)"),
	'4MB',
	'role_b gets the connection reset');
$local->safe_psql('postgres', "ALTER SYSTEM SET pool.pool_size = 5");
$local->reload;

# --- fail-fast and recovery ---------------------------------------------------
set_pool(retry_delay => '500ms');
$remote->stop('fast');
my ($rc, $out, $err) = $local->psql('postgres',
	"SELECT x FROM pool.query('$target', 'SELECT 1') AS t(x int)");
like($err, qr/could not connect to pool/, 'the remote is down: a clear error');
like($err, qr/tries again in \d+ seconds?/, 'saying when the next attempt is');
$t0 = time();
($rc, $out, $err) = $local->psql('postgres',
	"SELECT x FROM pool.query('$target', 'SELECT 1') AS t(x int)");
$took = elapsed_since($t0);
like($err, qr/could not connect to pool/, 'the next checkout fails too');
cmp_ok($took, '<', 0.5, "at once (${\ sprintf('%.3f', $took)} s), without a connection attempt of its own");
is(pool_stat("failing || ' ' || (next_retry_at IS NOT NULL) || ' ' || (last_error IS NOT NULL)"),
	'true true true', 'pool.stats shows the pool failing, its next attempt and its last error');
my $failures = pool_stat('connect_failures');
$remote->start;
ok( wait_until(
		$local,
		"SELECT failing FROM pool.stats WHERE connects > 0",
		'f', 20),
	'the pool recovered by itself once the remote came back');
is(q1('SELECT 4'), '4', 'queries work again');
cmp_ok($failures, '<=', 3, "few connection attempts while failing ($failures)");

# --- leak report ------------------------------------------------------------
set_pool(leak_threshold => '500ms');
my $log_offset = -s $local->logfile;
$local->safe_psql('postgres', "SELECT pool.exec('$target', 'SELECT pg_sleep(1.2)')");
ok( $local->wait_for_log(
		qr/has been checked out by process \d+ for \d+ ms/, $log_offset),
	'a checkout held longer than leak_threshold is reported in the log');
set_pool(leak_threshold => 0);

# --- counters add up ------------------------------------------------------------
is( pool_stat(
		"checkouts = queries AND open = connects - (closed_lifetime + closed_idle + closed_broken + closed_reset + closed_overflow)"
	),
	't',
	'checkouts equal queries, and connections opened minus closed are the open ones');

done_testing();
