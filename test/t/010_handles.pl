# Reserved connections, transaction scope, asynchronous commands and
# cancellation, with a real remote: parallel commands, handles that only
# their session may use, holders that die, remote connections that die under
# a handle, and cancels that reach the remote.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $remote = pool_remote('remote');
my $local = pool_local('local', conf => "pool.pool_size = 4\npool.max_overflow = 0\n");
my $target = tcp_target($remote);
$remote->safe_psql('app', 'SET ROLE app; CREATE TABLE t (a int)');

# queries in a background session, each with a clean stderr
sub bq
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	return $s->query($sql);
}

sub qs
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	return $s->query_safe($sql);
}

my $in_xact =
  "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool' AND state LIKE 'idle in transaction%'";
my $sleeping =
  "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid()";

# --- four remote commands at once ------------------------------------------------
my $t0 = time();
is( $local->safe_psql(
		'postgres', qq{
SELECT pool.send('$target', 'SELECT pg_sleep(0.5), 1') AS a \\gset a1_
SELECT pool.send('$target', 'SELECT pg_sleep(0.5), 2') AS a \\gset a2_
SELECT pool.send('$target', 'SELECT pg_sleep(0.5), 3') AS a \\gset a3_
SELECT pool.send('$target', 'SELECT pg_sleep(0.5), 4') AS a \\gset a4_
SELECT (SELECT x FROM pool.fetch(:a1_a) AS t(s text, x int))
     + (SELECT x FROM pool.fetch(:a2_a) AS t(s text, x int))
     + (SELECT x FROM pool.fetch(:a3_a) AS t(s text, x int))
     + (SELECT x FROM pool.fetch(:a4_a) AS t(s text, x int));
}),
	'10',
	'four commands sent together all answered');
my $took = elapsed_since($t0);
cmp_ok($took, '<', 0.9, "four pg_sleep(0.5) sent together took ${\ sprintf('%.3f', $took)} s in all");

$t0 = time();
is( $local->safe_psql(
		'postgres',
		"SELECT count(*) FROM pool.query_all(ARRAY['$target', '$target application_name=b', '$target application_name=c', '$target application_name=d'], 'SELECT pg_sleep(0.5)') AS t(target text, s text)"
	),
	'4',
	'query_all on four targets');
$took = elapsed_since($t0);
cmp_ok($took, '<', 0.9, "in parallel (${\ sprintf('%.3f', $took)} s)");

# --- a handle works only in its own session -------------------------------------
my $a = $local->background_psql('postgres', on_error_stop => 0);
my $h = qs($a, "SELECT pool.checkout('$target')");
like($h, qr/^\d+$/, "session A checked out handle $h");
my ($rc, $out, $err) = $local->psql('postgres', "SELECT pool.exec($h, 'SELECT 1')");
like($err, qr/ERROR:  handle $h belongs to another session/,
	'session B cannot use it');
like($err, qr/DETAIL:  Only the session that checked it out \(process \d+\) may use it/,
	'and is told whose it is');
($rc, $out, $err) = $local->psql('postgres', "SELECT pool.checkin($h)");
like($err, qr/belongs to another session/, 'nor check it in');

# --- a holder that is terminated gives the connection back, rolled back ---------
qs($a, "SELECT pool.exec($h, 'BEGIN')");
qs($a, "SELECT pool.exec($h, 'INSERT INTO t VALUES (1)')");
is($remote->safe_psql('app', $in_xact), '1', 'the remote transaction is open');
$local->safe_psql('postgres',
	"SELECT pg_terminate_backend(holder_pid) FROM pool.connections WHERE handle = $h");
$t0 = time();
ok(wait_until($local, 'SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL', '0', 5),
	'the connection came back to the pool');
cmp_ok(elapsed_since($t0), '<', 1, 'within a second');
ok(wait_until($remote, $in_xact, '0', 5), 'its remote transaction was rolled back');
is($remote->safe_psql('app', 'SELECT count(*) FROM t'), '0', 'and its work undone');
eval { $a->quit };

# --- a session that ends normally gives its connections back too --------------
$a = $local->background_psql('postgres', on_error_stop => 0);
qs($a, "SELECT pool.checkout('$target')");
qs($a, "SELECT pool.checkout('$target')");
is($local->safe_psql('postgres', 'SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL'),
	'2', 'two connections reserved');
$a->quit;
ok(wait_until($local, 'SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL', '0', 5),
	'back when the session ended');

# --- cancel and statement_timeout during a command on a handle -------------------
$a = $local->background_psql('postgres', on_error_stop => 0);
$h = qs($a, "SELECT pool.checkout('$target')");
my $remote_pid = $local->safe_psql('postgres', "SELECT remote_pid FROM pool.connections WHERE handle = $h");
qs($a, "SET statement_timeout = '300ms'");
$t0 = time();
bq($a, "SELECT pool.exec($h, 'SELECT pg_sleep(60)')");
$took = elapsed_since($t0);
like($a->{stderr}, qr/canceling statement due to statement timeout/, 'statement_timeout stops a command on a handle');
cmp_ok($took, '<', 1.3, "at once (${\ sprintf('%.3f', $took)} s)");
ok(wait_until($remote, $sleeping, '0', 2), 'the remote command was cancelled');
qs($a, 'RESET statement_timeout');
is(qs($a, "SELECT pool.exec($h, 'SELECT 1')"), 'SELECT 1', 'the handle still works');
is($local->safe_psql('postgres', "SELECT remote_pid FROM pool.connections WHERE handle = $h"),
	$remote_pid, 'on the same connection');

