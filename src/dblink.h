/*-------------------------------------------------------------------------
 *
 * dblink.h
 *	  Declarations shared by the files of pool_dblink, the extension that
 *	  offers dblink's interface on pooled connections.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/dblink.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_DBLINK_H
#define POOL_DBLINK_H

#include "foreign/foreign.h"

/* dblink_fdw.c */
extern char *pool_dblink_server_conninfo(ForeignServer *server);
extern void pool_dblink_check_password(const char *conninfo);

#endif							/* POOL_DBLINK_H */
