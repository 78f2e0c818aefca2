#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The whole local stack, private to one directory ($CHAT_VAR):
#
#   mysql     mariadbd on 127.0.0.1:$CHAT_MYSQL_PORT, data in $CHAT_VAR/mysql
#   redis     redis-server on 127.0.0.1:$CHAT_REDIS_PORT, AOF in $CHAT_VAR/redis,
#             requiring $CHAT_REDIS_PASSWORD (see write_redis_conf);
#             or, with CHAT_REDIS_CLUSTER=N, a Redis Cluster of N masters and
#             N replicas on 127.0.0.1:$CHAT_REDIS_CLUSTER_PORT and the 2N-1
#             ports after it (default CHAT_REDIS_PORT+1), AOF in
#             $CHAT_VAR/redis-cluster/<port>, cluster-require-full-coverage
#             off (while one master's slots have none, the others go on),
#             every node requiring the same password, replicas logging in
#             to their master with it; the programs get CHAT_REDIS_NODES
#             (also written to $CHAT_VAR/run/stack.env)
#   search    tests/harness/search-engine.sh, data in $CHAT_VAR/es; or, with
#             CHAT_ES_NODES=N, a cluster of N nodes (each its own JVM, heap
#             CHAT_ES_HEAP, default 768m) on 127.0.0.1:$CHAT_ES_PORT and the
#             N-1 ports after it, transport on $CHAT_ES_TRANSPORT_PORT (default
#             CHAT_ES_PORT+100) and after, data in $CHAT_VAR/es, es2, ...
#             (pid in each one's search.pid); start waits for all N nodes
#             and status green, and CHAT_ES_URL lists every node
#   fcgi:*    cgi-bin/{applications,chats,messages,health} under spawn-fcgi,
#             $CHAT_FCGI_PROCS processes each, sockets in $CHAT_VAR/run
#   worker    $CHAT_WORKERS copies of jobs/worker
#   sync      a timer running jobs/sync every $CHAT_SYNC_INTERVAL seconds
#   nginx     on 127.0.0.1:$CHAT_HTTP_PORT, config from nginx/ written to
#             $CHAT_VAR/nginx; nchan loaded for the live streams, whose
#             publisher listens on $CHAT_VAR/run/live/nginx.sock (a
#             directory only the services' user enters)
#   relay:*   one jobs/live-relay per nginx instance (as one per API host),
#             publishing the live events to that instance's nchan
#   nginx-limits  a second nginx on 127.0.0.1:$CHAT_LIMITS_HTTP_PORT
#             (default CHAT_HTTP_PORT + 1), config in $CHAT_VAR/nginx-limits:
#             the same files with the per-token and per-address limits set
#             low by CHAT_LIMITS_* (below), in front of the same programs,
#             for the tests of the limits (tests/integration/test_limits.c);
#             left out, with its relay, when CHAT_LIMITS_NGINX=0
#
# Usage: tests/harness/stack.sh start|stop|status|logs|run
#
#   start   starts every part that is not already running (so starting twice
#           is harmless), then waits up to 120 s for GET /health to answer
#           200. Exits non-zero naming the part that did not come up, with
#           the tail of its log.
#   stop    stops what start started, by pid file, in reverse order: TERM,
#           then KILL after a timeout. A pid whose command line is not the
#           one recorded is left alone (the pid was reused).
#   status  prints each part up, down, absent (program not built) or skip;
#           exit 0 when none is down, else 3.
#   logs    tail -F of every log in $CHAT_VAR/log and the search engine's.
#   run     start, then follow the logs in the foreground; Ctrl-C (or TERM)
#           stops the stack.
#   start-host, stop-host  only the parts of one API host (the FastCGI
#           programs, the workers, nginx) in front of stores that run
#           elsewhere: CHAT_MYSQL_HOST, CHAT_REDIS_HOST, CHAT_ES_URL
#           (tests/harness/hosts.sh, README "Scaling out"); a
#           CHAT_CGI_DIR given to start-host wins over the one the stack
#           was started with (the same host, another build)
#
# Settings are the CHAT_* variables of env.sh. Besides those:
#   CHAT_REDIS_CLUSTER=N  a Redis Cluster of N masters (3 or more) and N
#                       replicas instead of one Redis (0, the default); a
#                       start without it keeps what the stack last ran
#   CHAT_REDIS_CLUSTER_PORT  its first port (default CHAT_REDIS_PORT+1)
#   CHAT_REDIS_NODE_TIMEOUT  its cluster-node-timeout in ms (default 5000):
#                       how long a master is unreachable before its replica
#                       takes over
#   CHAT_ES_NODES=N     a search cluster of N nodes (1, the default: one)
#   CHAT_SKIP_SEARCH=1  leave the search engine out (for developing the
#                       harness only): start then accepts a /health 503 that
#                       has only the search engine down
#   CHAT_CGI_DIR        where the FastCGI programs are (default cgi-bin/)
#   CHAT_JOBS_DIR       where worker and sync are (default jobs/)
#   CHAT_DOCS_DIR       what /api-docs serves (default var/docs, which
#                       `make docs` builds)
#   CHAT_LIMITS_NGINX=0    no nginx-limits and no relay of its own: one
#                       nginx, as on an API host (the benchmarks)
#   CHAT_LIMITS_HTTP_PORT  port of nginx-limits (default CHAT_HTTP_PORT + 1)
#   CHAT_LIMITS_TOKEN_RATE, _BURST, CHAT_LIMITS_ADDR_CONN  its limits (2r/s
#                       and 5 for every class, 4 requests per address)
#
# As root, the FastCGI programs, the workers, the sync job and the nginx
# workers run as the unprivileged system user "chat" (created if missing),
# mariadbd as the system user "mysql" (Debian's mariadb-server package
# creates it; $CHAT_VAR/mysql and its log belong to it); Redis runs as
# root, in its private directory (the search engine's script chooses for
# itself). As an ordinary user, everything runs as that user.
#
# MariaDB accounts: CHAT_MYSQL_USER (the programs) may only SELECT, INSERT,
# UPDATE and DELETE in CHAT_MYSQL_DATABASE; CHAT_MIGRATE_USER (migrate.sh)
# owns its schema. The administrator is the account named after the user
# running this script, over the socket, without a password. A start that fails leaves the parts that came up running: stop
# stops them.

