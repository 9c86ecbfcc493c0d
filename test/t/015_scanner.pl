# The scanner that decides whether a command's SQL text may change the remote
# session (src/scan.c), tested alone: no cluster.  A small harness,
# test/scan_test.c, is compiled with the scanner and answers each case; the
# cases below cover each lexical rule both ways, the exploits of the scanner
# it replaced, and traps where a string, comment or quote ends elsewhere than
# it seems to.

use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my @cc = split ' ', ($ENV{CC} // 'cc');
my ($out, $err) = ('', '');
if (!eval { IPC::Run::run([ @cc, '--version' ], '>', \$out, '2>', \$err) })
{
	plan skip_all => "no C compiler (\"@cc\") to build the scanner's harness";
}

my $dir = PostgreSQL::Test::Utils::tempdir();
my $exe = "$dir/scan_test";
ok( IPC::Run::run(
		[
			@cc, '-DPOOL_SCAN_STANDALONE', '-I', 'src', '-o', $exe,
			'test/scan_test.c', 'src/scan.c'
		],
		'>', \$out, '2>', \$err),
	'the harness compiles')
  or diag("$out$err");
BAIL_OUT('no harness to test with') unless -x $exe;

# The cases: "EXPECTED DESCRIPTION | SQL", the SQL exactly as written (a
# backslash is a backslash) but for {xHH}, the byte of hex value HH.
my @cases;
while (my $line = <DATA>)
{
	chomp $line;
	next if $line =~ /^\s*(#|$)/;
	$line =~ /^([01]) (.+?) \| (.*)$/ or die "bad case line: $line";
	my ($expected, $desc, $sql) = ($1, $2, $3);
	$sql =~ s/\{x([0-9a-fA-F]{2})\}/chr(hex($1))/ge;
	push @cases, [ $expected, $desc, $sql ];
}

# Cases easier to make than to write.
my $long = 'a' x 10_000;
push @cases,
  [ 0, 'the empty text', '' ],
  [ 0, 'whitespace only', " \t\n\r\f\x0b " ],
  [ 1, 'a 10,000-character identifier, then SET', "SELECT $long; SET x=1" ],
  [ 1, 'a 10,000-character word ending in set_config',
	"SELECT ${long}set_config('a','b',false)" ],
  [ 1, 'a 10,000-character word starting with pg_temp',
	"SELECT * FROM pg_temp$long.t" ],
  [ 0, 'a 10,000-character word starting with SET is no SET',
	"SELECT 1; set$long" ],
  [ 0, 'a 10,000-character word starting with DO is no DO',
	"do$long" ],
  [ 0, 'a 10,000-character quoted identifier', "SELECT \"$long\"" ],
  [ 1, 'a 10,000-character quoted identifier, then SET',
	"SELECT \"$long\"; SET x=1" ],
  [ 0, 'a 10,000-character dollar-quote tag',
	"SELECT \$$long\$ ; SET x=1 \$$long\$" ],
  [ 1, 'a 10,000-character dollar-quote tag, then SET',
	"SELECT \$$long\$ x \$$long\$; SET x=1" ],
  [ 1, '10,000 nested comments, one not closed',
	'/*' x 10_000 . '*/' x 9_999 . ' SELECT 1' ],
  [ 0, '10,000 nested comments, all closed',
	'/*' x 10_000 . ' SET x=1 ' . '*/' x 10_000 . ' SELECT 1' ],
  [ 1, '10,000 parentheses, then SET', '(' x 10_000 . 'SET x=1' ];

# Which statements may be pipelined with other sessions' statements: one
# statement, a query or DML, free of session state changes.
my @pipeline = (
	[ 1, 'a SELECT', 'SELECT 1' ],
	[ 1, 'a SELECT with a parameter and a trailing semicolon',
		'select $1::int ;  ' ],
	[ 1, 'a parenthesized SELECT', '((SELECT 1))' ],
	[ 1, 'after a comment', '/* c */ -- d' . "\n" . 'SELECT 1' ],
	[ 1, 'VALUES', 'VALUES (1), (2)' ],
	[ 1, 'TABLE', 'TABLE t' ],
	[ 1, 'WITH', 'WITH x AS (SELECT 1) SELECT * FROM x' ],
	[ 1, 'INSERT', 'INSERT INTO t VALUES (1) RETURNING *' ],
	[ 1, 'UPDATE', 'UPDATE t SET a = 1' ],
	[ 1, 'DELETE', 'DELETE FROM t' ],
	[ 1, 'MERGE', 'MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE' ],
	[ 1, 'a semicolon in a string', "SELECT ';'; " ],
	[ 0, 'two statements', 'SELECT 1; SELECT 2' ],
	[ 0, 'two statements without space', 'SELECT 1;SELECT 2' ],
	[ 0, 'SET', 'SET x = 1' ],
	[ 0, 'a SELECT that calls set_config',
		"SELECT set_config('a.b', 'c', false)" ],
	[ 0, 'a SELECT of nextval', "SELECT nextval('s')" ],
	[ 0, 'BEGIN', 'BEGIN' ],
	[ 0, 'COMMIT', 'COMMIT' ],
	[ 0, 'VACUUM', 'VACUUM t' ],
	[ 0, 'COPY', 'COPY t TO STDOUT' ],
	[ 0, 'CREATE TABLE', 'CREATE TABLE t (a int)' ],
	[ 0, 'LOCK', 'LOCK t' ],
	[ 0, 'SHOW', 'SHOW work_mem' ],
	[ 0, 'EXPLAIN', 'EXPLAIN SELECT 1' ],
	[ 0, 'the empty text', '' ],
	[ 0, 'a semicolon only', ' ; ' ],
	[ 0, 'a comment only', '/* SELECT 1 */' ],
	[ 0, 'an unterminated string', "SELECT 'a" ],
	[ 0, 'a quoted identifier is no keyword', '"select" 1' ],
	[ 0, 'a 10,000-character first word', 'select' x 2000 ],
	[ 0, 'SELECT INTO TEMP', 'SELECT 1 INTO TEMP t' ]);

my $input = join('', map { $_->[2] . "\0" } @cases, @pipeline);
my $answers = '';
ok(IPC::Run::run([$exe], '<', \$input, '>', \$answers, '2>', \$err),
	'the harness runs')
  or diag($err);
my @answers = split /\n/, $answers;
is(scalar(@answers), scalar(@cases) + scalar(@pipeline),
	'one answer per case');

sub shown
{
	my ($sql) = @_;
	my $shown = length($sql) > 70 ? substr($sql, 0, 60) . '...' : $sql;
	$shown =~ s/([^\x20-\x7e])/sprintf('{x%02x}', ord($1))/ge;
	return $shown;
}

for my $i (0 .. $#cases)
{
	my ($expected, $desc, $sql) = @{ $cases[$i] };
	my ($change, $pipe) = split / /, $answers[$i] // '';
	is($change, $expected,
		($expected ? 'may change: ' : 'does not: ') . "$desc: " . shown($sql));
	# whatever may change the session is never pipelined
	is($pipe, '0', "not pipelined: $desc") if $expected;
}
for my $i (0 .. $#pipeline)
{
	my ($expected, $desc, $sql) = @{ $pipeline[$i] };
	my ($change, $pipe) = split / /, $answers[ @cases + $i ] // '';
	is($pipe, $expected,
		($expected ? 'may pipeline: ' : 'may not pipeline: ')
		  . "$desc: " . shown($sql));
}

done_testing();

__DATA__
# the two exploits of the scanner this one replaced
1 comments nest, the SET is outside | /* /* */ */ SET search_path = evil
1 a quoted identifier's content is a name | select "set_config"('search_path','evil',false)
1 SET through the rule of pg_settings | UPDATE pg_settings SET setting = 'evil' WHERE name = 'search_path'
1 the same in a CTE | WITH u AS (UPDATE pg_catalog.pg_settings SET setting = 'x' WHERE name = 'search_path' RETURNING 1) SELECT * FROM u
1 nextval leaves currval and lastval | SELECT nextval('s')
1 setval likewise | SELECT pg_catalog.setval('s', 10)
0 currval only reads | SELECT currval('s')

# statement-leading keywords, each
1 SET | SET search_path = evil
1 set in lower case | set x = 1
1 SET in mixed case | SeT x = 1
1 RESET | RESET ALL
1 DISCARD | DISCARD PLANS
1 PREPARE | PREPARE p AS SELECT 1
1 DEALLOCATE | DEALLOCATE ALL
1 DECLARE | DECLARE c CURSOR WITH HOLD FOR SELECT 1
1 LISTEN | LISTEN ch
1 UNLISTEN | UNLISTEN *
1 LOAD | LOAD 'auto_explain'
1 CALL | CALL p()
1 DO | DO $$ BEGIN END $$
1 EXECUTE | EXECUTE p(1)
1 mixed-case DO after another statement | sElEcT 1; dO $$ begin end $$
1 SET after a statement | SELECT 1; SET x = 1
1 SET after a statement without spaces | SELECT 1;SET x=1
1 SET after empty statements | ;;SET x=1
1 SET after leading parentheses | (  SET x = 1)
1 SET after leading whitespace and parentheses |   (  ( SET x = 1))
1 SET after a statement and parentheses | SELECT 1; ((SET x=1))
1 SET after comments | /* c */ -- d{x0a} SET x=1
1 SET after a comment glued to a statement | SELECT/**/1;/**/SET x=1
1 SET after a tab | SELECT 1;{x09}SET x=1
1 SET after a form feed | SELECT 1;{x0c}SET x=1
1 SET after a vertical tab | SELECT 1;{x0b}SET x=1
1 SET after a parameter | SELECT $1; SET x=1
1 SET after a number with an exponent | SELECT 1.5e3; SET x=1
1 SET after a cast | SELECT x::text; SET x=1
1 LISTEN after a quoted identifier | SELECT "a"; LISTEN x
1 DISCARD after a dollar quote | SELECT $a$x$a$; DISCARD ALL
1 SET after an empty dollar quote | SELECT $$$$; SET x=1
0 SET not leading: UPDATE | UPDATE t SET a = 1
0 SET not leading: ALTER | ALTER TABLE t ALTER COLUMN a SET DEFAULT 1
0 RESET not leading | ALTER TABLE t RESET (fillfactor)
0 EXECUTE not leading | CREATE TRIGGER tr AFTER INSERT ON t EXECUTE FUNCTION f()
0 a quoted "SET" is no keyword | SELECT "SET"
0 a leading keyword as a column | SELECT do, call, load FROM t
0 a word that starts with SET is no SET | settings_x = 1
0 WITH and a subquery | WITH x AS (SELECT 1) SELECT * FROM x
0 a query in parentheses | ((SELECT 1))
0 two harmless statements | SELECT 1; SELECT 2
0 SHOW | SHOW search_path
0 VALUES | VALUES (1), (2)
1 pg_settings at all, even read (cautious: its rule makes UPDATE a SET) | SELECT reset_val FROM pg_settings

# words anywhere
1 CREATE TEMP | CREATE TEMP TABLE x()
1 CREATE TEMPORARY | CREATE TEMPORARY TABLE t (a int)
1 CREATE GLOBAL TEMPORARY | CREATE GLOBAL TEMPORARY TABLE t (a int)
1 SELECT INTO TEMP | SELECT 1 INTO TEMP t
1 CREATE TEMP VIEW | create temp view v as select 1
1 the pg_temp schema | CREATE TABLE pg_temp.t (a int)
1 a pg_temp_N schema | SELECT * FROM pg_temp_3.t
1 a quoted pg_temp schema | SELECT "pg_temp".f()
1 a quoted pg_temp schema, any case | SELECT x FROM "Pg_Temp_2".t
1 set_config | select set_config('search_path', 'evil', false)
1 schema-qualified set_config | select pg_catalog.set_config('a','b',false)
1 quoted set_config after a schema | SELECT pg_catalog."set_config"('a','b',false)
1 quoted set_config in upper case | SELECT "SET_CONFIG"('a','b',false)
1 U&"set_config" | SELECT U&"set_config"('a','b',false)
1 a quoted TEMP | SELECT "TEMP"
1 pg_try_advisory_lock | SELECT pg_try_advisory_lock(1)
1 pg_advisory_lock | SELECT pg_advisory_lock(1)
1 pg_advisory_unlock_all | SELECT pg_advisory_unlock_all()
1 setseed | SELECT setseed(0.5)
1 dblink_connect | SELECT dblink_connect('c', 'dbname=x')
1 dblink | SELECT * FROM dblink('dbname=x', 'SELECT 1') AS t(a int)
1 TEMPORARY as a column | SELECT temporary FROM t
0 tempo is not temp | SELECT x FROM tempo
0 words that contain temp | SELECT attempt, temps, contemporary, temporary_x FROM t
0 pgtemp is not pg_temp | SELECT "pgtemp", xpg_temp, pg_tem FROM pg_toast_temp_1.z
0 settings is not set_config | SELECT * FROM settings
0 a high byte makes another word | SELECT {xe9}temp, temp{xe9} FROM t
0 listed words in strings are data | SELECT 'pg_temp', 'set_config', E'dblink', $$advisory$$, N'temp'

# strings
0 a semicolon and SET in a string | SELECT 'a;SET x=1'
0 a doubled quote | SELECT 'it''s; SET x=1'
0 string continuation | SELECT 'a'{x0a}'b'
1 a backslash in a standard string | SELECT 'a\'; SET x=1 --'
1 a backslash in a continued string | SELECT 'a'{x0a}'\'; SET x=1 --'
1 an unterminated string | SELECT 'unterminated
1 an unterminated string after a doubled quote | SELECT 'a''
0 an escape string with an escaped backslash and a doubled quote | SELECT E'\\'' ; SET x=1'
1 an escape string that ends after an escaped backslash | SELECT E'\\'; SET x=1 --'
0 an escaped quote | SELECT E'\''
0 an escaped quote with text after it | SELECT e'\'; SET x=1 --'
0 an escape string after a comma | SELECT 1, e'\'; SET x=1 --'
1 an escape string, then SET | SELECT E'\\\\'; SET x=1
0 an escape sequence | SELECT E'a\nb\t\x41\101\u0041'
1 an unterminated escape string | SELECT E'unterminated\'
1 an escape string ending in a backslash | SELECT E'\
0 non-ASCII in an escape string | SELECT E'caf{xc3}{xa9}'
1 a backslash after a high byte: may be half a character | SELECT E'{xc4}{x95}\'; SET x=1; --'
0 E at the end of an identifier starts no escape string | select date'2024-01-01'
1 so date'...' is a standard string, backslash and all | select date'\'; set x=1 --'
0 a national string | SELECT N'national; SET x=1'
1 a backslash in a national string | SELECT N'a\'; SET x=1 --'
0 bit strings | SELECT B'1010', X'1F', b'1', x'ff'
1 a doubled quote in a bit string begins an ordinary string | SELECT B'0''\'' ; SET x=1 --'
1 an unterminated bit string | SELECT X'1F
0 a Unicode string with escapes | SELECT U&'d\0061t\+000061'
0 a Unicode string with doubled backslashes | SELECT U&'d\\0061t\\+000061'
0 a backslash does not escape a quote in U&'' | SELECT U&'\'
0 a Unicode string with UESCAPE | SELECT U&'d!0061t' UESCAPE '!'
1 an unterminated Unicode string | SELECT U&'abc
0 U&'' only at a token's start | SELECT xu&'a'

# quoted identifiers
0 a doubled quote in a quoted identifier | SELECT "a""b; SET x=1"
0 comment marks in quoted identifiers | SELECT 1 AS "a/*", 2 AS "--"
0 a plain U&"" identifier | SELECT U&"col" FROM t
1 escapes in a U&"" identifier may spell any name | SELECT U&"\0073et_config"('a','b',false)
1 UESCAPE after a U&"" identifier | SELECT U&"!0073et_config" UESCAPE '!'('a','b',false)
1 UESCAPE after a U&"" identifier and a comment | SELECT U&"x" /* c */ uescape 'z'
1 an unterminated quoted identifier | SELECT "unterminated
1 an unterminated quoted identifier after a doubled quote | SELECT "ab""
1 a doubled quote then set_config | SELECT "x""set_config"

# dollar quotes
0 SET in a dollar quote | SELECT $$ ; SET x = 1 $$
0 another tag does not close a dollar quote | SELECT $a$ $b$ ; SET $b$ $a$
0 tags are case-sensitive | SELECT $tag$ $TAG$ ; SET x=1 $tag$
0 near-miss tags | SELECT $a$ $a $ab$ $$ ; SET x=1 $a$
0 an underscore tag | SELECT $_$ SET $_$
0 a high-byte tag | SELECT ${xc3}{xa9}$ ; SET x=1 ${xc3}{xa9}$
0 a dollar quote right after a number | SELECT 1$a$; SET x=1$a$
0 a listed word in a dollar quote | SELECT $$set_config$$
1 an unterminated dollar quote | SELECT $$unterminated
1 a dollar quote closed by another tag only | SELECT $a$ x $b$
1 '$' in an identifier starts no dollar quote | SELECT a$b$c FROM t; SET x=1
1 '$' after an identifier character | SELECT x$a$ FROM t; SET x=1 $a$
1 '$' after letters that follow a number | SELECT 1a$b$; SET x=1; SELECT 1c$b$
0 '$' in an identifier, harmless | SELECT a$b$c FROM t
0 parameters | SELECT 1 FROM t WHERE x = $1 AND y = $2::int
1 '$a ' opens no dollar quote | SELECT $a b$; SET x=1; SELECT $a b$
1 a digit starts no tag | SELECT $1$; SET x=1 $1$

# comments
0 a nested comment | SELECT 1 /* a /* b */ c */
0 a nested comment with SET | /* nested /* SET */ still comment */ SELECT 1
0 SET in a comment | /* SET x = 1 */ SELECT 1
0 SET in a line comment | SELECT 1 -- ; SET x=1
0 a comment alone | -- SET x = 1
1 an unterminated comment | SELECT 1 /* unterminated
1 a nested comment not closed | SELECT 1 /* a /* b */ c
1 an unterminated comment after a statement | SELECT 1 FROM t WHERE x = 'a' /*
1 a line comment ends at a newline | SELECT 1 -- c{x0a}; SET x=1
1 a line comment ends at a carriage return | SELECT 1 -- c{x0d}; SET x=1
1 a line comment after an operator | SELECT 1 +-- c{x0a}1; SET x=1
0 slash-star-slash does not close | SELECT 1 /*/ SET x=1 */
0 comment marks in strings | SELECT '--', '/*', $$--$$; SELECT 1

# numbers
0 numbers | SELECT 1.5e10, .5, 1e-3, 1., 1..2
0 PostgreSQL 16 numbers | SELECT 0x1F, 1_000, 0o17, 0b101
0 an escape string right after a number | SELECT 1e'\'; SET x=1 --'
1 a standard string right after a number | SELECT 1'\'; SET x=1 --'
0 non-ASCII identifiers | SELECT {xc3}{xa9}t{xc3}{xa9} FROM t
