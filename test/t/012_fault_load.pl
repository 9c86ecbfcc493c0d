# Faults under load: while pgbench clients query two remotes through pool,
# remote A restarts (fast and immediate), stops answering, refuses new
# connections (max_connections reached, then a changed password), the pool
# worker is terminated and killed, backends holding connections are
# terminated, and the local server restarts.  Each client logs every call,
# and what the log shows is checked: in-flight calls fail with a clear error,
# nothing hangs, the other remote is not disturbed, and every client succeeds
# again within seconds of the fault ending, without anyone touching the pool.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $remote_a = pool_remote('remote_a',
	conf => "max_connections = 20\nsuperuser_reserved_connections = 0\n");
my $remote_b = pool_remote('remote_b');
my $local = pool_local('local',
	conf => "max_connections = 60\n"
	  . "pool.connect_timeout = '1s'\n"
	  . "pool.checkout_timeout = '3s'\n"
	  . "pool.retry_delay = '200ms'\n"
	  . "restart_after_crash = on\n");

# Remotes as foreign servers, over TCP with a password.
for my $r ([ 'a', $remote_a ], [ 'b', $remote_b ])
{
	my ($name, $node) = @$r;
	$local->safe_psql('postgres', qq{
		CREATE SERVER $name FOREIGN DATA WRAPPER pool
			OPTIONS (host '127.0.0.1', port '${\ $node->port}', dbname 'app',
					 pool_size '4', max_overflow '0');
		CREATE USER MAPPING FOR PUBLIC SERVER $name
			OPTIONS (user 'app', password 'secret');
	});
}

# Every call of a client is logged, success or error: when, which backend,
# which remote, the SQLSTATE and message, how long it took.
$local->safe_psql('postgres', q{
	CREATE UNLOGGED TABLE load_log (
		at float8, pid int, target text, ok bool,
		sqlstate text, message text, ms float8);
	CREATE FUNCTION load_step(target text, n int) RETURNS void
	LANGUAGE plpgsql AS $$
	DECLARE
		t0 float8 := extract(epoch FROM clock_timestamp());
		v int;
		detail text;
	BEGIN
		BEGIN
			SELECT x INTO v FROM pool.query(target, 'SELECT $1::int', n::text) AS t(x int);
			IF v IS DISTINCT FROM n THEN
				RAISE EXCEPTION 'wrong answer % for %', v, n;
			END IF;
			INSERT INTO load_log VALUES (extract(epoch FROM clock_timestamp()),
				pg_backend_pid(), target, true, NULL, NULL,
				1000 * (extract(epoch FROM clock_timestamp()) - t0));
		EXCEPTION WHEN query_canceled OR others THEN
			GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
			INSERT INTO load_log VALUES (extract(epoch FROM clock_timestamp()),
				pg_backend_pid(), target, false, SQLSTATE,
				SQLERRM || coalesce(' / ' || nullif(detail, ''), ''),
				1000 * (extract(epoch FROM clock_timestamp()) - t0));
		END;
	END
	$$;
});

my %scripts = (
	a => [ "\\set n random(1, 100000)\nSELECT load_step('a', :n);\n", 1 ],
	b => [ "\\set n random(1, 100000)\nSELECT load_step('b', :n);\n", 1 ],);

sub now_epoch
{
	return $local->safe_psql('postgres',
		'SELECT extract(epoch FROM clock_timestamp())');
}

