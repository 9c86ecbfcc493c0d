/*-------------------------------------------------------------------------
 *
 * target.h
 *	  Targets: what a call names, and the pool it resolves to.
 *
 * A target is a connection string or the name of a foreign server of the
 * pool wrapper (target.c, fdw.c); resolving it finds or creates the pool of
 * its connection parameters and credentials, checking privileges on the way.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/target.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_TARGET_H
#define POOL_TARGET_H

#include "pool.h"
#include "lib/stringinfo.h"

/* target.c */
typedef struct PoolTarget
{
	int			pool_index;
	uint32		pool_generation;
	int			worker;
	bool		scram_passthrough;	/* requests carry the session's SCRAM keys */
	char		name[POOL_NAME_LEN];
} PoolTarget;

/* what a pool connects with, and its settings */
typedef struct PoolServerConfig
{
	char	   *conninfo;		/* with secrets */
	PoolSettings overrides;
	uint32		override_mask;
	bool		for_superuser;
	bool		require_password;
	bool		scram_passthrough;
	Oid			server_oid;
	Oid			database_oid;	/* of the server, or InvalidOid */
	Oid			owner_role;
	bool		uncommitted;	/* from catalogs this transaction changed */
} PoolServerConfig;

extern void pool_resolve_target(text *target, PoolTarget *result);
extern bool pool_target_valid(const PoolTarget *t);
extern void pool_clip_name(char *name);
extern int	pool_lookup_pools(text *pool_name, PoolTarget *results);
extern void pool_append_option(StringInfo buf, const char *keyword,
							   const char *value);
extern void pool_find_or_create_configured(const char *key, const char *name,
										   PoolServerConfig *cfg,
										   PoolTarget *result);
extern void pool_check_config_size(const char *key, PoolServerConfig *cfg);
extern void pool_entry_update_config(int index, uint32 generation,
									 PoolServerConfig *cfg);
extern void pool_entry_post(int index, uint32 generation, char kind);
extern void pool_target_cache_reset_servers(void);

/* fdw.c */
struct _PQconninfoOption;

extern void pool_fdw_init(void);
extern bool pool_target_is_server_name(const char *target);
extern void pool_resolve_server(const char *servername, PoolTarget *result,
								Oid *serverid);
extern void pool_check_server_usage(Oid serverid, text *target);
extern void pool_check_fdw_usage(void);
extern bool pool_config_uncommitted(Oid serverid, Oid umid);
extern void pool_append_nonsuperuser_options(StringInfo conninfo,
											 bool has_sslcert,
											 bool scram_passthrough);

/* A client certificate path that cannot exist: libpq then uses none. */
#define POOL_NO_CLIENT_CERT		"/dev/null/pool-no-client-certificate"
extern void pool_check_conninfo_options(struct _PQconninfoOption *opts);
extern struct _PQconninfoOption *pool_libpq_options(void);

#endif							/* POOL_TARGET_H */
