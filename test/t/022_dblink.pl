# pool_dblink: what dblink's own suite (test/dblink_suite.sh) does not
# cover.  Connections are pooled and shown in pool.connections; a one-shot
# call reuses a warm connection; dblink_disconnect gives the connection back
# reset; a session that ends gives back what it reserved; a role cannot use
# another role's connection, nor connect without a password; notifications
# that arrive while a reserved connection is idle are kept; remote notices
# are not shown; servers of pool work as dblink targets; and the extension
# refuses a database that has dblink.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $remote = pool_remote('remote');
my $local = pool_local('local',
	conf => "pool.pool_size = 4\npool.max_overflow = 0\n");
$local->safe_psql('postgres', 'CREATE EXTENSION pool_dblink');
my $target = tcp_target($remote);
my $socket = socket_target($remote);
my $port = $remote->port;

$local->safe_psql(
	'postgres', qq{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
GRANT USAGE ON FOREIGN DATA WRAPPER pool TO alice, bob;
});

sub reserved
{
	return $local->safe_psql('postgres',
		'SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL');
}

# --- one-shot calls are pooled ---------------------------------------------------
my $pids = $local->safe_psql(
	'postgres', qq{
SELECT p FROM dblink('$target', 'SELECT pg_backend_pid()') AS t(p int);
SELECT p FROM dblink('$target', 'SELECT pg_backend_pid()') AS t(p int);
});
my ($p1, $p2) = split /\n/, $pids;
is($p1, $p2, 'two one-shot calls with a connection string ran on the same warm connection');
is( $local->safe_psql(
		'postgres',
		"SELECT count(*) FROM pool.connections WHERE remote_pid = $p1 AND state = 'idle'"
	),
	'1',
	'pool.connections shows it, idle between calls');
is($remote->safe_psql('app', "SELECT count(*) FROM pg_stat_activity WHERE pid = $p1"),
	'1', 'the remote backend stays after the call');

# --- a reserved connection keeps session state; disconnect resets it ----------------
my $out = $local->safe_psql(
	'postgres', qq{
SELECT dblink_connect('c', '$target');
SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL AND holder_pid = pg_backend_pid();
SELECT dblink_exec('c', 'SET work_mem = ''7MB''');
SELECT dblink_exec('c', 'CREATE TEMP TABLE tt AS SELECT 42 AS x');
SELECT w FROM dblink('c', 'SHOW work_mem') AS t(w text);
SELECT x FROM dblink('c', 'SELECT x FROM tt') AS t(x int);
SELECT p FROM dblink('c', 'SELECT pg_backend_pid()') AS t(p int);
SELECT dblink_disconnect('c');
SELECT dblink_connect('c', '$target');
SELECT p FROM dblink('c', 'SELECT pg_backend_pid()') AS t(p int);
SELECT w FROM dblink('c', 'SHOW work_mem') AS t(w text);
SELECT n FROM dblink('c', 'SELECT count(*) FROM pg_tables WHERE tablename = ''tt''') AS t(n int);
SELECT dblink_disconnect('c');
});
my @o = split /\n/, $out;
is($o[0], 'OK', 'dblink_connect reserves a connection');
is($o[1], '1', 'pool.connections shows it reserved by this session');
is($o[4], '7MB', 'SET lasts across calls on it');
is($o[5], '42', 'a temporary table lasts across calls on it');
is($o[7], 'OK', 'dblink_disconnect');
is($o[9], $o[6], 'the next dblink_connect got the same pooled connection back');
is($o[10], '4MB', 'dblink_disconnect reset its settings');
is($o[11], '0', 'and dropped its temporary tables');
is(reserved(), '0', 'nothing reserved after dblink_disconnect');