set -euo pipefail
umask 022

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
here=${self%/*}
repo=$(cd "$here/../.." && pwd)
# shellcheck source=env.sh
. "$here/env.sh"

# Given to start-host, where the programs are wins over the saved setting
# below: a host restarted with another build (make bench's pairs part).
given_cgi_dir=${CHAT_CGI_DIR:-}
CHAT_CGI_DIR=${CHAT_CGI_DIR:-$repo/cgi-bin}
CHAT_JOBS_DIR=${CHAT_JOBS_DIR:-$repo/jobs}
CHAT_DOCS_DIR=${CHAT_DOCS_DIR:-$repo/var/docs}
CHAT_SKIP_SEARCH=${CHAT_SKIP_SEARCH:-0}
CHAT_LIMITS_NGINX=${CHAT_LIMITS_NGINX:-1}
CHAT_LIMITS_HTTP_PORT=${CHAT_LIMITS_HTTP_PORT:-$((CHAT_HTTP_PORT + 1))}
CHAT_LIMITS_TOKEN_RATE=${CHAT_LIMITS_TOKEN_RATE:-2r/s}
CHAT_LIMITS_TOKEN_BURST=${CHAT_LIMITS_TOKEN_BURST:-5}
CHAT_LIMITS_ADDR_CONN=${CHAT_LIMITS_ADDR_CONN:-4}

run_dir=$CHAT_VAR/run
# The settings a running stack was started with: stop, status and logs act
# on that stack whatever the environment says now.
stack_env=$run_dir/stack.env
saved_settings=(CHAT_CGI_DIR CHAT_JOBS_DIR CHAT_DOCS_DIR CHAT_SKIP_SEARCH
	CHAT_HTTP_PORT CHAT_MYSQL_PORT CHAT_REDIS_PORT CHAT_ES_PORT CHAT_ES_URL
	CHAT_ES_NODES CHAT_ES_TRANSPORT_PORT
	CHAT_SYNC_INTERVAL CHAT_LIMITS_NGINX CHAT_LIMITS_HTTP_PORT
	CHAT_REDIS_CLUSTER CHAT_REDIS_CLUSTER_PORT
	CHAT_REDIS_NODE_TIMEOUT CHAT_REDIS_NODES)
# A start that restarts some parts of a running stack (a test does) keeps
# its Redis: the cluster settings it was started with, unless given anew.
if [ "${1:-}" = start ] && [ -z "${CHAT_REDIS_CLUSTER:-}" ] && [ -r "$stack_env" ]; then
	eval "$(grep -E '^CHAT_REDIS_(CLUSTER|CLUSTER_PORT|NODE_TIMEOUT)=' "$stack_env")"
fi
CHAT_REDIS_CLUSTER=${CHAT_REDIS_CLUSTER:-0}
CHAT_REDIS_CLUSTER_PORT=${CHAT_REDIS_CLUSTER_PORT:-$((CHAT_REDIS_PORT + 1))}
CHAT_REDIS_NODE_TIMEOUT=${CHAT_REDIS_NODE_TIMEOUT:-5000}
CHAT_REDIS_NODES=${CHAT_REDIS_NODES:-}
if [ "${1:-}" != start ] && [ -r "$stack_env" ]; then
	# shellcheck source=/dev/null
	. "$stack_env"
	if [ "${1:-}" = start-host ] && [ -n "$given_cgi_dir" ]; then
		CHAT_CGI_DIR=$given_cgi_dir
	fi
fi
log_dir=$CHAT_VAR/log
mysql_dir=$CHAT_VAR/mysql
mysql_data=$mysql_dir/data
mysql_sock=$mysql_dir/mysqld.sock
mysql_pid=$mysql_dir/mysqld.pid
mysql_cnf=$mysql_dir/my.cnf
redis_dir=$CHAT_VAR/redis
redis_pid=$run_dir/redis.pid
redis_conf=$redis_dir/redis.conf
es_dir=$CHAT_VAR/es
es_script=$here/search-engine.sh
CHAT_ES_TRANSPORT_PORT=${CHAT_ES_TRANSPORT_PORT:-$((CHAT_ES_PORT + 100))}
nginx_dir=$CHAT_VAR/nginx
nginx_conf=$nginx_dir/nginx.conf
nginx_pid=$run_dir/nginx.pid
sync_pid=$run_dir/sync-timer.pid
live_dir=$run_dir/live
# search is the messages route GET .../search in a pool of its own.
fcgi_programs=(applications chats messages search health)

if [ "$(id -u)" -eq 0 ]; then is_root=1; else is_root=0; fi
admin_user=$(id -un)

say() { printf 'stack: %s\n' "$*"; }
warn() { printf 'stack: warning: %s\n' "$*" >&2; }
die() {
	printf 'stack: %s\n' "$*" >&2
	exit 1
}

# mark_log FILE: remember where FILE ends, so that fail shows only what was
# written after (an old run's lines would mislead).
declare -A log_mark=()
mark_log() {
	log_mark[$1]=$(stat -c %s -- "$1" 2>/dev/null || echo 0)
}

# fail PART LOG...: PART did not come up; show the end of its logs and stop.
fail() {
	local part=$1 f from
	shift
	printf 'stack: %s did not come up\n' "$part" >&2
	for f in "$@"; do
		[ -s "$f" ] || continue
		from=${log_mark[$f]:-0}
		printf -- '--- last lines of %s ---\n' "$f" >&2
		tail -c +"$((from + 1))" -- "$f" | tail -n 30 >&2
	done
	exit 1
}

# Prefix that runs a command as the user the services run as ("chat" when
# root); it execs, so the pid stays the command's.
chat_prefix=()
if [ "$is_root" -eq 1 ]; then
	chat_prefix=(setpriv --reuid=chat --regid=chat --init-groups --)
fi
as_chat() { "${chat_prefix[@]}" "$@"; }

# Starts a long-running command detached from this shell: its own session,
# no terminal, and without the lock descriptor. Sets launched_pid.
launch() {
	local log=$1
	shift
	setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
	launched_pid=$!
}

# start_daemon WHAT PIDFILE PATTERN LOG COMMAND...: launches COMMAND with
# its output in LOG and its pid in PIDFILE, unless PIDFILE names a live
# process whose command line contains PATTERN (then returns 1).
start_daemon() {
	local what=$1 pidf=$2 pattern=$3 log=$4
	shift 4
	if pidfile_alive "$pidf" "$pattern"; then
		say "$what already running (pid $(head -n1 "$pidf"))"
		return 1
	fi
	say "starting $what"
	mark_log "$log"
	launch "$log" "$@"
	echo "$launched_pid" >"$pidf"
}

# proc_is PID PATTERN: PID is alive and its command line contains PATTERN.
proc_is() {
	local pid=$1 pattern=$2 cmd
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cmd=$(tr '\0' ' ' 2>/dev/null </proc/"$pid"/cmdline) || return 1
	[[ $cmd == *"$pattern"* ]]
}

# read_pids FILE: the pids in FILE, one a line. (spawn-fcgi -F writes one
# per line and leaves the last line without a newline.)
read_pids() {
	[ -s "$1" ] || return 0
	grep -Eo '^[0-9]+' -- "$1" || true
}

# pidfile_alive FILE PATTERN: every pid in FILE is alive as PATTERN.
pidfile_alive() {
	local pid n=0
	local -a pids
	mapfile -t pids < <(read_pids "$1")
	for pid in ${pids[@]+"${pids[@]}"}; do
		proc_is "$pid" "$2" || return 1
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}

# pidfile_count FILE PATTERN: how many pids in FILE are alive as PATTERN.
pidfile_count() {
	local pid n=0
	local -a pids
	mapfile -t pids < <(read_pids "$1")
	for pid in ${pids[@]+"${pids[@]}"}; do
		if proc_is "$pid" "$2"; then n=$((n + 1)); fi
	done
	echo "$n"
}

# signal_tree SIGNAL PID: the started processes lead their own process group
# (setsid, or the daemon's own), so the signal goes to the group, which
# takes along children such as the timer's sleep; otherwise to PID alone.
signal_tree() {
	local pgid
	pgid=$(ps -o pgid= -p "$2" 2>/dev/null | tr -d ' ') || pgid=
	if [ "$pgid" = "$2" ]; then
		kill "-$1" -- "-$2" 2>/dev/null || true
	else
		kill "-$1" "$2" 2>/dev/null || true
	fi
}

# stop_pidfiles NAME TIMEOUT FILE PATTERN [FILE PATTERN]...: TERM every pid
# of each FILE that is still its PATTERN, all at once; wait up to TIMEOUT
# seconds, then KILL what is left; remove the files.
stop_pidfiles() {
	local name=$1 timeout=$2 pid i j
	shift 2
	local -a files=() pids=() patterns=() all left_p left_pat
	while [ $# -ge 2 ]; do
		files+=("$1")
		if [ -e "$1" ]; then
			mapfile -t all < <(read_pids "$1")
			for pid in ${all[@]+"${all[@]}"}; do
				if proc_is "$pid" "$2"; then
					pids+=("$pid")
					patterns+=("$2")
				else
					say "$name: pid $pid is gone or no longer ours; leaving it"
				fi
			done
		fi
		shift 2
	done
	if [ ${#pids[@]} -gt 0 ]; then
		say "stopping $name (pid ${pids[*]})"
		for pid in "${pids[@]}"; do signal_tree TERM "$pid"; done
		for ((i = 0; i < timeout * 10; i++)); do
			left_p=()
			left_pat=()
			for ((j = 0; j < ${#pids[@]}; j++)); do
				if proc_is "${pids[j]}" "${patterns[j]}"; then
					left_p+=("${pids[j]}")
					left_pat+=("${patterns[j]}")
				fi
			done
			pids=(${left_p[@]+"${left_p[@]}"})
			patterns=(${left_pat[@]+"${left_pat[@]}"})
			[ ${#pids[@]} -gt 0 ] || break
			sleep 0.1
		done
		if [ ${#pids[@]} -gt 0 ]; then
			warn "$name did not stop within ${timeout}s of TERM; killing pid ${pids[*]}"
			for pid in "${pids[@]}"; do signal_tree KILL "$pid"; done
			sleep 0.2
		fi
	fi
	rm -f -- "${files[@]}"
}

# stop_pidfile NAME FILE PATTERN TIMEOUT: stop_pidfiles for one file.
stop_pidfile() {
	stop_pidfiles "$1" "$4" "$2" "$3"
}

# wait_for SECONDS PID PATTERN COMMAND...: polls COMMAND until it succeeds;
# fails early when PID (if not empty) dies.
wait_for() {
	local seconds=$1 pid=$2 pattern=$3 i
	shift 3
	for ((i = 0; i < seconds * 5; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		if [ -n "$pid" ] && ! proc_is "$pid" "$pattern"; then return 1; fi
		sleep 0.2
	done
	return 1
}

# Replacement text for sed s||| with | & \ and newlines made literal.
sed_quote() {
	printf '%s' "$1" | sed -e 's/[|&\\]/\\&/g'
}

# SQL string literal body: backslashes and quotes escaped.
sql_quote() {
	printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g"
}

check_socket_path() {
	# sun_path holds 108 bytes, the terminating NUL included.
	[ ${#1} -le 107 ] ||
		die "socket path $1 is ${#1} bytes, over the 107 a Unix socket allows; use a shorter CHAT_VAR"
}

ensure_chat_user() {
	[ "$is_root" -eq 1 ] || return 0
	if ! getent passwd chat >/dev/null; then
		say "creating system user chat"
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin chat ||
			die "cannot create the system user chat"
	fi
	open_way chat "$run_dir"
}

# open_way USER DIR: USER (a service's system user) can reach DIR. In CI (a
# clone wherever the runner put it, /root included) the directories above
# the tree get search permission for others; elsewhere a DIR that USER
# cannot reach stops the start with what to do.
open_way() {
	local user=$1 dir=$2 d
	local -a as_user=(setpriv --reuid="$user" --regid="$user" --init-groups --)
	if [ "${CI:-}" = true ] && ! "${as_user[@]}" test -x "$dir"; then
		d=$dir
		while [ "$d" != / ]; do
			d=$(dirname -- "$d")
			"${as_user[@]}" test -x "$d" || { say "CI: chmod o+x $d for user $user"; chmod o+x -- "$d"; }
		done
	fi
	"${as_user[@]}" test -x "$dir" ||
		die "user $user cannot reach $dir: every directory above CHAT_VAR=$CHAT_VAR must be searchable by others (chmod o+x), or choose a CHAT_VAR elsewhere"
}

# As root, mariadbd runs as the system user mysql: its directory (data,
# socket, pid file, temporary files) and its error log belong to it.
mysql_user=mysql
prepare_mysql_owner() {
	[ "$is_root" -eq 1 ] || return 0
	getent passwd "$mysql_user" >/dev/null ||
		die "mysql did not come up: no system user $mysql_user (install mariadb-server, which creates it)"
	touch -- "$log_dir/mysqld.log"
	chown -R -- "$mysql_user:" "$mysql_dir" "$log_dir/mysqld.log"
	chmod 0750 -- "$mysql_dir"
	open_way "$mysql_user" "$mysql_dir"
}

prepare_dirs() {
	mkdir -p -- "$CHAT_VAR" "$run_dir" "$log_dir" "$mysql_dir" "$mysql_dir/tmp" "$redis_dir" \
		"$nginx_dir/tmp" "$CHAT_VAR/nginx-limits/tmp"
	check_socket_path "$mysql_sock"
	check_socket_path "$run_dir/applications.sock"
	check_socket_path "$(live_socket_of nginx-limits)"
	ensure_chat_user
	# The live publishers' sockets (nginx makes them 0666): their
	# directory admits only the user the relays run as, and root.
	mkdir -p -- "$live_dir"
	chmod 0700 -- "$live_dir"
	[ "$is_root" -eq 0 ] || chown chat:chat -- "$live_dir"
}

# ---------------------------------------------------------------- mysql

mysql_admin() {
	mariadb --no-defaults --socket="$mysql_sock" --user="$admin_user" --batch
}

mysql_pattern() { echo "--defaults-file=$mysql_cnf"; }

mysql_alive() {
	[ -s "$mysql_pid" ] && proc_is "$(head -n1 "$mysql_pid")" "$(mysql_pattern)"
}

write_mysql_cnf() {
	{
		echo "# Written by tests/harness/stack.sh; edits are overwritten."
		echo "[mysqld]"
		if [ "$is_root" -eq 1 ]; then echo "user = $mysql_user"; fi
		echo "datadir = $mysql_data"
		# Private temporary files: a shared /tmp is no place for them.
		echo "tmpdir = $mysql_dir/tmp"
		echo "socket = $mysql_sock"
		echo "pid-file = $mysql_pid"
		echo "log-error = $log_dir/mysqld.log"
		echo "port = $CHAT_MYSQL_PORT"
		echo "bind-address = 127.0.0.1"
		echo "skip-name-resolve"
		echo "innodb_buffer_pool_size = 256M"
		echo "innodb_flush_log_at_trx_commit = 2"
		echo "character-set-server = utf8mb4"
		echo "collation-server = utf8mb4_unicode_ci"
		echo "default-time-zone = '+00:00'"
		echo "max_connections = 500"
		# Stated, not left to the version's default (16M in MariaDB
		# 10.11, 64M from 11.x): the worker's INSERTs stay under 4 MiB
		# of bodies each, far below (lib/messages.c).
		echo "max_allowed_packet = 64M"
	} >"$mysql_cnf"
}

start_mysql() {
	if mysql_alive; then
		say "mysql already running (pid $(head -n1 "$mysql_pid"))"
	else
		write_mysql_cnf
		prepare_mysql_owner
		if [ ! -d "$mysql_data/mysql" ]; then
			say "mysql: initialising $mysql_data"
			rm -rf -- "$mysql_data"
			# unix_socket authentication: the account named after the user
			# running this script administers the server over the socket,
			# with no password anywhere.
			if ! mariadb-install-db --defaults-file="$mysql_cnf" \
				--user="$([ "$is_root" -eq 1 ] && echo "$mysql_user" || echo "$admin_user")" \
				--auth-root-authentication-method=socket \
				--auth-root-socket-user="$admin_user" --skip-test-db >"$log_dir/mysql-install.log" 2>&1 9>&-; then
				rm -rf -- "$mysql_data"
				fail mysql "$log_dir/mysql-install.log"
			fi
		fi
		say "starting mysql on 127.0.0.1:$CHAT_MYSQL_PORT"
		rm -f -- "$mysql_pid"
		mark_log "$log_dir/mysqld.log"
		launch "$log_dir/mysqld.log" mariadbd --defaults-file="$mysql_cnf"
		if ! wait_for 60 "$launched_pid" "$(mysql_pattern)" \
			mariadb-admin --no-defaults --socket="$mysql_sock" --user="$admin_user" ping; then
			fail mysql "$log_dir/mysqld.log"
		fi
		# mariadbd writes the pid file itself; make sure before relying on it.
		[ -s "$mysql_pid" ] || echo "$launched_pid" >"$mysql_pid"
	fi

	[[ $CHAT_MYSQL_DATABASE =~ ^[A-Za-z0-9_]+$ ]] ||
		die "CHAT_MYSQL_DATABASE must match [A-Za-z0-9_]+"
	[ "$CHAT_MYSQL_USER" != "$CHAT_MIGRATE_USER" ] ||
		die "CHAT_MIGRATE_USER must differ from CHAT_MYSQL_USER (the programs may not change the schema)"
	# Each account is reset to exactly its grants (an older stack gave the
	# programs ALL PRIVILEGES): the programs' read and write rows, the
	# migrations' own the schema. Nothing else: no FILE, PROCESS, SUPER, no
	# GRANT OPTION, no other database.
	{
		printf 'CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n' \
			"$CHAT_MYSQL_DATABASE"
		sql_account "$CHAT_MYSQL_USER" "$CHAT_MYSQL_PASSWORD" 'SELECT, INSERT, UPDATE, DELETE'
		sql_account "$CHAT_MIGRATE_USER" "$CHAT_MIGRATE_PASSWORD" 'ALL PRIVILEGES'
	} | mysql_admin || fail mysql "$log_dir/mysqld.log"
	"$here/migrate.sh" 9>&- || fail "mysql (migrations)" "$log_dir/mysqld.log"
}

# sql_account USER PASSWORD PRIVILEGES: the statements that make USER (from
# 127.0.0.1 and the socket) have PRIVILEGES on the database and nothing else.
sql_account() {
	local user pw host
	user=$(sql_quote "$1")
	pw=$(sql_quote "$2")
	for host in 127.0.0.1 localhost; do
		printf "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s';\n" "$user" "$host" "$pw"
		printf "ALTER USER '%s'@'%s' IDENTIFIED BY '%s';\n" "$user" "$host" "$pw"
		printf "REVOKE ALL PRIVILEGES, GRANT OPTION FROM '%s'@'%s';\n" "$user" "$host"
		printf "GRANT %s ON \`%s\`.* TO '%s'@'%s';\n" "$3" "$CHAT_MYSQL_DATABASE" "$user" "$host"
	done
}

stop_mysql() {
	stop_pidfile mysql "$mysql_pid" "$(mysql_pattern)" 120
}

# ---------------------------------------------------------------- redis

# redis-cli as the programs log in (REDISCLI_AUTH holds the password).
redis_cli() {
	if [ -n "${CHAT_REDIS_USER:-}" ]; then
		redis-cli -h 127.0.0.1 -p "$CHAT_REDIS_PORT" --user "$CHAT_REDIS_USER" "$@"
	else
		redis-cli -h 127.0.0.1 -p "$CHAT_REDIS_PORT" "$@"
	fi
}

redis_ping() {
	[ "$(REDISCLI_AUTH=$CHAT_REDIS_PASSWORD redis_cli ping 2>/dev/null)" = PONG ]
}

# Redis configuration string: double quotes, with \ and " escaped.
redis_quote() {
	local v=${1//\\/\\\\}
	printf '"%s"' "${v//\"/\\\"}"
}

# The password goes into a file only the stack's user can read, not onto
# redis-server's command line (which ps shows).  write_redis_conf [FILE
# [cluster]]: FILE defaults to $redis_conf; a cluster node's also has the
# credentials a replica logs in to its master with (masterauth, masteruser).
write_redis_conf() {
	local conf=${1:-$redis_conf} mode=${2:-}
	[[ $CHAT_REDIS_PASSWORD != *$'\n'* ]] || die "CHAT_REDIS_PASSWORD must be one line"
	(
		umask 077
		{
			echo "# Written by tests/harness/stack.sh; edits are overwritten."
			echo "requirepass $(redis_quote "$CHAT_REDIS_PASSWORD")"
			if [ "$mode" = cluster ]; then
				echo "masterauth $(redis_quote "$CHAT_REDIS_PASSWORD")"
				if [ -n "${CHAT_REDIS_USER:-}" ] && [ "$CHAT_REDIS_USER" != default ]; then
					echo "masteruser $CHAT_REDIS_USER"
				fi
			fi
			if [ -n "${CHAT_REDIS_USER:-}" ] && [ "$CHAT_REDIS_USER" != default ]; then
				[[ $CHAT_REDIS_USER =~ ^[A-Za-z0-9_.-]+$ ]] ||
					die "CHAT_REDIS_USER must match [A-Za-z0-9_.-]+"
				# ">" is followed by the password up to the end of the
				# argument, spaces included.
				echo "user $CHAT_REDIS_USER on $(redis_quote ">$CHAT_REDIS_PASSWORD") ~* &* +@all"
			fi
		} >"$conf.new"
	)
	mv -f -- "$conf.new" "$conf"
}

start_redis() {
	if pidfile_alive "$redis_pid" redis-server; then
		say "redis already running (pid $(head -n1 "$redis_pid"))"
		return 0
	fi
	say "starting redis on 127.0.0.1:$CHAT_REDIS_PORT"
	rm -f -- "$redis_pid"
	mark_log "$log_dir/redis.log"
	write_redis_conf
	redis-server "$redis_conf" --port "$CHAT_REDIS_PORT" --bind 127.0.0.1 \
		--dir "$redis_dir" --appendonly yes --appendfsync everysec \
		--maxmemory "$CHAT_REDIS_MAXMEMORY" --maxmemory-policy noeviction \
		--daemonize yes --pidfile "$redis_pid" \
		--logfile "$log_dir/redis.log" </dev/null 9>&- ||
		fail redis "$log_dir/redis.log"
	local i
	for ((i = 0; i < 150; i++)); do
		[ -s "$redis_pid" ] && break
		sleep 0.2
	done
	wait_for 30 "$(head -n1 "$redis_pid" 2>/dev/null || echo 0)" redis-server redis_ping ||
		fail redis "$log_dir/redis.log"
}

stop_redis() {
	stop_pidfile redis "$redis_pid" redis-server 60
}

# The cluster's node ports, masters' first (as --cluster create wants).
cluster_ports() {
	local i
	for ((i = 0; i < 2 * CHAT_REDIS_CLUSTER; i++)); do
		echo $((CHAT_REDIS_CLUSTER_PORT + i))
	done
}

# redis-cli to one node, logged in as redis_cli does (REDISCLI_AUTH).
cluster_cli() {
	if [ -n "${CHAT_REDIS_USER:-}" ]; then
		REDISCLI_AUTH=$CHAT_REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$1" \
			--user "$CHAT_REDIS_USER" "${@:2}"
	else
		REDISCLI_AUTH=$CHAT_REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$1" "${@:2}"
	fi
}

# cluster_ok: every node says cluster_state:ok and knows every other.
cluster_ok() {
	local port info
	for port in $(cluster_ports); do
		info=$(cluster_cli "$port" cluster info 2>/dev/null) || return 1
		grep -q '^cluster_state:ok' <<<"$info" || return 1
		grep -q "^cluster_known_nodes:$((2 * CHAT_REDIS_CLUSTER))" <<<"$info" || return 1
	done
}

start_redis_cluster() {
	local port dir pidf nodes=() i
	[ "$CHAT_REDIS_CLUSTER" -ge 3 ] ||
		die "CHAT_REDIS_CLUSTER=$CHAT_REDIS_CLUSTER: a Redis Cluster needs 3 masters or more"
	for port in $(cluster_ports); do
		nodes+=("127.0.0.1:$port")
		dir=$CHAT_VAR/redis-cluster/$port
		pidf=$run_dir/redis-$port.pid
		mkdir -p -- "$dir"
		if pidfile_alive "$pidf" redis-server; then
			continue
		fi
		rm -f -- "$pidf"
		mark_log "$log_dir/redis-$port.log"
		write_redis_conf "$dir/redis.conf" cluster
		redis-server "$dir/redis.conf" --port "$port" --bind 127.0.0.1 --dir "$dir" \
			--cluster-enabled yes --cluster-config-file nodes.conf \
			--cluster-node-timeout "$CHAT_REDIS_NODE_TIMEOUT" \
			--cluster-require-full-coverage no \
			--appendonly yes --appendfsync everysec \
			--maxmemory "$CHAT_REDIS_MAXMEMORY" --maxmemory-policy noeviction \
			--daemonize yes --pidfile "$pidf" \
			--logfile "$log_dir/redis-$port.log" </dev/null 9>&- ||
			fail "redis $port" "$log_dir/redis-$port.log"
	done
	for port in $(cluster_ports); do
		pidf=$run_dir/redis-$port.pid
		for ((i = 0; i < 150; i++)); do
			[ -s "$pidf" ] && break
			sleep 0.2
		done
		wait_for 30 "$(head -n1 "$pidf" 2>/dev/null || echo 0)" redis-server \
			cluster_cli "$port" ping || fail "redis $port" "$log_dir/redis-$port.log"
	done
	# A fresh set of nodes knows only itself: make them one cluster.
	if [ "$(cluster_cli "$CHAT_REDIS_CLUSTER_PORT" cluster info |
		sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')" = 1 ]; then
		say "creating the Redis Cluster on ${nodes[*]}"
		REDISCLI_AUTH=$CHAT_REDIS_PASSWORD \
			redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 \
			--cluster-yes </dev/null >>"$log_dir/redis-cluster.log" 2>&1 ||
			fail "redis cluster" "$log_dir/redis-cluster.log"
	fi
	wait_for 60 "" "" cluster_ok ||
		fail "redis cluster (cluster_state:ok)" "$log_dir/redis-cluster.log"
	CHAT_REDIS_NODES=$(IFS=,; echo "${nodes[*]}")
	export CHAT_REDIS_NODES
	say "redis cluster up: CHAT_REDIS_NODES=$CHAT_REDIS_NODES"
}

stop_redis_cluster() {
	local args=() f
	for f in "$run_dir"/redis-*.pid; do
		[ -e "$f" ] || continue
		args+=("$f" redis-server)
	done
	[ ${#args[@]} -eq 0 ] || stop_pidfiles "redis cluster" 60 "${args[@]}"
}

# ---------------------------------------------------------------- search

# es_node_dir N: node N's directory ($CHAT_VAR/es, es2, es3, ...).
es_node_dir() {
	if [ "$1" -eq 1 ]; then echo "$es_dir"; else echo "$es_dir$1"; fi
}

# es_node N CMD: search-engine.sh CMD for node N of the stack's search
# engine (alone, or one of a CHAT_ES_NODES cluster).
es_node() {
	local n=$1 seeds="" i
	shift
	if [ "$CHAT_ES_NODES" -gt 1 ]; then
		for ((i = 0; i < CHAT_ES_NODES; i++)); do
			seeds=${seeds:+$seeds,}127.0.0.1:$((CHAT_ES_TRANSPORT_PORT + i))
		done
		CHAT_ES_DIR=$(es_node_dir "$n") CHAT_ES_PORT=$((CHAT_ES_PORT + n - 1)) \
			CHAT_ES_NODE=$n CHAT_ES_SEEDS=$seeds \
			CHAT_ES_TRANSPORT_PORT=$((CHAT_ES_TRANSPORT_PORT + n - 1)) \
			CHAT_ES_HEAP=${CHAT_ES_HEAP:-768m} bash "$es_script" "$@"
	else
		CHAT_ES_DIR=$es_dir bash "$es_script" "$@"
	fi
}

es_logs() {
	local d
	for d in "$es_dir" "$es_dir"[0-9]*; do
		[ -d "$d" ] && find "$d" -maxdepth 3 -name '*.log' -type f 2>/dev/null
	done | sort
	return 0
}

# The cluster's health once every node has joined and every shard has its
# copies: green (an empty cluster is green as soon as it has a manager, so
# the node count is waited for too).
wait_es_green() {
	local deadline=$((SECONDS + 180)) body=""
	while [ "$SECONDS" -lt "$deadline" ]; do
		body=$(curl -sS --max-time 35 "http://127.0.0.1:$CHAT_ES_PORT/_cluster/health?wait_for_status=green&wait_for_nodes=$CHAT_ES_NODES&timeout=30s" 2>/dev/null) || body=""
		case $body in
		*'"status":"green"'*'"timed_out":false'* | *'"timed_out":false'*'"status":"green"'*)
			say "search cluster of $CHAT_ES_NODES nodes is green"
			return 0
			;;
		esac
		sleep 1
	done
	printf 'stack: search cluster health after 180 s: %s\n' "${body:-no answer}" >&2
	return 1
}

start_search() {
	if [ "$CHAT_SKIP_SEARCH" = 1 ]; then
		warn "CHAT_SKIP_SEARCH=1: not starting the search engine (harness development only)"
		return 0
	fi
	local want=http://127.0.0.1:$CHAT_ES_PORT n
	for ((n = 2; n <= CHAT_ES_NODES; n++)); do
		want=$want,http://127.0.0.1:$((CHAT_ES_PORT + n - 1))
	done
	[ "$CHAT_ES_URL" = "$want" ] || [ "$CHAT_ES_URL" = "${want//127.0.0.1/localhost}" ] ||
		warn "CHAT_ES_URL=$CHAT_ES_URL is not the search engine this stack starts ($want)"
	[ -f "$es_script" ] ||
		die "search did not come up: $es_script is missing (CHAT_SKIP_SEARCH=1 skips it, for harness development only)"
	local out=$log_dir/search-engine.log f
	mark_log "$out"
	while read -r f; do mark_log "$f"; done < <(es_logs)
	if [ "$CHAT_ES_NODES" -le 1 ]; then
		say "starting search engine on port $CHAT_ES_PORT"
		if ! es_node 1 start 9>&- 2>&1 | tee -a "$out"; then
			local -a logs
			mapfile -t logs < <(es_logs)
			fail search "$out" ${logs[@]+"${logs[@]}"}
		fi
		return 0
	fi
	# The nodes start side by side: node 1 elects itself, the others join.
	say "starting search engine: a cluster of $CHAT_ES_NODES nodes on ports $CHAT_ES_PORT..$((CHAT_ES_PORT + CHAT_ES_NODES - 1))"
	local -a pids=()
	local ok=1
	for ((n = 1; n <= CHAT_ES_NODES; n++)); do
		es_node "$n" start 9>&- >"$out.$n" 2>&1 &
		pids+=($!)
	done
	for ((n = 1; n <= CHAT_ES_NODES; n++)); do
		wait "${pids[n - 1]}" || ok=0
		sed "s/^search-engine:/search-engine (node $n):/" "$out.$n" | tee -a "$out"
		rm -f -- "$out.$n"
	done
	if [ "$ok" -eq 1 ]; then
		wait_es_green 2>&1 | tee -a "$out"
		[ "${PIPESTATUS[0]}" -eq 0 ] || ok=0
	fi
	if [ "$ok" -ne 1 ]; then
		local -a logs
		mapfile -t logs < <(es_logs)
		fail "search cluster" "$out" ${logs[@]+"${logs[@]}"}
	fi
}

stop_search() {
	[ "$CHAT_SKIP_SEARCH" != 1 ] || return 0
	[ -f "$es_script" ] || return 0
	local n d
	# Every node a start made, also of a bigger cluster than configured now.
	for ((n = CHAT_ES_NODES; n >= 1; n--)); do
		[ -d "$(es_node_dir "$n")" ] || continue
		es_node "$n" stop || warn "search engine node $n stop failed"
	done
	for d in "$es_dir"[0-9]*; do
		[ -d "$d" ] || continue
		n=${d#"$es_dir"}
		[ "$n" -gt "$CHAT_ES_NODES" ] 2>/dev/null || continue
		CHAT_ES_DIR=$d bash "$es_script" stop || warn "search engine $d stop failed"
	done
}

# ---------------------------------------------------------------- fcgi

# spawn_fcgi NAME: program NAME's processes under spawn-fcgi, unless it is
# not built or already runs (then status 1: nothing was started).
spawn_fcgi() {
	local name=$1 prog=$CHAT_CGI_DIR/$1
	local sock=$run_dir/$name.sock pidf=$run_dir/$name.pid log=$log_dir/$name.log
	if [ ! -x "$prog" ]; then
		warn "fcgi $name: $prog is not built; not started"
		return 1
	fi
	if pidfile_alive "$pidf" "$prog"; then
		say "fcgi $name already running ($(pidfile_count "$pidf" "$prog") processes)"
		return 1
	fi
	# Some of its processes died: start the program afresh.
	stop_pidfile "fcgi $name" "$pidf" "$prog" 10
	# A stopped process whose address space the kernel is still tearing
	# down (no /proc cmdline any more) can hold the listening socket a
	# little longer: spawn-fcgi would find it "already in use".  The new
	# processes get a new socket at the same path.
	rm -f -- "$sock"
	say "starting fcgi $name ($CHAT_FCGI_PROCS processes on $sock)"
	local -a owner=()
	touch -- "$log"
	mark_log "$log"
	mark_log "$log_dir/spawn-fcgi.log"
	if [ "$is_root" -eq 1 ]; then
		as_chat test -x "$prog" ||
			die "fcgi $name: user chat cannot execute $prog (check the permissions of it and of its directories)"
		chown chat:chat -- "$log"
		owner=(-u chat -g chat -U chat -G chat)
	fi
	# spawn-fcgi sends the programs' stdout and stderr to /dev/null; the
	# shell in front keeps them in the log, then execs the program itself,
	# so the recorded pid is the program's.
	# shellcheck disable=SC2016 # $0 and $1 are the inner shell's
	if ! spawn-fcgi -s "$sock" -M 0660 -F "$CHAT_FCGI_PROCS" -P "$pidf" \
		${owner[@]+"${owner[@]}"} -- /bin/sh -c 'exec "$0" >>"$1" 2>&1' "$prog" "$log" \
		</dev/null >>"$log_dir/spawn-fcgi.log" 2>&1 9>&-; then
		fail "fcgi $name" "$log_dir/spawn-fcgi.log" "$log"
	fi
}

# start_fcgi NAME...: start each named program that is not running, then
# check them all at once: a program that dies at once (bad config, missing
# library) shows within the one wait.
start_fcgi() {
	local name
	local -a started=()
	for name in "$@"; do
		if spawn_fcgi "$name"; then started+=("$name"); fi
	done
	[ ${#started[@]} -gt 0 ] || return 0
	sleep 0.3
	for name in "${started[@]}"; do
		pidfile_alive "$run_dir/$name.pid" "$CHAT_CGI_DIR/$name" ||
			fail "fcgi $name" "$log_dir/$name.log" "$log_dir/spawn-fcgi.log"
	done
}

# stop_fcgi NAME...: all the named programs at once.
stop_fcgi() {
	local name
	local -a args=()
	for name in "$@"; do
		args+=("$run_dir/$name.pid" "$CHAT_CGI_DIR/$name")
	done
	stop_pidfiles "fcgi $*" 10 "${args[@]}"
	for name in "$@"; do
		rm -f -- "$run_dir/$name.sock"
	done
}

# ---------------------------------------------------------------- worker

start_workers() {
	local prog=$CHAT_JOBS_DIR/worker i pidf log
	if [ ! -x "$prog" ]; then
		warn "worker: $prog is not built; not started"
		return 0
	fi
	for ((i = 1; i <= CHAT_WORKERS; i++)); do
		pidf=$run_dir/worker.$i.pid
		log=$log_dir/worker.$i.log
		# A stable consumer name per copy: a restarted worker finds the
		# jobs it had read but not finished under its own name.
		start_daemon "worker $i" "$pidf" "$prog" "$log" \
			env CHAT_WORKER_NAME="${CHAT_WORKER_NAME:-worker}-$i" \
			nohup "${chat_prefix[@]}" "$prog" || true
	done
	sleep 0.3
	for ((i = 1; i <= CHAT_WORKERS; i++)); do
		pidfile_alive "$run_dir/worker.$i.pid" "$prog" ||
			fail "worker $i" "$log_dir/worker.$i.log"
	done
}

# stop_each WHAT SECONDS PATTERN PIDFILE...: stop_pidfiles for those of
# the PIDFILEs that exist (a glob that matched nothing is passed over).
stop_each() {
	local what=$1 seconds=$2 pattern=$3 f
	local -a args=()
	shift 3
	for f in "$@"; do
		[ -e "$f" ] || continue
		args+=("$f" "$pattern")
	done
	[ ${#args[@]} -eq 0 ] || stop_pidfiles "$what" "$seconds" "${args[@]}"
}

stop_workers() {
	stop_each workers 30 "$CHAT_JOBS_DIR/worker" "$run_dir"/worker.*.pid
}

# ---------------------------------------------------------------- relays

# The publisher socket of nginx instance NAME.
live_socket_of() { echo "$live_dir/$1.sock"; }
relay_prog() { echo "$CHAT_JOBS_DIR/live-relay"; }

# start_relay NAME: the live relay of nginx instance NAME.
start_relay() {
	local name=$1 prog pidf log
	prog=$(relay_prog)
	pidf=$run_dir/live-relay.$name.pid
	log=$log_dir/live-relay.$name.log
	if [ ! -x "$prog" ]; then
		warn "live-relay: $prog is not built; not started"
		return 0
	fi
	start_daemon "live relay of $name" "$pidf" "$prog" "$log" \
		env CHAT_LIVE_SOCKET="$(live_socket_of "$name")" \
		nohup "${chat_prefix[@]}" "$prog" || return 0
	sleep 0.2
	pidfile_alive "$pidf" "$prog" || fail "live relay of $name" "$log"
}

stop_relays() {
	stop_each "live relays" 10 "$(relay_prog)" "$run_dir"/live-relay.*.pid
}

# ---------------------------------------------------------------- sync

# CHAT_VAR on the command line tells this stack's timer from another's.
sync_pattern() { echo "$self _sync-loop $CHAT_VAR"; }

# The timer itself: runs in the background, started by start_sync.
sync_loop() {
	local prog=$CHAT_JOBS_DIR/sync child=
	trap '[ -z "$child" ] || kill -TERM "$child" 2>/dev/null; exit 0' TERM INT
	while :; do
		sleep "$CHAT_SYNC_INTERVAL" &
		child=$!
		wait "$child" || true
		printf 'sync-timer: running %s at %s\n' "$prog" "$(date -u +%FT%TZ)"
		"${chat_prefix[@]}" "$prog" &
		child=$!
		wait "$child" || printf 'sync-timer: %s exited with status %d\n' "$prog" "$?"
		child=
	done
}

start_sync() {
	local prog=$CHAT_JOBS_DIR/sync
	if [ ! -x "$prog" ]; then
		warn "sync: $prog is not built; timer not started"
		return 0
	fi
	start_daemon "sync timer (every ${CHAT_SYNC_INTERVAL}s)" "$sync_pid" \
		"$(sync_pattern)" "$log_dir/sync.log" \
		bash "$self" _sync-loop "$CHAT_VAR" || return 0
	sleep 0.2
	pidfile_alive "$sync_pid" "$(sync_pattern)" || fail sync "$log_dir/sync.log"
}

stop_sync() {
	stop_pidfile "sync timer" "$sync_pid" "$(sync_pattern)" 30
}

# ---------------------------------------------------------------- nginx

# Each nginx instance by name: nginx (the API) or nginx-limits.
nginx_dir_of() { echo "$CHAT_VAR/$1"; }
nginx_pattern() { echo "$(nginx_dir_of "$1")/nginx.conf"; }
nginx_pid_of() { echo "$run_dir/$1.pid"; }

# write_nginx_conf NAME: the configuration of instance NAME.
write_nginx_conf() {
	local name=$1 dir port rate burst read_rate read_burst search_rate search_burst conn
	dir=$(nginx_dir_of "$name")
	if [ "$name" = nginx ]; then
		port=$CHAT_HTTP_PORT conn=$CHAT_ADDR_CONN
		rate=$CHAT_TOKEN_RATE burst=$CHAT_TOKEN_BURST
		read_rate=$CHAT_TOKEN_READ_RATE read_burst=$CHAT_TOKEN_READ_BURST
		search_rate=$CHAT_TOKEN_SEARCH_RATE search_burst=$CHAT_TOKEN_SEARCH_BURST
	else
		port=$CHAT_LIMITS_HTTP_PORT conn=$CHAT_LIMITS_ADDR_CONN
		rate=$CHAT_LIMITS_TOKEN_RATE burst=$CHAT_LIMITS_TOKEN_BURST
		read_rate=$rate read_burst=$burst search_rate=$rate search_burst=$burst
	fi
	local real_ip='# the client address is the peer'
	# The tests of the limits send from other addresses, IPv6 /64s among
	# them, through X-Forwarded-For (only nginx-limits trusts it).
	[ "$name" = nginx ] || real_ip='set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;'
	local user_line='# not started as root: workers run as the user who started nginx'
	[ "$is_root" -eq 0 ] || user_line='user chat chat;'
	local -a subst=(
		-e "s|@USER@|$(sed_quote "$user_line")|g"
		-e "s|@VAR@|$(sed_quote "$CHAT_VAR")|g"
		-e "s|@NAME@|$(sed_quote "$name")|g"
		-e "s|@REAL_IP@|$(sed_quote "$real_ip")|g"
		-e "s|@NGINX_DIR@|$(sed_quote "$dir")|g"
		-e "s|@HTTP_PORT@|$(sed_quote "$port")|g"
		-e "s|@RUN_DIR@|$(sed_quote "$run_dir")|g"
		-e "s|@DOCS_DIR@|$(sed_quote "$CHAT_DOCS_DIR")|g"
		-e "s|@RATE@|$(sed_quote "$CHAT_RATE")|g"
		-e "s|@BURST@|$(sed_quote "$CHAT_BURST")|g"
		-e "s|@TOKEN_RATE@|$(sed_quote "$rate")|g"
		-e "s|@TOKEN_BURST@|$(sed_quote "$burst")|g"
		-e "s|@TOKEN_READ_RATE@|$(sed_quote "$read_rate")|g"
		-e "s|@TOKEN_READ_BURST@|$(sed_quote "$read_burst")|g"
		-e "s|@TOKEN_SEARCH_RATE@|$(sed_quote "$search_rate")|g"
		-e "s|@TOKEN_SEARCH_BURST@|$(sed_quote "$search_burst")|g"
		-e "s|@ADDR_CONN@|$(sed_quote "$conn")|g"
		-e "s|@LIVE_INCLUDE@|$(sed_quote "include $dir/chat-live.conf;")|g"
		-e "s|@LIVE_SOCKET@|$(sed_quote "$(live_socket_of "$name")")|g"
	)
	local f
	mkdir -p -- "$dir/tmp"
	for f in chat-http.conf chat-api.conf chat-default.conf chat-live-http.conf \
		chat-live.conf; do
		sed "${subst[@]}" "$repo/nginx/$f" >"$dir/$f.new"
		mv -f -- "$dir/$f.new" "$dir/$f"
	done
	sed "${subst[@]}" "$repo/nginx/nginx.conf.in" >"$dir/nginx.conf.new"
	mv -f -- "$dir/nginx.conf.new" "$dir/nginx.conf"
	# Relative includes resolve against the directory of nginx.conf.
	cp -f /etc/nginx/fastcgi_params /etc/nginx/mime.types "$dir/"
	if grep -q '@[A-Z_]*@' "$dir"/*.conf; then
		die "$name: unreplaced placeholder in $(grep -l '@[A-Z_]*@' "$dir"/*.conf | tr '\n' ' ')"
	fi
}

# nginx_cmd NAME ARGS...
nginx_cmd() {
	local dir
	dir=$(nginx_dir_of "$1")
	shift
	nginx -p "$dir/" -c "$dir/nginx.conf" -e "$log_dir/$(basename "$dir")-error.log" "$@"
}

# Checksum of the generated nginx configuration (empty when none yet).
nginx_conf_sum() {
	{ cat "$(nginx_dir_of "$1")"/*.conf 2>/dev/null || true; } | md5sum
}

# start_nginx NAME
start_nginx() {
	local name=$1 before pidf pattern err port
	pidf=$(nginx_pid_of "$name")
	pattern=$(nginx_pattern "$name")
	err=$log_dir/$name-error.log
	before=$(nginx_conf_sum "$name")
	write_nginx_conf "$name"
	mark_log "$err"
	if ! nginx_cmd "$name" -t >"$log_dir/$name-test.log" 2>&1; then
		fail "$name (configuration test)" "$log_dir/$name-test.log"
	fi
	if pidfile_alive "$pidf" "$pattern"; then
		# A reload ends the old workers' kept-alive connections, so it
		# is done only when the configuration really changed.
		if [ "$(nginx_conf_sum "$name")" = "$before" ]; then
			say "$name already running (pid $(head -n1 "$pidf"))"
		else
			say "$name already running (pid $(head -n1 "$pidf")); reloading its changed configuration"
			kill -HUP "$(head -n1 "$pidf")"
		fi
		return 0
	fi
	port=$CHAT_HTTP_PORT
	[ "$name" = nginx ] || port=$CHAT_LIMITS_HTTP_PORT
	say "starting $name on 127.0.0.1:$port"
	rm -f -- "$pidf"
	nginx_cmd "$name" </dev/null >>"$err" 2>&1 9>&- ||
		fail "$name" "$err"
	local i
	for ((i = 0; i < 50; i++)); do
		pidfile_alive "$pidf" "$pattern" && return 0
		sleep 0.2
	done
	fail "$name" "$err"
}

# stop_nginx NAME
stop_nginx() {
	stop_pidfile "$1" "$(nginx_pid_of "$1")" "$(nginx_pattern "$1")" 30
}

# ---------------------------------------------------------------- http

http_code() {
	curl -s -o "$2" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$CHAT_HTTP_PORT$1" 2>/dev/null || true
}

# health_ok_but_search CODE BODY: /health says only the search engine is down.
health_ok_but_search() {
	[ "$1" = 503 ] && grep -q '"mysql":"ok"' "$2" && grep -q '"redis":"ok"' "$2"
}

wait_http() {
	local body=$run_dir/health.body code='' i
	if [ ! -x "$CHAT_CGI_DIR/health" ]; then
		warn "cgi-bin/health is not built: checking nginx alone, not the application"
		for ((i = 0; i < 50; i++)); do
			code=$(http_code /bench/ceiling "$body")
			[ "$code" != 200 ] || return 0
			sleep 0.2
		done
		fail "nginx (GET /bench/ceiling answered ${code:-nothing})" "$log_dir/nginx-error.log"
	fi
	for ((i = 0; i < 240; i++)); do
		code=$(http_code /health "$body")
		if [ "$code" = 200 ]; then
			say "up: GET http://127.0.0.1:$CHAT_HTTP_PORT/health answered 200"
			return 0
		fi
		# Without the search engine, the best /health can say is that the
		# rest is up.
		if [ "$CHAT_SKIP_SEARCH" = 1 ] && health_ok_but_search "$code" "$body"; then
			warn "GET /health answered 503 (no search engine: CHAT_SKIP_SEARCH=1): $(cat "$body")"
			return 0
		fi
		sleep 0.5
	done
	printf 'stack: GET /health answered %s after 120 s: %s\n' "${code:-nothing}" \
		"$(cat "$body" 2>/dev/null)" >&2
	fail "the application (GET /health)" "$log_dir/health.log" "$log_dir/nginx-error.log"
}

# ---------------------------------------------------------------- commands

lock() {
	exec 9>"$run_dir/stack.lock"
	flock -w 600 9 || die "another stack.sh holds $run_dir/stack.lock"
}

save_settings() {
	local v
	for v in "${saved_settings[@]}"; do
		printf '%s=%q\n' "$v" "${!v}"
	done >"$stack_env.new"
	mv -f -- "$stack_env.new" "$stack_env"
}

cmd_start() {
	prepare_dirs
	lock
	save_settings
	start_mysql
	if [ "$CHAT_REDIS_CLUSTER" -gt 0 ]; then
		start_redis_cluster
	else
		CHAT_REDIS_NODES=
		export -n CHAT_REDIS_NODES
		start_redis
	fi
	save_settings
	start_search
	start_host_programs
	start_sync
	start_nginx nginx
	[ "$CHAT_LIMITS_NGINX" = 0 ] || start_nginx nginx-limits
	start_relay nginx
	[ "$CHAT_LIMITS_NGINX" = 0 ] || start_relay nginx-limits
	wait_http
	say "stack is up in $CHAT_VAR (http://127.0.0.1:$CHAT_HTTP_PORT)"
}

cmd_stop() {
	[ -d "$run_dir" ] || {
		say "nothing to stop in $CHAT_VAR"
		return 0
	}
	lock
	stop_relays
	stop_nginx nginx-limits
	stop_nginx nginx
	stop_sync
	stop_host_programs
	stop_search
	stop_redis
	stop_redis_cluster
	stop_mysql
	say "stopped"
}

# What every API host runs behind its nginx (README "Scaling out"): the
# FastCGI programs and the workers. start-host and stop-host act on these
# and nginx alone; a new per-host program is added to both functions.
start_host_programs() {
	start_fcgi "${fcgi_programs[@]}"
	start_workers
}

stop_host_programs() {
	stop_workers
	stop_fcgi "${fcgi_programs[@]}"
}

# start-host: one more API host in front of stores that run elsewhere
# (CHAT_MYSQL_HOST, CHAT_REDIS_HOST or CHAT_REDIS_NODES, CHAT_ES_URL):
# its programs, its workers (CHAT_WORKER_NAME-1... tells them from other
# hosts'), its nginx and its live relay; up when its GET /health answers
# 200.
# tests/harness/hosts.sh runs one per network namespace.
cmd_start_host() {
	prepare_dirs
	lock
	save_settings
	start_host_programs
	start_nginx nginx
	start_relay nginx
	wait_http
	say "host is up in $CHAT_VAR (http://127.0.0.1:$CHAT_HTTP_PORT)"
}

cmd_stop_host() {
	[ -d "$run_dir" ] || {
		say "nothing to stop in $CHAT_VAR"
		return 0
	}
	lock
	stop_relays
	stop_nginx nginx
	stop_host_programs
	say "host stopped"
}

cmd_status() {
	local rc=0
	# part NAME STATE DETAIL: STATE up, down, or anything else (skip, absent)
	# which does not count as down.
	part() {
		printf '%-18s %-6s %s\n' "$1" "$2" "$3"
		[ "$2" != down ] || rc=3
	}
	updown() { if "$@" >/dev/null 2>&1; then echo up; else echo down; fi; }
	redis_up() { pidfile_alive "$redis_pid" redis-server && redis_ping; }

	part mysql "$(updown mysql_alive)" "127.0.0.1:$CHAT_MYSQL_PORT"
	if [ "$CHAT_REDIS_CLUSTER" -gt 0 ]; then
		part "redis cluster" "$(updown cluster_ok)" "$CHAT_REDIS_NODES"
	else
		part redis "$(updown redis_up)" \
			"127.0.0.1:$CHAT_REDIS_PORT"
	fi
	if [ "$CHAT_SKIP_SEARCH" = 1 ]; then
		part search skip "CHAT_SKIP_SEARCH=1"
	elif [ -f "$es_script" ] && [ "$CHAT_ES_NODES" -le 1 ]; then
		part search "$(updown es_node 1 status)" "$CHAT_ES_URL"
	elif [ -f "$es_script" ]; then
		local n
		for ((n = 1; n <= CHAT_ES_NODES; n++)); do
			part "search node $n" "$(updown es_node "$n" status)" \
				"http://127.0.0.1:$((CHAT_ES_PORT + n - 1))"
		done
	else
		part search down "$es_script missing"
	fi

	local name prog
	for name in "${fcgi_programs[@]}"; do
		prog=$CHAT_CGI_DIR/$name
		if [ -x "$prog" ] || [ -s "$run_dir/$name.pid" ]; then
			part "fcgi $name" "$(updown pidfile_alive "$run_dir/$name.pid" "$prog")" \
				"$(pidfile_count "$run_dir/$name.pid" "$prog") processes"
		else
			part "fcgi $name" absent "not built"
		fi
	done

	local f n i=0
	for f in "$run_dir"/worker.*.pid; do
		[ -e "$f" ] || continue
		i=$((i + 1))
		n=${f##*/worker.}
		part "worker ${n%.pid}" "$(updown pidfile_alive "$f" "$CHAT_JOBS_DIR/worker")" ""
	done
	if [ "$i" -eq 0 ]; then
		if [ -x "$CHAT_JOBS_DIR/worker" ]; then
			part worker down "not started"
		else
			part worker absent "not built"
		fi
	fi
	if [ -x "$CHAT_JOBS_DIR/sync" ] || [ -s "$sync_pid" ]; then
		part "sync timer" "$(updown pidfile_alive "$sync_pid" "$(sync_pattern)")" \
			"every ${CHAT_SYNC_INTERVAL}s"
	else
		part "sync timer" absent "jobs/sync not built"
	fi
	for name in nginx nginx-limits; do
		if [ "$name" = nginx-limits ] && [ "$CHAT_LIMITS_NGINX" = 0 ]; then
			part "live relay $name" skip "CHAT_LIMITS_NGINX=0"
		elif [ -x "$(relay_prog)" ] || [ -s "$run_dir/live-relay.$name.pid" ]; then
			part "live relay $name" "$(updown pidfile_alive "$run_dir/live-relay.$name.pid" "$(relay_prog)")" ""
		else
			part "live relay $name" absent "not built"
		fi
	done
	part nginx "$(updown pidfile_alive "$nginx_pid" "$(nginx_pattern nginx)")" \
		"127.0.0.1:$CHAT_HTTP_PORT"
	if [ "$CHAT_LIMITS_NGINX" = 0 ]; then
		part nginx-limits skip "CHAT_LIMITS_NGINX=0"
	else
		part nginx-limits "$(updown pidfile_alive "$(nginx_pid_of nginx-limits)" "$(nginx_pattern nginx-limits)")" \
			"127.0.0.1:$CHAT_LIMITS_HTTP_PORT"
	fi

	local body code state=down
	body=$(mktemp)
	code=$(http_code /health "$body")
	if [ "$code" = 200 ]; then
		state=up
	elif [ "$CHAT_SKIP_SEARCH" = 1 ] && health_ok_but_search "$code" "$body"; then
		state=skip
	fi
	part "GET /health" "$state" "${code:-no answer} $(head -c 200 "$body")"
	rm -f -- "$body"
	return $rc
}

