# Chat backend: GNU make.  `make` builds lib/libchat.a, the FastCGI
# programs of cgi-bin/ and the programs of jobs/.  See README.md for the
# targets that start the stack and run the tests.

PKGS := fcgi json-c hiredis libmariadb libcurl
CC ?= cc
CFLAGS ?= -O2 -g
# The worker indexes on a thread of its own.
CFLAGS += -pthread
LDFLAGS += -pthread
# Every program is linked with every library of PKGS, but loads only those
# it uses: libcurl alone maps ~25 more libraries and costs each process
# several MiB of resident pages, so only the programs that call
# chat_ctx_use_search (lib/ctx.h) should load it.
LDFLAGS += -Wl,--as-needed
WARN := -std=c11 -Wall -Wextra -Wpedantic -Wstrict-prototypes \
	-Wmissing-prototypes -Wwrite-strings -Wformat=2 -Wshadow -Wvla -fno-common
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif
# A library that pkg-config does not find stops the build here, with
# pkg-config's own message (which names the missing package), instead of
# failing later on a missing header.  Not for the goals that build
# nothing themselves (`make deps` installs the packages; `make test` runs
# make again).
NO_PKG_GOALS := clean fuzz-clean valgrind-clean deps stop status test
ifneq ($(if $(MAKECMDGOALS),$(filter-out $(NO_PKG_GOALS),$(MAKECMDGOALS)),all),)
PKG_ERR := $(shell pkg-config --print-errors --exists $(PKGS) 2>&1 >/dev/null)
ifneq ($(PKG_ERR),)
$(error pkg-config: $(PKG_ERR) (Debian: make deps, or tests/harness/deps.sh))
endif
endif
# Hardening: stack canaries, glibc's checked string and I/O functions,
# a read-only GOT after relocation, and position-independent executables
# (gcc's default on Debian; said here so that no toolchain drops it).
# _FORTIFY_SOURCE only works with optimisation (glibc warns, and -Werror
# fails, without): it is defined when the last -O of CFLAGS is not -O0.
HARDEN_CFLAGS := -fstack-protector-strong -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now
CHAT_OPT := $(lastword $(filter -O%,$(CFLAGS)))
ifneq ($(filter-out -O0,$(CHAT_OPT)),)
HARDEN_CPPFLAGS := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
endif
CFLAGS += $(HARDEN_CFLAGS)
LDFLAGS += $(HARDEN_LDFLAGS)
CPPFLAGS += -D_GNU_SOURCE -Ilib -MMD -MP $(HARDEN_CPPFLAGS) \
	$(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS))
ALL_CFLAGS = $(WARN) $(CFLAGS)

LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:.c=.o)
LIB := lib/libchat.a
CGI_SRC := $(wildcard cgi-bin/*.c)
CGI_BIN := $(CGI_SRC:.c=)
JOB_SRC := $(wildcard jobs/*.c)
JOB_BIN := $(JOB_SRC:.c=)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(UNIT_SRC:.c=)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:.c=)
INTEG_SUPPORT := $(filter-out $(INTEG_SRC),$(wildcard tests/integration/*.c))

HARNESS := tests/harness

.PHONY: all deps start stop run status test unit integration clean
all: $(LIB) $(CGI_BIN) $(JOB_BIN)

# Objects remember the flags they were built with: a change (a SANITIZE
# build, say) rebuilds everything instead of mixing the two.
BUILD_FLAGS := $(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS)
.build-flags: FORCE
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' >$@
.PHONY: FORCE

%.o: %.c .build-flags
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	$(AR) rcs $@ $^

# The search index definition, compiled in as a byte array (od is in
# coreutils; a string literal would hit the C11 4095-byte limit).
lib/search_index.h: lib/search-index.json
	{ echo '/* Generated from $< by make: do not edit. */'; \
	  echo 'static const char chat_search_index_json[] = {'; \
	  od -An -v -tx1 $< | sed 's/[0-9a-f][0-9a-f]/0x&,/g'; \
	  echo '0x00 };'; } >$@.tmp && mv $@.tmp $@

lib/search.o tests/integration/test_search_lib.o: lib/search_index.h

cgi-bin/%: cgi-bin/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

jobs/%: jobs/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/unit/%: tests/unit/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

tests/integration/%: tests/integration/%.o $(INTEG_SUPPORT:.c=.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

deps:
	@$(HARNESS)/deps.sh

# The local stack under ./var, on the default ports.
start: deps all
	@$(HARNESS)/stack.sh start

stop:
	@$(HARNESS)/stack.sh stop

status:
	@$(HARNESS)/stack.sh status

run: start
	@$(HARNESS)/stack.sh run

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t --short-filename || exit 1; done

# The whole suite against a private stack on its own ports (var/test).
test: deps
	@$(HARNESS)/run-tests.sh

# The integration tests against the running local stack (`make start`:
# ./var and the default ports, or the CHAT_* settings of the environment,
# tests/harness/env.sh), one binary after another, stopping at the first
# that fails.  They stop and restart parts of that stack (the worker,
# MariaDB) as they go.  `make test` runs them against a fresh private stack
# of its own instead.
integration: all $(INTEG_BIN)
	@$(HARNESS)/stack.sh status >/dev/null || { \
		echo "make integration: the stack is not up ($(HARNESS)/stack.sh status; make start)"; \
		exit 1; }
	@. $(HARNESS)/env.sh && \
	for t in $(INTEG_BIN); do $$t --short-filename || exit 1; done

clean:
	rm -f .build-flags $(LIB) lib/search_index.h lib/*.o lib/*.d cgi-bin/*.o cgi-bin/*.d $(CGI_BIN) \
		jobs/*.o jobs/*.d $(JOB_BIN) tests/*/*.o tests/*/*.d \
		$(UNIT_BIN) $(INTEG_BIN)

-include $(wildcard lib/*.d cgi-bin/*.d jobs/*.d tests/*/*.d)

# ---------------------------------------------------------------- docs
# What nginx serves at /api-docs: Swagger UI (the npm package
# swagger-ui-dist, fetched by nginx/api-docs/build.sh into
# nginx/api-docs/node_modules, not in git) with nginx/api-docs/index.html,
# swagger-init.js and openapi.json, assembled in DOCS_DIR (var/docs, where
# tests/harness/stack.sh looks by default).
DOCS_DIR ?= $(or $(CHAT_DOCS_DIR),var/docs)

.PHONY: docs install
docs:
	@nginx/api-docs/build.sh $(DOCS_DIR)

start: docs

# ---------------------------------------------------------------- install
# make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc]
#   [SYSTEMD_UNIT_DIR=/etc/systemd/system] [NGINX_GROUP=www-data]
#
#   $(PREFIX)/lib/chat-backend/cgi-bin/   the FastCGI programs
#   $(PREFIX)/bin/chat-worker, chat-sync   jobs/worker, jobs/sync (every jobs/NAME
#                                          as chat-NAME)
#   $(PREFIX)/bin/chat-migrate             applies sql/ (tests/harness/migrate.sh)
#   $(PREFIX)/share/chat-backend/nginx/    chat-http.conf, chat-api.conf,
#                                          chat-live*.conf (templates)
#   $(PREFIX)/share/chat-backend/sql/      the migrations
#   $(PREFIX)/share/chat-backend/docs/     /api-docs (Swagger UI, openapi.json)
#   $(SYSCONFDIR)/cron.d/chat-backend      jobs/crontab
#   $(SYSTEMD_UNIT_DIR)/chat-fcgi@.service, chat-worker.service,
#                                          chat-live-relay.service
#   $(SYSCONFDIR)/chat-backend/env         settings, installed only if absent
# NGINX_GROUP is the group of nginx's workers, given the FastCGI sockets.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
SYSTEMD_UNIT_DIR ?= $(SYSCONFDIR)/systemd/system
NGINX_GROUP ?= www-data
INSTALL ?= install
PKGLIBDIR = $(PREFIX)/lib/chat-backend
PKGDATADIR = $(PREFIX)/share/chat-backend
INSTALL_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' \
	-e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' -e 's|@PKGDATADIR@|$(PKGDATADIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@NGINX_GROUP@|$(NGINX_GROUP)|g'

install: all docs
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PKGLIBDIR)/cgi-bin \
		$(DESTDIR)$(PKGDATADIR)/nginx $(DESTDIR)$(PKGDATADIR)/sql \
		$(DESTDIR)$(PKGDATADIR)/docs $(DESTDIR)$(SYSCONFDIR)/cron.d \
		$(DESTDIR)$(SYSCONFDIR)/chat-backend $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	$(INSTALL) -m 0755 $(CGI_BIN) $(DESTDIR)$(PKGLIBDIR)/cgi-bin/
	for j in $(notdir $(JOB_BIN)); do \
		$(INSTALL) -m 0755 jobs/$$j $(DESTDIR)$(PREFIX)/bin/chat-$$j || exit 1; \
	done
	$(INSTALL) -m 0755 $(HARNESS)/migrate.sh $(DESTDIR)$(PKGLIBDIR)/migrate.sh
	$(INSTALL) -m 0644 $(HARNESS)/env.sh $(DESTDIR)$(PKGLIBDIR)/env.sh
	$(INSTALL_SUBST) jobs/deploy/chat-migrate.in >$(DESTDIR)$(PREFIX)/bin/chat-migrate
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/chat-migrate
	$(INSTALL) -m 0644 nginx/chat-http.conf nginx/chat-api.conf nginx/chat-default.conf \
		nginx/chat-live-http.conf nginx/chat-live.conf $(DESTDIR)$(PKGDATADIR)/nginx/
	$(INSTALL) -m 0644 sql/*.sql $(DESTDIR)$(PKGDATADIR)/sql/
	rm -rf $(DESTDIR)$(PKGDATADIR)/docs/*
	$(INSTALL) -m 0644 $(DOCS_DIR)/* $(DESTDIR)$(PKGDATADIR)/docs/
	sed -e 's|/usr/local/bin/chat-sync|$(PREFIX)/bin/chat-sync|g' \
		-e 's|/etc/chat-backend/env|$(SYSCONFDIR)/chat-backend/env|g' \
		jobs/crontab >$(DESTDIR)$(SYSCONFDIR)/cron.d/chat-backend
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/cron.d/chat-backend
	for u in chat-fcgi@.service chat-worker.service chat-live-relay.service; do \
		$(INSTALL_SUBST) jobs/deploy/$$u.in >$(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u && \
		chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u || exit 1; \
	done
	$(INSTALL_SUBST) jobs/deploy/env.example >$(DESTDIR)$(PKGDATADIR)/env.example
	chmod 0644 $(DESTDIR)$(PKGDATADIR)/env.example
	@env=$(DESTDIR)$(SYSCONFDIR)/chat-backend/env; \
	if [ -e "$$env" ]; then \
		echo "install: keeping $$env"; \
	else \
		$(INSTALL) -m 0640 $(DESTDIR)$(PKGDATADIR)/env.example "$$env" && \
		echo "install: wrote $$env: set CHAT_MYSQL_PASSWORD and the addresses there"; \
		if [ -z "$(DESTDIR)" ] && getent group chat >/dev/null; then chgrp chat "$$env"; fi; \
	fi

# ---------------------------------------------------------------- fuzzing
# libFuzzer targets, one for every parser of untrusted bytes
# (tests/fuzz/fuzz_*.c), with seed corpora in tests/fuzz/corpus/<name>/
# for fuzz_<name>.  They are built with clang, ASan and UBSan from the
# lib sources themselves (an archive in tests/fuzz/build/, not the gcc
# libchat.a); clang and libclang-rt-14-dev come from tests/harness/deps.sh.
#
#   make fuzz [FUZZ_SECONDS=60]  each target for that long; what it learns
#                                goes to tests/fuzz/build/corpus/<name>/
#   make fuzz-smoke              each target briefly over its seeds
#                                (FUZZ_SMOKE_RUNS mutations), for the suite
#
# A failure leaves the input in tests/fuzz/build/crashes/<name>-*; replay
# it with tests/fuzz/fuzz_<name> FILE.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_RUNS ?= 20000
FUZZ_DIR := tests/fuzz/build
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:.c=)
# clang, unlike gcc, flags the vsnprintf of chat_buf_vaddf, whose
# declaration has no format(printf, 2, 0) attribute.
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -Wno-format-nonliteral \
	-fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB_OBJ := $(patsubst lib/%.c,$(FUZZ_DIR)/lib/%.o,$(LIB_SRC))
FUZZ_LIB := $(FUZZ_DIR)/libchat-fuzz.a

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-clean

$(FUZZ_DIR)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
		-c -o $@ $<

$(FUZZ_DIR)/lib/search.o: lib/search_index.h

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	$(AR) rcs $@ $^

tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer \
		-o $@ $< $(FUZZ_LIB) $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_DIR)/crashes
	@for t in $(FUZZ_BIN); do \
		n=$${t##*/fuzz_}; mkdir -p $(FUZZ_DIR)/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
		$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/crashes/$$n- \
			$(FUZZ_DIR)/corpus/$$n tests/fuzz/corpus/$$n \
			>$(FUZZ_DIR)/$$n.log 2>&1 || { \
			tail -n 60 $(FUZZ_DIR)/$$n.log; \
			echo "fuzz: $$n FAILED (log: $(FUZZ_DIR)/$$n.log)"; exit 1; }; \
		grep -E '^stat::number_of_executed_units|^Done' \
			$(FUZZ_DIR)/$$n.log | sed "s/^/fuzz: $$n: /"; \
	done