# --- a cursor's transaction is open while the cursor is ----------------------------
$out = $local->safe_psql(
	'postgres', qq{
SELECT dblink_connect('cur', '$target');
SELECT p FROM dblink('cur', 'SELECT pg_backend_pid()') AS t(p int);
SELECT dblink_open('cur', 'k', 'SELECT id FROM items ORDER BY id');
SELECT state FROM pool.connections WHERE holder_pid = pg_backend_pid();
SELECT x FROM dblink('cur', 'SELECT now() = statement_timestamp()') AS t(x bool);
SELECT dblink_close('cur', 'k');
SELECT x FROM dblink('cur', 'SELECT now() = statement_timestamp()') AS t(x bool);
SELECT dblink_disconnect('cur');
});
@o = split /\n/, $out;
is($o[4], 'f', 'dblink_open began a remote transaction');
is($o[6], 't', 'dblink_close of the last cursor committed it');

# --- a session that ends gives its connections back ---------------------------------
my $s = $local->background_psql('postgres', on_error_stop => 0);
$s->query_safe("SELECT dblink_connect('$target')");
$s->query_safe("SELECT dblink_connect('k2', '$target')");
is(reserved(), '2', 'a session holds two reserved connections');
$s->quit;
ok(wait_until($local, 'SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL', '0', 10),
	'the session ended: both went back to the pool');

$s = $local->background_psql('postgres', on_error_stop => 0);
$s->query_safe("SELECT dblink_connect('k3', '$target')");
$local->safe_psql('postgres',
	'SELECT pg_terminate_backend(holder_pid) FROM pool.connections WHERE handle IS NOT NULL');
ok(wait_until($local, 'SELECT count(*) FROM pool.connections WHERE handle IS NOT NULL', '0', 10),
	'a terminated session gave its connection back');
eval { $s->quit };

# --- names are per session ----------------------------------------------------------
$s = $local->background_psql('postgres', on_error_stop => 0);
$s->query_safe("SELECT dblink_connect('mine', '$target')");
my ($rc, $stdout, $stderr) = $local->psql('postgres',
	"SELECT * FROM dblink('mine', 'SELECT 1') AS t(x int)");
like($stderr, qr/could not establish connection.*\n.*missing "=" after "mine"/,
	"another session does not see this session's connection names");
$s->quit;

# --- a role cannot use another role's connection ------------------------------------
($rc, $stdout, $stderr) = $local->psql(
	'postgres', qq{
SET ROLE alice;
SELECT dblink_connect('a', '$target');
RESET ROLE;
SET ROLE bob;
SELECT * FROM dblink('a', 'SELECT 1') AS t(x int);
SELECT dblink_exec('a', 'SELECT 1');
SELECT dblink_disconnect('a');
SELECT dblink_get_connections();
RESET ROLE;
SET ROLE alice;
SELECT x FROM dblink('a', 'SELECT 7') AS t(x int);
SELECT dblink_disconnect('a');
}, on_error_stop => 0);
my @denied = ($stderr =~ /permission denied for dblink connection "a"/g);
is(scalar(@denied), 3, "bob may not query, run commands on or disconnect alice's connection");
like($stderr, qr/It belongs to role "alice", which opened it\./, 'the error says whose it is');
like($stdout, qr/^OK\n\{a\}\n7\nOK$/m, 'alice still can, and disconnects it');

# --- a non-superuser must give a password -------------------------------------------
($rc, $stdout, $stderr) = $local->psql('postgres',
	"SET ROLE alice; SELECT dblink_connect('$socket')");
like($stderr,
	qr/ERROR:  password (is required|or GSSAPI delegated credentials required)/,
	'a non-superuser without a password is refused');
($rc, $stdout, $stderr) = $local->psql('postgres',
	"SET ROLE alice; SELECT * FROM dblink('$socket', 'SELECT 1') AS t(x int)");
like($stderr,
	qr/ERROR:  password (is required|or GSSAPI delegated credentials required)/,
	'also for a one-shot call');
($rc, $stdout, $stderr) = $local->psql('postgres',
	"SET ROLE alice; SELECT dblink_connect_u('$socket')");
like($stderr, qr/permission denied for function dblink_connect_u/,
	'dblink_connect_u is not granted to PUBLIC');

# --- remote notices are not shown; fail_on_error => false ----------------------------
($rc, $stdout, $stderr) = $local->psql('postgres',
	"SELECT dblink_exec('$target', 'DO \$\$BEGIN RAISE NOTICE ''from the remote''; END\$\$')");
