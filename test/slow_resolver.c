/*-------------------------------------------------------------------------
 *
 * slow_resolver.c
 *	  An LD_PRELOAD shim that makes chosen host names resolve slowly, never
 *	  or not at all, for the TAP tests.
 *
 * The tests need a target whose name takes a long time to resolve, to show
 * that it delays only its own callers.  Loaded with LD_PRELOAD into the
 * server under test (and into clients such as psql, which resolve names
 * themselves), this library interposes the resolver functions and answers
 * names by their suffix (case-insensitive, one trailing dot allowed):
 *
 *	*.slow.test		after POOL_RESOLVER_DELAY_MS milliseconds (default 5000),
 *					as for "127.0.0.1";
 *	*.hang.test		after an hour, as for "127.0.0.1";
 *	*.fast.test		at once, as for "127.0.0.1";
 *	*.none.test		at once, with EAI_NONAME.
 *
 * "As for 127.0.0.1" means the real getaddrinfo() asked for "127.0.0.1" with
 * the caller's service and hints (family, socket type, protocol and the
 * flags that matter for a numeric address); with AI_CANONNAME the canonical
 * name is the name asked for.  Any other name, and any call with
 * AI_NUMERICHOST, goes to the real function unchanged.
 *
 * getaddrinfo() answers in the caller, sleeping there.
 *
 * getaddrinfo_a() must be interposed as well, since glibc's runs its lookups
 * through an internal alias of getaddrinfo() that LD_PRELOAD cannot reach.
 * A list with none of the names above goes to the real getaddrinfo_a()
 * unchanged.  Otherwise the shim handles the whole list: with GAI_WAIT it
 * answers each request in the caller; with GAI_NOWAIT it sets each
 * request's __return (what glibc's gai_error() returns) to EAI_INPROGRESS,
 * answers every request from a detached thread of its own (all signals
 * blocked there, so that no handler of the host process runs in it; other
 * names through the real getaddrinfo()), stores ar_result and then
 * __return, and once every request of the list is done notifies as the
 * sigevent says (SIGEV_NONE, SIGEV_SIGNAL to this process with sigqueue(),
 * or SIGEV_THREAD in a new thread, also with all signals blocked).
 *
 * gai_cancel() says EAI_NOTCANCELED for a request the shim is still
 * answering, like glibc for a request already running.  gai_suspend() waits
 * for the shim's requests too (glibc's would say EAI_ALLDONE, not knowing
 * them).  gai_error() needs no shim.
 *
 * If POOL_RESOLVER_LOG names a file, every call of these functions appends
 * one line to it per name, "<function> <name> pid=<pid> tid=<tid>", with a
 * single write() on an O_APPEND descriptor so that the lines of several
 * processes do not mix.  The shim's own lookups, like glibc's internal ones,
 * are not logged: a "getaddrinfo" line is a blocking call by the program.
 *
 * Build:
 *	cc -Wall -Wextra -shared -fPIC -o slow_resolver.so test/slow_resolver.c \
 *		-ldl -lpthread
 *
 * Portions Copyright (c) the pool authors
 *
 * test/slow_resolver.c
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DELAY_MS	5000
#define HANG_MS				(3600 * 1000)

typedef enum
{
	KIND_REAL,					/* not ours: the real resolver answers */
	KIND_SLOW,
	KIND_HANG,
	KIND_FAST,
	KIND_NONE
} NameKind;

typedef int (*getaddrinfo_fn) (const char *, const char *,
							   const struct addrinfo *, struct addrinfo **);
typedef int (*getaddrinfo_a_fn) (int, struct gaicb **, int, struct sigevent *);
typedef int (*gai_cancel_fn) (struct gaicb *);
typedef int (*gai_suspend_fn) (const struct gaicb *const *, int,
							   const struct timespec *);

/* One getaddrinfo_a(GAI_NOWAIT) list answered by the shim. */
typedef struct Job
{
	unsigned	pending;		/* requests not done, plus one while submitting */
	struct sigevent sev;
	pid_t		pid;
} Job;

/* One request of such a list; while not done, it is in the list "running". */
typedef struct Task
{
	struct Task *prev;
	struct Task *next;
	struct gaicb *req;
	Job		   *job;
} Task;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static getaddrinfo_fn real_getaddrinfo;
static getaddrinfo_a_fn real_getaddrinfo_a;
static gai_cancel_fn real_gai_cancel;
static gai_suspend_fn real_gai_suspend;
static long delay_ms = DEFAULT_DELAY_MS;
static char *log_path;

/* The requests the shim is answering; "done" is broadcast when one is. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static Task *running;

static void
atfork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void
atfork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

/*
 * The child has none of the shim's threads: its copies of their requests
 * stay in progress for ever, as with glibc.  Forget them.
 */
