# Without shared_preload_libraries, CREATE EXTENSION works and every function
# says what is missing.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pool');
pass('CREATE EXTENSION works without the preload');

for my $sql (
	"SELECT * FROM pool.query('dbname=postgres', 'SELECT 1') AS t(x int)",
	"SELECT pool.exec('dbname=postgres', 'SELECT 1')",
	"SELECT * FROM pool.stats",
	"SELECT * FROM pool.connections")
{
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	like($err, qr/ERROR:  pool must be loaded via shared_preload_libraries/,
		"clear error for: $sql");
}

my ($rc, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT pool.exec('dbname=postgres', 'SELECT 1')");
like($err, qr/55000/, 'with SQLSTATE 55000 (object not in prerequisite state)');

$node->safe_psql('postgres', 'DROP EXTENSION pool');
pass('DROP EXTENSION works');

done_testing();