# New inputs go to a scratch directory, so the seeds in git stay as they are.
fuzz-smoke: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_DIR)/crashes
	@for t in $(FUZZ_BIN); do \
		n=$${t##*/fuzz_}; rm -rf $(FUZZ_DIR)/smoke/$$n; \
		mkdir -p $(FUZZ_DIR)/smoke/$$n; \
		$$t -runs=$(FUZZ_SMOKE_RUNS) -max_total_time=30 \
			-artifact_prefix=$(FUZZ_DIR)/crashes/$$n- \
			$(FUZZ_DIR)/smoke/$$n tests/fuzz/corpus/$$n \
			>$(FUZZ_DIR)/$$n-smoke.log 2>&1 || { \
			tail -n 60 $(FUZZ_DIR)/$$n-smoke.log; \
			echo "fuzz-smoke: $$n FAILED (log: $(FUZZ_DIR)/$$n-smoke.log)"; \
			exit 1; }; \
		echo "fuzz-smoke: $$n ok"; \
	done

fuzz-clean:
	rm -rf $(FUZZ_DIR) $(FUZZ_BIN) tests/fuzz/*.d

clean: fuzz-clean

-include $(wildcard $(FUZZ_DIR)/lib/*.d)

# ---------------------------------------------------------------- valgrind
# The unit tests under valgrind.  Criterion runs every test in a child
# process (BoxFort re-executes the binary), so valgrind must follow
# children, and a child's errors do not reach the runner's exit status:
# each process writes its own log, and any log without "ERROR SUMMARY: 0
# errors" fails the target.  (Criterion 2.4 has no no-fork mode;
# --no-early-exit and CRITERION_NO_EARLY_EXIT no longer do anything.)
VALGRIND_DIR := tests/unit/valgrind
# Each binary is a target of its own, run VALGRIND_JOBS at a time
# (valgrind runs a program on one thread).
VALGRIND_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
VALGRIND_RUNS := $(UNIT_BIN:tests/unit/%=$(VALGRIND_DIR)/%.ok)
.PHONY: valgrind-unit valgrind-clean
valgrind-unit: $(UNIT_BIN)
	@rm -rf $(VALGRIND_DIR); mkdir -p $(VALGRIND_DIR)
	@$(MAKE) --no-print-directory -j$(VALGRIND_JOBS) $(VALGRIND_RUNS)

$(VALGRIND_DIR)/%.ok: tests/unit/%
	@n=$*; \
	valgrind --trace-children=yes --leak-check=full \
		--errors-for-leak-kinds=definite,indirect \
		--error-exitcode=1 --log-file=$(VALGRIND_DIR)/$$n.%p.log \
		$< --short-filename -j1 >$(VALGRIND_DIR)/$$n.out 2>&1 || { \
		cat $(VALGRIND_DIR)/$$n.out; echo "valgrind: $$n failed"; \
		exit 1; }; \
	bad=$$(grep -L 'ERROR SUMMARY: 0 errors' $(VALGRIND_DIR)/$$n.*.log); \
	if [ -n "$$bad" ]; then cat $$bad; \
		echo "valgrind: $$n: errors in $$bad"; exit 1; fi; \
	echo "valgrind: $$n clean ($$(ls $(VALGRIND_DIR)/$$n.*.log | wc -l) processes)"; \
	touch $@

valgrind-clean:
	rm -rf $(VALGRIND_DIR)

clean: valgrind-clean

# ---------------------------------------------------------------- benchmarks
# Every hot path against the machine's own ceilings, on a private stack
# under var/bench (ports 12080, 12307, 12380, 12250) that the script starts
# and stops itself; the report goes to var/bench/report-<date>.md.  The
# script builds what it measures (make all), so a broken build is counted
# as a failed part.  Sizes and run counts: see tests/bench/bench.sh.
#
#   make bench        the full run (a few minutes)
#   make bench-smoke  every part briefly, small sizes; exits non-zero when a
#                     part produces no figure, ends with "N passed, M failed"
.PHONY: bench bench-smoke
bench:
	@tests/bench/bench.sh

bench-smoke:
	@tests/bench/bench.sh --smoke
