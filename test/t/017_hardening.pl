# What a hostile local role or server owner cannot do, with a real remote
# that asks for SCRAM passwords over TCP and trusts its Unix socket:
#
#   - use a handle another role took (SET ROLE, SET SESSION AUTHORIZATION,
#     SECURITY DEFINER), or see other roles' handles and holders;
#   - keep using a server after its privileges or mapping changed;
#   - push uncommitted configuration into the pools of other sessions;
#   - take every pooled connection, or dial anywhere without USAGE on the
#     foreign-data wrapper;
#   - leave session state for the next role (scanner tricks, reset_query);
#   - and the smaller ones of the hardening issue.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $remote = pool_remote('remote');
my $local = pool_local('local',
	conf => "pool.max_connections = 8\npool.pool_size = 4\npool.max_overflow = 0\n"
	  . "pool.checkout_timeout = '2s'\npool.retry_delay = '200ms'\n");
my $port = $remote->port;
my $sock = $remote->host;
my $trust = socket_target($remote);          # the remote's superuser, no password
my $tcp = tcp_target($remote);

$remote->safe_psql('app', q{
SET ROLE app;
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);
});

$local->safe_psql('postgres', qq{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE carol LOGIN;
CREATE ROLE readers;
GRANT readers TO alice;
CREATE SERVER shard FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '$port', dbname 'app', pool_size '4');
CREATE USER MAPPING FOR alice SERVER shard OPTIONS (user 'app', password 'secret');
CREATE USER MAPPING FOR bob SERVER shard OPTIONS (user 'app', password 'secret');
CREATE USER MAPPING FOR carol SERVER shard OPTIONS (user 'app', password 'secret');
GRANT USAGE ON FOREIGN SERVER shard TO readers, bob, carol;
CREATE SERVER shard_trust FOREIGN DATA WRAPPER pool
    OPTIONS (host '$sock', port '$port', dbname 'app');
CREATE USER MAPPING FOR alice SERVER shard_trust
    OPTIONS (user 'app', password 'unused', password_required 'false');
GRANT USAGE ON FOREIGN SERVER shard_trust TO alice;
});

sub as_role
{
	my ($role, $sql) = @_;
	return $local->psql('postgres', $sql, extra_params => [ '-U', $role ],
		on_error_stop => 0);
}

sub qs
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	return $s->query($sql);
}

my ($rc, $out, $err);

# --- 1. a handle belongs to the role that took it -------------------------------
($rc, $out, $err) = $local->psql('postgres', qq{
SELECT pool.checkout('$trust') AS h \\gset
SET SESSION AUTHORIZATION alice;
\\set VERBOSITY verbose
SELECT pool.exec(:h, 'SELECT 1');
SELECT * FROM pool.query(:h, 'SELECT current_user') AS t(u text);
SELECT pool.send(:h, 'SELECT 1');
SELECT pool.checkin(:h);
RESET SESSION AUTHORIZATION;
SELECT * FROM pool.query(:h, 'SELECT current_user') AS t(u text);
SET ROLE alice;
SELECT pool.exec(:h, 'SELECT 1');
RESET ROLE;
SELECT pool.checkin(:h);
}, on_error_stop => 0);
is(scalar(() = $err =~ /ERROR:  42501: permission denied for handle/g), 5,
	'after SET SESSION AUTHORIZATION or SET ROLE, another role may not use, send on or check in a handle');
like($err, qr/DETAIL:  It belongs to role "\w+", which checked it out\./, 'the error says whose it is');
like($out, qr/^postgres$/m, 'back as the role that took it, the handle works');

# a SECURITY DEFINER function that checks out and returns the handle
$local->safe_psql('postgres', qq{
CREATE FUNCTION grab() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    AS \$\$ SELECT pool.checkout('$trust') \$\$;
GRANT EXECUTE ON FUNCTION grab() TO alice;
});
($rc, $out, $err) = as_role('alice', q{
SELECT grab() AS h \gset
SELECT * FROM pool.query(:h, 'SELECT current_user') AS t(u text);
SELECT pool.checkin(:h);
DISCARD ALL;
SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL;
});
like($err, qr/ERROR:  permission denied for handle/,
	'a handle a SECURITY DEFINER function took is not the caller\'s');