cmd_logs() {
	local -a files=()
	mapfile -t files < <(
		ls -1 "$log_dir"/*.log 2>/dev/null
		es_logs
	)
	[ ${#files[@]} -gt 0 ] || die "no logs in $log_dir yet"
	exec tail -n 20 -F -- "${files[@]}"
}

# run: the stack in the foreground: start it, follow the logs, and stop it
# on Ctrl-C or TERM.
cmd_run() {
	cmd_start
	exec 9>&-
	say "following the logs; Ctrl-C stops the stack"
	local -a files=()
	mapfile -t files < <(
		ls -1 "$log_dir"/*.log 2>/dev/null
		es_logs
	)
	local tail_pid
	tail -n 0 -F -- "${files[@]}" &
	tail_pid=$!
	# A background command ignores Ctrl-C here: this shell stops it.
	trap 'kill "$tail_pid" 2>/dev/null || true' INT TERM
	wait "$tail_pid" || true
	trap - INT TERM
	kill "$tail_pid" 2>/dev/null || true
	echo
	cmd_stop
}

# Descriptors the caller left open (a lock, the write end of a pipe) must
# not reach the services, which outlive this script: keep only 0-2 (and
# 255, bash's own hold on this script).
close_inherited() {
	local fd
	for fd in "/proc/$$/fd/"*; do
		fd=${fd##*/}
		case $fd in 0 | 1 | 2 | 255) continue ;; esac
		[[ $fd =~ ^[0-9]+$ ]] && { eval "exec $fd>&-"; } 2>/dev/null
	done
	return 0
}
close_inherited

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
start-host) cmd_start_host ;;
stop-host) cmd_stop_host ;;
status) cmd_status ;;
logs) cmd_logs ;;
run) cmd_run ;;
_sync-loop) sync_loop ;;
*)
	echo "usage: $0 start|stop|status|logs|run|start-host|stop-host" >&2
	exit 2
	;;
esac
