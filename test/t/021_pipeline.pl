# Pipelined one-shot statements: 16 clients on a pool of 2 connections with
# max_pipeline 8.  Every caller gets its own result, checked value by value;
# remote errors and local timeouts of some never reach others; one-shot SETs
# among them never show in others' statements; a statement that changes the
# session unseen by the scanner gets its connection closed; the counters add
# up; max_pipeline 1 turns pipelining off; a remote restart mid-pipeline
# fails statements with a clear error and nothing hangs.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $remote = pool_remote('remote', conf => "log_statement = none\n");
my $local = pool_local('local',
	conf => "log_statement = none\n"
	  . "max_connections = 60\n"
	  . "pool.pool_size = 2\n"
	  . "pool.max_overflow = 0\n"
	  . "pool.max_pipeline = 8\n"
	  . "pool.checkout_timeout = '60s'\n");
my $target = tcp_target($remote);

# a function whose SET the scanner cannot see
$remote->safe_psql('app', q{SET ROLE app;
CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql
AS $$ SELECT 1 FROM (SELECT set_config('application_name', 'sneaky', false)) s $$;});
$local->safe_psql(
	'postgres', qq{
CREATE FUNCTION load_check(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql AS \$\$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'pipeline check failed: %', what;
	END IF;
	RETURN true;
END
\$\$;
CREATE TABLE outcomes (kind text, ok boolean, detail text);
-- a remote error, caught: it must be the statement's own
CREATE FUNCTION probe_error(n bigint) RETURNS boolean LANGUAGE plpgsql AS \$\$
DECLARE v int;
BEGIN
	SELECT x INTO v FROM pool.query('$target', 'SELECT 1 / (\$1::bigint - \$1::bigint)::int', n::text) AS t(x int);
	RAISE EXCEPTION 'pipeline check failed: no error';
EXCEPTION WHEN division_by_zero THEN
	RETURN true;
END
\$\$;
});

sub stats
{
	return $local->safe_psql('postgres',
		"SELECT sum(checkouts), sum(checkins), sum(pipelined), max(max_depth), max(max_pipeline),"
		  . " sum(errors), sum(active), sum(waiting) FROM pool.stats");
}

# --- the mix ----------------------------------------------------------------
my $own = qq{\\set a random(1, 1000000)
SELECT load_check(count(*) = 3 AND bool_and(v = :client_id * 10000000 + :a + i),
                  'own result') FROM pool.query('$target',
  'SELECT \$1::bigint + g, g FROM generate_series(1, 3) g',
  (:client_id * 10000000 + :a)::text) AS r(v bigint, i int);
};
my $state = qq{SELECT load_check(s = '"\$user", public|pool', 'no session state crosses: ' || s)
  FROM pool.query('$target',
  'SELECT current_setting(''search_path'') || ''|'' || current_setting(''application_name'')')
  AS r(s text);
};
my $set = qq{SELECT load_check(pool.exec('$target', 'SET search_path = evil') = 'SET', 'set');
};
my $err = qq{\\set a random(1, 1000000)
SELECT probe_error(:a);
};
my $write = qq{SELECT load_check(pool.exec('$target', 'SELECT 1 FROM items WHERE id = \$1', (:client_id + 1)::text) = 'SELECT 1', 'dml tag');
};

my $t0 = time();
my $run = pgbench_start(
	$local,
	scripts => {
		own => [ $own, 10 ],
		state => [ $state, 3 ],
		set => [ $set, 1 ],
		err => [ $err, 2 ],
		write => [ $write, 2 ]
	},
	clients => 16,
	transactions => 250);

# local timeouts of slow statements, meanwhile, in a session that goes on
# after each error
my $dir = PostgreSQL::Test::Utils::tempdir();

# timeout_script(NAME, TIMES, TIMEOUT, SECONDS): a psql script that runs
# pg_sleep(SECONDS) through the pool TIMES times, each under
# statement_timeout TIMEOUT; returns its path
sub timeout_script
{
	my ($name, $times, $timeout, $seconds) = @_;
	my $file = "$dir/$name.sql";
	open my $fh, '>', $file or die $!;
	print $fh "SET statement_timeout = '$timeout';\n"
	  . "SELECT * FROM pool.query('$target', 'SELECT pg_sleep($seconds)::text') AS t(x text);\n"
	  . "RESET statement_timeout;\n"
	  for 1 .. $times;
	close $fh;
	return $file;
}
my $timeouts = 20;
my $timeouts_sql = timeout_script('timeouts', $timeouts, '30ms', '0.3');
my ($tout, $terr) = ('', '');
my $th = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $local->connstr('postgres'), '-f', $timeouts_sql ],
	'>', '/dev/null', '2>', \$terr,
	IPC::Run::timeout(300));

