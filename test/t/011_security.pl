# The security model with a real remote that asks for passwords over TCP
# (scram-sha-256) and trusts its Unix socket: what a non-superuser may
# connect with, USAGE and user mappings, no session state between holders,
# and passwords in no view or log.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $remote = pool_remote('remote');
my $local = pool_local('local', conf => "pool.pool_size = 1\npool.max_overflow = 0\n");
my $port = $remote->port;
my $sock = $remote->host;
my $secret = 'Secret-pw-4711';
$remote->safe_psql('postgres', "ALTER ROLE app PASSWORD '$secret'");

$local->safe_psql('postgres', qq{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE carol LOGIN;
CREATE SERVER shard FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '$port', dbname 'app', pool_size '1', max_overflow '0');
CREATE SERVER shard_socket FOREIGN DATA WRAPPER pool
    OPTIONS (host '$sock', port '$port', dbname 'app');
CREATE USER MAPPING FOR alice SERVER shard OPTIONS (user 'app', password '$secret');
CREATE USER MAPPING FOR bob SERVER shard OPTIONS (user 'app', password '$secret');
CREATE USER MAPPING FOR alice SERVER shard_socket OPTIONS (user 'app', password '$secret');
GRANT USAGE ON FOREIGN SERVER shard, shard_socket TO alice, bob;
GRANT USAGE ON FOREIGN DATA WRAPPER pool TO alice, bob;
});

sub as_role
{
	my ($role, $sql) = @_;
	my ($rc, $out, $err) = $local->psql('postgres', $sql, extra_params => [ '-U', $role ]);
	return ($rc, $out, $err);
}

# --- what a non-superuser may connect with ----------------------------------
my ($rc, $out, $err) = as_role('alice',
	"SELECT * FROM pool.query('host=127.0.0.1 port=$port dbname=app user=app', 'SELECT 1') AS t(x int)");
like($err, qr/password is required/, 'a connection string without a password is refused');

($rc, $out, $err) = as_role('alice',
	"SELECT * FROM pool.query('host=$sock port=$port dbname=app user=app password=whatever', 'SELECT 1') AS t(x int)");
# (from 16 on libpq itself refuses, with require_auth, before the login completes)
like($err, qr/password is required.*does not request a password|authentication method requirement.*server did not complete authentication/s,
	'a password the remote never asks for (trust on its socket) is refused')
  or diag($err);

($rc, $out, $err) = as_role('alice',
	"SELECT * FROM pool.query('shard_socket', 'SELECT 1') AS t(x int)");
like($err, qr/password is required.*does not request a password|authentication method requirement.*server did not complete authentication/s,
	'the same through a server whose remote never asks for the password');

my $passfile = $local->basedir . '/pgpass';
open my $fh, '>', $passfile or die $!;
print $fh "127.0.0.1:$port:app:app:$secret\n";
close $fh;
chmod 0600, $passfile;
($rc, $out, $err) = as_role('alice',
	"SELECT * FROM pool.query('host=127.0.0.1 port=$port dbname=app user=app passfile=$passfile password=x', 'SELECT 1') AS t(x int)");
like($err, qr/permission denied to use connection option "passfile"/, 'a passfile option is refused');

($rc, $out, $err) = as_role('alice', "SELECT * FROM pool.query('shard', 'SELECT current_user') AS t(u text)");
is($out, 'app', 'with USAGE and a user mapping with a password, the server is used');

($rc, $out, $err) = as_role('carol', "SELECT * FROM pool.query('shard', 'SELECT 1') AS t(x int)");
like($err, qr/permission denied for foreign server shard/, 'without USAGE, refused');

$local->safe_psql('postgres', 'GRANT USAGE ON FOREIGN SERVER shard TO carol');
($rc, $out, $err) = as_role('carol', "SELECT * FROM pool.query('shard', 'SELECT 1') AS t(x int)");
like($err, qr/no user mapping for role "carol" on server "shard"/, 'without a user mapping, a clear error');

# a superuser's connection without a password is never handed to anyone else
$local->safe_psql('postgres', "SELECT * FROM pool.query('host=$sock port=$port dbname=app', 'SELECT 1') AS t(x int)");
($rc, $out, $err) = as_role('alice',
	"SELECT * FROM pool.query('host=$sock port=$port dbname=app', 'SELECT 1') AS t(x int)");
like($err, qr/password is required/, 'the target a superuser used without a password is refused to others');

# --- no session state crosses between holders (pool_size 1: one connection) --
as_role('alice', q{
SELECT pool.checkout('shard') AS h \gset
SELECT pool.exec(:h, 'CREATE TEMP TABLE alice_tmp (a int)');
SELECT pool.exec(:h, 'SET search_path = alice_schema');
SELECT pool.exec(:h, 'PREPARE alice_stmt AS SELECT 1');
SELECT pool.exec(:h, 'SELECT pg_advisory_lock(4711)');
SELECT pool.exec(:h, 'LISTEN alice_channel');
SELECT pool.checkin(:h);
});
my $alice_pid = $local->safe_psql('postgres', q{SELECT remote_pid FROM pool.connections WHERE target LIKE 'shard%'});
# the same credentials, another role: its own pool, but one connection in all
# the remote allows: make the first pool give its connection up
($rc, $out, $err) = as_role('alice', q{
SELECT pool.exec('shard', 'CREATE TEMP TABLE alice_oneshot (a int)');
SELECT pool.exec('shard', 'SET search_path = alice_schema');
});
$local->safe_psql('postgres', "SELECT pool.reset('shard')");
($rc, $out, $err) = as_role('bob', q{
SELECT pool.checkout('shard') AS h \gset
SELECT * FROM pool.query(:h, 'SELECT count(*) FROM pg_class WHERE relname LIKE ''alice%''') AS t(n bigint);
SELECT * FROM pool.query(:h, 'SHOW search_path') AS t(p text);
SELECT * FROM pool.query(:h, 'SELECT count(*) FROM pg_prepared_statements') AS t(n bigint);
SELECT * FROM pool.query(:h, 'SELECT count(*) FROM pg_locks WHERE locktype = ''advisory''') AS t(n bigint);
SELECT * FROM pool.query(:h, 'SELECT count(*) FROM pg_listening_channels()') AS t(n bigint);
SELECT pool.checkin(:h);
});
is(join(',', (split /\n/, $out)[0 .. 4]), '0,"$user", public,0,0,0',
	'a second role sees no temporary table, setting, prepared statement, advisory lock or LISTEN of the first')
  or diag($err);

