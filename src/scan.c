/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  May a command's SQL text change the remote session's state beyond its
 *	  own transaction?  If it may, the worker resets the pooled connection
 *	  (DISCARD ALL) before anyone else uses it.
 *
 * The text is read once, left to right, with PostgreSQL's lexical rules
 * (src/backend/parser/scan.l), without allocating: whitespace, "--" and
 * nested slash-star comments, the string forms '', E'', N'', B'', X'' and
 * U&'', dollar quotes, quoted identifiers "" and U&"", identifiers, numbers,
 * parameters and everything else one byte at a time.  The answer is yes for
 *
 *	- a statement whose first word (after any '(') is in scan_leading[];
 *	- a word anywhere, quoted identifiers included, that matches
 *	  scan_anywhere[] (TEMP, pg_temp, set_config, advisory locks, ...);
 *	- whatever cannot be classified for sure: an unterminated string, quoted
 *	  identifier, dollar quote or comment; a backslash in a string whose
 *	  escapes depend on standard_conforming_strings, which the remote may
 *	  have off; Unicode escapes in a quoted identifier.
 *
 * String contents are data and are not looked at; a function that changes
 * session state by itself cannot be seen here (the worker also resets a
 * connection before it passes to another local role).
 *
 * The scanner agrees with the remote's lexer on where each string, quoted
 * identifier, dollar quote and comment begins and ends, which is all that
 * matters: where it cannot be sure, it says yes.  Text one version of
 * PostgreSQL rejects (a number followed by letters, since 15) is read as the
 * versions that accept it read it (the number ends, a new token begins).
 *
 * Portions Copyright (c) the pool authors
 *
 * src/scan.c
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_SCAN_STANDALONE
#include "postgres.h"
#else
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#endif

#include "scan.h"

/* How a word of a table matches a word of the text. */
typedef enum ScanMatch
{
	SCAN_EXACT,					/* the whole word */
	SCAN_PREFIX,				/* the start of the word */
	SCAN_INFIX					/* anywhere in the word */
} ScanMatch;

/* A word of a table: lower case ASCII, its length and how it matches. */
typedef struct ScanWord
{
	const char *word;
	size_t		len;
	ScanMatch	match;
} ScanWord;

#define SCAN_WORD(w, m)	{(w), sizeof(w) - 1, (m)}

/*
 * A statement that starts with one of these keywords may change the session.
 */
static const ScanWord scan_leading[] = {
	/* SET: a setting for the rest of the session (and SET ROLE, ...) */
	SCAN_WORD("set", SCAN_EXACT),
	/* RESET: likewise, back to the session's default */
	SCAN_WORD("reset", SCAN_EXACT),
	/* DISCARD: drops plans, sequences' state, temporary tables */
	SCAN_WORD("discard", SCAN_EXACT),
	/* PREPARE: a named prepared statement lives in the session */
	SCAN_WORD("prepare", SCAN_EXACT),
	/* DEALLOCATE: removes prepared statements of the session */
	SCAN_WORD("deallocate", SCAN_EXACT),
	/* DECLARE: a cursor WITH HOLD outlives its transaction */
	SCAN_WORD("declare", SCAN_EXACT),
	/* LISTEN: notifications are delivered to the session */
	SCAN_WORD("listen", SCAN_EXACT),
	/* UNLISTEN: likewise */
	SCAN_WORD("unlisten", SCAN_EXACT),
	/* LOAD: a shared library stays loaded, its _PG_init may set anything */
	SCAN_WORD("load", SCAN_EXACT),
	/* CALL: a procedure may commit, SET and run anything */
	SCAN_WORD("call", SCAN_EXACT),
	/* DO: an anonymous code block may run anything */
	SCAN_WORD("do", SCAN_EXACT),
	/* EXECUTE: runs a prepared statement, which may be any of these */
	SCAN_WORD("execute", SCAN_EXACT),
};

/*
 * A word anywhere (outside strings and comments, quoted identifiers
 * included) that matches one of these may change the session.
 */
