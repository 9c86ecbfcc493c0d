# Pool sizing: a checkout that finds the pool full waits in FIFO order and
# fails after checkout_timeout with an error naming the pool; overflow
# connections close at check-in; pools are separate per set of parameters.

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
	conf => "pool.pool_size = 1\npool.max_overflow = 0\npool.checkout_timeout = '1s'\n"
	  . "pool.workers = 2\n");
my $target = socket_target($remote);

sub set_and_reload
{
	my ($setting, $value, $check_column) = @_;
	$local->safe_psql('postgres', "ALTER SYSTEM SET pool.$setting = '$value'");
	$local->reload;
	ok(wait_until($local, "SELECT min($check_column)::text FROM pool.stats", $_[3], 10),
		"pool.$setting = $value is in force") if defined $_[3];
}

sub busy
{
	my ($sql) = @_;
	my $s = $local->background_psql('postgres', on_error_stop => 0);
	$s->query_until(qr/sent/, "\\echo sent\n$sql\n");
	return $s;
}

$local->safe_psql('postgres',
	"SELECT pool.exec('$target', 'CREATE TABLE fifo (n serial, who text)')");

# --- the pool is full: wait, then fail after checkout_timeout -----------
my $holder = busy("SELECT pool.exec('$target', 'SELECT pg_sleep(3)');");
ok(wait_until($local, 'SELECT active FROM pool.stats', '1', 10), 'the only connection is busy');
my $t0 = time();
my ($rc, $out, $err) = $local->psql('postgres',
	"SELECT pool.exec('$target', 'SELECT 1')");
my $took = elapsed_since($t0);
like($err, qr/timed out waiting for a connection from pool "dbname=app host=\S+ port=\d+"/,
	'a full pool fails the checkout with an error naming the pool');
like($err, qr/HINT:.*pool\.pool_size/s, 'with a hint on what to raise');
cmp_ok($took, '>=', 0.9, "not before checkout_timeout (${\ sprintf('%.3f', $took)} s)");
cmp_ok($took, '<', 2, 'nor long after it');
is($local->safe_psql('postgres', 'SELECT checkout_timeouts FROM pool.stats'),
	'1', 'the timeout is counted');
$holder->query('SELECT 1');
is($holder->{stderr}, '', 'the holder finished normally');

# --- waiters are served first come, first served --------------------------
set_and_reload('checkout_timeout', '30s', 'checkout_timeout_ms', '30000');
$holder = busy("SELECT pool.exec('$target', 'SELECT pg_sleep(1)');");
ok(wait_until($local, 'SELECT active FROM pool.stats', '1', 10), 'the connection is busy again');
my @waiters;
for my $who ('first', 'second', 'third', 'fourth')
{
	push @waiters,
	  busy("SELECT pool.exec('$target', 'INSERT INTO fifo (who) VALUES (\$1)', '$who');");
	my $n = scalar @waiters;
	ok(wait_until($local, 'SELECT waiting FROM pool.stats', "$n", 10),
		"$n waiting, shown in pool.stats");
}
for my $s ($holder, @waiters)
{
	$s->query('SELECT 1');
	is($s->{stderr}, '', 'served without error');
	$s->quit;
}
is($remote->safe_psql('app', "SELECT string_agg(who, ',' ORDER BY n) FROM fifo"),
	'first,second,third,fourth', 'waiters were served in arrival order');
is($local->safe_psql('postgres', 'SELECT waiting FROM pool.stats'), '0', 'no one waits any more');

# --- overflow connections close at check-in -------------------------------
set_and_reload('max_overflow', '2', 'max_overflow', '2');
my @sleepers = map { busy("SELECT pool.exec('$target', 'SELECT pg_sleep(1)');") } 1 .. 3;
ok(wait_until($local, 'SELECT open || \' \' || active FROM pool.stats', '3 3', 10),
	'under load the pool grows to pool_size + max_overflow');
for my $s (@sleepers)
{
	$s->query('SELECT 1');
	is($s->{stderr}, '', 'overflow request served');
	$s->quit;
}
ok(wait_until($local, 'SELECT open || \' \' || idle FROM pool.stats', '1 1', 10),
	'back to pool_size once the overflow connections were checked in');
ok( wait_until(
		$remote,
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool'",
		'1', 10),
	'the remote sees one connection again');

# --- one pool per distinct set of parameters -------------------------------
$local->safe_psql('postgres',
	"SELECT pool.exec('$target application_name=pool', 'SELECT 1'), pool.exec('" . tcp_target($remote) . "', 'SELECT 1')");
is($local->safe_psql('postgres', 'SELECT count(*) FROM pool.stats'),
	'3', 'other parameters, other pool');
is($local->safe_psql('postgres', "SELECT count(*) FROM pool.stats WHERE target LIKE '%application_name=pool%'"),
	'1', 'the pool name shows its parameters');

is($local->safe_psql('postgres', 'SELECT count(DISTINCT worker) FROM pool.stats'),
	'2', 'pools are spread over the two workers');
is( $local->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pool worker'"),
	'2',
	'both workers run');

# --- counters add up -------------------------------------------------------
is( $local->safe_psql(
		'postgres',
		"SELECT sum(checkouts) = sum(queries) AND sum(active) = 0 AND sum(waiting) = 0 FROM pool.stats"),
	't', 'every checkout was checked in');

done_testing();
