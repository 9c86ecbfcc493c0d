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
 * May this SQL change the remote session's state beyond its own transaction?
 */
extern bool pool_sql_may_change_state(const char *sql);

#endif							/* POOL_SCAN_H */
