# A fake PostgreSQL server for the TAP tests: it speaks frontend/backend
# protocol 3.0 well enough for libpq to connect and to run queries through
# it, over both the simple and the extended query protocol, and it answers
# some query texts with odd but well-formed messages on purpose, to show what
# a hostile remote server cannot do to the extension.
#
#   my $fake = FakePg->new(auth => 'trust');
#   my $target = $fake->connstr(connect_timeout => 5);
#   ... $fake->log_lines ...
#   $fake->stop;                 # also when the object goes away
#
# Also: $fake->host ('127.0.0.1'), $fake->port, $fake->pid (the listener's),
# $fake->log_file.  connstr quotes the values of its extra key => value pairs
# as libpq wants where needed.
#
# new() forks a listener on 127.0.0.1 (a free port); each client connection
# is served by a child of its own.  Options:
#   auth => 'password'   AuthenticationCleartextPassword, any password is
#                        accepted (the default); 'trust': AuthenticationOk
#                        at once
#   close_after_auth => 1   send AuthenticationOk, then close the socket
#   log => path          where the connections log what they receive (the
#                        default: a file under the TAP test's log directory,
#                        or a temporary file)
#   idle_interval => s   seconds between two notices of "idle notices" (the
#                        default 0: as fast as the client reads them)
#
# The log has one line per message received: "startup user=U database=D",
# "query SQL", "parse SQL", "password", "cancel", "terminate" (a newline in
# SQL is written \n, a carriage return \r).
#
# What a query text does (case-insensitive, trimmed, a trailing ";" ignored;
# in simple protocol a text is split at ";" into statements, run until one
# fails; extended protocol ignores parameters):
#   ""                      EmptyQueryResponse
#   DISCARD ALL, BEGIN, COMMIT   their command tags
#   ROLLBACK                WARNING 25P01 "there is no transaction in
#                           progress", then its tag
#   SELECT pg_catalog.pg_cancel_backend(...)   one bool row "t"
#   SELECT n                one int4 row n (n a plain integer)
#   error SEV [SQLSTATE]    ErrorResponse of severity SEV (SQLSTATE XX000);
#                           the socket is closed after FATAL and PANIC
#   notice SEV [COUNT]      COUNT notices of severity SEV, then a row "done"
#   rowdesc fewer|more|none a DataRow with 1 field after a RowDescription of
#                           2 columns, 3 fields after 1 column, or a DataRow
#                           without a RowDescription
#   bigrow BYTES [ROWS]     ROWS rows of one field of BYTES "x"
#   partialrow BYTES SENT   a DataRow that claims a field of BYTES bytes but
#                           has only SENT of them; then nothing more
#   rows COUNT WIDTH        COUNT rows of WIDTH "x"
#   sleep SECONDS           a row "slept" after SECONDS
#   idle notices COUNT      like SELECT 1, then COUNT notices while idle
#   idle notifies COUNT BYTES   like SELECT 1, then COUNT notifications
#                           (NotificationResponse, channel "flood", a payload
#                           of BYTES "x") while idle
#   paramstatus COUNT       COUNT ParameterStatus, then like SELECT 1
#   anything else           ERROR 42601 "fake server does not understand:
#                           TEXT"
#
# The transaction status is always idle.  No query is ever cancelled: a
# CancelRequest is logged, and that is all.  The listener exits when the
# process that created it does, and takes its connections with it.

package FakePg;

use strict;
use warnings;

use File::Spec;
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);

use constant {
	SSL_REQUEST => 80877103,
	GSSENC_REQUEST => 80877104,
	CANCEL_REQUEST => 80877102,
	CHUNK => 1024 * 1024,           # largest piece of a big value written
	OUT_BATCH => 256 * 1024,        # output is written once it is this long
	TICK => 0.5,                    # how often waits look for a dead parent
};

my $ONE_MB_OF_X = 'x' x CHUNK;

