# Administration: pool.pause and pool.resume, pool.reset, pool.stats_reset,
# naming a pool by id or by target, unknown pools, and the privileges.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $remote = pool_remote('remote');
my $local = pool_local('local',
	conf => "pool.pool_size = 3\npool.max_overflow = 0\npool.checkout_timeout = '20s'\n");
my $target = tcp_target($remote);

sub busy
{
	my ($sql, $role) = @_;
	my $s = $local->background_psql('postgres', on_error_stop => 0);
	$s->query_safe("SET ROLE $role") if $role;
	$s->query_until(qr/sent/, "\\echo sent\n$sql\n");
	return $s;
}

# a superuser's pool and a non-superuser's pool of the same target
$local->safe_psql('postgres', 'CREATE ROLE alice LOGIN; GRANT USAGE ON FOREIGN DATA WRAPPER pool TO alice');
is( $local->safe_psql(
		'postgres',
		"SELECT x FROM pool.query('$target', 'SELECT 1') AS t(x int);"
		  . " SET ROLE alice; SELECT x FROM pool.query('$target', 'SELECT 1') AS t(x int)"),
	"1\n1",
	'two pools for one target: a superuser\'s and a non-superuser\'s');
my $ids = $local->safe_psql('postgres',
	'SELECT string_agg(pool_id::text, \',\' ORDER BY pool_id) FROM pool.stats');
is($ids, '1,2', 'pools 1 and 2');

# --- pause and resume ---------------------------------------------------------
my $holder = busy("SELECT pool.exec('$target', 'SELECT pg_sleep(1)');");
ok(wait_until($local, 'SELECT active FROM pool.stats WHERE pool_id = 1', '1', 10),
	'a connection is held');
$local->safe_psql('postgres', "SELECT pool.pause('$target')");
is($local->safe_psql('postgres', 'SELECT string_agg(paused::text, \',\' ORDER BY pool_id) FROM pool.stats'),
	'true,true', 'naming the target pauses both of its pools');

my $waiter = busy("SELECT pool.exec('$target', 'SELECT 42');");
ok(wait_until($local, 'SELECT waiting FROM pool.stats WHERE pool_id = 1', '1', 10),
	'a new checkout waits while the pool is paused');
is( $local->safe_psql(
		'postgres',
		"SELECT wait_event_type FROM pg_stat_activity WHERE query LIKE 'SELECT pool.exec(%''SELECT 42'')%' AND pid <> pg_backend_pid()"
	),
	'Extension',
	'the waiting session shows wait event type Extension in pg_stat_activity');
$holder->query('SELECT 1');
is($holder->{stderr}, '', 'the connection held before the pause finished its work');
$holder->quit;
ok( wait_until(
		$local,
		'SELECT waiting || \' \' || (max_wait_ms > 500) FROM pool.stats WHERE pool_id = 1',
		'1 true', 10),
	'still waiting, though a connection is free; pool.stats shows how long');

$local->safe_psql('postgres', 'SELECT pool.resume(\'1\')');
$waiter->query('SELECT 1');
is($waiter->{stderr}, '', 'after pool.resume the waiting checkout is served');
$waiter->quit;
is($local->safe_psql('postgres', 'SELECT string_agg(paused::text, \',\' ORDER BY pool_id) FROM pool.stats'),
	'false,true', 'naming the id resumes only that pool');
$local->safe_psql('postgres', 'SELECT pool.resume(\'2\')');

# --- reset ------------------------------------------------------------------------
my @s = map { busy("SELECT pool.exec('$target', 'SELECT pg_sleep(0.5)');") } 1 .. 3;
$_->query('SELECT 1'), $_->quit for @s;
ok(wait_until($local, 'SELECT idle FROM pool.stats WHERE pool_id = 1', '3', 10),
	'three idle connections');
my $pids = remote_pids($remote, 'app');
$holder = busy("SELECT pool.exec('$target', 'SELECT pg_sleep(1)');");
ok(wait_until($local, 'SELECT active FROM pool.stats WHERE pool_id = 1', '1', 10),
	'one of them busy');
is($local->safe_psql('postgres', 'SELECT pool.reset(\'1\')'),
	'2', 'pool.reset closes the idle connections at once');
ok(wait_until($local, 'SELECT open FROM pool.stats WHERE pool_id = 1', '1', 10),
	'the busy one stays open');
$holder->query('SELECT 1');
is($holder->{stderr}, '', 'and finishes its work');
$holder->quit;
ok(wait_until($local, 'SELECT open FROM pool.stats WHERE pool_id = 1', '0', 10),
	'then closes at check-in');
is($local->safe_psql('postgres', 'SELECT closed_reset FROM pool.stats WHERE pool_id = 1'),
	'3', 'three connections closed by the reset');
is( $local->safe_psql(
		'postgres', "SELECT x FROM pool.query('$target', 'SELECT 5') AS t(x int)"),
	'5',
	'the pool serves again, on new connections');

# --- stats_reset ----------------------------------------------------------------
my $reset_before = $local->safe_psql('postgres', 'SELECT stats_reset FROM pool.stats WHERE pool_id = 1');
$local->safe_psql('postgres', 'SELECT pool.stats_reset(1)');
is( $local->safe_psql(
		'postgres',
		"SELECT checkouts + queries + errors + connects + closed_reset || ' ' || (stats_reset > '$reset_before') FROM pool.stats WHERE pool_id = 1"
	),
	'0 true',
	'pool.stats_reset(1) zeroes the counters of pool 1 and records when');
isnt($local->safe_psql('postgres', 'SELECT checkouts FROM pool.stats WHERE pool_id = 2'),
	'0', 'and leaves pool 2 alone');
$local->safe_psql('postgres', 'SELECT pool.stats_reset()');
is($local->safe_psql('postgres', 'SELECT sum(checkouts) FROM pool.stats'),
	'0', 'pool.stats_reset() zeroes all');

# --- unknown pools ------------------------------------------------------------
my ($rc, $out, $err) = $local->psql('postgres', 'SELECT pool.pause(\'99\')');
like($err, qr/ERROR:  pool 99 does not exist/, 'an unknown id is an error');
($rc, $out, $err) = $local->psql('postgres',
	"SELECT pool.reset('host=127.0.0.1 port=1 dbname=nowhere password=hunter2')");
like($err, qr/ERROR:  pool "password=\*+ dbname=nowhere host=127.0.0.1 port=1" does not exist/,
	'an unknown target is an error that does not show the password');
($rc, $out, $err) = $local->psql('postgres', 'SELECT pool.stats_reset(99)');
like($err, qr/ERROR:  pool 99 does not exist/, 'stats_reset of an unknown pool too');

# --- privileges ---------------------------------------------------------------
for my $fn ("pool.pause('1')", "pool.resume('1')", "pool.reset('1')", 'pool.stats_reset()')
{
	($rc, $out, $err) = $local->psql('postgres', "SET ROLE alice; SELECT $fn");
	like($err, qr/permission denied for function/, "$fn is refused to a plain role");
}
$local->safe_psql('postgres', 'GRANT EXECUTE ON FUNCTION pool.pause(text), pool.resume(text) TO alice');
$local->safe_psql('postgres', "SET ROLE alice; SELECT pool.pause('1'); SELECT pool.resume('1')");
pass('granted, a plain role may pause and resume');

done_testing();