is($stdout, 'DO', 'a command raising a remote notice ran');
unlike($stderr, qr/from the remote/, 'its notice is not shown');
($rc, $stdout, $stderr) = $local->psql('postgres',
	"\\set SHOW_CONTEXT always\nSELECT dblink_exec('$target', 'SELECT * FROM nosuchtable', false)");
is($stdout, 'ERROR', 'fail_on_error => false returns ERROR');
like($stderr,
	qr/NOTICE:  relation "nosuchtable" does not exist\nCONTEXT:  while executing command on unnamed dblink connection/,
	'and reports the remote error as a NOTICE with dblink\'s context');

# --- notifications that arrive while a reserved connection is idle --------------------
$s = $local->background_psql('postgres', on_error_stop => 0);
$s->query_safe("SELECT dblink_connect('n', '$target')");
$s->query_safe("SELECT dblink_exec('n', 'LISTEN pool_channel')");
$remote->safe_psql('app', "NOTIFY pool_channel, 'while idle'");
sleep 1;
$out = $s->query_safe("SELECT notify_name || ':' || extra FROM dblink_get_notify('n')");
is($out, 'pool_channel:while idle', 'a notification sent while the connection was idle is kept for it');
$out = $s->query_safe("SELECT count(*) FROM dblink_get_notify('n')");
is($out, '0', 'and read once');
$s->query_safe("SELECT dblink_disconnect('n')");
$s->quit;

# --- servers of pool and of dblink_fdw as targets -------------------------------------
$local->safe_psql(
	'postgres', qq{
CREATE SERVER p FOREIGN DATA WRAPPER pool
  OPTIONS (host '127.0.0.1', port '$port', dbname 'app');
CREATE USER MAPPING FOR alice SERVER p OPTIONS (user 'app', password 'secret');
GRANT USAGE ON FOREIGN SERVER p TO alice;
CREATE SERVER d FOREIGN DATA WRAPPER dblink_fdw
  OPTIONS (host '127.0.0.1', port '$port', dbname 'app');
CREATE USER MAPPING FOR alice SERVER d OPTIONS (user 'app', password 'secret');
GRANT USAGE ON FOREIGN SERVER d TO alice;
});
$out = $local->safe_psql(
	'postgres', qq{
SET ROLE alice;
SELECT u FROM dblink('p', 'SELECT current_user') AS t(u text);
SELECT dblink_connect('viad', 'd');
SELECT n FROM dblink('viad', 'SELECT count(*) FROM items') AS t(n int);
SELECT dblink_disconnect('viad');
});
is($out, "app\nOK\n100\nOK", 'a server of pool and a server of dblink_fdw serve as dblink targets');
($rc, $stdout, $stderr) = $local->psql('postgres',
	"SET ROLE bob; SELECT * FROM dblink('d', 'SELECT 1') AS t(x int)");
like($stderr, qr/permission denied for foreign server d/,
	'a dblink_fdw server needs USAGE on it');

# --- connections made inside a SECURITY DEFINER function stay its owner's ---------
$local->safe_psql(
	'postgres', qq{
CREATE SCHEMA bobs AUTHORIZATION bob;
SET ROLE bob;
CREATE FUNCTION bobs.connect_and_fail() RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS \$\$
BEGIN
	PERFORM dblink_connect('bobc', '$target');
	RAISE EXCEPTION 'failing after connecting';
END \$\$;
CREATE FUNCTION bobs.connect_unnamed() RETURNS text LANGUAGE sql SECURITY DEFINER
	AS \$\$ SELECT dblink_connect('$target') \$\$;
GRANT USAGE ON SCHEMA bobs TO alice;
RESET ROLE;
});
($rc, $stdout, $stderr) = $local->psql(
	'postgres', qq{
SET ROLE alice;
DO \$\$ BEGIN PERFORM bobs.connect_and_fail(); EXCEPTION WHEN others THEN NULL; END \$\$;
SELECT * FROM dblink('bobc', 'SELECT current_user') AS t(u text);
}, on_error_stop => 0);
like($stderr, qr/permission denied for dblink connection "bobc"/,
	"a connection bob's SECURITY DEFINER function left open is not its caller's");