sub new
{
	my ($class, %opts) = @_;
	my $auth = $opts{auth} // 'password';
	die "FakePg: auth must be 'password' or 'trust'\n"
	  unless $auth eq 'password' || $auth eq 'trust';

	my $listen = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		Proto => 'tcp',
		Listen => 128,
		ReuseAddr => 1) or die "FakePg: cannot listen on 127.0.0.1: $!\n";
	my $port = $listen->sockport;

	my ($log, $tmp) = ($opts{log});
	if (!defined $log)
	{
		no warnings 'once';
		my $dir = $PostgreSQL::Test::Utils::log_path;
		if (defined $dir && -d $dir)
		{
			$log = "$dir/fakepg_$port.log";
		}
		else
		{
			$tmp = File::Temp->new(TEMPLATE => 'fakepg_XXXXXX', TMPDIR => 1);
			$log = $tmp->filename;
		}
	}
	open my $fh, '>', $log or die "FakePg: cannot write $log: $!\n";
	close $fh;
	$log = File::Spec->rel2abs($log);

	my $self = bless {
		port => $port,
		host => '127.0.0.1',
		log => $log,
		tmp => $tmp,
		auth => $auth,
		close_after_auth => $opts{close_after_auth} ? 1 : 0,
		idle_interval => $opts{idle_interval} // 0,
		owner => $$,
	}, $class;

	my $parent = $$;
	my $pid = fork;
	die "FakePg: fork: $!\n" unless defined $pid;
	if ($pid == 0)
	{
		_child_main(sub { $self->_listener($listen, $parent) });
	}
	# its own process group, so that stop can signal the connections too
	eval { setpgrp($pid, $pid) };
	close $listen;
	$self->{pid} = $pid;
	return $self;
}

sub port { return $_[0]{port} }
sub host { return $_[0]{host} }
sub pid { return $_[0]{pid} }
sub log_file { return $_[0]{log} }