# what pool.connections shows meanwhile
my $max_in_flight = 0;
while ($run->{handle}->pumpable && time() - $t0 < 240)
{
	$th->pump_nb if $th->pumpable;
	$run->{handle}->pump_nb;
	my $m = $local->safe_psql('postgres',
		'SELECT coalesce(max(in_flight), 0) FROM pool.connections');
	$max_in_flight = $m if $m > $max_in_flight;
	usleep(20_000);
}
my ($rc, $out, $perr) = pgbench_finish($run);
$th->finish;
is($rc, 0, 'every pipelined caller got its own result and only its own errors')
  or diag "stderr:\n$perr\nstdout:\n$out";
like($out, qr/number of transactions actually processed: 4000\/4000/,
	'all 4,000 statements ran');
my @cancel = ($terr =~ /canceling statement due to statement timeout/g);
is(scalar(@cancel), $timeouts, "each of the $timeouts local timeouts cancelled its own statement");
my $other = $terr;
$other =~ s/^.*canceling statement due to statement timeout\n//mg;
is($other, '', 'and the timeout session saw no other error');

ok( wait_until($local, 'SELECT sum(active + waiting) FROM pool.stats', '0', 30),
	'the pool drains');
my ($co, $ci, $pipelined, $depth, $maxp, $errors) = split /\|/, stats();
is($co, $ci, "checkouts equal check-ins ($co)");
cmp_ok($pipelined, '>', 100, "statements were pipelined ($pipelined)");
cmp_ok($depth, '>=', 2, "the deepest pipeline had $depth statements");
cmp_ok($depth, '<=', 8, 'never more than max_pipeline');
is($maxp, '8', 'pool.stats shows max_pipeline');
cmp_ok($errors, '>=', 400 * 0.5, "remote errors were counted ($errors)");
cmp_ok($max_in_flight, '>=', 1, "pool.connections showed statements in flight ($max_in_flight at most)");
is($local->safe_psql('postgres', 'SELECT sum(in_flight) FROM pool.connections'),
	'0', 'nothing in flight afterwards');
cmp_ok(scalar(split /,/, remote_pids($remote)), '<=', 2, 'two remote connections at most');

# --- a statement that changed the session anyway -----------------------------
my ($reset_before) = $local->safe_psql('postgres', 'SELECT closed_reset FROM pool.stats');
is($local->safe_psql('postgres',
	"SELECT x FROM pool.query('$target', 'SELECT sneaky()') AS t(x int)"),
	'1', 'a function that sets application_name runs pipelined');
ok( wait_until($local, "SELECT closed_reset > $reset_before FROM pool.stats", 't', 10),
	'its connection is closed once it drains');
is($local->safe_psql('postgres',
	"SELECT x FROM pool.query('$target', 'SELECT current_setting(''application_name'')') AS t(x text)"),
	'pool', 'the next statement does not see what it set');

# --- max_pipeline 1 ---------------------------------------------------------
$local->append_conf('postgresql.conf', "pool.max_pipeline = 1\n");
$local->reload;
ok(wait_until($local, 'SELECT max_pipeline FROM pool.stats', '1', 10), 'max_pipeline 1 in force');
my ($p_before) = $local->safe_psql('postgres', 'SELECT pipelined FROM pool.stats');
$run = pgbench_start($local, scripts => { own => [ $own, 1 ] }, clients => 8, transactions => 50);
($rc, $out, $perr) = pgbench_finish($run);
is($rc, 0, 'without pipelining, the same callers get their results') or diag $perr;
is($local->safe_psql('postgres', 'SELECT pipelined FROM pool.stats'), $p_before,
	'and nothing was pipelined');
$local->append_conf('postgresql.conf', "pool.max_pipeline = 8\n");
$local->reload;
ok(wait_until($local, 'SELECT max_pipeline FROM pool.stats', '8', 10), 'max_pipeline 8 again');

