# What pool uses of the newer majors, on the major the suite runs on:
#
#   17+  named wait events (PoolResult, PoolCheckout, ...) instead of the
#        generic Extension; a cancel with libpq's cancel request, which
#        needs no login, so it stops a remote query even when the remote
#        has no connection slot left;
#   18   SCRAM pass-through: a role whose SCRAM secret is the same on both
#        servers authenticates to the remote with its own keys, without a
#        password in the user mapping.
#
# On older majors the same statements show what they do there instead.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $remote = pool_remote('remote',
	conf => "max_connections = 12\nsuperuser_reserved_connections = 3\n");
my $local = pool_local('local',
	conf => "pool.pool_size = 2\npool.max_overflow = 0\npool.checkout_timeout = '10s'\n");
my $version = $local->safe_psql('postgres', 'SHOW server_version_num');
my $target = tcp_target($remote);
note("PostgreSQL $version");

# --- wait events ---------------------------------------------------------------
my $busy = $local->background_psql('postgres', on_error_stop => 0);
$busy->query_until(qr/sent/, "\\echo sent\nSELECT pool.exec('$target', 'SELECT pg_sleep(3)');\n");
my $want_result = $version >= 170000 ? 'PoolResult' : 'Extension';
ok( wait_until(
		$local,
		"SELECT wait_event_type || '/' || wait_event FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND pid <> pg_backend_pid()",
		"Extension/$want_result", 10),
	"a session waiting for its command's result shows Extension/$want_result");
$busy->query('SELECT 1');
$busy->quit;

$local->safe_psql('postgres', "SELECT pool.pause('1')");
my $waiting = $local->background_psql('postgres', on_error_stop => 0);
$waiting->query_until(qr/sent/, "\\echo sent\nSELECT pool.checkin(pool.checkout('$target'));\n");
my $want_checkout = $version >= 170000 ? 'PoolCheckout' : 'Extension';
ok( wait_until(
		$local,
		"SELECT wait_event_type || '/' || wait_event FROM pg_stat_activity WHERE query LIKE '%pool.checkout(%' AND pid <> pg_backend_pid()",
		"Extension/$want_checkout", 10),
	"a session waiting for a connection to check out shows Extension/$want_checkout");
$local->safe_psql('postgres', "SELECT pool.resume('1')");
$waiting->query('SELECT 1');
$waiting->quit;

# --- a cancel when the remote has no connection slot left -----------------------
SKIP:
{
	skip 'libpq cancels without a login from PostgreSQL 17 on', 3 if $version < 170000;

	# the pool holds one connection; the rest of the non-reserved slots go
	my @fillers;
	my $h = $local->background_psql('postgres', on_error_stop => 0);
	$h->query_safe(q{SET statement_timeout = '1s'});
	is($h->query_safe("SELECT x FROM pool.query('$target', 'SELECT 1') AS t(x int)"), '1',
		'a pooled connection is up');
	my $free = $remote->safe_psql('postgres',
		"SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
		  . " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')");
	# the session that asked is gone now
	for (1 .. $free + 1)
	{
		push @fillers, $remote->background_psql('app', on_error_stop => 0,
			extra_params => [ '-U', 'app' ]);
	}
	note(scalar(@fillers) . ' sessions fill the rest of the remote');
	my ($rc, $out, $err) = $remote->psql('app', 'SELECT 1', extra_params => [ '-U', 'app' ]);
	like($err, qr/remaining connection slots are reserved|too many clients/,
		'the remote has no slot left for another login');
	my $t0 = time();
	$h->{stderr} = '';
	$h->query("SELECT pool.exec('$target', 'SELECT pg_sleep(30)')");
	like($h->{stderr}, qr/statement timeout/, 'a local statement_timeout ends the call');
	ok( wait_until(
			$remote,
			"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND state = 'active' AND pid <> pg_backend_pid()",
			'0', 2),
		sprintf('and the remote query stopped within a second of it (%.1f s after the call)', time() - $t0));
	$_->quit for @fillers;
	$h->quit;
}