# on one and the same remote connection too: alice and bob share a PUBLIC mapping
$local->safe_psql('postgres', qq{
CREATE SERVER shared FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '$port', dbname 'app', pool_size '1', max_overflow '0');
CREATE USER MAPPING FOR PUBLIC SERVER shared OPTIONS (user 'app', password '$secret');
GRANT USAGE ON FOREIGN SERVER shared TO alice, bob;
});
as_role('alice', q{
SELECT pool.exec('shared', 'SELECT 1');
SELECT pool.checkout('shared') AS h \gset
SELECT pool.exec(:h, 'CREATE TEMP TABLE alice_tmp (a int)');
SELECT pool.exec(:h, 'SET search_path = alice_schema');
SELECT pool.exec(:h, 'PREPARE alice_stmt AS SELECT 1');
SELECT pool.checkin(:h);
});
my $pid_a = $local->safe_psql('postgres', q{SELECT string_agg(remote_pid::text, ',') FROM pool.connections WHERE target LIKE 'shared%'});
($rc, $out, $err) = as_role('bob', q{
SELECT pool.checkout('shared') AS h \gset
SELECT * FROM pool.query(:h, 'SELECT pg_backend_pid()') AS t(p int);
SELECT * FROM pool.query(:h, 'SELECT count(*) FROM pg_class WHERE relname LIKE ''alice%''') AS t(n bigint);
SELECT * FROM pool.query(:h, 'SHOW search_path') AS t(p text);
SELECT * FROM pool.query(:h, 'SELECT count(*) FROM pg_prepared_statements') AS t(n bigint);
SELECT pool.checkin(:h);
});
my @lines = split /\n/, $out;
is($lines[0], $pid_a, 'the second role got the very remote connection the first used');
is(join(',', @lines[1 .. 3]), '0,"$user", public,0',
	'and finds none of the first role\'s temporary table, setting or prepared statement');

# --- passwords appear nowhere -------------------------------------------------
# leave a failed connect behind too, with the password in the attempt
$local->psql('postgres',
	"SELECT * FROM pool.query('host=127.0.0.1 port=$port dbname=app user=app password=$secret-wrong', 'SELECT 1') AS t(x int)");
for my $role ('postgres', 'alice', 'carol')
{
	for my $view ('pool.stats', 'pool.connections')
	{
		my ($vrc, $vout, $verr) = $local->psql('postgres', "SELECT * FROM $view",
			extra_params => [ '-U', $role ]);
		is($vrc, 0, "$role can read $view");
		unlike($vout, qr/\Q$secret\E/, "no password in $view as $role");
	}
}
# PostgreSQL itself logs the text of statements (log_statement, and the
# statement of an error): a connection string in SQL text shows there, which
# is why servers and user mappings hold passwords.  Nothing else may.
my @log = grep { !/(statement|STATEMENT):/ } split /\n/, slurp_file($local->logfile);
is(scalar(grep { /\Q$secret\E/ } @log), 0, 'no password in the server log, beyond the statements PostgreSQL logs');
ok(scalar(grep { /could not connect|authentication failed/ } @log) > 0,
	'the log did get the failed connection attempt');

# --- what an ordinary role sees of others' pools ---------------------------
($rc, $out, $err) = as_role('carol',
	q{SELECT count(*) FILTER (WHERE target = '<insufficient privilege>') > 0,
	         count(*) FILTER (WHERE target LIKE 'host=%') FROM pool.stats});
is($out, 't|0', 'an ordinary role sees others\' pools without their targets');
($rc, $out, $err) = as_role('alice',
	q{SELECT count(*) FROM pool.stats WHERE target LIKE 'shard user=app%'});
is($out, '1', 'and sees its own');
$local->safe_psql('postgres', 'GRANT pg_read_all_stats TO carol');
($rc, $out, $err) = as_role('carol',
	q{SELECT count(*) FROM pool.stats WHERE target = '<insufficient privilege>'});
is($out, '0', 'members of pg_read_all_stats see everything');

# --- administration is revoked from PUBLIC -----------------------------------
($rc, $out, $err) = as_role('alice', "SELECT pool.reset('shard')");
like($err, qr/permission denied for function reset/, 'administrative functions are not for PUBLIC');

# --- DROP SERVER closes its pool ----------------------------------------------
$local->safe_psql('postgres', 'DROP SERVER shared CASCADE');
ok(wait_until($local, q{SELECT count(*) FROM pool.connections WHERE target LIKE 'shared%'}, '0', 10),
	'DROP SERVER closes the connections of its pool')
  or diag($local->safe_psql('postgres', 'SELECT * FROM pool.connections'));

done_testing();
