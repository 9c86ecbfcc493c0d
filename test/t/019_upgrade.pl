# The upgrade path: installing version 1.0 and updating to the current
# version gives the same catalog objects as installing the current version
# afresh (functions with their arguments, results, volatility, parallel
# safety, strictness and privileges; views and their columns; the
# foreign-data wrapper; comments).  Every version bump keeps this test.

use strict;
use warnings;

use lib 'test';
use PoolTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pool_local('node');
my $current = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'pool'");
my @versions = split /\n/, $node->safe_psql('postgres',
	"SELECT version FROM pg_available_extension_versions WHERE name = 'pool' ORDER BY version");
ok(scalar(grep { $_ eq '1.0' } @versions), "version 1.0 is installable (versions: @versions)");

$node->safe_psql('postgres', 'CREATE DATABASE fresh; CREATE DATABASE updated');
$node->safe_psql('fresh', 'CREATE EXTENSION pool');
$node->safe_psql('updated', "CREATE EXTENSION pool VERSION '1.0'");
is($node->safe_psql('updated', "SELECT extversion FROM pg_extension WHERE extname = 'pool'"),
	'1.0', 'installed at 1.0');
$node->safe_psql('updated', 'ALTER EXTENSION pool UPDATE');
is($node->safe_psql('updated', "SELECT extversion FROM pg_extension WHERE extname = 'pool'"),
	$current, "updated to $current");

# one line per object of the extension, as the catalogs describe it
my $describe = q{
SELECT 'function ' || p.oid::regprocedure || ' returns ' ||
       pg_catalog.pg_get_function_result(p.oid) ||
       ' ' || p.provolatile::text || p.proparallel::text ||
       CASE WHEN p.proisstrict THEN ' strict' ELSE '' END ||
       CASE WHEN p.prosecdef THEN ' definer' ELSE '' END ||
       ' args(' || pg_catalog.pg_get_function_arguments(p.oid) || ')' ||
       ' acl ' || coalesce(p.proacl::text, 'default') ||
       ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
  FROM pg_proc p WHERE p.pronamespace = 'pool'::regnamespace
UNION ALL
SELECT 'relation ' || c.relname || ' ' || c.relkind::text ||
       ' acl ' || coalesce(c.relacl::text, 'default') ||
       ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '') ||
       ' def ' || coalesce(pg_get_viewdef(c.oid), '')
  FROM pg_class c WHERE c.relnamespace = 'pool'::regnamespace
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attnum || ' ' || a.attname || ' ' ||
       format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'pool'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'wrapper ' || w.fdwname || ' validator ' || w.fdwvalidator::regproc ||
       ' handler ' || w.fdwhandler::regproc ||
       ' comment ' || coalesce(obj_description(w.oid, 'pg_foreign_data_wrapper'), '')
  FROM pg_foreign_data_wrapper w WHERE w.fdwname = 'pool'
UNION ALL
SELECT 'schema ' || n.nspname || ' acl ' || coalesce(n.nspacl::text, 'default')
  FROM pg_namespace n WHERE n.nspname = 'pool'
UNION ALL
SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pool' AND d.deptype = 'e'
ORDER BY 1
};
my $fresh = $node->safe_psql('fresh', $describe);
my $updated = $node->safe_psql('updated', $describe);
# the owners of the objects differ by database only in name, so compare text
is($updated, $fresh, "1.0 updated to $current has the same objects as a fresh $current");
cmp_ok(scalar(split /\n/, $fresh), '>', 80, 'and the comparison covers the objects (' . scalar(split /\n/, $fresh) . ' lines)');

# and the updated one works
my $self = 'host=' . $node->host . ' port=' . $node->port . ' dbname=updated';
is($node->safe_psql('updated', "SELECT x FROM pool.query('$self', 'SELECT 1') AS t(x int)"),
	'1', 'the updated installation runs queries');
is($node->safe_psql('updated', "SELECT max_row_size > 0 FROM pool.stats"),
	't', 'and shows the columns of the current version');

done_testing();