# --- SCRAM pass-through ---------------------------------------------------------
if ($version < 180000)
{
	my ($rc, $out, $err) = $local->psql('postgres',
		"CREATE SERVER pt FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1', use_scram_passthrough 'true')");
	like($err, qr/option "use_scram_passthrough" needs PostgreSQL 18 or later/,
		'before 18, use_scram_passthrough is refused with a clear error');
}
else
{
	my $port = $remote->port;
	# local: SCRAM over TCP; the same secret for alice on both servers
	$local->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\npassword_encryption = 'scram-sha-256'\n");
	open my $hba, '>', $local->data_dir . '/pg_hba.conf' or die $!;
	print $hba "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
	close $hba;
	$local->restart;
	$local->safe_psql('postgres', "CREATE ROLE alice LOGIN PASSWORD 'alice-secret'");
	my $verifier = $local->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'");
	$remote->safe_psql('postgres', "CREATE ROLE alice LOGIN PASSWORD '$verifier'; GRANT CONNECT ON DATABASE app TO alice");
	$local->safe_psql('postgres', qq{
CREATE SERVER pt FOREIGN DATA WRAPPER pool
    OPTIONS (host '127.0.0.1', port '$port', dbname 'app', use_scram_passthrough 'true');
CREATE USER MAPPING FOR alice SERVER pt OPTIONS (user 'alice');
GRANT USAGE ON FOREIGN SERVER pt TO alice;
});
	my $tcp_local = 'host=127.0.0.1 port=' . $local->port . ' dbname=postgres user=alice';
	my ($rc, $out, $err);
	{
		local $ENV{PGPASSWORD} = 'alice-secret';
		($rc, $out, $err) = $local->psql('postgres',
			"SELECT * FROM pool.query('pt', 'SELECT current_user') AS t(u text)",
			connstr => $tcp_local);
	}
	is($out, 'alice', 'a session that logged in with SCRAM reaches the remote as itself, with no password stored')
	  or diag($err);
	is($local->safe_psql('postgres', "SELECT count(*) FROM pool.stats WHERE target LIKE 'pt%'"),
		'1', 'through a pool of its own');
	($rc, $out, $err) = $local->psql('postgres',
		"SELECT * FROM pool.query('pt', 'SELECT current_user') AS t(u text)",
		extra_params => [ '-U', 'alice' ]);
	like($err, qr/SCRAM pass-through needs a session that authenticated with SCRAM/,
		'a session of the same role that logged in without SCRAM is refused');
	unlike(slurp_file($local->logfile), qr/scram_client_key='[^*]/,
		'the keys appear in no log line');

	# the keys of the role that logged in serve no other role
	$local->safe_psql('postgres', q{
CREATE ROLE other;
GRANT other TO alice;
CREATE USER MAPPING FOR other SERVER pt OPTIONS (user 'alice');
GRANT USAGE ON FOREIGN SERVER pt TO other;
CREATE FUNCTION as_owner() RETURNS text LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT u FROM pool.query('pt', 'SELECT current_user') AS t(u text) $$;
ALTER FUNCTION as_owner() OWNER TO other;
GRANT EXECUTE ON FUNCTION as_owner() TO alice;
});
	{
		local $ENV{PGPASSWORD} = 'alice-secret';
		($rc, $out, $err) = $local->psql('postgres',
			"SET ROLE other; SELECT * FROM pool.query('pt', 'SELECT current_user') AS t(u text)",
			connstr => $tcp_local);
		like($err, qr/SCRAM pass-through of server "pt" serves only the role that logged in/,
			'after SET ROLE, the session\'s keys do not serve the other role');
		($rc, $out, $err) = $local->psql('postgres', 'SELECT as_owner()', connstr => $tcp_local);
		like($err, qr/serves only the role that logged in/,
			'nor in a SECURITY DEFINER function of another role');
	}
	($rc, $out, $err) = $local->psql('postgres',
		"GRANT USAGE ON FOREIGN DATA WRAPPER pool TO alice; SET ROLE alice;"
		  . " CREATE SERVER mine FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1', use_scram_passthrough 'true')");
	like($err, qr/permission denied to set option "use_scram_passthrough"/,
		'only superusers set use_scram_passthrough (the server could relay the proof)');

	# libpq 18's debug options: no file written by the server, no key shown
	($rc, $out, $err) = $local->psql('postgres',
		"SET ROLE alice; SELECT * FROM pool.query('host=127.0.0.1 port=$port dbname=app user=app password=secret sslkeylogfile=/tmp/keys', 'SELECT 1') AS t(x int)");
	like($err, qr/permission denied to use connection option "sslkeylogfile"/,
		'a non-superuser cannot have the server write a TLS key log');
	($rc, $out, $err) = $local->psql('postgres',
		"SELECT * FROM pool.query('host=127.0.0.1 port=$port dbname=app user=alice scram_client_key=c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmU= scram_server_key=c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmU=', 'SELECT 1') AS t(x int)");
	unlike($err, qr/c2VjcmV0/, 'SCRAM keys in a connection string appear in no error');

	# libpq 18's OAuth flow would wait for a person: refused, also to superusers
	($rc, $out, $err) = $local->psql('postgres',
		"SELECT * FROM pool.query('host=127.0.0.1 port=$port dbname=app oauth_issuer=https://issuer.example oauth_client_id=x', 'SELECT 1') AS t(x int)");
	like($err, qr/connection option "oauth_\w+" is not supported/,
		'OAuth options in a connection string are refused');
	($rc, $out, $err) = $local->psql('postgres',
		"CREATE SERVER oauth FOREIGN DATA WRAPPER pool OPTIONS (host '127.0.0.1', oauth_issuer 'https://issuer.example')");
	like($err, qr/invalid option "oauth_issuer"/, 'and on a server');
	is($local->safe_psql('postgres', "SELECT * FROM pool.query('$target', 'SELECT 3') AS t(x int)"),
		'3', 'the pool answers after them');
	unlike($local->safe_psql('postgres', 'SELECT string_agg(target, \' \') FROM pool.stats'), qr/c2VjcmV0/,
		'nor in pool.stats');
}

done_testing();
