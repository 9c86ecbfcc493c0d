/*-------------------------------------------------------------------------
 *
 * scan_test.c
 *	  Unit test harness of src/scan.c: reads SQL texts from standard input,
 *	  each ended by a NUL byte, and prints for each one line of two
 *	  answers: "1" if pool_sql_may_change_state() says it may change the
 *	  session, else "0"; then "1" if pool_sql_may_pipeline() lets it be
 *	  pipelined, else "0".
 *
 *	  cc -DPOOL_SCAN_STANDALONE -I src -o scan_test test/scan_test.c src/scan.c
 *
 * Each text is passed in a block of exactly its own size, so that a memory
 * checker (-fsanitize=address, valgrind) sees any read past its end.
 *
 * Portions Copyright (c) the pool authors
 *
 * test/scan_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"

/*
 * Answer each NUL-terminated text of standard input with a line "M P".
 */
int
main(void)
{
	char	   *buf = NULL;
	size_t		len = 0;
	size_t		size = 0;
	int			c;
	PoolSqlShape shape;

	while ((c = getchar()) != EOF)
	{
		if (len == size)
		{
			size = size ? size * 2 : 4096;
			buf = realloc(buf, size);
			if (buf == NULL)
			{
				perror("scan_test");
				return 2;
			}
		}
		buf[len++] = (char) c;
		if (c == '\0')
		{
			char	   *text = malloc(len);

			if (text == NULL)
			{
				perror("scan_test");
				return 2;
			}
			memcpy(text, buf, len);
			pool_sql_scan(text, &shape);
			if (shape.may_change_state != pool_sql_may_change_state(text))
			{
				fputs("scan_test: the two entry points disagree\n", stderr);
				return 2;
			}
			printf("%d %d\n", shape.may_change_state ? 1 : 0,
				   pool_sql_may_pipeline(&shape) ? 1 : 0);
			free(text);
			len = 0;
		}
	}
	free(buf);
	if (ferror(stdin))
	{
		perror("scan_test");
		return 2;
	}
	if (len > 0)
	{
		fprintf(stderr,
				"scan_test: the last text has no NUL byte at its end\n");
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 2;
}
