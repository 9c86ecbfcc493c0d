/*-------------------------------------------------------------------------
 *
 * resolve.c
 *	  Resolving the host names of a pool's connection options without
 *	  blocking the worker.
 *
 * libpq resolves host names with a synchronous getaddrinfo() inside
 * PQconnectStartParams and PQconnectPoll, so a name that takes seconds to
 * resolve (a slow or hanging DNS server) would stall every pool of the
 * worker.  Instead the worker resolves the names first, with glibc's
 * getaddrinfo_a() (the way pgbouncer does without c-ares): the lookups run
 * outside the event loop, glibc signals SIGUSR2 when a list is done, the
 * handler sets the worker's latch, and the loop polls the lookups in flight.
 * libpq then gets hostaddr beside host for every host, so it connects
 * without resolving anything, while TLS host checks, Kerberos, .pgpass and
 * its messages still use the name.  A name with several addresses becomes
 * several host entries, tried in order as libpq would try them.
 *
 * What this leaves to libpq: hosts that are Unix-socket directories, given
 * as addresses already, or the default; and the hosts of a service file
 * (service is an option only superusers may use), which libpq reads itself.
 * On platforms without getaddrinfo_a, libpq resolves names as before.
 *
 * A lookup that is given up (its connection timed out, or closed) cannot be
 * cancelled once glibc works on it: its memory is kept until glibc is done
 * with it, and freed then.
 *
 * Portions Copyright (c) the pool authors
 *
 * src/resolve.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#ifdef __GLIBC__
#include <netdb.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#endif

#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "pool.h"
#include "worker.h"

#if defined(__GLIBC__) && defined(GAI_NOWAIT)
#define POOL_ASYNC_RESOLVER 1
#endif

/* One host entry of a connection's options. */
typedef struct PoolHostEntry
{
	char	   *host;			/* the name, a socket directory, or "" */
	char	   *hostaddr;		/* given, or "" */
	char	   *port;			/* for this entry, or "" */
	bool		lookup;			/* the name needs resolving */
#ifdef POOL_ASYNC_RESOLVER
	struct gaicb cb;
	struct addrinfo hints;
#endif
} PoolHostEntry;

struct PoolLookup
{
	MemoryContext cxt;			/* everything below, until glibc is done */
	const char **keywords;		/* the options without host, hostaddr, port */
	const char **values;
	int			nentries;
	PoolHostEntry *entries;
	int			nlookups;
	int			start_error;	/* getaddrinfo_a could not queue them all */
	bool		abandoned;
#ifdef POOL_ASYNC_RESOLVER
	struct gaicb **list;
	struct sigevent sev;
#endif
};

/* libpq's defaults (environment and compiled-in), read once */
static PQconninfoOption *defaults = NULL;

/* lookups given up on, freed once glibc is done with them */
static List *abandoned = NIL;

/*
 * Latch-setting handler of the signal glibc sends when a list of lookups
 * is done.
 */
#ifdef POOL_ASYNC_RESOLVER
static void
pool_resolver_signal(SIGNAL_ARGS)
{
	int			save_errno = errno;

	SetLatch(MyLatch);
	errno = save_errno;
}
#endif

/*
 * Set up the worker for lookups: the signal handler, and libpq's defaults.
 */
void
pool_resolver_init(void)
{
#ifdef POOL_ASYNC_RESOLVER
	pqsignal(SIGUSR2, pool_resolver_signal);
#endif
	defaults = PQconndefaults();
}

/*
 * The value of keyword in a NULL-terminated option list, or NULL.
 */
static const char *
pool_option_value(const char *const *keywords, const char *const *values,
				  const char *keyword)
{
	const char *found = NULL;
	int			i;

	/* later entries override earlier ones, as for PQconnectStartParams */
	for (i = 0; keywords[i] != NULL; i++)
		if (strcmp(keywords[i], keyword) == 0 && values[i] != NULL)
			found = values[i];
	return found;
}

/*
 * libpq's default for keyword (from the environment, or compiled in).
 */
static const char *
pool_default_value(const char *keyword)
{
	PQconninfoOption *opt;

	for (opt = defaults; opt != NULL && opt->keyword != NULL; opt++)
		if (strcmp(opt->keyword, keyword) == 0)
			return opt->val;
	return NULL;
}

/*
 * Split a comma-separated list of libpq's (host, hostaddr, port) into
 * *items; returns how many.  An empty or missing list has none.
 */
static int
pool_split_list(const char *list, char ***items)
{
	int			n = 1;
	const char *p;
	int			i = 0;

	if (list == NULL || list[0] == '\0')
	{
		*items = NULL;
		return 0;
	}
	for (p = list; *p; p++)
		if (*p == ',')
			n++;
	*items = palloc(sizeof(char *) * n);
	for (;;)
	{
		const char *comma = strchr(list, ',');
		int			len = comma ? comma - list : strlen(list);

		(*items)[i++] = pnstrdup(list, len);
		if (comma == NULL)
			break;
		list = comma + 1;
	}
	return n;
}

/*
 * Does libpq take this host for a Unix-socket directory?
 */