unlike($out, qr/postgres/, 'the caller never ran anything as the definer\'s remote role');
ok(wait_until($local, q{SELECT count(*) FROM pool.stats WHERE reserved > 0}, '0', 10),
	'DISCARD ALL gave back the handle the caller could not use');

# pool.send's command belongs to its role too
($rc, $out, $err) = $local->psql('postgres', qq{
SELECT pool.send('$trust', 'SELECT 1') AS a \\gset
SET ROLE alice;
SELECT * FROM pool.fetch(:a) AS t(x int);
SELECT pool.is_busy(:a);
SELECT pool.cancel(:a);
RESET ROLE;
SELECT * FROM pool.fetch(:a) AS t(x int);
}, on_error_stop => 0);
is(scalar(() = $err =~ /permission denied for handle/g), 3,
	'another role may not fetch, poll or cancel a command sent with pool.send');
is($out, '1', 'the role that sent it fetches it');

# DISCARD ALL gives back every handle of the session
my $s = $local->background_psql('postgres', on_error_stop => 0);
my $h = qs($s, "SELECT pool.checkout('$trust')");
my $a = qs($s, "SELECT pool.send('$trust', 'SELECT pg_sleep(30)')");
ok(wait_until($local, q{SELECT sum(reserved) + sum(active) FROM pool.stats}, '2', 10),
	'a session holds a handle and runs a command');
qs($s, 'DISCARD ALL');
ok(wait_until($local, q{SELECT sum(reserved) + sum(active) FROM pool.stats}, '0', 10),
	'DISCARD ALL releases both');
qs($s, "SELECT pool.exec($h, 'SELECT 1')");
like($s->{stderr}, qr/handle $h does not exist/, 'and the handle is gone');

# what other roles see of a handle
$h = qs($s, "SELECT pool.checkout('$trust')");
($rc, $out, $err) = as_role('carol',
	q{SELECT count(*), count(handle), count(holder_pid) FROM pool.connections WHERE state = 'reserved'});
is($out, '1|0|0', 'another role sees a reserved connection, but not its handle or holder');
($rc, $out, $err) = as_role('carol', "SELECT pool.exec($h, 'SELECT 1')");
like($err, qr/belongs to another session/, 'using it from another session is refused');
unlike($err, qr/process \d+/, '... without naming the holder\'s process');
$local->safe_psql('postgres', 'GRANT pg_read_all_stats TO carol');
($rc, $out, $err) = as_role('carol',
	q{SELECT count(*), count(handle), count(holder_pid) FROM pool.connections WHERE state = 'reserved'});
is($out, '1|1|1', 'a member of pg_read_all_stats sees both');
$local->safe_psql('postgres', 'REVOKE pg_read_all_stats FROM carol');
qs($s, "SELECT pool.checkin($h)");

# --- 4. privilege and mapping changes act on the next call ------------------------
my $alice = $local->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'alice' ]);
is(qs($alice, "SELECT * FROM pool.query('shard', 'SELECT 1') AS t(x int)"), '1',
	'alice uses shard through her membership in readers');
$h = qs($alice, "SELECT pool.checkout('shard')");
$local->safe_psql('postgres', 'REVOKE readers FROM alice');
qs($alice, "SELECT * FROM pool.query('shard', 'SELECT 1') AS t(x int)");
like($alice->{stderr}, qr/permission denied for foreign server shard/,
	'once the membership is revoked, her open session is refused at the next call');
qs($alice, "SELECT pool.exec($h, 'SELECT 1')");
like($alice->{stderr}, qr/permission denied for foreign server shard/,
	'and so is her handle of that server');
qs($alice, "SELECT pool.checkin($h)");
is($alice->{stderr}, '', 'which she can still check in');

# a mapping that stops waiving the password: trust connections stop serving
is(qs($alice, "SELECT * FROM pool.query('shard_trust', 'SELECT 1') AS t(x int)"), '1',
	'with password_required false, alice uses the trusted socket');
