# Streaming: a 10,000,000-row result passes through the worker with the
# backend's and the worker's memory staying flat, the backend's tuplestore
# spilling to disk beyond work_mem.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $remote = pool_remote('remote');
my $local = pool_local('local', conf => "work_mem = '4MB'\n");
my $target = socket_target($remote);
my $rows = 10_000_000;

$local->safe_psql('postgres',
	"SELECT x FROM pool.query('$target', 'SELECT 1') AS t(x int)");
my $worker = pool_worker_pid($local);
my $temp0 = $local->safe_psql('postgres',
	"SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()");

my $s = $local->background_psql('postgres', on_error_stop => 0);
my $backend = $s->query_safe('SELECT pg_backend_pid()');
$s->query_until(qr/sent/,
	"\\echo sent\nSELECT count(*), sum(length(t)) FROM pool.query('$target', 'SELECT g, md5(g::text) FROM generate_series(1, $rows) g') AS r(i int, t text);\n"
);

# sample private memory while the rows stream
my (@worker_kb, @backend_kb);
while (1)
{
	my $active = $local->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $backend AND state = 'active'");
	last if $active eq '0';
	push @worker_kb, rss_anon_kb($worker);
	push @backend_kb, rss_anon_kb($backend);
	usleep(200_000);
}
my $result = $s->query_safe('SELECT 1');
$s->quit;
like($result, qr/^$rows\|320000000$/m, "all $rows rows arrived");
cmp_ok(scalar @worker_kb, '>=', 5, 'memory was sampled while rows streamed (' . scalar(@worker_kb) . ' samples)');

sub growth
{
	my @kb = grep { defined } @_;
	my ($min, $max) = ($kb[0], $kb[0]);
	for (@kb) { $min = $_ if $_ < $min; $max = $_ if $_ > $max; }
	return ($min, $max);
}
my ($wmin, $wmax) = growth(@worker_kb);
my ($bmin, $bmax) = growth(@backend_kb);
note "worker RssAnon $wmin..$wmax kB, backend RssAnon $bmin..$bmax kB";
cmp_ok($wmax - $wmin, '<', 8 * 1024, "the worker's memory stayed flat ($wmin..$wmax kB)");
cmp_ok($bmax - $bmin, '<', 16 * 1024, "the backend's memory stayed flat ($bmin..$bmax kB)");

my $temp1 = $local->safe_psql('postgres',
	"SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()");
cmp_ok($temp1 - $temp0, '>', 100 * 1024 * 1024, 'the tuplestore spilled to disk');

# the same through a fresh session, checking the result itself
is( $local->safe_psql(
		'postgres',
		"SELECT count(*) || ' ' || sum(i) FROM pool.query('$target', 'SELECT g FROM generate_series(1, 1000000) g') AS r(i bigint)"
	),
	'1000000 500000500000',
	'every row arrives, once');

done_testing();