# Start a load of 6 clients on A and B for a while.
sub start_load
{
	my (%opts) = @_;
	$local->safe_psql('postgres', 'TRUNCATE load_log');
	return pgbench_start(
		$local,
		clients => 6,
		seconds => $opts{seconds},
		scripts => \%scripts,
		env => { PGOPTIONS => $opts{pgoptions} // '' },
		timeout => $opts{seconds} + 60);
}

# What the log says about one remote, from a time on (and before another).
sub calls
{
	my ($target, $what, $from, $to) = @_;
	$to //= 1e12;
	return $local->safe_psql('postgres',
		"SELECT $what FROM load_log WHERE target = '$target' AND at >= $from AND at < $to"
	);
}

# Errors seen, as "SQLSTATE: message" lines, without repeats.
sub errors_seen
{
	my ($target) = @_;
	return $local->safe_psql('postgres',
		"SELECT string_agg(DISTINCT sqlstate || ': ' || regexp_replace(regexp_replace(message, '\\s+', ' ', 'g'), '[0-9]+', 'N', 'g'), E'\\n') "
		  . "FROM load_log WHERE target = '$target' AND NOT ok");
}

# After a fault ended at $back: every client that called remote A had a
# success on it, the last of them within $within seconds; returns that time.
sub all_recovered
{
	my ($back, $within, $label) = @_;
	my $clients = calls('a', 'count(DISTINCT pid)', 0);
	my $recovered = calls('a', 'count(DISTINCT pid) FILTER (WHERE ok)', $back);
	my $slowest = $local->safe_psql('postgres',
		"SELECT coalesce(max(first), -1) FROM (SELECT min(at) - $back AS first"
		  . " FROM load_log WHERE target = 'a' AND ok AND at >= $back GROUP BY pid) s");
	is($recovered, $clients, "$label: all $clients clients succeed on A again");
	cmp_ok($slowest, '<', $within,
		"$label: the last of them within ${\ sprintf('%.2f', $slowest)} s of the end of the fault"
	);
	return $slowest;
}

# B went on undisturbed during a fault: no error, and calls all along.
sub b_undisturbed
{
	my ($from, $to, $label) = @_;
	is(calls('b', 'count(*) FILTER (WHERE NOT ok)', 0), '0',
		"$label: no call to B failed");
	cmp_ok(calls('b', 'count(*)', $from, $to), '>', 10,
		"$label: B served calls during the fault");
}

# Every error on A (and on B if named) is one of the expected kinds.
sub errors_expected
{
	my ($pattern, $label, $target) = @_;
	$target //= 'a';
	my $errors = errors_seen($target);
	note("$label: errors on $target:\n$errors");
	my @unexpected = grep { !/$pattern/ } split /\n/, $errors;
	is(join("\n", @unexpected), '', "$label: every error on $target is an expected one");
	return $errors;
}

# Nothing of the load is still held once it is over.
sub nothing_held
{
	my ($label) = @_;
	ok( wait_until(
			$local,
			"SELECT count(*) FROM pool.connections WHERE holder_pid IS NOT NULL",
			'0', 15),
		"$label: no connection is held afterwards");
	ok( wait_until(
			$local,
			"SELECT coalesce(sum(checkouts - checkins), 0) FROM pool.stats",
			'0', 15),
		"$label: every checkout was checked in");
}

sub finish_load
{
	my ($run, $label) = @_;
	my ($rc, $out, $err) = pgbench_finish($run);
	is($rc, 0, "$label: pgbench finished, no client aborted") or diag($err);
	return $out;
}

my %figures;

# --- remote A restarts: fast, then immediate shutdown ----------------------
for my $mode ('fast', 'immediate')
{
	my $label = "remote restart ($mode)";
	my $run = start_load(seconds => 9);
	sleep 2;
	my $down = now_epoch();
	$remote_a->stop($mode);
	sleep 1;
	$remote_a->start;
	my $back = now_epoch();
	finish_load($run, $label);
	my $failed = calls('a', 'count(*) FILTER (WHERE NOT ok)', 0);
	cmp_ok($failed, '>', 0, "$label: calls in flight or made while it was down failed ($failed)");
	errors_expected(qr/^(08...|57P0[123]): /, $label);
	cmp_ok(calls('a', 'max(ms)', 0), '<', 4000,
		"$label: no call waited longer than checkout_timeout and a connect");
	b_undisturbed($down, $back, $label);
	# the next attempt may come after a back-off that grew while it was down
	my $slowest = all_recovered($back, 8, $label);
	nothing_held($label);
	$figures{$label} = sprintf('%d calls failed; all clients back %.1f s after the remote',
		$failed, $slowest);
}

# --- remote A stops answering (SIGSTOP), then resumes --------------------
{
	my $label = 'remote stopped';
	my $run = start_load(seconds => 10, pgoptions => '-c statement_timeout=2s');
	sleep 2;
	my $down = now_epoch();
	signal_cluster($remote_a, 'STOP');
	sleep 4;
	signal_cluster($remote_a, 'CONT');
	my $back = now_epoch();
	finish_load($run, $label);
	errors_expected(qr/^(08...|57014|53400): /, $label);
	my $longest = calls('a', 'round(max(ms))', 0);
	cmp_ok($longest, '<', 3000,
		"$label: statement_timeout, connect_timeout and checkout_timeout bound every wait (longest $longest ms)"
	);
	b_undisturbed($down, $back, $label);
	my $slowest = all_recovered($back, 12, $label);
	nothing_held($label);
	$figures{$label} = sprintf('longest call %d ms; all clients back %.1f s after it resumed',
		$longest, $slowest);
}

# --- remote A refuses connections: max_connections reached ---------------
{
	my $label = 'remote full';
	# with A's pool emptied and paused, take every connection slot of A
	$local->safe_psql('postgres', "SELECT pool.pause('a'), pool.reset('a')");
	ok( wait_until(
			$remote_a,
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool'",
			'0', 15),
		"$label: the pool of A closed its connections");
	my $used = $remote_a->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'");
	my @blockers = map { $remote_a->background_psql('postgres') } 1 .. 20 - $used + 1;
	my ($rc, $out, $err) = $remote_a->psql('postgres', 'SELECT 1');
	like($err, qr/too many clients/, "$label: A takes no more connections");

	my $run = start_load(seconds => 7);
	$local->safe_psql('postgres', "SELECT pool.resume('a')");
	my $down = now_epoch();
	sleep 3;
	$_->quit for @blockers;
	my $back = now_epoch();
	finish_load($run, $label);
	my $errors = errors_expected(qr/^08001: /, $label);
	like($errors, qr/too many clients/, "$label: the error says why");
	cmp_ok(calls('a', 'max(ms)', 0), '<', 1500,
		"$label: checkouts fail fast rather than waiting");
	b_undisturbed($down, $back, $label);
	# the pool tried again after a back-off that doubled meanwhile
	my $slowest = all_recovered($back, 8, $label);
	nothing_held($label);
	$figures{$label} = sprintf('failed fast with 08001 (too many clients); all clients back %.1f s after slots freed',
		$slowest);
}

# --- remote A refuses connections: its password changed ------------------
{
	my $label = 'password changed';
	my $run = start_load(seconds => 7);
	sleep 1;
	my $down = now_epoch();
	$remote_a->safe_psql('postgres', "ALTER ROLE app PASSWORD 'changed'");
	# open connections stay; new ones are refused
	$local->safe_psql('postgres', "SELECT pool.reset('a')");
	sleep 2;
	$local->safe_psql('postgres',
		"ALTER USER MAPPING FOR PUBLIC SERVER a OPTIONS (SET password 'changed')");
	my $back = now_epoch();
	finish_load($run, $label);
	my $errors = errors_expected(qr/^08001: /, $label);
	like($errors, qr/password authentication failed for user "app"/,
		"$label: the error says why");
	unlike($errors, qr/changed|secret/, "$label: no password in the errors");
	b_undisturbed($down, $back, $label);
	my $slowest = all_recovered($back, 5, $label);
	nothing_held($label);
	$figures{$label} = sprintf('failed fast with 08001 (password authentication failed); all clients back %.1f s after the mapping changed',
		$slowest);
}

# --- the worker is terminated (SIGTERM) and restarted ---------------------
{
	my $label = 'worker terminated';
	my $worker = pool_worker_pid($local);
	my $run = start_load(seconds => 7);
	sleep 2;
	my $down = now_epoch();
	$local->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
	ok( wait_until(
			$local,
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pool worker' AND pid <> $worker",
			'1', 15),
		"$label: the postmaster restarted the worker");
	my $back = now_epoch();
	finish_load($run, $label);
	# calls made while it was down wait for its successor; those it was
	# serving fail, saying why
	errors_expected(qr/^08006: .*pool worker/, $label, $_) for 'a', 'b';
	cmp_ok(calls('a', 'max(ms)', 0), '<', 3000, "$label: no call hung");
	my $slowest = all_recovered($back, 5, $label);
	nothing_held($label);
	$figures{$label} = sprintf('%d calls failed; all clients back %.1f s after the restart',
		calls('a', 'count(*) FILTER (WHERE NOT ok)', 0) + calls('b', 'count(*) FILTER (WHERE NOT ok)', 0),
		$slowest);
}

# --- backends holding connections are terminated --------------------------
{
	my $label = 'holders terminated';
	my $run = start_load(seconds => 6);
	my @holders;
	for my $i (1 .. 2)
	{
		my $h = $local->background_psql('postgres', on_error_stop => 0);
		$h->query_safe("SELECT pool.checkout('a')");
		push @holders, $h;
	}
	my $xact = $local->background_psql('postgres', on_error_stop => 0);
	$xact->query_safe(
		"BEGIN; SELECT pool.exec(pool.checkout('a', 'transaction'), 'UPDATE items SET name = name WHERE id = 1')"
	);
	push @holders, $xact;
	my $stream = $local->background_psql('postgres', on_error_stop => 0);
	$stream->query_until(qr/sent/,
		"\\echo sent\nSELECT count(*) FROM pool.query('b', 'SELECT g, repeat(''x'', 100) FROM generate_series(1, 50000000) g') AS t(g int, x text);\n"
	);
	ok( wait_until(
			$remote_b,
			"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%50000000%' AND state = 'active' AND pid <> pg_backend_pid()",
			'1', 15),
		"$label: a large result streams from B");
	sleep 1;
	cmp_ok(
		$local->safe_psql('postgres',
			"SELECT count(*) FROM pool.connections WHERE holder_pid IS NOT NULL AND handle IS NOT NULL"),
		'>=', 3,
		"$label: three handles are held");
	$local->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		  . "WHERE pid IN (SELECT holder_pid FROM pool.connections WHERE handle IS NOT NULL) "
		  . "OR query LIKE '%50000000%' AND pid <> pg_backend_pid()");
	eval { $_->quit } for @holders, $stream;
	finish_load($run, $label);
	is(calls('a', 'count(*) FILTER (WHERE NOT ok)', 0) . '/'
		  . calls('b', 'count(*) FILTER (WHERE NOT ok)', 0),
		'0/0', "$label: the load saw no error");
	nothing_held($label);
	ok( wait_until(
			$remote_b,
			"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%50000000%' AND state = 'active' AND pid <> pg_backend_pid()",
			'0', 15),
		"$label: the streamed query stopped on the remote");
	ok( wait_until(
			$remote_a,
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool' AND state = 'idle in transaction'",
			'0', 15),
		"$label: the remote transaction was rolled back");
	is($remote_a->safe_psql('app', "SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass"),
		'0', "$label: no lock is left on the remote");
	$figures{$label} = '2 session handles, 1 transaction handle, 1 stream of 50M rows: all came back';
}