ok(wait_until($local, q{SELECT count(*) FROM pool.connections WHERE target LIKE 'shard_trust%' AND state = 'idle'}, '1', 10),
	'its connection is idle in the pool');
$local->safe_psql('postgres',
	"ALTER USER MAPPING FOR alice SERVER shard_trust OPTIONS (DROP password_required)");
qs($alice, "SELECT * FROM pool.query('shard_trust', 'SELECT 1') AS t(x int)");
like($alice->{stderr}, qr/password is required|authentication method requirement/,
	'once the mapping requires a password, the connection made without one no longer serves her');
$alice->quit;

# --- 5. only committed configuration reaches other sessions -----------------------
my $bob = $local->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'bob' ]);
is(qs($bob, "SELECT * FROM pool.query('shard', 'SELECT 2') AS t(x int)"), '2', 'bob uses shard');
my $admin = $local->background_psql('postgres', on_error_stop => 0);
qs($admin, "BEGIN; ALTER USER MAPPING FOR bob SERVER shard OPTIONS (SET password 'wrong'); SET LOCAL ROLE bob");
qs($admin, "SELECT * FROM pool.query('shard', 'SELECT 1') AS t(x int)");
like($admin->{stderr}, qr/cannot use configuration changed in this transaction/,
	'the transaction that changed the mapping cannot push it into the pool');
is(qs($bob, "SELECT * FROM pool.query('shard', 'SELECT 3') AS t(x int)"), '3',
	'meanwhile bob\'s other session uses the committed password');
is($bob->{stderr}, '', '... without an error');
qs($admin, 'ROLLBACK');
is(qs($bob, "SELECT * FROM pool.query('shard', 'SELECT 4') AS t(x int)"), '4',
	'after the rollback too');

# nor can it make a new pool of a server it created and has not committed
qs($admin, q{BEGIN; CREATE SERVER newborn FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1', dbname 'app');
CREATE USER MAPPING FOR CURRENT_USER SERVER newborn OPTIONS (user 'app', password 'secret')});
qs($admin, "SELECT * FROM pool.query('newborn', 'SELECT 1') AS t(x int)");
like($admin->{stderr}, qr/cannot use configuration changed in this transaction/,
	'a server created in this transaction gets no pool before it commits');
qs($admin, 'ROLLBACK');

# a change whose commit fails after the pre-commit callbacks changes no pool:
# in a new session whose handle callbacks come first, the remote COMMIT of a
# handle of transaction scope fails after the server's change was prepared
$admin->quit;
$admin = $local->background_psql('postgres', on_error_stop => 0);
qs($admin, "SELECT pool.checkin(pool.checkout('$tcp'))");
qs($admin, "BEGIN");
qs($admin, "ALTER SERVER shard OPTIONS (ADD application_name 'rolled_back')");
qs($admin, "SELECT pool.exec(pool.checkout('$tcp', 'transaction'), 'INSERT INTO child VALUES (1)')");
qs($admin, "COMMIT");
like($admin->{stderr}, qr/violates foreign key constraint/,
	'the local commit fails after pre-commit, on the remote COMMIT');
is( qs($bob, "SELECT * FROM pool.query('shard', 'SELECT current_setting(''application_name'')') AS t(a text)"),
	'pool', 'the server change that did not commit reached no pool');
$admin->quit;

# a pool failing with the old options starts afresh with the new ones
$local->safe_psql('postgres', qq{
CREATE SERVER flaky FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '1', dbname 'app', retry_delay '30s');
CREATE USER MAPPING FOR PUBLIC SERVER flaky OPTIONS (user 'app', password 'secret');
});
($rc, $out, $err) = $local->psql('postgres', "SELECT * FROM pool.query('flaky', 'SELECT 1') AS t(x int)");
like($err, qr/could not connect/, 'a server with a wrong port fails, and backs off for 30 s');
$local->safe_psql('postgres', "ALTER SERVER flaky OPTIONS (SET port '$port')");
($rc, $out, $err) = $local->psql('postgres', "SELECT * FROM pool.query('flaky', 'SELECT 5') AS t(x int)");
is($out, '5', 'the corrected server answers at once, without the old back-off');
is($local->safe_psql('postgres', "SELECT failing, last_error IS NULL FROM pool.stats WHERE target LIKE 'flaky%'"),
	'f|t', 'and its old error is forgotten');