# --- a long statement given up on, with others behind it --------------------
# Statements that join a pg_sleep(2) in its first millisecond wait for it
# unless it is cancelled when its caller gives up; a cancel that misses it
# may hit one of them, which must then run again, unseen by its caller.
my $quick = qq{\\set a random(1, 1000000)
SELECT load_check(count(*) = 1 AND bool_and(v = :client_id * 10000000 + :a)
                  AND clock_timestamp() - statement_timestamp() < interval '1.5 s',
                  'own result, not held up by a statement given up on')
  FROM pool.query('$target', 'SELECT \$1::bigint', (:client_id * 10000000 + :a)::text) AS r(v bigint);
};
$run = pgbench_start($local, scripts => { quick => [ $quick, 1 ] }, clients => 8, seconds => 6);
usleep(500_000);
my $longs = 15;
my $longs_sql = timeout_script('longs', $longs, '100ms', '2');
my ($lerr, $lout) = ('', '');
IPC::Run::run(
	[ 'psql', '-X', '-q', '-d', $local->connstr('postgres'), '-f', $longs_sql ],
	'>', \$lout, '2>', \$lerr, IPC::Run::timeout(120));
usleep(500_000);
is($remote->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(2)%' AND pid <> pg_backend_pid()"),
	'0', 'each statement given up on was cancelled on the remote, not left to run');
($rc, $out, $perr) = pgbench_finish($run);
is($rc, 0, 'statements behind them got their own results without waiting for them')
  or diag "stderr:\n$perr\nstdout:\n$out";
@cancel = ($lerr =~ /canceling statement due to statement timeout/g);
is(scalar(@cancel), $longs, "each of the $longs long statements ended by its own timeout")
  or diag $lerr;
ok( wait_until($local, 'SELECT sum(active + waiting) FROM pool.stats', '0', 30),
	'the pool drains');
($co, $ci) = split /\|/, stats();
is($co, $ci, "checkouts equal check-ins ($co)");

# --- what the worker does with a query_canceled behind a cancel -----------
# On a pool of one connection: A holds it; B (given up on after a while)
# and C wait, and when A is over, B runs and C joins it at once.  B's cancel
# goes out with C behind it, so a query_canceled of C may be the cancel's
# doing: C rolled back and nothing of it reached its caller, so the worker
# runs it again.  C here raises query_canceled itself, counting its runs in
# a sequence (which no rollback undoes): it runs twice, and its caller gets
# its own error once.
$remote->safe_psql('app', q{SET ROLE app;
CREATE SEQUENCE c_runs;
CREATE FUNCTION cancels_itself() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	PERFORM nextval('c_runs');
	RAISE EXCEPTION 'cancelled by itself' USING ERRCODE = 'query_canceled';
END $$;});
my $rport = $remote->port;
$local->safe_psql('postgres', qq{
CREATE SERVER one FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1', port '$rport',
    dbname 'app', pool_size '1', max_overflow '0', max_pipeline '8');
CREATE USER MAPPING FOR CURRENT_USER SERVER one OPTIONS (user 'app', password 'secret');});
is($local->safe_psql('postgres', "SELECT x FROM pool.query('one', 'SELECT 1') AS t(x int)"),
	'1', 'the pool of one connection serves');
my %sess;
for my $name (qw(A B C))
{
	my %sql = (
		A => "SELECT * FROM pool.query('one', 'SELECT pg_sleep(0.6)::text') AS t(x text);",
		B => "SET statement_timeout = '1200ms';\n"
		  . "SELECT * FROM pool.query('one', 'SELECT pg_sleep(5)::text') AS t(x text);",
		C => "SELECT * FROM pool.query('one', 'SELECT cancels_itself()') AS t(x int);");
	my ($o, $e) = ('', '');
	$sess{$name} = [ undef, \$o, \$e ];
	$sess{$name}[0] = IPC::Run::start(
		[ 'psql', '-X', '-q', '-d', $local->connstr('postgres'), '-c', $sql{$name} ],
		'>', \$o, '2>', \$e, IPC::Run::timeout(60));
	usleep(150_000);
}
$_->[0]->finish for values %sess;
like(${ $sess{B}[2] }, qr/canceling statement due to statement timeout/, 'B ended by its timeout');
like(${ $sess{C}[2] }, qr/cancelled by itself/, "C's caller got C's own error")
  or diag ${ $sess{C}[2] };
is($remote->safe_psql('app', 'SELECT last_value FROM c_runs'), '2',
	'C, taken for hit by the cancel meant for B, ran once more, and only once');
