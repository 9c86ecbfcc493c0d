# Makefile for the pool extension (PGXS)

EXTENSION = pool pool_dblink
EXTVERSION = 1.2
MODULE_big = pool
OBJS = \
	src/pool.o \
	src/settings.o \
	src/shmem.o \
	src/channel.o \
	src/target.o \
	src/fdw.o \
	src/worker.o \
	src/pools.o \
	src/remote.o \
	src/resolve.o \
	src/scan.o \
	src/functions.o \
	src/handles.o \
	src/views.o \
	src/dblink.o \
	src/dblink_fdw.o \
	src/dblink_build.o

DATA = $(wildcard sql/pool--*.sql) $(wildcard sql/pool_dblink--*.sql)
PGFILEDESC = "pool - shared pool of connections to remote PostgreSQL servers"

PG_CPPFLAGS = -I$(libpq_srcdir) -DPOOL_VERSION='"$(EXTVERSION)"'
SHLIB_LINK_INTERNAL = $(libpq)

REGRESS = pool_setup pool_query pool_errors pool_views pool_handles pool_fdw
REGRESS_OPTS = --temp-instance=./tmp_check_regress \
	--temp-config=$(srcdir)/test/regress.conf

TAP_TESTS = 1
PROVE_TESTS = $(wildcard test/t/*.pl)

EXTRA_CLEAN = tmp_check_regress

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# glibc before 2.34 has getaddrinfo_a in libanl (a stub since)
ifeq ($(PORTNAME), linux)
SHLIB_LINK += -lanl
endif

$(OBJS): src/pool.h src/worker.h src/scan.h src/dblink.h