# --- 6. one role cannot take everything, nor dial anywhere ----------------------
# pool.max_connections 8: a role holds at most 4 at once
$s->quit;
$s = $local->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'bob' ]);
for my $i (1 .. 4)
{
	qs($s, "SELECT pool.checkout('shard')");
}
qs($s, "SELECT pool.checkout('shard')");
like($s->{stderr}, qr/too many pooled connections held by this role/,
	'a fifth checkout of the same role is refused at once');
($rc, $out, $err) = as_role('bob', "SELECT * FROM pool.query('shard', 'SELECT 1') AS t(x int)");
like($err, qr/timed out waiting for a connection.*\n.*DETAIL:  The role of this session holds 4 pooled connections/,
	'and its one-shot commands wait, then say why');
($rc, $out, $err) = as_role('carol', "SELECT * FROM pool.query('shard', 'SELECT 6') AS t(x int)");
is($out, '6', 'another role is still served');
$s->quit;
ok(wait_until($local, q{SELECT sum(reserved) FROM pool.stats}, '0', 10),
	'the handles come back when the session ends');

# a checkout that waits for other sessions' connections of its role waits
$s = $local->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'bob' ]);
my $busy = $local->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'bob' ]);
for my $i (1 .. 3)
{
	qs($s, "SELECT pool.checkout('shard')");
}
$busy->query_until(qr/sent/, "\\echo sent\nSELECT pool.exec('shard', 'SELECT pg_sleep(0.5)');\n");
ok(wait_until($local, q{SELECT sum(active) FROM pool.stats WHERE target LIKE 'shard user=app%'}, '1', 10),
	'bob holds 3 handles in one session, and runs a command in another');
my $third = $local->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'bob' ]);
like(qs($third, "SELECT pool.checkout('shard')"), qr/^\d+$/,
	'a checkout of a third session waits for that command, then gets its connection');
is($third->{stderr}, '', '... without an error');
$_->quit for ($s, $busy, $third);

($rc, $out, $err) = as_role('carol', "SELECT * FROM pool.query('$tcp', 'SELECT 1') AS t(x int)");
like($err, qr/permission denied to use a connection string as a target/,
	'a role without USAGE on the wrapper cannot dial a connection string');
like($err, qr/GRANT USAGE ON FOREIGN DATA WRAPPER pool TO carol/, '... and is told what would allow it');
$local->safe_psql('postgres', 'GRANT USAGE ON FOREIGN DATA WRAPPER pool TO carol');
($rc, $out, $err) = as_role('carol', "SELECT * FROM pool.query('$tcp', 'SELECT 7') AS t(x int)");
is($out, '7', 'with it, it can');
$local->safe_psql('postgres', 'REVOKE USAGE ON FOREIGN DATA WRAPPER pool FROM carol');
($rc, $out, $err) = as_role('carol', "SELECT * FROM pool.query('$tcp', 'SELECT 7') AS t(x int)");
like($err, qr/permission denied to use a connection string/, 'and the revoke acts at once');

# --- 7. no session state crosses between calls and roles ---------------------------
$local->safe_psql('postgres', qq{
CREATE SERVER single FOREIGN DATA WRAPPER pool
    OPTIONS (host '$sock', port '$port', dbname 'app', pool_size '1');
CREATE USER MAPPING FOR PUBLIC SERVER single;
});
for my $trick ("/* /* */ */ SET search_path = evil",
	"select \"set_config\"('search_path', 'evil', false)",
	"SELECT 1; -- \n SET search_path = evil",
	"SELECT \$x\$ \$\$ \$x\$; SET search_path = evil")
{
	$local->safe_psql('postgres', "SELECT pool.exec('single', \$q\$$trick\$q\$)");
	is( $local->safe_psql('postgres',
			"SELECT * FROM pool.query('single', 'SHOW search_path') AS t(p text)"),
		'"$user", public', "the next call does not inherit: $trick");
}

