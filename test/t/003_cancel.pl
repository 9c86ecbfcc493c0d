# Cancellation: a cancel, a statement_timeout or a terminated backend stops
# the wait within a second, the remote query is cancelled, and the
# connection comes back clean (drained, rolled back) to serve the next
# caller.

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
	conf => "pool.pool_size = 1\npool.max_overflow = 0\n");
my $target = socket_target($remote);

# remote backends running our pg_sleep(60)
my $sleeping =
  "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid()";

sub start_sleep
{
	my ($session, $sql) = @_;
	$session->query_until(qr/sent/,
		"SELECT pg_backend_pid() AS pid \\gset\n\\echo sent\n$sql\n");
	ok(wait_until($remote, $sleeping, '1', 10), 'the remote query runs');
}

sub pool_is_clean
{
	my ($what) = @_;
	ok( wait_until(
			$local,
			"SELECT state || ' ' || (holder_pid IS NULL) FROM pool.connections",
			'idle true', 10),
		"$what: the connection is idle and not held");
	is( $local->safe_psql(
			'postgres',
			"SELECT x FROM pool.query('$target', 'SELECT 1') AS t(x int)"),
		'1',
		"$what: the next caller is served");
	is( $remote->safe_psql(
			'postgres',
			"SELECT state FROM pg_stat_activity WHERE application_name = 'pool'"),
		'idle',
		"$what: the remote connection is idle, not in a transaction");
}

$local->safe_psql('postgres',
	"SELECT x FROM pool.query('$target', 'SELECT 1') AS t(x int)");
my $pid0 = remote_pids($remote, 'postgres');

# --- a cancel ---------------------------------------------------------
my $s = $local->background_psql('postgres', on_error_stop => 0);
start_sleep($s, "SELECT pool.exec('$target', 'SELECT pg_sleep(60)');");
my $t0 = time();
$local->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pool.exec%pg_sleep(60)%'"
);
$s->query('SELECT 1');
my $took = elapsed_since($t0);
like($s->{stderr}, qr/canceling statement due to user request/,
	'the cancel reached the caller');
cmp_ok($took, '<', 1, "within ${\ sprintf('%.3f', $took)} s");
ok(wait_until($remote, $sleeping, '0', 2),
	'the remote query was cancelled');
pool_is_clean('after a cancel');
is(remote_pids($remote, 'postgres'), $pid0, 'the connection was cleaned, not replaced');

# --- statement_timeout --------------------------------------------------
$s->query("SET statement_timeout = '300ms'");
$t0 = time();
$s->query("SELECT pool.exec('$target', 'SELECT pg_sleep(60)')");
$took = elapsed_since($t0);
like($s->{stderr}, qr/canceling statement due to statement timeout/,
	'statement_timeout ends the wait');
cmp_ok($took, '<', 1.3, "after ${\ sprintf('%.3f', $took)} s");
ok(wait_until($remote, $sleeping, '0', 2),
	'the remote query was cancelled');
pool_is_clean('after a statement timeout');
$s->query('RESET statement_timeout');

# --- inside a remote transaction: rolled back before reuse ---------------
start_sleep($s,
	"SELECT pool.exec('$target', 'BEGIN; CREATE TABLE never (a int); SELECT pg_sleep(60)');");
$local->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pool.exec%pg_sleep(60)%'"
);
$s->query('SELECT 1');
like($s->{stderr}, qr/canceling statement/, 'cancelled inside a remote transaction');
pool_is_clean('after a cancel inside a remote transaction');
is($remote->safe_psql('app', "SELECT count(*) FROM pg_class WHERE relname = 'never'"),
	'0', 'the remote transaction was rolled back');

# --- an error while converting rows mid-stream --------------------------
$local->safe_psql('postgres', 'CREATE DOMAIN small AS int CHECK (VALUE < 1000)');
my ($rc, $out, $err) = $local->psql('postgres',
	"SELECT count(*) FROM pool.query('$target', 'SELECT g FROM generate_series(1, 5000000) g') AS t(x small)"
);
like($err, qr/violates check constraint/, 'a local conversion error stops the stream');
pool_is_clean('after a local error mid-stream');

# --- the waiting backend is terminated ----------------------------------
$s->quit;
$s = $local->background_psql('postgres', on_error_stop => 0);
start_sleep($s, "SELECT pool.exec('$target', 'SELECT pg_sleep(60)');");
$local->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pool.exec%pg_sleep(60)%'"
);
ok(wait_until($remote, $sleeping, '0', 2),
	'terminating the caller cancelled the remote query');
pool_is_clean('after the caller was terminated');
eval { $s->quit };	# its psql lost its server

# --- the checkout counters add up ---------------------------------------
is( $local->safe_psql(
		'postgres',
		"SELECT open || ' ' || active || ' ' || waiting FROM pool.stats"),
	'1 0 0',
	'one connection, none active, no one waiting');

# --- a checkout cancelled at any moment leaves nothing reserved -------------
# The only connection is busy with another session's short queries, so each
# checkout waits about as long as its 1 ms statement_timeout: some are
# cancelled while waiting, some after the worker reserved the connection
# but before the backend read the handle.
my $busy = $local->background_psql('postgres', on_error_stop => 0);
$busy->query_until(qr/sent/,
	"\\echo sent\nDO \$\$ BEGIN FOR i IN 1..3000 LOOP PERFORM pool.exec('$target', 'SELECT pg_sleep(0.0005)'); END LOOP; END \$\$;\n"
);
my $script = "SELECT 0 AS h \\gset\n";
for my $i (0 .. 299)
{
	$script .= "SET statement_timeout = '1ms';\n"
	  . "SELECT pool.checkout('$target') AS h \\gset\n"
	  . "RESET statement_timeout;\n"
	  . "SELECT pool.checkin(:h);\n";
}
# a checkout cancelled after it returned leaves a handle the session has
# (pool.connections shows it): check such ones in, then nothing is left
$script .= "RESET statement_timeout;\n"
  . "SELECT count(*) FROM (SELECT pool.checkin(handle) FROM pool.connections"
  . " WHERE holder_pid = pg_backend_pid() AND handle IS NOT NULL) s;\n"
  . "SELECT 'reserved ' || reserved || ', with a handle ' ||"
  . " (SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL) FROM pool.stats;\n";
my ($rc, $out, $err) = $local->psql('postgres', $script, on_error_stop => 0);
my $timeouts = () = $err =~ /canceling statement due to statement timeout/g;
note("$timeouts of 300 checkouts were cancelled");
cmp_ok($timeouts, '>', 0, 'some checkouts were cancelled');
$busy->query('SELECT 1');
$busy->quit;
like($out, qr/reserved 0, with a handle 0$/,
	'no cancelled checkout left a connection reserved, in the session');

done_testing();