sub connstr
{
	my ($self, %extra) = @_;
	my $s = "host=$self->{host} port=$self->{port} dbname=fake user=fake password=fake";
	for my $k (sort keys %extra)
	{
		my $v = $extra{$k};
		if ($v eq '' || $v =~ /[\s'\\]/)
		{
			$v =~ s/(['\\])/\\$1/g;
			$v = "'$v'";
		}
		$s .= " $k=$v";
	}
	return $s;
}

sub log_lines
{
	my ($self) = @_;
	open my $fh, '<', $self->{log} or return [];
	my @lines = <$fh>;
	close $fh;
	chomp @lines;
	return \@lines;
}

sub stop
{
	my ($self) = @_;
	return if $$ != $self->{owner} || !$self->{pid};
	local ($?, $!, $@);
	my $pid = delete $self->{pid};
	kill 'TERM', $pid;
	my $deadline = time() + 5;
	while (time() < $deadline)
	{
		return if waitpid($pid, POSIX::WNOHANG()) != 0;
		select(undef, undef, undef, 0.02);
	}
	# stuck: the whole of its process group
	kill 'KILL', -$pid, $pid;
	waitpid($pid, 0);
	return;
}

sub DESTROY
{
	my ($self) = @_;
	$self->stop;
}

# --- processes ------------------------------------------------------------

# Run the body of a forked process: never return into the test, never run
# its END blocks or destructors.
sub _child_main
{
	my ($body) = @_;
	local $SIG{__DIE__} = 'DEFAULT';
	local $SIG{__WARN__} = 'DEFAULT';
	$SIG{PIPE} = 'IGNORE';
	my $ok = eval { $body->(); 1 };
	if (!$ok && $@ ne "fakepg exit\n")
	{
		print STDERR "FakePg $$: $@";
	}
	POSIX::_exit(0);
}

sub _exit_quietly
{
	die "fakepg exit\n";
}

sub _listener
{
	my ($self, $listen, $parent) = @_;
	setpgrp(0, 0);
	my %kids;
	my $stopping = 0;
	$SIG{TERM} = sub { $stopping = 1 };
	$SIG{INT} = 'IGNORE';
	my $sel = IO::Select->new($listen);
	while (!$stopping && getppid() == $parent)
	{
		while ((my $kid = waitpid(-1, POSIX::WNOHANG())) > 0)
		{
			delete $kids{$kid};
		}
		next unless $sel->can_read(TICK);
		my $sock = $listen->accept or next;
		my $pid = fork;
		if (!defined $pid)
		{
			close $sock;
			next;
		}
		if ($pid == 0)
		{
			$SIG{TERM} = 'DEFAULT';
			close $listen;
			my $listener = getppid();
			_child_main(sub { FakePg::Conn->new($self, $sock, $listener)->serve });
		}
		$kids{$pid} = 1;
		close $sock;
	}
	# take the connections along
	kill 'TERM', keys %kids;
	my $deadline = time() + 2;
	while (%kids && time() < $deadline)
	{
		my $kid = waitpid(-1, POSIX::WNOHANG());
		if ($kid > 0) { delete $kids{$kid} }
		elsif ($kid < 0) { last }
		else { select(undef, undef, undef, 0.01) }
	}
	kill 'KILL', keys %kids;
	1 while waitpid(-1, 0) > 0;
	return;
}

# --- one client connection ------------------------------------------------

package FakePg::Conn;

use strict;
use warnings;

use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK O_WRONLY O_APPEND O_CREAT);
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

use constant {
	CHUNK => FakePg::CHUNK,
	OUT_BATCH => FakePg::OUT_BATCH,
	TICK => FakePg::TICK,
};

sub new
{
	my ($class, $server, $sock, $listener) = @_;
	my $flags = fcntl($sock, F_GETFL, 0);
	fcntl($sock, F_SETFL, $flags | O_NONBLOCK);
	setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
	sysopen(my $log, $server->{log}, O_WRONLY | O_APPEND | O_CREAT)
	  or die "cannot open $server->{log}: $!\n";
	return bless {
		server => $server,
		sock => $sock,
		listener => $listener,
		sel => IO::Select->new($sock),
		log => $log,
		in => '',
		out => '',
		stmts => {},
		portals => {},
		skip => 0,                      # extended protocol: error, skip to Sync
		idle => 0,                      # ReadyForQuery sent, nothing received
		idle_notices => 0,              # idle notices still to send
		idle_kind => 'N',               # ... or notifications ('A')
		idle_payload => 0,              # bytes of a notification's payload
		idle_sent => 0,
		next_idle => 0,
	}, $class;
}

sub log_line
{
	my ($self, $line) = @_;
	$line =~ s/\n/\\n/g;
	$line =~ s/\r/\\r/g;
	syswrite($self->{log}, "$line\n");
}

sub check_parent
{
	my ($self) = @_;
	FakePg::_exit_quietly() if getppid() != $self->{listener};
}

# --- writing ----

sub msg
{
	my ($type, $body) = @_;
	return $type . pack('N', (4 + length $body) & 0xFFFFFFFF) . $body;
}

sub fields
{
	my (@f) = @_;
	my $s = '';
	while (@f)
	{
		my ($k, $v) = splice @f, 0, 2;
		$s .= $k . $v . "\0";
	}
	return $s . "\0";
}

sub put
{
	my ($self, $bytes) = @_;
	$self->{out} .= $bytes;
	$self->flush if length $self->{out} >= OUT_BATCH;
}

# Write once what the socket takes now; returns whether anything is left.
sub write_some
{
	my ($self) = @_;
	return 0 unless length $self->{out};
	my $n = syswrite($self->{sock}, $self->{out}, CHUNK);
	if (defined $n)
	{
		substr($self->{out}, 0, $n, '');
	}
	elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR)
	{
		# EPIPE, ECONNRESET: the peer is gone
		$self->peer_gone;
	}
	return length $self->{out} > 0;
}

sub flush
{
	my ($self) = @_;
	while ($self->write_some)
	{
		IO::Select::select(undef, $self->{sel}, undef, TICK);
		$self->check_parent;
	}
}

# --- reading ----

# Read what is there into the input buffer, waiting at most $timeout
# seconds; exits at EOF.
sub read_some
{
	my ($self, $timeout) = @_;
	my ($r) = IO::Select::select($self->{sel}, undef, undef, $timeout);
	$self->check_parent;
	$self->read_ready if $r && @$r;
}

# Read what the socket has (it is readable); the end when the peer is gone.
sub read_ready
{
	my ($self) = @_;
	my $n = sysread($self->{sock}, $self->{in}, 65536, length $self->{in});
	$self->peer_gone
	  if !$n && !(!defined $n && ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR));
}

# The peer closed or reset the connection: log what it sent that was not
# read yet (a Terminate after a Query, say), and end.
sub peer_gone
{
	my ($self) = @_;
	if ($self->{started})
	{
		while (1)
		{
			my $n = sysread($self->{sock}, $self->{in}, 65536, length $self->{in});
			last unless $n;
		}
		$self->log_pending;
	}
	FakePg::_exit_quietly();
}

# Log the complete messages waiting in the input, and drop them.
sub log_pending
{
	my ($self) = @_;
	while (length $self->{in} >= 5)
	{
		my ($type, $len) = unpack('a N', $self->{in});
		last if $len < 4 || length $self->{in} < 1 + $len;
		substr($self->{in}, 0, 1 + $len, '') =~ /^.{5}(.*)$/s;
		$self->log_message($type, $1);
	}
}

sub log_message
{
	my ($self, $type, $body) = @_;
	if ($type eq 'Q' || $type eq 'P')
	{
		my @s = split /\0/, $body, 3;
		$self->log_line($type eq 'Q' ? "query $s[0]" : "parse " . ($s[1] // ''));
	}
	elsif ($type eq 'X')
	{
		$self->log_line('terminate');
	}
	elsif ($type eq 'p')
	{
		$self->log_line('password');
	}
}

sub read_exact
{
	my ($self, $len) = @_;
	while (length $self->{in} < $len)
	{
		$self->flush;
		$self->read_some(TICK);
	}
	return substr($self->{in}, 0, $len, '');
}

sub have_message
{
	my ($self) = @_;
	return 0 if length $self->{in} < 5;
	my $len = unpack('N', substr($self->{in}, 1, 4));
	FakePg::_exit_quietly() if $len < 4;    # not a message: give up
	return length $self->{in} >= 1 + $len;
}

# The next message from the client, as (type, body); while idle, the idle
# notices go out meanwhile.
sub next_message
{
	my ($self) = @_;
	until ($self->have_message)
	{
		if ($self->{idle} && $self->{idle_notices} > 0)
		{
			$self->send_idle_notices;
		}
		else
		{
			$self->flush;
			$self->read_some(TICK);
		}
	}
	$self->{idle} = 0;
	my ($type, $len) = unpack('a N', substr($self->{in}, 0, 5, ''));
	return ($type, substr($self->{in}, 0, $len - 4, ''));
}

# Wait for the socket (for reading, or for writing when a notice is due) and
# put out the notices that are due.
sub send_idle_notices
{
	my ($self) = @_;
	my $interval = $self->{server}{idle_interval};
	my $now = time();
	my $due = length $self->{out} == 0 && $now >= $self->{next_idle};
	my $timeout = TICK;
	$timeout = $self->{next_idle} - $now
	  if !$due && !length $self->{out} && $self->{next_idle} - $now < $timeout;
	my ($r, $w) = IO::Select::select($self->{sel},
		(length $self->{out} || $due) ? $self->{sel} : undef,
		undef, $timeout);
	$self->check_parent;
	if ($r && @$r)
	{
		$self->read_ready;
		# a message first: the notices wait until idle again
		return if $self->have_message;
	}
	if ($w && @$w)
	{
		if (!length $self->{out} && time() >= $self->{next_idle})
		{
			my $batch = $interval > 0 ? 1 : 64;
			$batch = $self->{idle_notices} if $batch > $self->{idle_notices};
			for (1 .. $batch)
			{
				my $i = ++$self->{idle_sent};
				$self->{out} .=
				  $self->{idle_kind} eq 'A'
				  ? msg('A', pack('N', $$) . "flood\0" . ('x' x $self->{idle_payload}) . "\0")
				  : msg('N',
					fields(
						S => 'NOTICE',
						V => 'NOTICE',
						C => '01000',
						M => "hostile idle notice $i"));
			}
			$self->{idle_notices} -= $batch;
			$self->{next_idle} = time() + $interval;
		}
		$self->write_some;
	}
}

sub cstring
{
	my ($bodyref) = @_;
	my $i = index($$bodyref, "\0");
	FakePg::_exit_quietly() if $i < 0;
	my $s = substr($$bodyref, 0, $i);
	substr($$bodyref, 0, $i + 1, '');
	return $s;
}

# --- messages ----

sub error_fields
{
	my ($severity, $code, $message, @more) = @_;
	return msg('E', fields(S => $severity, V => $severity, C => $code,
		M => $message, @more));
}

sub send_error
{
	my ($self, $code, $message) = @_;
	$self->put(error_fields('ERROR', $code, $message));
}

sub send_fatal
{
	my ($self, $code, $message) = @_;
	$self->put(error_fields('FATAL', $code, $message));
	$self->flush;
	FakePg::_exit_quietly();
}

sub ready
{
	my ($self) = @_;
	$self->put(msg('Z', 'I'));
	$self->flush;
	$self->{idle} = 1;
}

sub row_description
{
	my (@cols) = @_;
	my $body = pack('n', scalar @cols);
	for my $c (@cols)
	{
		my ($name, $oid, $len) = @$c;
		$body .= $name . "\0" . pack('N n N n N n', 0, 0, $oid, $len & 0xFFFF,
			0xFFFFFFFF, 0);
	}
	return msg('T', $body);
}

sub data_row
{
	my (@values) = @_;
	my $body = pack('n', scalar @values);
	$body .= pack('N', length $_) . $_ for @values;
	return msg('D', $body);
}

sub complete
{
	my ($tag) = @_;
	return msg('C', $tag . "\0");
}

# --- the conversation ----

sub serve
{
	my ($self) = @_;
	$self->startup;
	while (1)
	{
		my ($type, $body) = $self->next_message;
		$self->message($type, $body);
	}
}

sub startup
{
	my ($self) = @_;
	my %params;
	while (1)
	{
		my $len = unpack('N', $self->read_exact(4));
		FakePg::_exit_quietly() if $len < 8 || $len > 10_000;
		my $body = $self->read_exact($len - 4);
		my $code = unpack('N', $body);
		if ($code == FakePg::SSL_REQUEST || $code == FakePg::GSSENC_REQUEST)
		{
			$self->put('N');
			$self->flush;
			next;
		}
		if ($code == FakePg::CANCEL_REQUEST)
		{
			$self->log_line('cancel');
			FakePg::_exit_quietly();
		}
		if ($code >> 16 != 3)
		{
			$self->send_fatal('0A000', sprintf(
				'unsupported frontend protocol %d.%d: server supports 3.0 to 3.0',
				$code >> 16, $code & 0xFFFF));
		}
		my $rest = substr($body, 4);
		while (length $rest)
		{
			my $k = cstring(\$rest);
			last if $k eq '';
			$params{$k} = cstring(\$rest);
		}
		last;
	}
	my $user = $params{user} // '';
	my $db = $params{database} // $user;
	$self->log_line("startup user=$user database=$db");
	$self->{started} = 1;

	if ($self->{server}{auth} eq 'password')
	{
		$self->put(msg('R', pack('N', 3)));
		$self->flush;
		my ($type) = $self->next_message;
		$self->send_fatal('08P01', "expected password response, got message type \"$type\"")
		  unless $type eq 'p';
		$self->log_line('password');
	}
	$self->put(msg('R', pack('N', 0)));
	if ($self->{server}{close_after_auth})
	{
		$self->flush;
		FakePg::_exit_quietly();
	}
	my @status = (
		server_version => '15.0',
		server_encoding => 'UTF8',
		client_encoding => 'UTF8',
		DateStyle => 'ISO, MDY',
		IntervalStyle => 'postgres',
		integer_datetimes => 'on',
		standard_conforming_strings => 'on',
		TimeZone => 'UTC',
		application_name => $params{application_name} // '');
	while (@status)
	{
		my ($k, $v) = splice @status, 0, 2;
		$self->put(msg('S', "$k\0$v\0"));
	}
	$self->put(msg('K', pack('N N', $$, int(rand(2**31)))));
	$self->ready;
}

sub message
{
	my ($self, $type, $body) = @_;
	$self->log_message($type, $body) unless $type eq 'p';
	if ($type eq 'Q')
	{
		my $sql = cstring(\$body);
		$self->simple_query($sql);
		$self->ready;
	}
	elsif ($type eq 'X')
	{
		FakePg::_exit_quietly();
	}
	elsif ($type eq 'P')
	{
		my $name = cstring(\$body);
		my $sql = cstring(\$body);
		my $n = length $body >= 2 ? unpack('n', $body) : 0;
		my @oids = unpack('N*', substr($body, 2, 4 * $n));
		return if $self->{skip};
		my $cmd = $self->parse_statement($sql);
		return $self->ext_error(@$cmd{qw(code message)}) if $cmd->{error};
		if ($name ne '' && exists $self->{stmts}{$name})
		{
			return $self->ext_error('42P05', "prepared statement \"$name\" already exists");
		}
		$cmd->{params} = [ map { $oids[$_] || 25 } 0 .. $n - 1 ];
		$self->{stmts}{$name} = $cmd;
		$self->put(msg('1', ''));
	}
	elsif ($type eq 'B')
	{
		return if $self->{skip};
		my $portal = cstring(\$body);
		my $name = cstring(\$body);
		my $cmd = $self->{stmts}{$name};
		return $self->ext_error('26000', "prepared statement \"$name\" does not exist")
		  unless $cmd;
		$self->{portals}{$portal} = $cmd;
		$self->put(msg('2', ''));
	}
	elsif ($type eq 'D')
	{
		return if $self->{skip};
		my $what = substr($body, 0, 1, '');
		my $name = cstring(\$body);
		if ($what eq 'S')
		{
			my $cmd = $self->{stmts}{$name};
			return $self->ext_error('26000', "prepared statement \"$name\" does not exist")
			  unless $cmd;
			my @p = @{ $cmd->{params} };
			$self->put(msg('t', pack('n N*', scalar @p, @p)));
			$self->describe($cmd);
		}
		else
		{
			my $cmd = $self->{portals}{$name};
			return $self->ext_error('34000', "portal \"$name\" does not exist")
			  unless $cmd;
			$self->describe($cmd);
		}
	}
	elsif ($type eq 'E')
	{
		return if $self->{skip};
		my $name = cstring(\$body);
		my $cmd = $self->{portals}{$name};
		return $self->ext_error('34000', "portal \"$name\" does not exist")
		  unless $cmd;
		$self->{skip} = 1 unless $self->execute($cmd);
		delete $self->{portals}{$name} if $name eq '';
	}
	elsif ($type eq 'C')
	{
		return if $self->{skip};
		my $what = substr($body, 0, 1, '');
		my $name = cstring(\$body);
		delete $self->{ $what eq 'S' ? 'stmts' : 'portals' }{$name};
		$self->put(msg('3', ''));
	}
	elsif ($type eq 'H')
	{
		$self->flush;
	}
	elsif ($type eq 'S')
	{
		$self->{skip} = 0;
		$self->ready;
	}
	elsif ($type eq 'd' || $type eq 'c' || $type eq 'f')
	{
		# COPY data outside COPY: ignored, as the server does
	}
	else
	{
		$self->send_fatal('08P01', "invalid frontend message type " . ord($type));
	}
}

sub ext_error
{
	my ($self, $code, $message) = @_;
	$self->send_error($code, $message);
	$self->{skip} = 1;
}

sub describe
{
	my ($self, $cmd) = @_;
	$self->put($cmd->{cols} ? row_description(@{ $cmd->{cols} }) : msg('n', ''));
}

sub simple_query
{
	my ($self, $sql) = @_;
	my @parts = grep { /\S/ } split /;/, $sql;
	if (!@parts)
	{
		$self->put(msg('I', ''));
		return;
	}
	for my $part (@parts)
	{
		my $cmd = $self->command($part);
		$self->put(row_description(@{ $cmd->{cols} })) if $cmd->{cols};
		return unless $self->execute($cmd);
	}
}

# A statement of the extended protocol: one command (or none).
sub parse_statement
{
	my ($self, $sql) = @_;
	my @parts = grep { /\S/ } split /;/, $sql;
	return { run => sub { $_[0]->put(msg('I', '')); 1 } } unless @parts;
	return {
		error => 1,
		code => '42601',
		message => 'cannot insert multiple commands into a prepared statement'
	} if @parts > 1;
	my $cmd = $self->command($parts[0]);
	return {
		error => 1,
		code => $cmd->{code},
		message => $cmd->{message}
	} if $cmd->{syntax_error};
	return $cmd;
}

# Run a command, its RowDescription aside; returns false after an error.
sub execute
{
	my ($self, $cmd) = @_;
	return $cmd->{run}->($self);
}

my @INT4 = ('?column?', 23, 4);
my @TEXT = ('x', 25, -1);

sub rows_then
{
	my ($tag, @rows) = @_;
	return sub {
		my ($self) = @_;
		$self->put(data_row(@$_)) for @rows;
		$self->put(complete($tag));
		return 1;
	};
}

# What a command text does: its columns (cols, for RowDescription) and a
# sub that sends the rest (run).
sub command
{
	my ($self, $text) = @_;
	$text =~ s/^\s+|\s+$//g;
	my $t = lc $text;
	my @w = split ' ', $t;
	my @orig = split ' ', $text;

	if ($t =~ /^discard\s+all$/)
	{
		return { run => rows_then('DISCARD ALL') };
	}
	if ($t eq 'begin' || $t eq 'commit')
	{
		return { run => rows_then(uc $t) };
	}
	if ($t eq 'rollback')
	{
		return {
			run => sub {
				my ($self) = @_;
				$self->put(msg('N', fields(S => 'WARNING', V => 'WARNING',
					C => '25P01', M => 'there is no transaction in progress')));
				$self->put(complete('ROLLBACK'));
				return 1;
			}
		};
	}
	if ($t =~ /^select\s+pg_catalog\s*\.\s*pg_cancel_backend\s*\(.*\)$/s)
	{
		return {
			cols => [ [ 'pg_cancel_backend', 16, 1 ] ],
			run => rows_then('SELECT 1', ['t'])
		};
	}
	if ($t =~ /^select\s+([-+]?\d+)$/)
	{
		my $n = $1 + 0;
		return { cols => [ [@INT4] ], run => rows_then('SELECT 1', [$n]) };
	}
	if ($w[0] eq 'error' && (@w == 2 || @w == 3))
	{
		my $sev = $orig[1];
		my $code = $orig[2] // 'XX000';
		return {
			run => sub {
				my ($self) = @_;
				$self->put(error_fields($sev, $code,
					"hostile error with severity $sev",
					D => "detail of the hostile error",
					H => "hint of the hostile error"));
				if (uc $sev eq 'FATAL' || uc $sev eq 'PANIC')
				{
					$self->flush;
					FakePg::_exit_quietly();
				}
				return 0;
			}
		};
	}
	if ($w[0] eq 'notice' && (@w == 2 || (@w == 3 && $w[2] =~ /^\d+$/)))
	{
		my $sev = $orig[1];
		my $count = $w[2] // 1;
		return {
			cols => [ [@TEXT] ],
			run => sub {
				my ($self) = @_;
				for my $i (1 .. $count)
				{
					$self->put(msg('N', fields(S => $sev, V => $sev,
						C => '01000', M => "hostile notice $i with severity $sev")));
				}
				$self->put(data_row('done'));
				$self->put(complete('SELECT 1'));
				return 1;
			}
		};
	}
	if ($t eq 'rowdesc fewer')
	{
		return {
			cols => [ [ 'a', 23, 4 ], [ 'b', 23, 4 ] ],
			run => rows_then('SELECT 1', [1])
		};
	}
	if ($t eq 'rowdesc more')
	{
		return { cols => [ [@INT4] ], run => rows_then('SELECT 1', [ 1, 2, 3 ]) };
	}
	if ($t eq 'rowdesc none')
	{
		return { run => rows_then('SELECT 1', [1]) };
	}
	if ($w[0] eq 'bigrow' && (@w == 2 || @w == 3) && !grep { !/^\d+$/ } @w[ 1 .. $#w ])
	{
		my ($bytes, $rows) = ($w[1], $w[2] // 1);
		return {
			cols => [ [ 'big', 25, -1 ] ],
			run => sub {
				my ($self) = @_;
				for (1 .. $rows)
				{
					$self->big_data_row($bytes, $bytes);
				}
				$self->put(complete("SELECT $rows"));
				return 1;
			}
		};
	}
	if ($w[0] eq 'partialrow' && @w == 3 && $w[1] =~ /^\d+$/ && $w[2] =~ /^\d+$/)
	{
		my ($bytes, $sent) = @w[ 1, 2 ];
		return {
			cols => [ [ 'big', 25, -1 ] ],
			run => sub {
				my ($self) = @_;
				$self->big_data_row($bytes, $sent);
				$self->flush;
				# nothing more, until the peer goes away
				while (1)
				{
					$self->read_some(FakePg::TICK);
					$self->log_pending;
				}
			}
		};
	}
	if ($w[0] eq 'rows' && @w == 3 && $w[1] =~ /^\d+$/ && $w[2] =~ /^\d+$/)
	{
		my ($count, $width) = @w[ 1, 2 ];
		return {
			cols => [ [@TEXT] ],
			run => sub {
				my ($self) = @_;
				if ($width <= CHUNK)
				{
					my $row = data_row('x' x $width);
					$self->put($row) for 1 .. $count;
				}
				else
				{
					$self->big_data_row($width, $width) for 1 .. $count;
				}
				$self->put(complete("SELECT $count"));
				return 1;
			}
		};
	}
	if ($w[0] eq 'sleep' && @w == 2 && $w[1] =~ /^(\d+(\.\d*)?|\.\d+)$/)
	{
		my $seconds = $w[1];
		return {
			cols => [ [@TEXT] ],
			run => sub {
				my ($self) = @_;
				$self->flush;
				my $deadline = time() + $seconds;
				# reading meanwhile, to notice a peer that goes away
				while ((my $left = $deadline - time()) > 0)
				{
					$self->read_some($left < FakePg::TICK ? $left : FakePg::TICK);
				}
				$self->put(data_row('slept'));
				$self->put(complete('SELECT 1'));
				return 1;
			}
		};
	}
	if ($t =~ /^idle\s+notices\s+(\d+)$/ || $t =~ /^idle\s+notifies\s+(\d+)\s+(\d+)$/)
	{
		my ($count, $bytes) = ($1, $2);
		return {
			cols => [ [@INT4] ],
			run => sub {
				my ($self) = @_;
				$self->put(data_row(1));
				$self->put(complete('SELECT 1'));
				# notifications of BYTES, or notices
				$self->{idle_kind} = defined $bytes ? 'A' : 'N';
				$self->{idle_payload} = $bytes // 0;
				$self->{idle_notices} += $count;
				return 1;
			}
		};
	}
	if ($t =~ /^paramstatus\s+(\d+)$/)
	{
		my $count = $1;
		return {
			cols => [ [@INT4] ],
			run => sub {
				my ($self) = @_;
				$self->put(msg('S', "fake_param_$_\0value $_\0")) for 1 .. $count;
				$self->put(data_row(1));
				$self->put(complete('SELECT 1'));
				return 1;
			}
		};
	}
	return {
		syntax_error => 1,
		code => '42601',
		message => "fake server does not understand: $text",
		run => sub {
			my ($self) = @_;
			$self->send_error('42601', "fake server does not understand: $text");
			return 0;
		}
	};
}

# A DataRow of one field that claims $bytes bytes, of which $sent are
# written, a megabyte at a time.
sub big_data_row
{
	my ($self, $bytes, $sent) = @_;
	$self->put('D' . pack('N n N', (4 + 2 + 4 + $bytes) & 0xFFFFFFFF, 1,
		$bytes & 0xFFFFFFFF));
	while ($sent > 0)
	{
		my $n = $sent < CHUNK ? $sent : CHUNK;
		$self->put($n == CHUNK ? $ONE_MB_OF_X : substr($ONE_MB_OF_X, 0, $n));
		$sent -= $n;
	}
}

1;
