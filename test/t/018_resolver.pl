# A slow, hanging or failing resolver delays only the callers of its own
# target: the worker's event loop never waits for a host name, for connects,
# min_idle, retries and cancels alike.  The resolver is slowed on purpose by
# an LD_PRELOAD shim of our own (test/slow_resolver.c) loaded into the local
# server: *.slow.test names take 5 s, *.hang.test names never answer,
# *.none.test names do not exist, *.fast.test names answer at once; all of
# them are 127.0.0.1.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $cc = $ENV{CC} // 'cc';
my $dir = PostgreSQL::Test::Utils::tempdir();
my $shim = "$dir/slow_resolver.so";
if (system("$cc -shared -fPIC -o $shim test/slow_resolver.c -ldl -lpthread") != 0)
{
	plan skip_all => "cannot build the resolver shim with $cc";
}
my $lookups = "$dir/lookups.log";

my $remote = pool_remote('remote');
my $port = $remote->port;

my $local = PostgreSQL::Test::Cluster->new('local');
$local->init;
$local->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pool'\npool.workers = 1\n"
	  . "pool.checkout_timeout = '20s'\npool.connect_timeout = '20s'\n");
{
	local $ENV{LD_PRELOAD} = $shim;
	local $ENV{POOL_RESOLVER_DELAY_MS} = 5000;
	local $ENV{POOL_RESOLVER_LOG} = $lookups;
	$local->start;
}
$local->safe_psql('postgres', 'CREATE EXTENSION pool');
my $worker = pool_worker_pid($local);

sub target
{
	my ($host, $extra) = @_;
	return "host=$host port=$port dbname=app user=app password=secret"
	  . ($extra ? " $extra" : '');
}
my $warm = target('127.0.0.1');

is($local->safe_psql('postgres', "SELECT x FROM pool.query('$warm', 'SELECT 1') AS t(x int)"),
	'1', 'a warm pool on an address');

# warm calls, timed one by one, while something else waits for a resolver
sub warm_calls
{
	my ($n) = @_;
	my $slowest = 0;
	for (1 .. $n)
	{
		my $t0 = time();
		$local->safe_psql('postgres', "SELECT x FROM pool.query('$warm', 'SELECT 1') AS t(x int)");
		my $took = time() - $t0;
		$slowest = $took if $took > $slowest;
		usleep(100_000);
	}
	return $slowest;
}

# --- a name that takes 5 s -----------------------------------------------------------
my $t0 = time();
my $slow = $local->background_psql('postgres', on_error_stop => 0);
$slow->query_until(qr/sent/,
	"\\echo sent\nSELECT x FROM pool.query('" . target('db.slow.test') . "', 'SELECT 2') AS t(x int);\n");
my $slowest = warm_calls(20);
cmp_ok($slowest, '<', 1.5,
	sprintf('while a name takes 5 s to resolve, the warm pool of the same worker answers (slowest of 20 calls: %.3f s)', $slowest));
$slow->{stderr} = '';
my $out = $slow->query('SELECT 1');
like($out, qr/^2/, 'the slow target connects once its name resolved');
cmp_ok(time() - $t0, '>=', 4.5, 'after the resolver\'s 5 s');
is($slow->{stderr}, '', 'without an error');
is($local->safe_psql('postgres',
		"SELECT remote_host FROM pool.connections WHERE target LIKE '%db.slow.test%'"),
	'db.slow.test', 'the connection keeps the host name (for TLS and messages)');

# --- min_idle of a slow name opens in the background ----------------------------------
$local->safe_psql('postgres', qq{
CREATE SERVER slowidle FOREIGN DATA WRAPPER pool
    OPTIONS (host 'idle.slow.test', port '$port', dbname 'app', min_idle '2');
CREATE USER MAPPING FOR PUBLIC SERVER slowidle OPTIONS (user 'app', password 'secret');
});
$local->psql('postgres', "SELECT pool.exec('slowidle', 'SELECT 1')");    # creates it
$slowest = warm_calls(10);
cmp_ok($slowest, '<', 1.5, sprintf('while min_idle connections of a slow name open, the warm pool answers (%.3f s)', $slowest));
ok(wait_until($local, "SELECT idle >= 2 FROM pool.stats WHERE target LIKE 'slowidle%'", 't', 30),
	'and the min_idle connections come up');

# --- a cancel of a command on a slow name ----------------------------------------------
my $h = $local->background_psql('postgres', on_error_stop => 0);
$h->query_safe(q{SET statement_timeout = '1s'});
$t0 = time();
$h->{stderr} = '';
$h->query("SELECT pool.exec('slowidle', 'SELECT pg_sleep(30)')");
like($h->{stderr}, qr/statement timeout/, 'a command on the slow name times out');
ok(wait_until($remote, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND state = 'active' AND pid <> pg_backend_pid()", '0', 3),
	'and its cancel reached the remote at once, without a lookup');
$h->quit;

# --- a name that never resolves ---------------------------------------------------------
$local->safe_psql('postgres', qq{
CREATE SERVER hang FOREIGN DATA WRAPPER pool
    OPTIONS (host 'db.hang.test', port '$port', dbname 'app', connect_timeout '2s');
CREATE USER MAPPING FOR PUBLIC SERVER hang OPTIONS (user 'app', password 'secret');
});
my $hung = $local->background_psql('postgres', on_error_stop => 0);
$t0 = time();
$hung->query_until(qr/sent/, "\\echo sent\nSELECT pool.exec('hang', 'SELECT 1');\n");
$slowest = warm_calls(10);
cmp_ok($slowest, '<', 1.5, sprintf('while a name never resolves, the warm pool answers (%.3f s)', $slowest));
$hung->{stderr} = '';
$hung->query('SELECT 1');
like($hung->{stderr}, qr/could not connect to pool "hang/, 'the hanging name fails');
like($hung->{stderr}, qr/Resolving the host name timed out after 2000 ms/, '... at its connect_timeout, saying why');
$hung->quit;

# --- a name that does not exist, and several hosts --------------------------------------
my ($rc, $o, $err) = $local->psql('postgres',
	"SELECT x FROM pool.query('" . target('x.none.test') . "', 'SELECT 1') AS t(x int)");
like($err, qr/could not translate host name "x\.none\.test" to address/,
	'a name that does not exist fails at once, in libpq\'s words');
is($local->safe_psql('postgres',
		"SELECT x FROM pool.query('" . target('x.none.test,db.fast.test') . "', 'SELECT 3') AS t(x int)"),
	'3', 'with several hosts, the next one is tried');

# --- the worker never called the blocking resolver for these names ---------------------
my @lines = split /\n/, slurp_file($lookups);
my @blocking = grep { /^getaddrinfo \S+\.test pid=$worker / } @lines;
my @async = grep { /^getaddrinfo_a \S+\.test pid=$worker / } @lines;
is(scalar(@blocking), 0, 'the worker never called getaddrinfo() for them');
cmp_ok(scalar(@async), '>=', 4, 'it used getaddrinfo_a() (' . scalar(@async) . ' lookups)');
is(pool_worker_pid($local), $worker, 'the worker is the same process throughout');

done_testing();
