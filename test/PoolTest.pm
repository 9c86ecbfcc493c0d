# Helpers shared by the TAP tests of pool: a remote cluster that asks for
# passwords over TCP, a local cluster with pool preloaded, and small utilities
# for polling and for looking at processes.

package PoolTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(pool_remote pool_local tcp_target socket_target
  wait_until rss_anon_kb peak_rss_kb reset_peak_rss remote_pids
  pool_worker_pid elapsed_since signal_cluster pgbench_start pgbench_finish);

# A remote cluster: SCRAM over TCP on 127.0.0.1, trust on its Unix socket; a
# role "app" with password "secret" owning a database "app" with a table
# "items" of 100 rows.
sub pool_remote
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"listen_addresses = '127.0.0.1'\n"
		  . "password_encryption = 'scram-sha-256'\n"
		  . "max_connections = 50\n"
		  . ($opts{conf} // ''));
	# replace initdb's trust lines: passwords over TCP, trust on the socket
	open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die $!;
	print $hba "local all all trust\n"
	  . "host all all 127.0.0.1/32 scram-sha-256\n";
	close $hba;
	$node->start;
	$node->safe_psql('postgres',
		"CREATE ROLE app LOGIN PASSWORD 'secret'; CREATE DATABASE app OWNER app;");
	$node->safe_psql('app',
		"SET ROLE app; CREATE TABLE items (id int PRIMARY KEY, name text);"
		  . " INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g;"
	);
	return $node;
}

# A local cluster with pool preloaded and the extension created in postgres.
sub pool_local
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'pool'\n" . ($opts{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pool');
	return $node;
}

# Connection string to a remote over TCP, as app (password auth).
sub tcp_target
{
	my ($remote, %opts) = @_;
	my $password = $opts{password} // 'secret';
	my $user = $opts{user} // 'app';
	my $db = $opts{dbname} // 'app';
	return "host=127.0.0.1 port=" . $remote->port
	  . " dbname=$db user=$user password=$password";
}

# Connection string to a remote over its Unix socket (trust), as the
# bootstrap superuser.
sub socket_target
{
	my ($remote, %opts) = @_;
	my $db = $opts{dbname} // 'app';
	return "host=" . $remote->host . " port=" . $remote->port . " dbname=$db";
}

# Poll a query on a node until it returns the expected value, for at most
# $timeout seconds; returns whether it did.
sub wait_until
{
	my ($node, $query, $expected, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		my ($rc, $out, $err) = $node->psql('postgres', $query);
		return 1 if $rc == 0 && defined $out && $out eq $expected;
		usleep(50_000);
	}
	return 0;
}

# Private memory (RssAnon) of a process, in kB.
sub rss_anon_kb
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/status" or return undef;
	while (<$fh>)
	{
		return $1 if /^RssAnon:\s+(\d+)\s+kB/;
	}
	return undef;
}

# Peak resident memory (VmHWM) of a process, in kB, since it started or
# since reset_peak_rss.
sub peak_rss_kb
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/status" or return undef;
	while (<$fh>)
	{
		return $1 if /^VmHWM:\s+(\d+)\s+kB/;
	}
	return undef;
}

# Start counting a process's peak resident memory afresh (Linux: "5" into
# /proc/PID/clear_refs); returns whether it could.
sub reset_peak_rss
{
	my ($pid) = @_;
	open my $fh, '>', "/proc/$pid/clear_refs" or return 0;
	my $ok = print $fh "5";
	close $fh or return 0;
	return $ok;
}

# Pids of the remote backends a local pool holds, as the remote sees them.
sub remote_pids
{
	my ($remote, $db) = @_;
	$db //= 'app';
	return $remote->safe_psql($db,
		"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE application_name = 'pool'"
	);
}

sub pool_worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pool worker'");
}

# Send a signal to a cluster's postmaster and every process under it (STOP
# and CONT make a remote that stops answering).
sub signal_cluster
{
	my ($node, $signal) = @_;
	my $postmaster = $node->{_pid};
	my %children;
	opendir my $dh, '/proc' or die $!;
	for my $pid (grep { /^\d+$/ } readdir $dh)
	{
		open my $fh, '<', "/proc/$pid/stat" or next;
		my $stat = <$fh>;
		close $fh;
		# the parent pid is the second field after the command name
		push @{ $children{$1} }, $pid if $stat =~ /\)\s+\S+\s+(\d+)/;
	}
	closedir $dh;
	my @pids = ($postmaster, @{ $children{$postmaster} // [] });
	kill $signal, @pids;
	return scalar @pids;
}

# Start pgbench against a node in the background.  Options: scripts, a
# hash of name => [text, weight]; clients; jobs; seconds (-T) or
# transactions (-t); env, a hash of environment variables for pgbench and
# its connections (PGOPTIONS, say); dbname.  pgbench_finish waits for it.
sub pgbench_start
{
	my ($node, %opts) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my @files;
	for my $name (sort keys %{ $opts{scripts} })
	{
		my ($text, $weight) = @{ $opts{scripts}{$name} };
		my $file = "$dir/$name.sql";
		open my $fh, '>', $file or die $!;
		print $fh $text;
		close $fh;
		push @files, '-f', "$file\@" . ($weight // 1);
	}
	my $clients = $opts{clients} // 1;
	my @cmd = (
		'pgbench', '-n', '-c', $clients,
		'-j', $opts{jobs} // ($clients > 1 ? 2 : 1),
		defined $opts{seconds}
		? ('-T', $opts{seconds})
		: ('-t', $opts{transactions} // 10),
		@files,
		'-h', $node->host, '-p', $node->port, $opts{dbname} // 'postgres');
	my ($out, $err) = ('', '');
	my $run = { out => \$out, err => \$err };
	local %ENV = (%ENV, %{ $opts{env} // {} });
	$run->{timer} = IPC::Run::timeout($opts{timeout} // 300);
	$run->{handle} =
	  IPC::Run::start(\@cmd, '>', $run->{out}, '2>', $run->{err}, $run->{timer});
	return $run;
}

# Wait for a pgbench started by pgbench_start; returns its exit code (-1
# if it was still running at its timeout, and was killed; 128 + the signal
# if a signal ended it), its output and its errors.
sub pgbench_finish
{
	my ($run) = @_;
	my $rc;
	if (eval { $run->{handle}->finish; 1 })
	{
		# the status as waitpid gave it: $? here is not reliably pgbench's,
		# and $? >> 8 is 0 for a pgbench that a signal killed
		my $status = $run->{handle}->full_result // 0;
		$rc = ($status & 127) ? 128 + ($status & 127) : $status >> 8;
	}
	else
	{
		$run->{handle}->kill_kill;
		$rc = -1;
	}
	return ($rc, ${ $run->{out} }, ${ $run->{err} });
}

sub elapsed_since
{
	my ($t0) = @_;
	return time() - $t0;
}

1;