# a cancel while waiting in pool.fetch
qs($a, "SELECT pool.send($h, 'SELECT pg_sleep(60)')");
ok(wait_until($remote, $sleeping, '1', 5), 'an asynchronous command runs');
$a->query_until(qr/sent/, "\\echo sent\nSELECT * FROM pool.fetch($h) AS t(s text);\n");
sleep(0.2);
$local->safe_psql('postgres',
	"SELECT pg_cancel_backend(holder_pid) FROM pool.connections WHERE handle = $h");
bq($a, 'SELECT 1');
like($a->{stderr}, qr/canceling statement due to user request/, 'a cancel stops pool.fetch');
ok(wait_until($remote, $sleeping, '0', 2), 'and the remote command');
is(qs($a, "SELECT pool.exec($h, 'SELECT 2')"), 'SELECT 1', 'the handle works after it');

# pool.cancel of an asynchronous command
qs($a, "SELECT pool.send($h, 'SELECT pg_sleep(60)')");
ok(wait_until($remote, $sleeping, '1', 5), 'another asynchronous command runs');
is(qs($a, "SELECT pool.cancel($h)"), 't', 'pool.cancel says it cancelled');
ok(wait_until($remote, $sleeping, '0', 2), 'the remote command stopped');
qs($a, "SELECT pool.checkin($h)");
$a->quit;

# --- the remote connection of a handle dies -----------------------------------------
$a = $local->background_psql('postgres', on_error_stop => 0);
$h = qs($a, "SELECT pool.checkout('$target')");
$remote_pid = $local->safe_psql('postgres', "SELECT remote_pid FROM pool.connections WHERE handle = $h");
$remote->safe_psql('postgres', "SELECT pg_terminate_backend($remote_pid)");
bq($a, "SELECT pool.exec($h, 'SELECT 1')");
like($a->{stderr}, qr/ERROR:  (connection of handle $h is gone|.*terminating connection|server closed the connection unexpectedly)/,
	'the next use of the handle reports that its connection died');
bq($a, "SELECT pool.exec($h, 'SELECT 1')");
like($a->{stderr}, qr/handle $h does not exist/, 'the handle is gone afterwards');
is(qs($a, "SELECT x FROM pool.query('$target', 'SELECT 3') AS t(x int)"),
	'3', 'the pool serves on');
$a->quit;

# --- transaction scope with a real remote --------------------------------------------
$local->safe_psql('postgres', qq{
BEGIN;
SELECT pool.checkout('$target', scope => 'transaction') AS h \\gset
SELECT pool.exec(:h, 'INSERT INTO t VALUES (1)');
COMMIT;
BEGIN;
SELECT pool.checkout('$target', scope => 'transaction') AS h \\gset
SELECT pool.exec(:h, 'INSERT INTO t VALUES (2)');
ROLLBACK;
BEGIN;
SELECT pool.checkout('$target', scope => 'transaction') AS h \\gset
SAVEPOINT a;
SELECT pool.exec(:h, 'INSERT INTO t VALUES (3)');
ROLLBACK TO a;
SELECT pool.exec(:h, 'INSERT INTO t VALUES (4)');
COMMIT;
});
is($remote->safe_psql('app', 'SELECT string_agg(a::text, \',\' ORDER BY a) FROM t'),
	'1,4', 'remote work commits, aborts and rolls back to savepoints with the local transaction');

# --- a remote transaction that failed never lets the local one commit -----------
sub remote_rows
{
	return $remote->safe_psql('app',
		q{SELECT coalesce(string_agg(a::text, ',' ORDER BY a), '') FROM t});
}
$remote->safe_psql('app', 'TRUNCATE t');
my $ret;
($ret, $out, $err) = $local->psql('postgres', qq{
BEGIN;
SELECT pool.checkout('$target', scope => 'transaction') AS h \\gset
SELECT pool.exec(:h, 'INSERT INTO t VALUES (10)');
SELECT pool.send(:h, 'SELECT pg_sleep(5)');
SELECT pool.cancel(:h);
COMMIT;
}, on_error_stop => 0);
like($err, qr/cannot commit: the remote transaction of handle \d+ is aborted/,
	'a command cancelled in a remote transaction fails the local commit');
is(remote_rows(), '', 'and nothing of that remote transaction was committed');

($ret, $out, $err) = $local->psql('postgres', qq{
BEGIN;
SELECT pool.checkout('$target', scope => 'transaction') AS h \\gset
SELECT pool.exec(:h, 'INSERT INTO t VALUES (11)');
SELECT pool.send(:h, 'SELECT 1/0');
SAVEPOINT s;
SELECT * FROM pool.fetch(:h) AS t(x int);
ROLLBACK TO s;
COMMIT;
}, on_error_stop => 0);
like($err, qr/cannot commit: the remote transaction of handle \d+ is aborted/,
	'an error read in a subtransaction begun after its command fails the local commit');