($rc, $stdout, $stderr) = $local->psql(
	'postgres', qq{
SET ROLE alice;
SELECT dblink_connect('$target');
SELECT bobs.connect_unnamed();
SELECT x FROM dblink('SELECT 7') AS t(x int);
SELECT dblink_disconnect();
}, on_error_stop => 0);
like($stderr, qr/permission denied for the unnamed dblink connection/,
	"bob's SECURITY DEFINER function may not replace alice's unnamed connection");
like($stdout, qr/^OK\n7\nOK$/m, 'which alice still has, and disconnects');

# --- privileges are checked at every command, as for pool's handles ---------------
($rc, $stdout, $stderr) = $local->psql(
	'postgres', qq{
SET ROLE alice;
SELECT dblink_connect('rv', '$target');
RESET ROLE;
REVOKE USAGE ON FOREIGN DATA WRAPPER pool FROM alice;
SET ROLE alice;
SELECT x FROM dblink('rv', 'SELECT 1') AS t(x int);
RESET ROLE;
GRANT USAGE ON FOREIGN DATA WRAPPER pool TO alice;
SET ROLE alice;
SELECT x FROM dblink('rv', 'SELECT 2') AS t(x int);
SELECT dblink_disconnect('rv');
}, on_error_stop => 0);
like($stderr, qr/permission denied to use a connection string as a target/,
	'after REVOKE USAGE, the next command on a connection already made is refused');
like($stdout, qr/^OK\n2\nOK$/m, 'and after GRANT it serves again');
$local->safe_psql('postgres', 'CREATE ROLE carol SUPERUSER LOGIN');
($rc, $stdout, $stderr) = $local->psql(
	'postgres', qq{
SET ROLE carol;
SELECT dblink_connect('su', '$socket');
RESET ROLE;
ALTER ROLE carol NOSUPERUSER;
SET ROLE carol;
SELECT x FROM dblink('su', 'SELECT 1') AS t(x int);
SELECT dblink_disconnect('su');
}, on_error_stop => 0);
like($stderr, qr/permission denied for dblink connection "su".*\n.*superuser status of its role changed/,
	'a passwordless connection of a role that is no longer a superuser is refused');
like($stdout, qr/^OK\nOK$/m, 'and it can still be given back');
($rc, $stdout, $stderr) = $local->psql(
	'postgres', qq{
SET ROLE alice;
SELECT dblink_connect('ps', 'd');
RESET ROLE;
ALTER SERVER d OPTIONS (ADD application_name 'changed');
SET ROLE alice;
SELECT x FROM dblink('ps', 'SELECT 1') AS t(x int);
SELECT dblink_disconnect('ps');
SELECT a FROM dblink('d', 'SELECT current_setting(''application_name'')') AS t(a text);
}, on_error_stop => 0);
like($stderr, qr/dblink connection "ps" no longer belongs to the pool of its target/,
	'a connection whose dblink_fdw server changed options is refused at its next command');
like($stdout, qr/^OK\nOK\nchanged$/m,
	'it is given back, and the server serves one-shot calls with its new options');
is(reserved(), '0', 'no connection is left reserved');

# --- not beside dblink ----------------------------------------------------------------
SKIP:
{
	skip 'the extension dblink is not available here', 1
	  unless $local->safe_psql('postgres',
		"SELECT count(*) FROM pg_available_extensions WHERE name = 'dblink'") eq '1';
	$local->safe_psql('postgres', 'CREATE DATABASE withdblink');
	($rc, $stdout, $stderr) = $local->psql('withdblink',
		'CREATE EXTENSION dblink; CREATE EXTENSION pool; CREATE EXTENSION pool_dblink;');
	like($stderr,
		qr/extension "pool_dblink" cannot be installed in a database that has extension "dblink"/,
		'pool_dblink refuses a database that has dblink');
}

done_testing();