static void
atfork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	pthread_cond_init(&done, NULL);
	running = NULL;
}

static void
init(void)
{
	const char *s;

	real_getaddrinfo = (getaddrinfo_fn) dlsym(RTLD_NEXT, "getaddrinfo");
	real_getaddrinfo_a = (getaddrinfo_a_fn) dlsym(RTLD_NEXT, "getaddrinfo_a");
	real_gai_cancel = (gai_cancel_fn) dlsym(RTLD_NEXT, "gai_cancel");
	real_gai_suspend = (gai_suspend_fn) dlsym(RTLD_NEXT, "gai_suspend");

	s = getenv("POOL_RESOLVER_DELAY_MS");
	if (s != NULL && *s != '\0')
	{
		char	   *end;
		long		v;

		errno = 0;
		v = strtol(s, &end, 10);
		if (errno == 0 && *end == '\0' && v >= 0)
			delay_ms = v;
	}

	/* A copy: the server later overwrites its original environment. */
	s = getenv("POOL_RESOLVER_LOG");
	if (s != NULL && *s != '\0')
		log_path = strdup(s);

	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void
ensure_init(void)
{
	pthread_once(&init_once, init);
}

static void
log_call(const char *fn, const char *name)
{
	char		buf[512];
	char		safe[256];
	size_t		i;
	int			len;
	int			fd;
	int			save_errno = errno;

	if (log_path == NULL)
		return;

	if (name == NULL)
		name = "(null)";
	for (i = 0; name[i] != '\0' && i < sizeof(safe) - 1; i++)
		safe[i] = (name[i] > ' ' && name[i] < 0x7f) ? name[i] : '?';
	safe[i] = '\0';

	len = snprintf(buf, sizeof(buf), "%s %s pid=%d tid=%d\n",
				   fn, safe, (int) getpid(), (int) gettid());
	if (len > 0 && (size_t) len < sizeof(buf))
	{
		fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
		if (fd >= 0)
		{
			ssize_t		w = write(fd, buf, len);

			(void) w;
			close(fd);
		}
	}
	errno = save_errno;
}

static int
ends_with(const char *name, size_t len, const char *suffix)
{
	size_t		slen = strlen(suffix);

	return len >= slen && strncasecmp(name + len - slen, suffix, slen) == 0;
}

static NameKind
classify(const char *name, const struct addrinfo *hints)
{
	size_t		len;

	if (name == NULL)
		return KIND_REAL;
	if (hints != NULL && (hints->ai_flags & AI_NUMERICHOST) != 0)
		return KIND_REAL;		/* the real one refuses a name at once */

	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (ends_with(name, len, ".slow.test"))
		return KIND_SLOW;
	if (ends_with(name, len, ".hang.test"))
		return KIND_HANG;
	if (ends_with(name, len, ".fast.test"))
		return KIND_FAST;
	if (ends_with(name, len, ".none.test"))
		return KIND_NONE;
	return KIND_REAL;
}

static void
timespec_add_ns(struct timespec *ts, long long ns)
{
	ns += ts->tv_nsec;
	ts->tv_sec += ns / 1000000000L;
	ts->tv_nsec = ns % 1000000000L;
}

/* Is a strictly earlier than b? */
static int
timespec_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
		(a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Sleep ms milliseconds, whatever signals arrive meanwhile. */
static void
sleep_ms(long ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	timespec_add_ns(&until, ms * 1000000LL);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}

/* The answer for name; the real getaddrinfo() for KIND_REAL. */
static int
answer(NameKind kind, const char *name, const char *service,
	   const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo h;
	int			rc;

	switch (kind)
	{
		case KIND_REAL:
			return real_getaddrinfo(name, service, hints, res);
		case KIND_NONE:
			return EAI_NONAME;
		case KIND_SLOW:
			sleep_ms(delay_ms);
			break;
		case KIND_HANG:
			sleep_ms(HANG_MS);
			break;
		case KIND_FAST:
			break;
	}

	memset(&h, 0, sizeof(h));
	if (hints != NULL)
	{
		h.ai_family = hints->ai_family;
		h.ai_socktype = hints->ai_socktype;
		h.ai_protocol = hints->ai_protocol;
		h.ai_flags = hints->ai_flags &
			(AI_PASSIVE | AI_NUMERICSERV | AI_V4MAPPED | AI_ALL);
	}
	rc = real_getaddrinfo("127.0.0.1", service, &h, res);
	if (rc == 0 && hints != NULL && (hints->ai_flags & AI_CANONNAME) != 0)
	{
		/* freeaddrinfo() frees ai_canonname with free() */
		(*res)->ai_canonname = strdup(name);
		if ((*res)->ai_canonname == NULL)
		{
			freeaddrinfo(*res);
			*res = NULL;
			rc = EAI_MEMORY;
		}
	}
	return rc;
}

int
getaddrinfo(const char *restrict name, const char *restrict service,
			const struct addrinfo *restrict hints,
			struct addrinfo **restrict res)
{
	ensure_init();
	log_call("getaddrinfo", name);
	if (real_getaddrinfo == NULL)
		return EAI_SYSTEM;
	return answer(classify(name, hints), name, service, hints, res);
}

static int
is_in_progress(const struct gaicb *req)
{
	return __atomic_load_n(&req->__return, __ATOMIC_ACQUIRE) == EAI_INPROGRESS;
}

static Task *
find_running(const struct gaicb *req)
{
	Task	   *t;

	for (t = running; t != NULL; t = t->next)
		if (t->req == req)
			return t;
	return NULL;
}

static void
unlink_running(Task *t)
{
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		running = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
}

/* Start a detached thread with every signal blocked in it. */
static int
start_thread(const pthread_attr_t *attr, void *(*fn) (void *), void *arg)
{
	pthread_attr_t def;
	pthread_t	tid;
	sigset_t	all;
	sigset_t	old;
	int			rc;

	if (attr == NULL)
	{
		pthread_attr_init(&def);
		pthread_attr_setdetachstate(&def, PTHREAD_CREATE_DETACHED);
		attr = &def;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&tid, attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (attr == &def)
		pthread_attr_destroy(&def);
	return rc;
}

typedef struct Notify
{
	void		(*fn) (union sigval);
	union sigval value;
} Notify;

static void *
notify_thread(void *arg)
{
	Notify		n = *(Notify *) arg;

	free(arg);
	n.fn(n.value);
	return NULL;
}

/* Drop one reference to job; the last one notifies and frees it. */
static void
job_release(Job *job)
{
	if (__atomic_sub_fetch(&job->pending, 1, __ATOMIC_ACQ_REL) != 0)
		return;

	if (job->sev.sigev_notify == SIGEV_SIGNAL)
		sigqueue(job->pid, job->sev.sigev_signo, job->sev.sigev_value);
	else if (job->sev.sigev_notify == SIGEV_THREAD)
	{
		Notify	   *n = malloc(sizeof(Notify));

		if (n != NULL)
		{
			n->fn = job->sev.sigev_notify_function;
			n->value = job->sev.sigev_value;
			if (start_thread(job->sev.sigev_notify_attributes,
							 notify_thread, n) != 0)
				free(n);
		}
	}
	free(job);
}

static void *
task_thread(void *arg)
{
	Task	   *t = arg;
	struct gaicb *req = t->req;
	Job		   *job = t->job;
	struct addrinfo *res = NULL;
	int			rc;

	rc = answer(classify(req->ar_name, req->ar_request), req->ar_name,
				req->ar_service, req->ar_request, &res);

	/* Once __return is stored, the caller may free req. */
	pthread_mutex_lock(&lock);
	req->ar_result = res;
	__atomic_store_n(&req->__return, rc, __ATOMIC_RELEASE);
	unlink_running(t);
	pthread_cond_broadcast(&done);
	pthread_mutex_unlock(&lock);

	free(t);
	job_release(job);
	return NULL;
}

int
getaddrinfo_a(int mode, struct gaicb *list[restrict], int nitems,
			  struct sigevent *restrict sevp)
{
	Job		   *job;
	int			ours = 0;
	int			result = 0;
	int			i;

	ensure_init();
	for (i = 0; i < nitems; i++)
		if (list[i] != NULL)
		{
			log_call("getaddrinfo_a", list[i]->ar_name);
			if (classify(list[i]->ar_name, list[i]->ar_request) != KIND_REAL)
				ours = 1;
		}

	if (!ours || (mode != GAI_WAIT && mode != GAI_NOWAIT))
	{
		if (real_getaddrinfo_a == NULL)
		{
			errno = ENOSYS;
			return EAI_SYSTEM;
		}
		return real_getaddrinfo_a(mode, list, nitems, sevp);
	}
	if (real_getaddrinfo == NULL)
	{
		errno = ENOSYS;
		return EAI_SYSTEM;
	}

	if (mode == GAI_WAIT)
	{
		/* The sigevent is ignored with GAI_WAIT. */
		for (i = 0; i < nitems; i++)
			if (list[i] != NULL)
				__atomic_store_n(&list[i]->__return, EAI_INPROGRESS,
								 __ATOMIC_RELEASE);
		for (i = 0; i < nitems; i++)
		{
			struct gaicb *req = list[i];
			struct addrinfo *res = NULL;
			int			rc;

			if (req == NULL)
				continue;
			rc = answer(classify(req->ar_name, req->ar_request), req->ar_name,
						req->ar_service, req->ar_request, &res);
			req->ar_result = res;
			__atomic_store_n(&req->__return, rc, __ATOMIC_RELEASE);
		}
		return 0;
	}

	job = calloc(1, sizeof(Job));
	if (job == NULL)
		return EAI_MEMORY;
	job->pending = 1;			/* dropped once every request is started */
	if (sevp != NULL)
		job->sev = *sevp;
	else
		job->sev.sigev_notify = SIGEV_NONE;
	job->pid = getpid();

	pthread_mutex_lock(&lock);
	for (i = 0; i < nitems; i++)
	{
		struct gaicb *req = list[i];
		Task	   *t;
		int			rc = EAI_MEMORY;

		if (req == NULL)
			continue;
		t = malloc(sizeof(Task));
		if (t != NULL)
		{
			t->req = req;
			t->job = job;
			t->prev = NULL;
			t->next = running;
			if (running != NULL)
				running->prev = t;
			running = t;
			__atomic_store_n(&req->__return, EAI_INPROGRESS, __ATOMIC_RELEASE);
			__atomic_add_fetch(&job->pending, 1, __ATOMIC_ACQ_REL);

			rc = start_thread(NULL, task_thread, t);
			if (rc == 0)
				continue;

			unlink_running(t);
			free(t);
			__atomic_sub_fetch(&job->pending, 1, __ATOMIC_ACQ_REL);
			rc = EAI_AGAIN;
		}
		/* Could not start this one: it is done, with an error. */
		req->ar_result = NULL;
		__atomic_store_n(&req->__return, rc, __ATOMIC_RELEASE);
		result = EAI_SYSTEM;
	}
	pthread_mutex_unlock(&lock);

	job_release(job);
	if (result != 0)
		errno = EAGAIN;
	return result;
}

int
gai_cancel(struct gaicb *req)
{
	int			mine;

	ensure_init();
	log_call("gai_cancel", req != NULL ? req->ar_name : NULL);

	pthread_mutex_lock(&lock);
	mine = find_running(req) != NULL;
	pthread_mutex_unlock(&lock);
	if (mine)
		return EAI_NOTCANCELED;
	if (real_gai_cancel == NULL)
		return EAI_ALLDONE;
	return real_gai_cancel(req);
}

/*
 * Like glibc's: returns 0 once one of the requests in progress on entry is
 * done, EAI_AGAIN when the timeout passed first, EAI_ALLDONE if none was in
 * progress.  Requests of glibc's own in the same list are watched by polling.
 */
int
gai_suspend(const struct gaicb *const list[], int nitems,
			const struct timespec *timeout)
{
	struct timespec until = {0, 0};
	char	   *waiting;
	int			mine = 0;
	int			theirs = 0;
	int			result = 0;
	int			i;

	ensure_init();
	for (i = 0; i < nitems; i++)
		if (list[i] != NULL)
		{
			log_call("gai_suspend", list[i]->ar_name);
			break;
		}

	waiting = calloc(nitems > 0 ? nitems : 1, 1);
	if (waiting == NULL)
		return EAI_MEMORY;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nitems; i++)
		if (list[i] != NULL && is_in_progress(list[i]))
		{
			waiting[i] = 1;
			if (find_running(list[i]) != NULL)
				mine++;
			else
				theirs++;
		}
	if (mine == 0)
	{
		pthread_mutex_unlock(&lock);
		free(waiting);
		if (real_gai_suspend == NULL)
			return EAI_ALLDONE;
		return real_gai_suspend(list, nitems, timeout);
	}

	if (timeout != NULL)
	{
		clock_gettime(CLOCK_REALTIME, &until);
		timespec_add_ns(&until, timeout->tv_sec * 1000000000L + timeout->tv_nsec);
	}

	for (;;)
	{
		struct timespec wake;

		for (i = 0; i < nitems; i++)
			if (waiting[i] && !is_in_progress(list[i]))
				break;
		if (i < nitems)
			break;				/* one is done: result 0 */

		if (theirs > 0)
		{
			/* glibc's requests do not wake us: look again in 10 ms */
			clock_gettime(CLOCK_REALTIME, &wake);
			timespec_add_ns(&wake, 10 * 1000000L);
			if (timeout != NULL && timespec_before(&until, &wake))
				wake = until;
		}
		else
			wake = until;

		if (theirs == 0 && timeout == NULL)
			pthread_cond_wait(&done, &lock);
		else if (pthread_cond_timedwait(&done, &lock, &wake) == ETIMEDOUT &&
				 timeout != NULL)
		{
			clock_gettime(CLOCK_REALTIME, &wake);
			if (!timespec_before(&wake, &until))
			{
				result = EAI_AGAIN;
				break;
			}
		}
	}
	pthread_mutex_unlock(&lock);
	free(waiting);
	return result;
}
