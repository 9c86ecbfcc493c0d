# What a hostile remote cannot do: a fake PostgreSQL server of our own
# (test/FakePg.pm) sends odd but well-formed messages: errors and notices of
# every severity, a connection closed right after authentication, floods of
# notices, row descriptions that do not match the rows, rows larger than the
# pool accepts and messages that never end.  Nothing on the local server
# crashes, an error is always an ERROR, a notice is at most a WARNING and
# never a line of the server log, and the worker's memory stays bounded.
# The real remote sends notices of every level too.

use strict;
use warnings;

use lib 'test';
use FakePg;
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $local = pool_local('local',
	conf => "pool.checkout_timeout = '5s'\npool.connect_timeout = '5s'\n"
	  . "pool.retry_delay = '100ms'\nstatement_timeout = '60s'\n"
	  . "pool.max_row_size = '64MB'\npool.worker_memory = '1GB'\n");
my $remote = pool_remote('remote');
my $fake = FakePg->new(auth => 'password');
my $target = $fake->connstr;
my $real = tcp_target($remote);

my $postmaster_start = $local->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $worker = pool_worker_pid($local);

# the real remote warm, as a pool of another target on the same worker
is($local->safe_psql('postgres', "SELECT x FROM pool.query('$real', 'SELECT 1') AS t(x int)"),
	'1', 'the real remote answers');

sub run
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $local->psql('postgres', $sql);
	return ($rc, $out, $err);
}

sub still_fine
{
	my ($what) = @_;
	is($local->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$postmaster_start, "$what: the local server did not restart");
	is(pool_worker_pid($local), $worker, "$what: the worker is the same process");
	is($local->safe_psql('postgres', "SELECT x FROM pool.query('$real', 'SELECT 1') AS t(x int)"),
		'1', "$what: another pool answers");
}

# --- errors of every severity are ERRORs ------------------------------------
for my $sev (qw(ERROR WARNING NOTICE LOG INFO DEBUG1 junk FATAL PANIC))
{
	for my $fn ('exec', 'query')
	{
		my $sql =
		  $fn eq 'exec'
		  ? "SELECT pool.exec('$target', 'error $sev 22012')"
		  : "SELECT * FROM pool.query('$target', 'error $sev 22012') AS t(x int)";
		my ($rc, $out, $err) = run("\\set VERBOSITY verbose\n$sql");
		isnt($rc, 0, "an ErrorResponse of severity $sev fails pool.$fn");
		like($err, qr/ERROR:  22012: hostile error with severity \Q$sev\E/,
			"... as an ERROR with the remote's SQLSTATE and message");
		is($out, '', '... with no rows and no command tag');
	}
}
my ($rc, $out, $err) = run("\\set VERBOSITY verbose\nSELECT pool.exec('$target', 'error WARNING 01000')");
like($err, qr/ERROR:  XX000: hostile error/, 'an error that claims a warning SQLSTATE is XX000 here');
still_fine('after hostile errors');

# --- notices are at most WARNINGs, and never lines of the server log --------
my $log_before = -s $local->logfile;
my %want = (
	NOTICE => 'NOTICE', WARNING => 'WARNING', INFO => 'INFO', LOG => 'NOTICE',
	DEBUG1 => 'NOTICE', junk => 'NOTICE', ERROR => 'WARNING',
	FATAL => 'WARNING', PANIC => 'WARNING');
for my $sev (sort keys %want)
{
	($rc, $out, $err) = run(
		"SET client_min_messages = debug5; SELECT * FROM pool.query('$target', 'notice $sev') AS t(x text)");
	is($out, 'done', "a notice of severity $sev: the query succeeds");
	like($err, qr/^(?:psql:\S+ )?$want{$sev}:  hostile notice 1 with severity \Q$sev\E$/m,
		"... and the notice is a $want{$sev}");
}
my $log = slurp_file($local->logfile, $log_before);
unlike($log, qr/LOG:  hostile notice/, 'no remote notice became a LOG line of the server log');
unlike($log, qr/DEBUG\d?:  hostile notice/, '... nor a DEBUG line');

# and from the real remote: RAISE LOG and DEBUG with client_min_messages low
$log_before = -s $local->logfile;
($rc, $out, $err) = run(
	"SELECT pool.exec('$real', 'SET client_min_messages = debug5; "
	  . "DO \$\$ BEGIN RAISE LOG ''forged log line''; RAISE DEBUG ''forged debug line''; END \$\$')");
like($err, qr/^(?:psql:\S+ )?NOTICE:  forged log line$/m, 'the real remote: RAISE LOG arrives as a NOTICE');
like($err, qr/^(?:psql:\S+ )?NOTICE:  forged debug line$/m, 'the real remote: RAISE DEBUG arrives as a NOTICE');
$log = slurp_file($local->logfile, $log_before);
unlike($log, qr/LOG:  forged log line/, 'and is no line of the local server log');
# a remote FATAL in the middle of a command
($rc, $out, $err) = run("SELECT pool.exec('$real', 'SELECT pg_terminate_backend(pg_backend_pid())')");
like($err, qr/ERROR:  terminating connection due to administrator command/,
	'the real remote: a FATAL is an ERROR here');
