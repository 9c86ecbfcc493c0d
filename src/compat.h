/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  What differs between the PostgreSQL majors pool builds for (15 to 18),
 *	  each guarded at the release where it changed.
 *
 * Server APIs are guarded by PG_VERSION_NUM, the version of the headers the
 * module is built with.  libpq features are guarded by libpq's own feature
 * macros where it has them (LIBPQ_HAS_ASYNC_CANCEL, 17), since the libpq a
 * module links with is the one of its build.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef POOL_COMPAT_H
#define POOL_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "pool requires PostgreSQL 15 or later"
#endif

/* libpq's feature macros, below, come with its header */
#include "libpq-fe.h"

/* 16: VARSIZE and friends move to their own header */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * 16: the per-object ACL check functions become object_aclcheck().
 */
#if PG_VERSION_NUM >= 160000
#define pool_server_aclcheck(serverid, roleid, mode) \
	object_aclcheck(ForeignServerRelationId, (serverid), (roleid), (mode))
#define pool_fdw_aclcheck(fdwid, roleid, mode) \
	object_aclcheck(ForeignDataWrapperRelationId, (fdwid), (roleid), (mode))
#else
#define pool_server_aclcheck(serverid, roleid, mode) \
	pg_foreign_server_aclcheck((serverid), (roleid), (mode))
#define pool_fdw_aclcheck(fdwid, roleid, mode) \
	pg_foreign_data_wrapper_aclcheck((fdwid), (roleid), (mode))
#endif

/*
 * 16: libpq can refuse authentication methods (require_auth) and client
 * certificates (sslcertmode) before the connection completes.
 */
#if PG_VERSION_NUM >= 160000
#define POOL_HAVE_REQUIRE_AUTH 1
#endif

/* 17: MyProcNumber replaces MyProc->pgprocno */
#if PG_VERSION_NUM >= 170000
#define pool_my_procno() MyProcNumber
#else
#define pool_my_procno() (MyProc->pgprocno)
#endif

/*
 * 17: a wait event set belongs to a resource owner, not to a memory
 * context; NULL makes it live until freed, as the worker's does.
 */
#if PG_VERSION_NUM >= 170000
#define pool_create_wait_event_set(cxt, nevents) \
	CreateWaitEventSet(NULL, (nevents))
#else
#define pool_create_wait_event_set(cxt, nevents) \
	CreateWaitEventSet((cxt), (nevents))
#endif

/* 17: extensions name their wait events (WaitEventExtensionNew) */
#if PG_VERSION_NUM >= 170000
#define POOL_HAVE_NAMED_WAIT_EVENTS 1
#endif

/* 17: libpq cancels without blocking, inside the worker's wait set */
#ifdef LIBPQ_HAS_ASYNC_CANCEL
#define POOL_HAVE_ASYNC_CANCEL 1
#endif

/*
 * 18: a role's SCRAM keys, from its own authentication, can authenticate
 * it to a remote with the same secret (use_scram_passthrough).
 */
#if PG_VERSION_NUM >= 180000
#define POOL_HAVE_SCRAM_PASSTHROUGH 1
#endif

#endif							/* POOL_COMPAT_H */
