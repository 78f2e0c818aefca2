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