still_fine('after hostile notices');

# --- a connection closed right after authentication --------------------------
my $closer = FakePg->new(auth => 'trust', close_after_auth => 1);
my $closer_target = $closer->connstr;
($rc, $out, $err) = run("SELECT * FROM pool.query('$closer_target', 'SELECT 1') AS t(x int)");
like($err, qr/ERROR:  could not connect to pool/, 'a remote that closes after authentication: a connection error');
($rc, $out, $err) = run("SELECT * FROM pool.query('$closer_target', 'SELECT 1') AS t(x int)");
like($err, qr/ERROR:  could not connect to pool/, '... again, failing fast');
still_fine('after a connection closed after authentication');
$closer->stop;

# --- floods of notices ---------------------------------------------------------
my $t0 = time();
($rc, $out, $err) = run("SELECT * FROM pool.query('$target', 'notice NOTICE 100000') AS t(x text)");
is($out, 'done', 'a flood of 100,000 notices: the query succeeds');
is(scalar(() = $err =~ /^(?:psql:\S+ )?NOTICE:  hostile notice/mg), 100000, '... and every notice arrives');
note(sprintf('100,000 notices took %.1f s', time() - $t0));
# notices while the connection is idle in the pool
($rc, $out, $err) = run("SELECT * FROM pool.query('$target', 'idle notices 200000') AS t(x int)");
is($out, '1', 'a remote that floods an idle connection with notices');
$t0 = time();
for (1 .. 20)
{
	$local->safe_psql('postgres', "SELECT x FROM pool.query('$real', 'SELECT 1') AS t(x int)");
}
cmp_ok(time() - $t0, '<', 5, 'meanwhile the other pool of the worker answers (20 calls)');
still_fine('after floods of notices');

# --- a flood of notifications on a reserved connection -------------------------
# A reserved connection keeps its notifications for the session that holds it
# (pool_dblink's dblink_get_notify reads them), up to 1 MB: the worker's memory
# serves every session.  100,000 of 1 kB arrive while it sits idle.
my $rss0 = rss_anon_kb($worker);
my ($fout, $ferr) = ('', '');
my $flood_sql = PostgreSQL::Test::Utils::tempdir() . '/flood.sql';
open my $ffh, '>', $flood_sql or die $!;
print $ffh qq{SELECT pool.checkout('$target') AS h \\gset
SELECT * FROM pool.query(:h, 'idle notifies 100000 1000') AS t(x int);
SELECT pg_sleep(6);
SELECT * FROM pool.query(:h, 'SELECT 5') AS t(x int);
SELECT pool.checkin(:h);
};
close $ffh;
my $flood = IPC::Run::start(
	[ 'psql', '-X', '-q', '-At', '-d', $local->connstr('postgres'), '-f', $flood_sql ],
	'>', \$fout, '2>', \$ferr, IPC::Run::timeout(120));
my $rss_max = $rss0;
for (1 .. 55)
{
	usleep(100_000);
	$flood->pump_nb;
	my $r = rss_anon_kb($worker);
	$rss_max = $r if $r > $rss_max;
}
$flood->finish;
like($fout, qr/^1\n.*\n5\n/s, 'the reserved connection serves its session after a flood of notifications')
  or diag "out: $fout\nerr: $ferr";
note("worker RssAnon: $rss0 kB before, $rss_max kB at most during the flood");
cmp_ok($rss_max - $rss0, '<', 16 * 1024,
	'the worker kept a bounded part of 100 MB of notifications');
like(slurp_file($local->logfile), qr/dropping notifications of remote pid \d+ beyond the 1024 kB kept/,
	'and logged that it dropped the rest');
still_fine('after a flood of notifications');

# --- rows that do not match their description ---------------------------------
for my $case ('fewer', 'more', 'none')
{
	($rc, $out, $err) = run("SELECT * FROM pool.query('$target', 'rowdesc $case') AS t(a int, b int)");
	isnt($rc, 0, "a DataRow with $case fields than described: an error");
	like($err, qr/ERROR:  .*(field count|row description)/, '... with libpq\'s reason');
}
is($local->safe_psql('postgres', "SELECT x FROM pool.query('$target', 'SELECT 7') AS t(x int)"),
	'7', 'the fake pool answers after them');
still_fine('after mismatched rows');

# --- large rows ----------------------------------------------------------------
$local->safe_psql('postgres', qq{
CREATE SERVER fake FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '${\ $fake->port}', dbname 'fake', max_row_size '256MB');
CREATE USER MAPPING FOR PUBLIC SERVER fake OPTIONS (user 'fake', password 'fake');
});
my $mb = 1024 * 1024;
my $bytes = 200 * $mb;
is($local->safe_psql('postgres', "SELECT x FROM pool.query('fake', 'SELECT 1') AS t(x int)"),
	'1', 'a pool with max_row_size 256MB');
my $rss_before = rss_anon_kb($worker);
my $peak_ok = reset_peak_rss($worker);
my $hwm_before = peak_rss_kb($worker);
is($local->safe_psql('postgres', "SELECT length(x) FROM pool.query('fake', 'bigrow $bytes') AS t(x text)"),
	$bytes, 'a row of 200 MB arrives whole');