# --- the worker is killed (SIGKILL): the postmaster reinitialises ---------
{
	my $label = 'worker killed';
	my $run = start_load(seconds => 5);
	sleep 2;
	my $worker = pool_worker_pid($local);
	kill 'KILL', $worker;
	my ($rc, $out, $err) = pgbench_finish($run);
	isnt($rc, -1, "$label: pgbench did not hang (exit code $rc)");
	ok( wait_until(
			$local,
			"SELECT x FROM pool.query('a', 'SELECT 7') AS t(x int)",
			'7', 30),
		"$label: pools work after the crash restart");
	$run = start_load(seconds => 3);
	finish_load($run, "$label, then load again");
	is(calls('a', 'count(*) FILTER (WHERE NOT ok)', 0), '0',
		"$label: the load after the restart saw no error");
	nothing_held($label);
	$figures{$label} = 'local crash restart; load ran clean afterwards';
}

# --- the local server restarts --------------------------------------------
{
	my $label = 'local restart';
	my $run = start_load(seconds => 5);
	sleep 2;
	$local->restart;
	my ($rc, $out, $err) = pgbench_finish($run);
	isnt($rc, -1, "$label: pgbench did not hang (exit code $rc)");
	is($local->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pool worker'"),
		'1', "$label: the worker came back with the server");
	$run = start_load(seconds => 3);
	finish_load($run, "$label, then load again");
	is(calls('a', 'count(*) FILTER (WHERE NOT ok)', 0) . '/'
		  . calls('b', 'count(*) FILTER (WHERE NOT ok)', 0),
		'0/0', "$label: the load after the restart saw no error");
	nothing_held($label);
	$figures{$label} = 'worker and pools back with the server; load ran clean';
}

note("fault: $_: $figures{$_}") for sort keys %figures;

done_testing();