static const ScanWord scan_anywhere[] = {
	/* CREATE TEMP ..., SELECT ... INTO TEMP: an object of the session */
	SCAN_WORD("temp", SCAN_EXACT),
	/* likewise, the long spelling */
	SCAN_WORD("temporary", SCAN_EXACT),
	/* the session's temporary schema, pg_temp or pg_temp_N */
	SCAN_WORD("pg_temp", SCAN_PREFIX),
	/* set_config(name, value, false) is SET */
	SCAN_WORD("set_config", SCAN_INFIX),
	/* pg_advisory_lock and the rest: session-level advisory locks */
	SCAN_WORD("advisory", SCAN_INFIX),
	/* setseed: the seed of the session's random() */
	SCAN_WORD("setseed", SCAN_INFIX),
	/* dblink and dblink_connect: connections held by the session */
	SCAN_WORD("dblink", SCAN_INFIX),
	/* UPDATE pg_settings SET ...: SET through the view's rule */
	SCAN_WORD("pg_settings", SCAN_INFIX),
	/* nextval and setval: the session's currval and lastval */
	SCAN_WORD("nextval", SCAN_INFIX),
	SCAN_WORD("setval", SCAN_INFIX),
};

#define SCAN_LENGTH(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Is c whitespace to PostgreSQL's lexer?  (Vertical tab counts although
 * some versions take it for a token: taking it for space is the cautious
 * reading, it keeps a following keyword at the start of its statement.)
 */
static inline bool
scan_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/* Is c a decimal digit? */
static inline bool
scan_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * May c start an identifier or a dollar quote's tag?  Letters, '_' and every
 * byte of a multibyte character.
 */
static inline bool
scan_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		c >= 0x80;
}

/* May c continue a dollar quote's tag? */
static inline bool
scan_tag_cont(unsigned char c)
{
	return scan_ident_start(c) || scan_digit(c);
}

/* May c continue an identifier?  Identifiers may contain '$'. */
static inline bool
scan_ident_cont(unsigned char c)
{
	return scan_tag_cont(c) || c == '$';
}

/* The lower case of an ASCII letter; any other byte unchanged. */
static inline unsigned char
scan_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/*
 * Do the n bytes at s spell the lower-case ASCII word w, in any case?
 */
static inline bool
scan_equal(const unsigned char *s, const char *w, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (scan_lower(s[i]) != (unsigned char) w[i])
			return false;
	return true;
}

/*
 * Does the word of len bytes at s match an entry of table?
 */
static bool
scan_word_in(const ScanWord *table, size_t entries,
			 const unsigned char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < entries; i++)
	{
		const ScanWord *w = &table[i];
		unsigned char first = (unsigned char) w->word[0];
		size_t		at;

		if (len < w->len)
			continue;
		switch (w->match)
		{
			case SCAN_EXACT:
				if (len == w->len && scan_equal(s, w->word, len))
					return true;
				break;
			case SCAN_PREFIX:
				if (scan_equal(s, w->word, w->len))
					return true;
				break;
			case SCAN_INFIX:
				for (at = 0; at <= len - w->len; at++)
					if (scan_lower(s[at]) == first &&
						scan_equal(s + at + 1, w->word + 1, w->len - 1))
						return true;
				break;
		}
	}
	return false;
}

/*
 * Skip a "--" comment whose text starts at p: it ends at a newline or a
 * carriage return, either of which the lexer takes for a line's end.
 */
static const unsigned char *
scan_line_comment(const unsigned char *p)
{
	while (*p != '\0' && *p != '\n' && *p != '\r')
		p++;
	return p;
}

/*
 * Skip a slash-star comment whose text starts at p.  Comments nest; NULL if
 * the comment is not closed.
 */
static const unsigned char *
scan_block_comment(const unsigned char *p)
{
	size_t		depth = 1;

	for (;;)
	{
		if (p[0] == '\0')
			return NULL;
		if (p[0] == '/' && p[1] == '*')
		{
			depth++;
			p += 2;
		}
		else if (p[0] == '*' && p[1] == '/')
		{
			p += 2;
			if (--depth == 0)
				return p;
		}
		else
			p++;
	}
}

/*
 * Skip a string '...', N'...', B'...' or X'...' that opens at the quote p.
 * '' stands for a quote.  The remote may have standard_conforming_strings
 * off, when a backslash escapes the next byte: NULL for a backslash, as for
 * an unterminated string.  (A bit string has no escapes, but '' ends it and
 * begins a new string of the ordinary kind, backslashes and all, which is
 * why it is read as one.)
 */
static const unsigned char *
scan_standard_string(const unsigned char *p)
{
	for (p++;; p++)
	{
		if (*p == '\0' || *p == '\\')
			return NULL;
		if (*p == '\'')
		{
			if (p[1] != '\'')
				return p + 1;
			p++;
		}
	}
}