$local->safe_psql('postgres', 'GRANT USAGE ON FOREIGN DATA WRAPPER pool TO alice');
($rc, $out, $err) = as_role('alice',
	"CREATE SERVER mine FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1', reset_query '')");
like($err, qr/permission denied to set option "reset_query"/, 'a non-superuser server owner cannot set reset_query');
$local->safe_psql('postgres', 'REVOKE USAGE ON FOREIGN DATA WRAPPER pool FROM alice');

# even a server without reset_query resets fully between roles
$local->safe_psql('postgres', qq{
CREATE SERVER noreset FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '$port', dbname 'app', pool_size '1', reset_query '');
CREATE USER MAPPING FOR PUBLIC SERVER noreset OPTIONS (user 'app', password 'secret');
GRANT USAGE ON FOREIGN SERVER noreset TO bob, carol;
});
as_role('bob', q{
SELECT pool.exec('noreset', 'SELECT set_config(''search_path'', ''bobs'', false)');
SELECT pool.exec('noreset', 'CREATE TEMP TABLE bobs_secret (a int)');
});
($rc, $out, $err) = as_role('carol', q{
SELECT * FROM pool.query('noreset', 'SHOW search_path') AS t(p text);
SELECT * FROM pool.query('noreset', 'SELECT count(*) FROM pg_class WHERE relname = ''bobs_secret''') AS t(n bigint);
});
is($out, "\"\$user\", public\n0", 'with reset_query empty, the next role still finds nothing of the last one');

# --- 8. one writer of a pool's published state -------------------------------------
# One pool entry.  A target that cannot connect keeps retrying in the
# background; two more targets then take the entry in turn, the last one
# never reaching the worker (pool.query_all fails with too many pools).  The
# worker's pool of the first target must not write its error into the row.
my $one = PostgreSQL::Test::Cluster->new('one');
$one->init;
$one->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pool'\npool.max_pools = 1\npool.retry_delay = '100ms'\n");
$one->start;
$one->safe_psql('postgres', 'CREATE EXTENSION pool');
$one->psql('postgres', "SELECT * FROM pool.query('host=127.0.0.1 port=1 dbname=x', 'SELECT 1') AS t(x int)");
($rc, $out, $err) = $one->psql('postgres',
	"SELECT * FROM pool.query_all(ARRAY['$trust', '$trust application_name=two'], 'SELECT 1') AS t(target text, x int)");
like($err, qr/too many pools/, 'two more targets took the one entry in turn');
usleep(1_500_000);    # the first pool's retries would come meanwhile
is($one->safe_psql('postgres', 'SELECT failing, last_error IS NULL FROM pool.stats'),
	'f|t', 'the entry shows none of the first pool\'s failures');
is($one->safe_psql('postgres', "SELECT * FROM pool.query('$trust application_name=two', 'SELECT 9') AS t(x int)"),
	'9', 'and its pool works');
is($one->safe_psql('postgres', 'SELECT failing, last_error IS NULL FROM pool.stats'),
	'f|t', 'still with nothing of the first pool');
$one->stop;

# --- 10. smaller ones --------------------------------------------------------------
($rc, $out, $err) = $local->psql('postgres',
	"SELECT * FROM pool.query('host=127.0.0.1 password=Tr0ub4dor&3 horse=battery', 'SELECT 1') AS t(x int)");
like($err, qr/invalid connection string syntax/, 'an unquoted password with a space: a syntax error');
unlike($err, qr/horse|battery|Tr0ub/, '... that echoes no part of it');

$local->safe_psql('postgres', qq{
CREATE ROLE operator LOGIN;
GRANT EXECUTE ON FUNCTION pool.reset(text) TO operator;
SELECT * FROM pool.query('$tcp', 'SELECT 1') AS t(x int);
});
my $guess = $tcp =~ s/password=secret/password=guess/r;
($rc, $out, $err) = as_role('operator', "SELECT pool.reset('$guess') >= 0");
is($out, 't', 'pool.reset by target names the pool whatever password is guessed: no oracle');