my $peak = peak_rss_kb($worker);
my $rss_after = rss_anon_kb($worker);
note("worker: RssAnon $rss_before kB before, $rss_after kB after; peak $peak kB (from $hwm_before kB)");
SKIP:
{
	skip 'the peak of resident memory cannot be reset here', 1 unless $peak_ok;
	cmp_ok($peak - $hwm_before, '<', 2.3 * $bytes / 1024,
		'the worker held the row at most twice: libpq\'s buffer and one more');
}
ok(wait_until($local, "SELECT count(*) FROM pool.connections WHERE target LIKE 'fake%'", '0', 10),
	'the connection that received it was closed after its result');
cmp_ok(rss_anon_kb($worker) - $rss_before, '<', 16 * 1024,
	'and the worker\'s resident memory returned');
($rc, $out, $err) = run("SELECT count(*), min(length(x)) FROM pool.query('fake', 'bigrow 1000000 20') AS t(x text)");
is($out, '20|1000000', 'rows of 1 MB, one after the other');

# larger than max_row_size (64 MB here)
($rc, $out, $err) = run("\\set VERBOSITY verbose\nSELECT length(x) FROM pool.query('$target', 'bigrow ${\ (100 * $mb)}') AS t(x text)");
like($err, qr/ERROR:  54000: remote (row|message) is too large/, 'a row larger than max_row_size: error 54000');
like($err, qr/max_row_size of pool .* is 67108864 bytes/, '... saying what the limit is');
is($local->safe_psql('postgres', "SELECT x FROM pool.query('$target', 'SELECT 8') AS t(x int)"),
	'8', 'the pool answers afterwards');

# a message that grows past max_row_size without ending
reset_peak_rss($worker);
$hwm_before = peak_rss_kb($worker);
$t0 = time();
($rc, $out, $err) = run("\\set VERBOSITY verbose\nSELECT length(x) FROM pool.query('$target', 'partialrow 200000000 150000000') AS t(x text)");
like($err, qr/ERROR:  54000: remote message is too large/,
	'a message that grows past max_row_size fails before it is whole');
cmp_ok(time() - $t0, '<', 30, '... at once, not at statement_timeout');
$peak = peak_rss_kb($worker);
note("worker peak during it: $peak kB (from $hwm_before kB)");

# a message that claims a gigabyte: more than pool.worker_memory leaves
reset_peak_rss($worker);
$hwm_before = peak_rss_kb($worker);
($rc, $out, $err) = run("SELECT length(x) FROM pool.query('$target', 'partialrow 1000000000 900000000') AS t(x text)");
like($err, qr/ERROR:  .*(too large|lost synchronization|out of memory|cannot allocate)/,
	'a message claiming a gigabyte fails: the worker may not allocate it');
$peak = peak_rss_kb($worker);
note("worker peak during it: $peak kB (from $hwm_before kB)");
SKIP:
{
	skip 'the peak of resident memory cannot be reset here', 1 unless $peak_ok;
	cmp_ok($peak - $hwm_before, '<', 200 * 1024, '... before it read most of it');
}

# several callers at once: each sent most of a gigabyte, or a large row
my @callers;
for my $i (1 .. 4)
{
	my $s = $local->background_psql('postgres', on_error_stop => 0);
	$s->query_until(qr/sent/,
		"\\echo sent\nSELECT length(x) FROM pool.query('$target application_name=c$i', 'partialrow 1000000000 900000000') AS t(x text);\n");
	push @callers, $s;
}
for my $s (@callers)
{
	$s->{stderr} = '';
	$s->query('SELECT 1');
	like($s->{stderr}, qr/too large|lost synchronization|out of memory|cannot allocate/,
		'one of four hostile callers at once: refused');
	$s->quit;
}
reset_peak_rss($worker);
$hwm_before = peak_rss_kb($worker);
@callers = ();
for my $i (1 .. 4)
{
	my $s = $local->background_psql('postgres', on_error_stop => 0);
	$s->query_until(qr/sent/,
		"\\echo sent\nSELECT length(x) FROM pool.query('$target application_name=d$i', 'bigrow ${\ (60 * $mb)}') AS t(x text);\n");
	push @callers, $s;
}
for my $s (@callers)
{
	$s->{stderr} = '';
	my $got = $s->query('SELECT 1');
	like($got, qr/^${\ (60 * $mb)}/, 'one of four callers fetching a 60 MB row at once: served');
	$s->quit;
}
$peak = peak_rss_kb($worker);
note("worker peak with four 60 MB rows at once: $peak kB (from $hwm_before kB)");
SKIP:
{
	skip 'the peak of resident memory cannot be reset here', 1 unless $peak_ok;
	cmp_ok($peak, '<', 1024 * 1024, '... within pool.worker_memory');
}
still_fine('after large rows');
is($local->safe_psql('postgres',
		"SELECT count(*) FROM pool.connections WHERE state NOT IN ('idle', 'connecting')"),
	'0', 'no connection is held');

$fake->stop;
done_testing();