/*
 * Skip an escape string E'...' that opens at the quote p: a backslash
 * escapes the next byte, '' stands for a quote; NULL if it is not closed.
 * Also NULL for a backslash right after a byte >= 0x80: in client encodings
 * such as SJIS, BIG5 or GBK that byte may be the second of a character, not
 * an escape.  The worker talks to the remote in the database's encoding,
 * where that never happens; this holds even if it were not so.
 */
static const unsigned char *
scan_escape_string(const unsigned char *p)
{
	for (p++;; p++)
	{
		if (*p == '\0')
			return NULL;
		if (*p == '\\')
		{
			if (p[-1] >= 0x80 || p[1] == '\0')
				return NULL;
			p++;
		}
		else if (*p == '\'')
		{
			if (p[1] != '\'')
				return p + 1;
			p++;
		}
	}
}

/*
 * Skip a Unicode string U&'...' that opens at the quote p: '' stands for a
 * quote and a backslash does not escape it (the remote refuses U&'' unless
 * standard_conforming_strings is on); NULL if it is not closed.  A
 * following UESCAPE 'c' is an identifier and a string like any other.
 */
static const unsigned char *
scan_unicode_string(const unsigned char *p)
{
	for (p++;; p++)
	{
		if (*p == '\0')
			return NULL;
		if (*p == '\'')
		{
			if (p[1] != '\'')
				return p + 1;
			p++;
		}
	}
}

/*
 * Skip a quoted identifier "..." (unicode: U&"...") that opens at the quote
 * p; "" stands for a quote.  Its content is a name like any other, checked
 * against scan_anywhere[] regardless of case.  NULL if it is not closed or
 * may change the session, and for a U&"" with a backslash: its Unicode
 * escapes could spell any name.
 */
static const unsigned char *
scan_quoted_ident(const unsigned char *p, bool unicode)
{
	const unsigned char *content = p + 1;

	for (p++;; p++)
	{
		if (*p == '\0')
			return NULL;
		if (*p == '\\' && unicode)
			return NULL;
		if (*p == '"')
		{
			if (p[1] != '"')
				break;
			p++;
		}
	}
	if (scan_word_in(scan_anywhere, SCAN_LENGTH(scan_anywhere),
					 content, (size_t) (p - content)))
		return NULL;
	return p + 1;
}

/*
 * Skip what starts with '$' at p: a parameter $1, a dollar quote $tag$ ...
 * $tag$ (the tag empty or an identifier without '$'), or else a lone '$',
 * what follows it to be read again.  NULL for a dollar quote not closed.
 */
static const unsigned char *
scan_dollar(const unsigned char *p)
{
	const unsigned char *q = p + 1;
	const char *s;
	size_t		len;

	if (scan_digit(*q))
	{
		while (scan_digit(*q))
			q++;
		return q;
	}
	while (scan_tag_cont(*q))
		q++;
	if (*q != '$')
		return p + 1;

	/* the quote ends at the first occurrence of its delimiter [p, q] */
	len = (size_t) (q + 1 - p);
	for (s = (const char *) q + 1; (s = strchr(s, '$')) != NULL; s++)
	{
		if (strncmp(s, (const char *) p, len) == 0)
			return (const unsigned char *) s + len;
	}
	return NULL;
}

/*
 * Skip a number at p, which starts with a digit or with '.' and a digit:
 * digits, a fraction, an exponent.  What follows it, letters included, is a
 * new token, as older versions read it (newer ones reject it).
 */
static const unsigned char *
scan_number(const unsigned char *p)
{
	while (scan_digit(*p))
		p++;
	if (p[0] == '.' && p[1] != '.')
	{
		p++;
		while (scan_digit(*p))
			p++;
	}
	if (*p == 'e' || *p == 'E')
	{
		const unsigned char *q = p + 1;

		if (*q == '+' || *q == '-')
			q++;
		if (scan_digit(*q))
		{
			p = q;
			while (scan_digit(*p))
				p++;
		}
	}
	return p;
}

/*
 * Read a command's SQL text once: may it change the remote session's state
 * beyond its own transaction (see the top of the file), and what shape is
 * it: how many statements, which keyword leads the first.  Once the answer
 * to the first question is yes, the rest is not read.
 */
