# The fixed limits: pool.max_pools (pools without connections are reused,
# otherwise a clear error) and pool.max_connections across all pools (an idle
# connection of another pool makes room, otherwise a checkout waits and fails
# with a detail saying why).

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $remote = pool_remote('remote');
my $local = pool_local('local',
	conf => "pool.max_pools = 2\npool.max_connections = 2\n"
	  . "pool.pool_size = 1\npool.max_overflow = 0\npool.checkout_timeout = '1s'\n"
	  . "pool.max_role_connections = 0\n");
my $a = socket_target($remote, dbname => 'app');
my $b = socket_target($remote, dbname => 'postgres');
my $c = tcp_target($remote);

sub one
{
	my ($target) = @_;
	return $local->psql('postgres',
		"SELECT x FROM pool.query('$target', 'SELECT 1') AS t(x int)");
}

my ($rc, $out, $err) = one($a);
is($out, '1', 'pool A');
($rc, $out, $err) = one($b);
is($out, '1', 'pool B');

# --- max_pools ----------------------------------------------------------------
($rc, $out, $err) = one($c);
like($err, qr/ERROR:  too many pools/, 'a third pool is refused while both have connections');
like($err, qr/HINT:  Increase pool\.max_pools/, 'with a hint');

# B loses its only connection: its entry can be reused
$remote->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool' AND datname = 'postgres'"
);
ok(wait_until($local, "SELECT count(*) FROM pool.connections WHERE target LIKE '%dbname=postgres%'", '0', 10),
	"B's connection is gone");
($rc, $out, $err) = one($c);
is($out, '1', 'the third target reuses the entry of the pool without connections');
is( $local->safe_psql('postgres',
		"SELECT string_agg(CASE WHEN target LIKE '%user=app%' THEN 'C' WHEN target LIKE '%dbname=app%' THEN 'A' ELSE 'B' END, ',' ORDER BY pool_id) FROM pool.stats"),
	'A,C', 'pool.stats shows A and C');

# --- max_connections --------------------------------------------------------
$local->safe_psql('postgres', 'ALTER SYSTEM SET pool.max_overflow = 1');
$local->reload;
ok(wait_until($local, 'SELECT min(max_overflow) FROM pool.stats', '1', 10), 'max_overflow 1');

my @sleepers;
for (1 .. 2)
{
	my $s = $local->background_psql('postgres', on_error_stop => 0);
	$s->query_until(qr/sent/, "\\echo sent\nSELECT pool.exec('$a', 'SELECT pg_sleep(2)');\n");
	push @sleepers, $s;
}
ok(wait_until($local, "SELECT active FROM pool.stats WHERE target NOT LIKE '%user=app%'", '2', 10),
	"A runs two at once: C's idle connection made room");
is($local->safe_psql('postgres', "SELECT open FROM pool.stats WHERE target LIKE '%user=app%'"),
	'0', 'C gave up its idle connection');

($rc, $out, $err) = one($c);
like($err, qr/timed out waiting for a connection from pool/, 'with every slot busy, C waits and fails');
like($err, qr/DETAIL:  All 2 connection slots \(pool\.max_connections\) are in use\./,
	'the detail says why');
for my $s (@sleepers)
{
	$s->query('SELECT 1');
	is($s->{stderr}, '', 'the sleepers finished');
	$s->quit;
}
($rc, $out, $err) = one($c);
is($out, '1', 'C is served once connections are free');
cmp_ok($remote->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool'"),
	'<=', 2, 'the remote never sees more than pool.max_connections');

done_testing();
