# Chat backend: GNU make.  `make` builds lib/libchat.a, the FastCGI
# programs of cgi-bin/ and the programs of jobs/.  See README.md for the
# targets that start the stack and run the tests.

PKGS := fcgi json-c hiredis libmariadb libcurl
CC ?= cc
CFLAGS ?= -O2 -g
WARN := -std=c11 -Wall -Wextra -Wpedantic -Wstrict-prototypes \
	-Wmissing-prototypes -Wwrite-strings -Wformat=2 -Wshadow -Wvla -fno-common
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif
CPPFLAGS += -D_GNU_SOURCE -Ilib -MMD -MP \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null)
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

%.o: %.c
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

lib/search.o: lib/search_index.h

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

integration: all $(INTEG_BIN)

clean:
	rm -f $(LIB) lib/search_index.h lib/*.o lib/*.d cgi-bin/*.o cgi-bin/*.d $(CGI_BIN) \
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
#   $(PREFIX)/share/chat-backend/nginx/    chat-http.conf, chat-api.conf (templates)
#   $(PREFIX)/share/chat-backend/sql/      the migrations
#   $(PREFIX)/share/chat-backend/docs/     /api-docs (Swagger UI, openapi.json)
#   $(SYSCONFDIR)/cron.d/chat-backend      jobs/crontab
#   $(SYSTEMD_UNIT_DIR)/chat-fcgi@.service, chat-worker.service
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
	$(INSTALL) -m 0644 nginx/chat-http.conf nginx/chat-api.conf $(DESTDIR)$(PKGDATADIR)/nginx/
	$(INSTALL) -m 0644 sql/*.sql $(DESTDIR)$(PKGDATADIR)/sql/
	rm -rf $(DESTDIR)$(PKGDATADIR)/docs/*
	$(INSTALL) -m 0644 $(DOCS_DIR)/* $(DESTDIR)$(PKGDATADIR)/docs/
	sed -e 's|/usr/local/bin/chat-sync|$(PREFIX)/bin/chat-sync|g' \
		-e 's|/etc/chat-backend/env|$(SYSCONFDIR)/chat-backend/env|g' \
		jobs/crontab >$(DESTDIR)$(SYSCONFDIR)/cron.d/chat-backend
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/cron.d/chat-backend
	for u in chat-fcgi@.service chat-worker.service; do \
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