is(remote_rows(), '', 'and the remote rolled back');

($ret, $out, $err) = $local->psql('postgres', qq{
BEGIN;
SELECT pool.checkout('$target', scope => 'transaction') AS h \\gset
SELECT pool.exec(:h, 'INSERT INTO t VALUES (12)');
SAVEPOINT s;
SELECT pool.exec(:h, 'SELECT 1/0');
ROLLBACK TO s;
SELECT pool.exec(:h, 'INSERT INTO t VALUES (13)');
COMMIT;
}, on_error_stop => 0);
is($ret, 0, 'a remote error undone by a rollback to a savepoint taken before it lets the commit through');
is(remote_rows(), '12,13', 'with the work before and after the savepoint');

$remote->safe_psql('app', 'TRUNCATE t');
($ret, $out, $err) = $local->psql('postgres', qq{
BEGIN;
SELECT pool.checkout('$target', scope => 'transaction') AS h1 \\gset
SELECT pool.checkout('$target', scope => 'transaction') AS h2 \\gset
SELECT pool.exec(:h1, 'INSERT INTO t VALUES (20)');
SELECT pool.exec(:h2, 'INSERT INTO t VALUES (21)');
SELECT pool.send(:h2, 'SELECT 1');
COMMIT;
}, on_error_stop => 0);
like($err, qr/cannot commit while a command is in progress on handle/,
	'a command left in flight fails the commit');
is(remote_rows(), '', 'before any remote transaction of the same local one committed');

# savepoints of released subtransactions are released remotely
my $loop = q{
DO $$
BEGIN
	FOR i IN 1..200 LOOP
		BEGIN
			PERFORM pool.exec(current_setting('my.h')::bigint, 'INSERT INTO t VALUES (30)');
		EXCEPTION WHEN division_by_zero THEN NULL;
		END;
	END LOOP;
END
$$;
};
($ret, $out, $err) = $local->psql('postgres', qq{
BEGIN;
SELECT set_config('my.h', pool.checkout('$target', scope => 'transaction')::text, true);
$loop
SELECT pool.exec(current_setting('my.h')::bigint, 'RELEASE SAVEPOINT pool_s2');
COMMIT;
}, on_error_stop => 0);
like($err, qr/savepoint "pool_s2" does not exist/,
	'the remote savepoint of a released local subtransaction is released');
($ret, $out, $err) = $local->psql('postgres', qq{
BEGIN;
SELECT set_config('my.h', pool.checkout('$target', scope => 'transaction')::text, true);
$loop
COMMIT;
}, on_error_stop => 0);
is($ret, 0, 'a loop of 200 subtransactions using the handle commits');
is($remote->safe_psql('app', 'SELECT count(*) FROM t WHERE a = 30'), '200', 'with all its remote work');

# check-ins at abort that find every lane taken still reach the worker
($ret, $out, $err) = $local->psql('postgres', qq{
SELECT count(pool.send('$target', 'SELECT pg_sleep(0.2)')) FROM generate_series(1, 62);
BEGIN;
SELECT pool.checkout('$target', scope => 'transaction') AS h1 \\gset
SELECT pool.exec(:h1, 'INSERT INTO t VALUES (40)');
SELECT pool.checkout('$target', scope => 'transaction') AS h2 \\gset
SELECT pool.send(:h2, 'SELECT 1');
SELECT 1/0;
ROLLBACK;
SELECT pg_sleep(0.5);
SELECT 'reserved: ' || count(*) FROM pool.connections WHERE state = 'reserved';
}, on_error_stop => 0);
unlike($err, qr/could not check in/, 'no check-in is dropped for want of a free lane');
like($out, qr/reserved: 0/, 'the connections of the aborted transaction are no longer reserved');

# a session cannot wait on itself for a lane
($ret, $out, $err) = $local->psql('postgres', qq{
SELECT count(pool.send('$target', 'SELECT 1')) FROM generate_series(1, 70);
}, on_error_stop => 0);
like($err, qr/too many commands in progress in this session/,
	'more commands in flight than lanes is an error, not a hang');

# an error the remote SQL raises with a connection SQLSTATE keeps the handle
($ret, $out, $err) = $local->psql('postgres', qq{
SELECT pool.checkout('$target') AS h \\gset
SELECT pool.exec(:h, 'DO ''BEGIN RAISE SQLSTATE ''''08006''''; END''');
SELECT pool.checkin(:h);
SELECT 'checked in';
}, on_error_stop => 0);
like($out, qr/checked in/, 'a remote error with SQLSTATE 08006 does not lose the handle');
unlike($err, qr/does not exist/, 'which is then checked in');

# --- nothing left behind --------------------------------------------------------------
is($remote->safe_psql('app', $in_xact), '0', 'no pooled connection is left in a remote transaction');
ok(wait_until($local, 'SELECT sum(active) + sum(reserved) FROM pool.stats', '0', 5),
	'no connection is held');

done_testing();