static bool
pool_host_is_socket(const char *host)
{
	return host[0] == '/' || host[0] == '@';
}

#ifdef POOL_ASYNC_RESOLVER
/*
 * Is this host an IPv4 or IPv6 address already?
 */
static bool
pool_host_is_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
		inet_pton(AF_INET6, host, buf) == 1;
}
#endif

/*
 * Start resolving the host names a connection with these options needs.
 * Returns NULL when nothing needs resolving (libpq can be given the options
 * as they are); else the lookup, done when pool_lookup_done says so.
 */
PoolLookup *
pool_lookup_start(const char *const *keywords, const char *const *values)
{
#ifdef POOL_ASYNC_RESOLVER
	MemoryContext cxt;
	MemoryContext old;
	PoolLookup *l;
	const char *host = pool_option_value(keywords, values, "host");
	const char *hostaddr = pool_option_value(keywords, values, "hostaddr");
	const char *port = pool_option_value(keywords, values, "port");
	char	  **hosts;
	char	  **addrs;
	char	  **ports;
	int			nhosts;
	int			naddrs;
	int			nports;
	int			n;
	int			i;
	int			k;

	/* a service file may supply the hosts: libpq reads it itself */
	if (host == NULL && hostaddr == NULL &&
		(pool_option_value(keywords, values, "service") != NULL ||
		 pool_default_value("service") != NULL))
		return NULL;
	if (host == NULL && hostaddr == NULL)
	{
		host = pool_default_value("host");
		hostaddr = pool_default_value("hostaddr");
	}
	if (port == NULL)
		port = pool_default_value("port");

	cxt = AllocSetContextCreate(pool_worker_cxt, "pool lookup",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	nhosts = pool_split_list(host, &hosts);
	naddrs = pool_split_list(hostaddr, &addrs);
	nports = pool_split_list(port, &ports);
	n = Max(nhosts, naddrs);

	/*
	 * Lists libpq would refuse, and the default host (a socket): libpq says
	 * what it makes of them.
	 */
	if (n == 0 || (nhosts > 0 && naddrs > 0 && nhosts != naddrs) ||
		(nports > 1 && nports != n))
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return NULL;
	}

	l = palloc0(sizeof(PoolLookup));
	l->cxt = cxt;
	l->nentries = n;
	l->entries = palloc0(sizeof(PoolHostEntry) * n);
	for (i = 0; i < n; i++)
	{
		PoolHostEntry *e = &l->entries[i];

		e->host = i < nhosts ? hosts[i] : "";
		e->hostaddr = i < naddrs ? addrs[i] : "";
		e->port = nports == 0 ? "" : ports[nports == 1 ? 0 : i];
		if (e->hostaddr[0] != '\0' || e->host[0] == '\0' ||
			pool_host_is_socket(e->host))
			continue;
		if (pool_host_is_address(e->host))
		{
			e->hostaddr = e->host;
			continue;
		}
		e->lookup = true;
		l->nlookups++;
	}

	if (l->nlookups == 0)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return NULL;
	}

	/* the other options, kept as they are */
	for (k = 0; keywords[k] != NULL; k++)
		;
	l->keywords = palloc0(sizeof(char *) * (k + 4));
	l->values = palloc0(sizeof(char *) * (k + 4));
	/* copied: the pool's configuration may change while names resolve */
	for (i = 0, k = 0; keywords[i] != NULL; i++)
	{
		if (strcmp(keywords[i], "host") == 0 ||
			strcmp(keywords[i], "hostaddr") == 0 ||
			strcmp(keywords[i], "port") == 0)
			continue;
		l->keywords[k] = pstrdup(keywords[i]);
		l->values[k] = pstrdup(values[i]);
		k++;
	}

	/* the names, as libpq would look them up */
	l->list = palloc0(sizeof(struct gaicb *) * l->nlookups);
	k = 0;
	for (i = 0; i < n; i++)
	{
		PoolHostEntry *e = &l->entries[i];

		if (!e->lookup)
			continue;
		e->hints.ai_family = AF_UNSPEC;
		e->hints.ai_socktype = SOCK_STREAM;
		e->cb.ar_name = e->host;
		e->cb.ar_service = e->port[0] ? e->port : NULL;
		e->cb.ar_request = &e->hints;
		l->list[k++] = &e->cb;
	}
	l->sev.sigev_notify = SIGEV_SIGNAL;
	l->sev.sigev_signo = SIGUSR2;
	MemoryContextSwitchTo(old);

	/*
	 * Should glibc queue only some of them (no memory, no thread), those are
	 * in flight all the same: the lookup goes on, and fails when they are
	 * done, rather than have libpq resolve the names here and block.
	 */
	l->start_error = getaddrinfo_a(GAI_NOWAIT, l->list, l->nlookups, &l->sev);
	if (l->start_error != 0)
		SetLatch(MyLatch);		/* no signal may come: look again soon */
	return l;
#else
	return NULL;
#endif
}

/*
 * Is every name of a lookup resolved (or failed)?
 */
