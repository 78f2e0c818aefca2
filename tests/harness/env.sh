# shellcheck shell=sh
# Defaults for every CHAT_* setting of the local stack.
#
# Sourced (POSIX sh, so the Makefile's /bin/sh can use it too) by stack.sh,
# migrate.sh and the Makefile's test target. A variable that is already set
# in the environment wins; everything is exported so that the FastCGI
# programs, jobs/worker and jobs/sync, which read the same variables, inherit
# it. Two stacks can run side by side when they differ in CHAT_VAR and in
# every port; the test stack, for example, uses
#
#   CHAT_VAR=$PWD/var/test CHAT_HTTP_PORT=18080 CHAT_MYSQL_PORT=13307 \
#   CHAT_REDIS_PORT=16380 CHAT_ES_PORT=19250
#
# CHAT_SKIP_SEARCH=1 makes stack.sh leave the search engine out. It is for
# developing the harness only: /health reports Elasticsearch down without it.

: "${CHAT_VAR:=$PWD/var}"
case $CHAT_VAR in
/*) ;;
*) CHAT_VAR=$PWD/$CHAT_VAR ;;
esac

: "${CHAT_HTTP_PORT:=8080}"

: "${CHAT_MYSQL_HOST:=127.0.0.1}"
: "${CHAT_MYSQL_PORT:=3307}"
: "${CHAT_MYSQL_USER:=chat}"
: "${CHAT_MYSQL_PASSWORD:=chat}"
: "${CHAT_MYSQL_DATABASE:=chat}"
# The account migrate.sh uses: it owns the schema (CREATE, ALTER, DROP...),
# which the programs' account (CHAT_MYSQL_USER) may not change.
: "${CHAT_MIGRATE_USER:=chat_migrate}"
: "${CHAT_MIGRATE_PASSWORD:=chat_migrate}"

: "${CHAT_REDIS_HOST:=127.0.0.1}"
: "${CHAT_REDIS_PORT:=6380}"
# The local Redis requires this password (requirepass); CHAT_REDIS_USER,
# when set, is an ACL user that stack.sh creates with the same password.
# redis-cli reads REDISCLI_AUTH, so the harness's calls need no argument.
: "${CHAT_REDIS_PASSWORD:=chat}"
REDISCLI_AUTH=$CHAT_REDIS_PASSWORD

: "${CHAT_ES_PORT:=9250}"
# CHAT_ES_NODES=N (stack.sh): a search cluster of N nodes on CHAT_ES_PORT
# and the N-1 ports after it, all of which CHAT_ES_URL then lists.
: "${CHAT_ES_NODES:=1}"
if [ -z "${CHAT_ES_URL:-}" ]; then
	CHAT_ES_URL=http://127.0.0.1:$CHAT_ES_PORT
	_i=1
	while [ "$_i" -lt "$CHAT_ES_NODES" ]; do
		CHAT_ES_URL=$CHAT_ES_URL,http://127.0.0.1:$((CHAT_ES_PORT + _i))
		_i=$((_i + 1))
	done
	unset _i
fi
: "${CHAT_ES_INDEX:=messages}"

: "${CHAT_FCGI_PROCS:=4}"
: "${CHAT_RATE:=10r/s}"
: "${CHAT_BURST:=20}"
: "${CHAT_SYNC_INTERVAL:=3600}"
# Per-token limits of writes, reads and searches, and requests in progress
# per client address (nginx/chat-http.conf, chat-api.conf). The local stack
# leaves them out of the way, since the integration tests send hundreds of
# requests at once with one token from one address (`make integration` runs
# them against this stack); its second nginx, nginx-limits, has them low for
# their own tests (stack.sh). Deployments take the defaults of README's
# "Configuration" (compose, make install), e.g. 50r/s and 500 for writes.
: "${CHAT_TOKEN_RATE:=100000r/s}"
: "${CHAT_TOKEN_BURST:=100000}"
: "${CHAT_TOKEN_READ_RATE:=100000r/s}"
: "${CHAT_TOKEN_READ_BURST:=100000}"
: "${CHAT_TOKEN_SEARCH_RATE:=100000r/s}"
: "${CHAT_TOKEN_SEARCH_BURST:=100000}"
: "${CHAT_ADDR_CONN:=60000}"
# Redis: the queue lives there, so nothing is ever evicted; past this,
# creates are answered 503 until the worker drains it.
: "${CHAT_REDIS_MAXMEMORY:=1gb}"
: "${CHAT_WORKERS:=1}"

# Not a setting of ours: libcurl's LDAP and RTMP support link GnuTLS, whose
# library constructor initialises it (PKCS#11 modules included) in every
# program that loads libcurl, ~130 KiB of private memory a process.
# libcurl itself uses OpenSSL, and lib/es.c allows it HTTP(S) only, so
# GnuTLS is never used: this skips its initialisation. The systemd units
# and the image's entrypoint set it too.
GNUTLS_NO_IMPLICIT_INIT=1

export GNUTLS_NO_IMPLICIT_INIT
export CHAT_VAR CHAT_HTTP_PORT \
	CHAT_MYSQL_HOST CHAT_MYSQL_PORT CHAT_MYSQL_USER CHAT_MYSQL_PASSWORD \
	CHAT_MYSQL_DATABASE CHAT_MIGRATE_USER CHAT_MIGRATE_PASSWORD \
	CHAT_REDIS_HOST CHAT_REDIS_PORT CHAT_REDIS_PASSWORD REDISCLI_AUTH \
	CHAT_ES_PORT CHAT_ES_NODES CHAT_ES_URL CHAT_ES_INDEX \
	CHAT_FCGI_PROCS CHAT_RATE CHAT_BURST CHAT_SYNC_INTERVAL CHAT_WORKERS \
	CHAT_TOKEN_RATE CHAT_TOKEN_BURST CHAT_TOKEN_READ_RATE \
	CHAT_TOKEN_READ_BURST CHAT_TOKEN_SEARCH_RATE CHAT_TOKEN_SEARCH_BURST \
	CHAT_ADDR_CONN CHAT_REDIS_MAXMEMORY
