/*-------------------------------------------------------------------------
 *
 * scan.h
 *	  A look at a command's SQL text: may it change the remote session?
 *
 * Include "postgres.h" (or, standalone, <stdbool.h>) before this file.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/scan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_SCAN_H
#define POOL_SCAN_H

/*
 * What the scanner finds in a command's SQL text.
 */
typedef struct PoolSqlShape
{
	bool		may_change_state;	/* beyond its own transaction */
	int			statements;		/* non-empty ones; not counted further once
								 * may_change_state */
	char		leading[16];	/* first keyword of the first, lower case, or
								 * "" */
} PoolSqlShape;

extern void pool_sql_scan(const char *sql, PoolSqlShape *shape);

/*
 * May this SQL change the remote session's state beyond its own transaction?
 */
extern bool pool_sql_may_change_state(const char *sql);

/*
 * May a statement of this shape be pipelined with others' statements?
 */
extern bool pool_sql_may_pipeline(const PoolSqlShape *shape);

#endif							/* POOL_SCAN_H */