bool
pool_lookup_done(PoolLookup *l)
{
#ifdef POOL_ASYNC_RESOLVER
	int			i;

	for (i = 0; i < l->nlookups; i++)
		if (gai_error(l->list[i]) == EAI_INPROGRESS)
			return false;
#endif
	return true;
}

/*
 * The options to connect with once a lookup is done: every name given with
 * its addresses.  Returns false, with *error saying why (libpq's words),
 * when no host is left to try.  The arrays live until pool_lookup_free.
 */
bool
pool_lookup_result(PoolLookup *l, const char ***keywords,
				   const char ***values, char **error)
{
#ifdef POOL_ASYNC_RESOLVER
	MemoryContext old = MemoryContextSwitchTo(l->cxt);
	StringInfoData hosts;
	StringInfoData addrs;
	StringInfoData ports;
	StringInfoData errors;
	int			entries = 0;
	int			i;
	int			k;

	if (l->start_error != 0)
	{
		MemoryContextSwitchTo(old);
		*error = psprintf("could not start resolving host names: %s",
						  gai_strerror(l->start_error));
		return false;
	}
	initStringInfo(&hosts);
	initStringInfo(&addrs);
	initStringInfo(&ports);
	initStringInfo(&errors);
	for (i = 0; i < l->nentries; i++)
	{
		PoolHostEntry *e = &l->entries[i];
		struct addrinfo *ai;
		int			rc;

		if (!e->lookup)
		{
			appendStringInfo(&hosts, "%s%s", entries ? "," : "", e->host);
			appendStringInfo(&addrs, "%s%s", entries ? "," : "", e->hostaddr);
			appendStringInfo(&ports, "%s%s", entries ? "," : "", e->port);
			entries++;
			continue;
		}
		rc = gai_error(&e->cb);
		if (rc != 0)
		{
			appendStringInfo(&errors, "%scould not translate host name \"%s\" to address: %s",
							 errors.len ? "\n" : "", e->host,
							 gai_strerror(rc));
			continue;
		}
		for (ai = e->cb.ar_result; ai != NULL; ai = ai->ai_next)
		{
			char		addr[NI_MAXHOST];

			/* numeric, with an IPv6 address's scope (fe80::1%eth0) */
			if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
				getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
							NULL, 0, NI_NUMERICHOST) != 0)
				continue;
			appendStringInfo(&hosts, "%s%s", entries ? "," : "", e->host);
			appendStringInfo(&addrs, "%s%s", entries ? "," : "", addr);
			appendStringInfo(&ports, "%s%s", entries ? "," : "", e->port);
			entries++;
		}
	}
	MemoryContextSwitchTo(old);

	if (entries == 0)
	{
		*error = errors.len ? errors.data :
			pstrdup("no address found for any host");
		return false;
	}
	for (k = 0; l->keywords[k] != NULL; k++)
		;
	l->keywords[k] = "host";
	l->values[k++] = hosts.data;
	l->keywords[k] = "hostaddr";
	l->values[k++] = addrs.data;
	l->keywords[k] = "port";
	l->values[k++] = ports.data;
	*keywords = l->keywords;
	*values = l->values;
	return true;
#else
	*error = pstrdup("no resolver");
	return false;
#endif
}

/*
 * Free a lookup.  One glibc may still be working on (given up before it was
 * done) is kept until it is done.
 */
void
pool_lookup_free(PoolLookup *l)
{
	MemoryContext old;

	if (!pool_lookup_done(l))
	{
#ifdef POOL_ASYNC_RESOLVER
		int			i;

		/* queued ones may be taken back; running ones must be waited for */
		for (i = 0; i < l->nlookups; i++)
			(void) gai_cancel(l->list[i]);
#endif
		l->abandoned = true;
		old = MemoryContextSwitchTo(pool_worker_cxt);
		abandoned = lappend(abandoned, l);
		MemoryContextSwitchTo(old);
		return;
	}
#ifdef POOL_ASYNC_RESOLVER
	{
		int			i;

		for (i = 0; i < l->nlookups; i++)
			if (l->list[i]->ar_result != NULL)
				freeaddrinfo(l->list[i]->ar_result);
	}
#endif
	/* the copied options may hold a password or SCRAM keys */
	if (l->values != NULL)
	{
		int			i;

		for (i = 0; l->keywords[i] != NULL; i++)
			explicit_bzero((char *) l->values[i], strlen(l->values[i]));
	}
	MemoryContextDelete(l->cxt);
}

/*
 * Free the lookups given up on that glibc is done with; how many are left.
 */
int
pool_lookups_collect(void)
{
	ListCell   *lc;
	List	   *still = NIL;
	MemoryContext old;

	if (abandoned == NIL)
		return 0;
	old = MemoryContextSwitchTo(pool_worker_cxt);
	foreach(lc, abandoned)
	{
		PoolLookup *l = lfirst(lc);

		if (pool_lookup_done(l))
			pool_lookup_free(l);
		else
			still = lappend(still, l);
	}
	list_free(abandoned);
	abandoned = still;
	MemoryContextSwitchTo(old);
	return list_length(abandoned);
}
