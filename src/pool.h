/*-------------------------------------------------------------------------
 *
 * pool.h
 *	  Limits and settings of the pool extension, and the map of its headers.
 *
 * pool keeps a shared pool of libpq connections to remote PostgreSQL
 * servers.  Background workers own the connections and multiplex them in one
 * WaitEventSet each; backends reach them through a channel of shm_mq queues
 * in a dynamic shared memory segment of their own.
 *
 * This header holds what every part shares: limits, settings and startup.
 * The rest is declared by concern:
 *
 *	shmem.h		shared memory: pools, slots, workers, the channel directory,
 *				and the locking rules
 *	wire.h		the wire format between backends and workers: lanes, request
 *				kinds and flags, response records
 *	target.h	targets (connection strings, foreign servers) and the pools
 *				they resolve to
 *	call.h		the backend's side of a call: one command and its response
 *	worker.h	the worker's own: its event loop, pools, connections
 *
 * Glossary:
 *
 *	target		what a call names: a connection string or a foreign server
 *	pool		the connections of one resolved set of connection parameters
 *				and credentials; one worker serves it
 *	slot		a pooled connection's place in shared memory (PoolSlot), what
 *				pool.connections shows
 *	channel		a backend's DSM segments of lanes, through which it reaches
 *				every worker
 *	lane		one request at a time between a backend and a worker: a
 *				request queue and a response queue (shm_mq), owned by one
 *				side at a time
 *	doorbell	a worker's bitmap over backends: a backend sets its bit, then
 *				the worker's latch, when a lane of its needs the worker
 *	peer		the worker's view of one backend session (WPeer)
 *	record		a typed part of a response: row description, row, notice,
 *				number, error, done
 *	handle		a session's number for a reserved connection or for an
 *				asynchronous command
 *	pipeline	one-shot statements in flight behind each other on one
 *				connection, each with its Sync; the head is the one whose
 *				results are being read
 *
 * Portions Copyright (c) the pool authors
 *
 * src/pool.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_H
#define POOL_H

#include "compat.h"
#include "fmgr.h"

/* Compile-time limits. */
#define POOL_MAX_WORKERS			16
/*
 * A backend's channel is at most two DSM segments, so that sessions cannot
 * take more than a small share of the server's DSM slots (PostgreSQL has 5
 * per backend): the first, of POOL_FIRST_SEGMENT_LANES lanes, serves most
 * sessions; the second, of the rest, only one with many commands in flight.
 */
#define POOL_FIRST_SEGMENT_LANES	4
#define POOL_MAX_SEGMENTS			2
#define POOL_MAX_LANES				64
#define POOL_REQUEST_QUEUE_SIZE		(16 * 1024)
#define POOL_RESPONSE_QUEUE_SIZE	(64 * 1024)
#define POOL_KEY_LEN				2048
#define POOL_NAME_LEN				256
#define POOL_RESET_QUERY_LEN		256
#define POOL_ERROR_LEN				256
#define POOL_HOST_LEN				128

/* Bounds of max_row_size: a row must fit in one message of a channel. */
#define POOL_MIN_ROW_SIZE			(8 * 1024)
#define POOL_MAX_ROW_SIZE			(1000 * 1024 * 1024)

/* The most statements max_pipeline lets be in flight on one connection. */
#define POOL_MAX_PIPELINE			1000
#define POOL_DEFAULT_MAX_PIPELINE	8

/* The least pool.worker_memory other than 0 (no limit). */
#define POOL_MIN_WORKER_MEMORY_KB	(64 * 1024)

/* Settings (settings.c). */
extern int	pool_workers;
extern int	pool_max_pools;
extern int	pool_max_connections;
extern int	pool_pool_size;
extern int	pool_max_overflow;
extern int	pool_checkout_timeout;
extern int	pool_connect_timeout;
extern int	pool_min_idle;
extern int	pool_idle_timeout;
extern int	pool_max_lifetime;
extern int	pool_pre_ping;
extern char *pool_reset_query;
extern int	pool_retry_delay;
extern int	pool_leak_threshold;
extern int	pool_max_role_connections;
extern int	pool_max_row_size;
extern int	pool_worker_memory;
extern int	pool_max_pipeline;

extern void pool_define_settings(void);
extern bool pool_is_setting_name(const char *name);
extern const char *pool_setting_names(void);

/*
 * The settings in force for a pool.
 */
typedef struct PoolSettings
{
	int			pool_size;
	int			min_idle;
	int			max_overflow;
	int			checkout_timeout;	/* ms */
	int			connect_timeout;	/* ms */
	int			idle_timeout;	/* ms, 0 = never */
	int			max_lifetime;	/* ms, 0 = forever */
	int			pre_ping;		/* ms, -1 = never */
	int			retry_delay;	/* ms */
	int			leak_threshold; /* ms, 0 = off */
	int			max_row_size;	/* bytes */
	int			max_pipeline;	/* statements in flight on a connection */
	char		reset_query[POOL_RESET_QUERY_LEN];
} PoolSettings;

extern void pool_setting_parse(const char *name, const char *value,
							   PoolSettings *o, uint32 *mask);
extern void pool_settings_resolve(PoolSettings *s, const PoolSettings *o,
								  uint32 mask);

/* worker.c */
extern void pool_register_workers(void);
extern PGDLLEXPORT void pool_worker_main(Datum main_arg);

#endif							/* POOL_H */