is($remote->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()"),
	'0', 'B was cancelled on the remote');

# --- a second cancel while one is on its way ---------------------------------
# On the same pool of one: A holds the connection; H and N wait, then N
# joins H.  N's caller gives up first (N is discarded behind H), then H's
# (H is cancelled, minding N); when H ends, N is the head with nothing
# behind it and is cancelled in turn, often before the first cancel request
# is through.  One cancel at a time: the second waits for the first, and no
# cancel connection is left open.
my $worker = pool_worker_pid($local);
sub worker_fds { opendir(my $d, "/proc/$worker/fd") or return -1; my @f = grep { !/^\./ } readdir $d; return scalar @f; }
my $fds_before = worker_fds();
for my $round (1 .. 20)
{
	my @h;
	for my $s (
		[ 0,    "SELECT * FROM pool.query('one', 'SELECT pg_sleep(0.3)::text') AS t(x text);" ],
		[ 0.05, "SET statement_timeout = '500ms';\nSELECT * FROM pool.query('one', 'SELECT pg_sleep(5)::text') AS t(x text);" ],
		[ 0.02, "SET statement_timeout = '450ms';\nSELECT * FROM pool.query('one', 'SELECT pg_sleep(5)::text') AS t(x text);" ])
	{
		usleep($s->[0] * 1_000_000);
		my ($o, $e) = ('', '');
		push @h, IPC::Run::start(
			[ 'psql', '-X', '-q', '-d', $local->connstr('postgres'), '-c', $s->[1] ],
			'>', \$o, '2>', \$e, IPC::Run::timeout(60));
	}
	$_->finish for @h;
}
ok( wait_until($local, "SELECT count(*) FROM pool.connections WHERE target LIKE 'one%' AND state = 'idle'", '1', 30),
	'after 20 rounds of cancels one behind the other, the connection is idle again');
is($remote->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_catalog.pg_cancel_backend%' AND pid <> pg_backend_pid()"),
	'0', 'no cancel session is left on the remote');
cmp_ok(worker_fds(), '<=', $fds_before + 2, 'and the worker holds no cancel connection');

# --- the remote restarts mid-pipeline ---------------------------------------
my $loop = '';
$loop .= "SELECT * FROM pool.query('$target', 'SELECT pg_sleep(0.001)::text, \$1', '$_') AS t(x text, y text);\n"
  for 1 .. 1500;
open my $fh, '>', "$dir/loop.sql" or die $!;
print $fh $loop;
close $fh;
my @sessions;
for my $i (1 .. 6)
{
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-d', $local->connstr('postgres'), '-f', "$dir/loop.sql" ],
		'>', '/dev/null', '2>', \$e, IPC::Run::timeout(300));
	push @sessions, [ $h, \$o, \$e ];
}
my $t2 = time();
while (time() - $t2 < 1.5)
{
	$_->[0]->pump_nb for @sessions;
	usleep(10_000);
}
$remote->stop('immediate');
$remote->start;
my $t1 = time();
$_->[0]->finish for @sessions;
my $took = time() - $t1;
cmp_ok($took, '<', 120, sprintf('the sessions finished %.1f s after the restart: no hang', $took));
my $errs = join('', map { ${ $_->[2] } } @sessions);
my @lines = grep { /ERROR/ } split /\n/, $errs;
cmp_ok(scalar(@lines), '>=', 1, scalar(@lines) . ' statements failed across the restart');
my @unclear = grep {
	!/lost with the statement in flight|connection to the remote server was lost|could not connect|server closed the connection|terminating connection|connection refused|Connection refused|the database system is|could not send the query/i
} @lines;
is(scalar(@unclear), 0, 'each with a connection error') or diag join("\n", @unclear[0 .. ($#unclear < 5 ? $#unclear : 5)]);
like($errs, qr/may or may not have run/, 'statements in flight say their outcome is unknown')
  or diag substr($errs, 0, 2000);
ok( wait_until($local, 'SELECT sum(active + waiting) FROM pool.stats', '0', 30),
	'the pool drains after the restart');
# (after the back-off of the connection attempts that failed meanwhile)
ok( wait_until($local, "SELECT x FROM pool.query('$target', 'SELECT 42') AS t(x int)",
		'42', 60),
	'and serves again');
($co, $ci) = split /\|/, stats();
is($co, $ci, "checkouts equal check-ins after the restart ($co)");

done_testing();