void
pool_sql_scan(const char *sql, PoolSqlShape *shape)
{
	const unsigned char *p = (const unsigned char *) sql;

	/* no token yet in this statement but '(' */
	bool		at_start = true;

	/* the last token was U&"...", which a UESCAPE may change */
	bool		after_uident = false;

	/* a token other than ';' came since the last ';' */
	bool		in_statement = false;

	shape->may_change_state = true;
	shape->statements = 0;
	shape->leading[0] = '\0';

	for (;;)
	{
		unsigned char c = *p;
		bool		uescape_may_follow = after_uident;

		/* whitespace and comments: not tokens */
		if (scan_space(c))
		{
			p++;
			continue;
		}
		if (c == '-' && p[1] == '-')
		{
			p = scan_line_comment(p + 2);
			continue;
		}
		if (c == '/' && p[1] == '*')
		{
			p = scan_block_comment(p + 2);
			if (p == NULL)
				return;
			continue;
		}
		if (c == '\0')
		{
			shape->may_change_state = false;
			return;
		}
		if (c != ';' && !in_statement)
		{
			in_statement = true;
			shape->statements++;
		}
		else if (c == ';')
			in_statement = false;

		after_uident = false;
		if (scan_ident_start(c))
		{
			/* a prefixed string or quoted identifier, or a word */
			if ((c == 'e' || c == 'E') && p[1] == '\'')
				p = scan_escape_string(p + 1);
			else if ((c == 'n' || c == 'N' || c == 'b' || c == 'B' ||
					  c == 'x' || c == 'X') && p[1] == '\'')
				p = scan_standard_string(p + 1);
			else if ((c == 'u' || c == 'U') && p[1] == '&' && p[2] == '\'')
				p = scan_unicode_string(p + 2);
			else if ((c == 'u' || c == 'U') && p[1] == '&' && p[2] == '"')
			{
				p = scan_quoted_ident(p + 2, true);
				after_uident = true;
			}
			else
			{
				const unsigned char *word = p;
				size_t		len;

				for (p++; scan_ident_cont(*p); p++)
					;
				len = (size_t) (p - word);
				if (at_start && shape->statements == 1 &&
					shape->leading[0] == '\0' &&
					len < sizeof(shape->leading))
				{
					size_t		i;

					for (i = 0; i < len; i++)
						shape->leading[i] = scan_lower(word[i]);
					shape->leading[len] = '\0';
				}
				if (at_start &&
					scan_word_in(scan_leading, SCAN_LENGTH(scan_leading),
								 word, len))
					return;
				if (scan_word_in(scan_anywhere, SCAN_LENGTH(scan_anywhere),
								 word, len))
					return;
				/* U&"..." UESCAPE 'c': its escapes could spell any name */
				if (uescape_may_follow && len == 7 &&
					scan_equal(word, "uescape", 7))
					return;
			}
		}
		else if (scan_digit(c) || (c == '.' && scan_digit(p[1])))
			p = scan_number(p);
		else if (c == '\'')
			p = scan_standard_string(p);
		else if (c == '"')
			p = scan_quoted_ident(p, false);
		else if (c == '$')
			p = scan_dollar(p);
		else
			p++;				/* an operator or punctuation byte */

		if (p == NULL)
			return;
		/* ';' starts a statement; '(' leaves it at its start */
		at_start = c == ';' || (at_start && c == '(');
	}
}

/*
 * May this SQL change the remote session's state beyond its own
 * transaction?  See the top of the file.
 */
bool
pool_sql_may_change_state(const char *sql)
{
	PoolSqlShape shape;

	pool_sql_scan(sql, &shape);
	return shape.may_change_state;
}

/*
 * The statements that may share a connection with other sessions'
 * statements in flight (pipelined): one statement, of a kind that runs in
 * its own transaction and returns rows or a command tag (a query or DML),
 * that the scanner finds free of session state changes.  Everything else
 * (utility statements, whose behaviour in an implicit transaction block
 * differs, VACUUM and the like, COPY, several statements) is not.
 */
bool
pool_sql_may_pipeline(const PoolSqlShape *shape)
{
	static const char *const kinds[] = {
		"select", "values", "table", "with", "insert", "update", "delete",
		"merge"
	};
	size_t		i;

	if (shape->may_change_state || shape->statements != 1)
		return false;
	for (i = 0; i < SCAN_LENGTH(kinds); i++)
	{
		if (strcmp(shape->leading, kinds[i]) == 0)
			return true;
	}
	return false;
}