# values with every special character reach the remote as they are
my $odd = q{a=b 'c' \\d ,;};
(my $odd_sql = $odd) =~ s/'/''/g;
$local->safe_psql('postgres', qq{
CREATE SERVER odd FOREIGN DATA WRAPPER pool
    OPTIONS (host '$sock', port '$port', dbname 'app', application_name '$odd_sql');
CREATE USER MAPPING FOR PUBLIC SERVER odd;
});
is($local->safe_psql('postgres', "SELECT * FROM pool.query('odd', 'SHOW application_name') AS t(a text)"),
	$odd, 'an option value with quotes, backslashes, spaces and = arrives whole');

# CREATE EXTENSION does not adopt a schema pool another role made
$local->safe_psql('postgres', q{
CREATE ROLE squatter LOGIN;
CREATE DATABASE squat OWNER squatter;
});
$local->safe_psql('squat', 'CREATE SCHEMA pool', extra_params => [ '-U', 'squatter' ]);
($rc, $out, $err) = $local->psql('squat', 'CREATE EXTENSION pool');
like($err, qr/schema "pool" is owned by a role that is not a superuser/,
	'CREATE EXTENSION refuses a schema pool owned by a non-superuser');

# a checkout timeout is 53300, not a connection failure
($rc, $out, $err) = $local->psql('postgres', qq{
SELECT pool.pause('flaky');
\\set VERBOSITY verbose
SELECT * FROM pool.query('flaky', 'SELECT 1') AS t(x int);
SELECT pool.resume('flaky');
}, on_error_stop => 0);
like($err, qr/ERROR:  53300: timed out waiting for a connection/, 'a checkout timeout has SQLSTATE 53300');

# a session pins at most two DSM segments, however many commands it has in flight
my $before = () = glob('/dev/shm/PostgreSQL.*');
$s = $local->background_psql('postgres', on_error_stop => 0);
qs($s, "SELECT count(pool.send('$trust application_name=dsm' || g, 'SELECT 1')) FROM generate_series(1, 40) g");
my $during = () = glob('/dev/shm/PostgreSQL.*');
cmp_ok($during - $before, '<=', 2, "40 commands in flight: $during - $before new DSM segments");
$s->quit;

# the context of a remote notice shows the command's beginning, not all of it
my $long = 'x' x 100_000;
($rc, $out, $err) = $local->psql('postgres',
	"\\set SHOW_CONTEXT always\nSELECT pool.exec('$trust', 'DO \$\$ BEGIN FOR i IN 1..50 LOOP RAISE NOTICE ''n%'', i; END LOOP; END \$\$ -- $long')");
my @ctx = grep { /remote SQL command on pool/ } split /\n/, $err;
is(scalar(@ctx), 50, 'each of 50 notices has its context line');
cmp_ok((sort { $b <=> $a } map { length } @ctx)[0], '<', 600, '... cut to the command\'s beginning');

# the views' functions are parallel restricted, like core's activity functions
is($local->safe_psql('postgres',
		q{SELECT string_agg(DISTINCT proparallel::text, ',') FROM pg_proc WHERE oid IN ('pool.stats'::regproc, 'pool.connections'::regproc)}),
	'r', 'pool.stats() and pool.connections() are PARALLEL RESTRICTED');

# last_error goes once the pool connects again
$remote->stop;
$local->psql('postgres', "SELECT * FROM pool.query('$tcp application_name=back', 'SELECT 1') AS t(x int)");
isnt($local->safe_psql('postgres', "SELECT last_error FROM pool.stats WHERE target LIKE '%application_name=back%'"),
	'', 'a pool whose remote is down has a last_error');
$remote->start;
ok(wait_until($local,
		"SELECT x FROM pool.query('$tcp application_name=back', 'SELECT 1') AS t(x int)", '1', 20),
	'it connects once the remote is back');
is($local->safe_psql('postgres', "SELECT last_error IS NULL FROM pool.stats WHERE target LIKE '%application_name=back%'"),
	't', 'and its last_error is gone');

done_testing();
