#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The benchmarks (`make bench`, `make bench-smoke`): every hot path measured
# against the machine's own ceilings, on a private stack that this script
# starts and stops itself, one run, one report.
#
# Usage: tests/bench/bench.sh [--smoke]
#
# Parts, in the order they run:
#
#   warm-up        one application, chat and message through nginx, the
#                  worker, MariaDB and the search engine (creates the index,
#                  so no part below times that)
#   worker         N message jobs (job format of lib/queue.h) written
#                  straight into the stream of one application with
#                  redis-cli --pipe while the worker is stopped, then the
#                  worker started: seconds until all N rows are in MariaDB
#                  (messages/s) and until all N are counted by the search
#                  engine (documents/s)
#   MariaDB ceiling  the same rows inserted by the mariadb client into an
#                  empty copy of the messages table, 500-row INSERTs, one
#                  commit each (the median of BENCH_RUNS runs)
#   search latency p50/p99 of partial-match queries (bench.lua's `query`)
#                  through nginx with one connection, on the chat that got
#                  BENCH_HOT of the N messages: right after the worker
#                  part, and again once the engine has merged its segments
#                  and compiled its search code (part_search_latency)
#   sync           jobs/sync on BENCH_SYNC_CHATS changed chats (chats and
#                  one message each written by SQL, markers by SADD)
#   Redis ceiling  redis-benchmark running EVALSHA of lib/queue.c's message
#                  create script (its text taken from queue.c and checked
#                  against the copy the API loaded), 64 clients
#   HTTP           wrk with bench.lua, BENCH_CONNECTIONS connections and
#                  BENCH_DURATION seconds each: the nginx ceiling
#                  (/bench/ceiling), the FastCGI floor (/bench/fcgi:
#                  tests/bench/fcgi-noop.c, a program that does nothing,
#                  behind the same nginx, CHAT_FCGI_PROCS processes), POST
#                  messages, POST chats, GET message, a list page, a
#                  search; then each API path again at half its measured
#                  rate (bench.lua's paced mode), for p99; and for each
#                  path the CPU time per request of the stack's processes
#                  by group (nginx, programs, MariaDB, Redis, worker and
#                  relays, search engine) from /proc/PID/stat
#   durability     POST …/chats as in HTTP, once per durability mode:
#                  appendfsync everysec, appendfsync always, and
#                  CHAT_REDIS_DURABLE=replica with a replica started for it
#   pairs          (only when BENCH_PARTS names it, after worker) two sides
#                  of one change, side by side on this stack: in each of
#                  BENCH_PAIR_ROUNDS rounds, BENCH_PAIR_A switches the stack
#                  to side A and each of BENCH_PAIR_PATHS runs once, then
#                  the same for B; req/s and CPU time per request by group
#                  for each run, their medians, and B ÷ A. In turn, so that
#                  the machine's drift falls on both sides
#   RSS            VmHWM (peak RSS) and USS (private memory now:
#                  Private_Clean + Private_Dirty of /proc/PID/smaps_rollup)
#                  of every FastCGI process (the largest of each program)
#                  and of the worker, after all of the above
#
# Every figure that wrk or redis-benchmark produces, and the MariaDB
# ceiling, is the median of BENCH_RUNS runs. The report, a Markdown table
# with the targets beside the figures, is printed and written to
# $CHAT_VAR/report-<date>.md. The last line is
#
#   N passed, M failed
#
# counting the parts that produced their number (and, for HTTP, with no
# more than 1% error answers) and those that did not. Exit status 0 only
# when M is 0. Missed targets are reported, not counted as failures: this
# measures, it does not judge the machine.
#
# The stack: CHAT_VAR=var/bench, HTTP 12080, MariaDB 12307, Redis 12380,
# search engine 12250 (override with CHAT_BENCH_VAR, CHAT_BENCH_HTTP_PORT,
# CHAT_BENCH_MYSQL_PORT, CHAT_BENCH_REDIS_PORT, CHAT_BENCH_ES_PORT). Every
# other CHAT_* variable of the caller is dropped (so a shell set up for the
# development stack cannot point the benchmark at it) except the knobs
# CHAT_FCGI_PROCS, CHAT_TIMEOUT_MS, CHAT_WORKER_BATCH,
# CHAT_WORKER_WAIT_MS, CHAT_INDEX_WAIT_MS and CHAT_ES_HEAP. The stack is
# started without workers (CHAT_WORKERS=0): this script runs the one
# worker itself, as $CHAT_VAR/run/worker.1.pid, so that `stack.sh stop`
# would stop it too. It has one nginx and one live relay, as an API host
# has (CHAT_LIMITS_NGINX=0). Its data (MariaDB, Redis, index) is wiped
# before each run unless BENCH_KEEP=1; reports are kept.
#
# Settings (full / --smoke defaults):
#   BENCH_DURATION     seconds per wrk run (5 / 2)
#   BENCH_RUNS         runs per figure, the median reported (3 / 1)
#   BENCH_CONNECTIONS  wrk connections (64 / 64)
#   BENCH_THREADS      wrk threads (nproc, at most 4)
#   BENCH_JOBS         N, message jobs of the worker part (1000000 / 2000;
#                      a smaller N, e.g. 50000, for a quick full run)
#   BENCH_HOT          about how many of them go to the searched chat
#                      (N / 10 / N / 2: 100,000 of 1,000,000 by default)
#   BENCH_CHATS        chats they are spread over (1000 / 20)
#   BENCH_SYNC_CHATS   changed chats for jobs/sync (100000 / 1000)
#   BENCH_WARM         documents the search engine indexes into a scratch
#                      index before the worker part (100000 / 2000; 0: none):
#                      see warm_engine
#   BENCH_REDIS_REQUESTS  EVALSHA calls per redis-benchmark run
#                      (200000 / 5000)
#   BENCH_WAIT         longest wait for the worker or a queue to drain, in
#                      seconds (1800 / 120)
#   BENCH_KEEP=1       keep the stack's data from the last run
#   BENCH_SOURCE       what the report says was measured (default: the
#                      commit, and whether lib/ cgi-bin/ jobs/ nginx/ differ)
#   BENCH_PARTS        the parts to run, of: worker mysql search sync redis
#                      http half pairs durable rss (default all but pairs /
#                      all; mysql, search and pairs use the worker part's
#                      rows, half uses http's rates)
#   BENCH_HTTP_PATHS   the HTTP paths measured (default all: ceiling fcgi_floor
#                      fcgi_keep post_message post_chat get_message list search)
#   BENCH_PAIR_CGI_B   the pairs part's side B runs the FastCGI programs of
#                      this directory (another checkout's cgi-bin, built),
#                      side A this checkout's: two builds compared (the
#                      part restarts the API host, stack.sh stop-host and
#                      start-host, at each change of side)
#   BENCH_PAIR_A, BENCH_PAIR_B  besides, or instead: bash commands that
#                      switch the stack to each side (an nginx directive,
#                      a MariaDB setting), run with the stack's CHAT_*
#                      settings and BENCH_STACK (the path of stack.sh) in
#                      their environment. Neither set: A against A, which
#                      shows the noise
#   BENCH_PAIR_ROUNDS  rounds of the pairs part (3 / 1)
#   BENCH_PAIR_PATHS   its paths, of the API paths of BENCH_HTTP_PATHS
#                      (get_message list)
#   BENCH_WORKER_ALONE=1  the worker part persists with the machine to
#                      itself: the search engine and the live relay are
#                      paused (SIGSTOP) from the worker's start until every
#                      row is in MariaDB, then resumed (SIGCONT), so the
#                      ratio to the MariaDB ceiling compares the two on the
#                      same idle machine; the documents/s then count the
#                      pause too
#   BENCH_LEAVE_UP=1   leave the stack (and the worker) running at the end,
#                      to profile against it; stop it with
#                      CHAT_VAR=var/bench tests/harness/stack.sh stop

set -uo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1

mode=full
case ${1:-} in
--smoke) mode=smoke ;;
'') ;;
*)
	echo "usage: $0 [--smoke]" >&2
	exit 2
	;;
esac

# ---------------------------------------------------------------- settings

if [ "$mode" = smoke ]; then
	: "${BENCH_DURATION:=2}" "${BENCH_RUNS:=1}" "${BENCH_JOBS:=2000}"
	: "${BENCH_CHATS:=20}" "${BENCH_SYNC_CHATS:=1000}"
	: "${BENCH_REDIS_REQUESTS:=5000}" "${BENCH_WAIT:=120}"
	: "${BENCH_WARM:=2000}" "${BENCH_PAIR_ROUNDS:=1}"
	# Every part, the pairs too (A against A), so that none can rot.
	: "${BENCH_PARTS:=worker mysql search sync redis http half pairs durable rss}"
else
	: "${BENCH_DURATION:=5}" "${BENCH_RUNS:=3}" "${BENCH_JOBS:=1000000}"
	: "${BENCH_CHATS:=1000}" "${BENCH_SYNC_CHATS:=100000}"
	: "${BENCH_REDIS_REQUESTS:=200000}" "${BENCH_WAIT:=1800}"
	: "${BENCH_WARM:=100000}"
	: "${BENCH_HOT:=$((BENCH_JOBS / 10))}" "${BENCH_PAIR_ROUNDS:=3}"
fi
: "${BENCH_PAIR_A:=:}" "${BENCH_PAIR_B:=:}"
read -r -a pair_paths <<<"${BENCH_PAIR_PATHS:-get_message list}"
: "${BENCH_HOT:=$((BENCH_JOBS / 2))}"
: "${BENCH_CONNECTIONS:=64}"
ncpu=$(nproc 2>/dev/null || echo 1)
: "${BENCH_THREADS:=$((ncpu < 4 ? ncpu : 4))}"
: "${BENCH_KEEP:=0}"
: "${BENCH_LEAVE_UP:=0}"
: "${BENCH_WORKER_ALONE:=0}"
: "${BENCH_PARTS:=worker mysql search sync redis http half durable rss}"

while IFS= read -r var; do
	case $var in
	CHAT_FCGI_PROCS | CHAT_TIMEOUT_MS | CHAT_WORKER_BATCH | \
		CHAT_WORKER_WAIT_MS | CHAT_INDEX_WAIT_MS | CHAT_ES_HEAP | \
		CHAT_BENCH_*) ;;
	CHAT_*) unset "$var" ;;
	esac
done < <(compgen -e)
export CHAT_VAR=${CHAT_BENCH_VAR:-$repo/var/bench}
export CHAT_HTTP_PORT=${CHAT_BENCH_HTTP_PORT:-12080}
export CHAT_MYSQL_PORT=${CHAT_BENCH_MYSQL_PORT:-12307}
export CHAT_REDIS_PORT=${CHAT_BENCH_REDIS_PORT:-12380}
export CHAT_ES_PORT=${CHAT_BENCH_ES_PORT:-12250}
export CHAT_ES_URL=http://127.0.0.1:$CHAT_ES_PORT
export CHAT_WORKERS=0
# One nginx and one live relay, as on an API host: the second nginx of the
# limits' tests would double the live streams' work behind every create.
export CHAT_LIMITS_NGINX=0
# One token at full speed: the per-token and per-address limits out of the way.
export CHAT_TOKEN_RATE=100000r/s CHAT_TOKEN_BURST=100000 \
	CHAT_TOKEN_READ_RATE=100000r/s CHAT_TOKEN_READ_BURST=100000 \
	CHAT_TOKEN_SEARCH_RATE=100000r/s CHAT_TOKEN_SEARCH_BURST=100000 \
	CHAT_ADDR_CONN=60000
# shellcheck source=../harness/env.sh
. "$repo/tests/harness/env.sh"

stack=$repo/tests/harness/stack.sh
base=http://127.0.0.1:$CHAT_HTTP_PORT
run_dir=$CHAT_VAR/run
worker_bin=$repo/jobs/worker
sync_bin=$repo/jobs/sync
worker_pidf=$run_dir/worker.1.pid
worker_log=$CHAT_VAR/log/worker.1.log
export BENCH_WORDS=$here/words.txt
export MYSQL_PWD=$CHAT_MYSQL_PASSWORD

missing=()
for tool in wrk redis-cli redis-benchmark mariadb curl awk sha1sum; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	printf 'bench: missing tools: %s (tests/harness/deps.sh installs them)\n' "${missing[*]}" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/chat-bench.XXXXXX") || exit 1
stack_started=0
finished=0

say() { printf 'bench: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- results

passed=0
failed=0
declare -A R=()	# figures by name, for the report
declare -a failures=()

ok() {
	passed=$((passed + 1))
	say "part $1: ok"
}

bad() {
	failed=$((failed + 1))
	failures+=("$1: $2")
	say "part $1: FAILED: $2"
}

summary() { printf '%d passed, %d failed\n' "$passed" "$failed"; }

# ---------------------------------------------------------------- helpers

now() { date +%s.%N; }
# fcalc EXPR: floating-point arithmetic (awk), printed with %.Nf when a
# second argument gives N.
fcalc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
# median VALUES...: of numbers (the mean of the two middle ones for an
# even count); prints nothing for none.
median() {
	[ $# -gt 0 ] || return 0
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2];
		      else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

sql() {
	mariadb --no-defaults -h 127.0.0.1 -P "$CHAT_MYSQL_PORT" \
		-u "$CHAT_MYSQL_USER" -N -B "$CHAT_MYSQL_DATABASE" "$@"
}

# The ceiling's scratch table is DDL, which only the migrations' account
# may run (the programs' account reads and writes rows).
sql_ddl() {
	MYSQL_PWD=$CHAT_MIGRATE_PASSWORD mariadb --no-defaults -h 127.0.0.1 \
		-P "$CHAT_MYSQL_PORT" -u "$CHAT_MIGRATE_USER" -N -B "$CHAT_MYSQL_DATABASE" "$@"
}

# Both log in with CHAT_REDIS_PASSWORD (env.sh): redis-cli through
# REDISCLI_AUTH, redis-benchmark, which has no such variable, through -a
# (a local throwaway password, so ps showing it does not matter).
rcli() { redis-cli -h 127.0.0.1 -p "$CHAT_REDIS_PORT" "$@"; }

shard_of() { echo $(($1 % 16)); }

# Jobs not yet finished by the worker, over the 16 shard streams (the
# worker deletes each job once it is persisted and indexed).
queue_len() {
	local s n=0 l
	for ((s = 0; s < 16; s++)); do
		l=$(rcli XLEN "chat:{s$s}:jobs" 2>/dev/null) || return 1
		n=$((n + ${l:-0}))
	done
	echo "$n"
}

# wait_drained SECONDS: until the queue is empty; 1 on timeout.
wait_drained() {
	local deadline=$((SECONDS + $1)) n
	while :; do
		n=$(queue_len) || n=x
		[ "$n" != 0 ] || return 0
		[ "$SECONDS" -lt "$deadline" ] || {
			say "the queue still holds $n jobs after $1 s"
			return 1
		}
		sleep 0.2
	done
}

# es_count APP [CHAT]: documents of the application (and chat) that a
# search sees now.
es_count() {
	local filter='{"term":{"app":'"$1"'}}'
	[ -z "${2:-}" ] || filter+=',{"term":{"chat":'"$2"'}}'
	curl -s --max-time 5 -H 'Content-Type: application/json' \
		-d '{"query":{"bool":{"filter":['"$filter"']}}}' \
		"$CHAT_ES_URL/$CHAT_ES_INDEX/_count" 2>/dev/null |
		sed -n 's/^{"count":\([0-9]*\).*/\1/p'
}

# http METHOD PATH [BODY]: prints "<status> <body>".
http() {
	local args=(-s --max-time 10 -X "$1" -o "$work/http.body" -w '%{http_code}')
	[ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' -d "$3")
	local code
	code=$(curl "${args[@]}" "$base$2" 2>/dev/null) || code=000
	printf '%s %s\n' "$code" "$(cat "$work/http.body" 2>/dev/null)"
}

# new_app NAME: prints "<token> <id>" of a new application.
new_app() {
	local out token id
	out=$(http POST /applications "{\"name\":\"$1\"}")
	token=$(printf '%s' "$out" | sed -n 's/^201 .*"token":"\([A-Za-z0-9_-]*\)".*/\1/p')
	[ -n "$token" ] || {
		say "POST /applications answered: $out"
		return 1
	}
	id=$(sql -e "SELECT id FROM applications WHERE token_sha256 = UNHEX(SHA2('$token', 256))") || return 1
	[ -n "$id" ] || return 1
	echo "$token $id"
}

# ---------------------------------------------------------------- worker

worker_pid() {
	local pid
	pid=$(head -n1 "$worker_pidf" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null |
		grep -qF "$worker_bin" && echo "$pid"
}

start_worker() {
	worker_pid >/dev/null && return 0
	setsid "$worker_bin" </dev/null >>"$worker_log" 2>&1 &
	echo $! >"$worker_pidf"
	sleep 0.2
	worker_pid >/dev/null || {
		say "the worker did not start; its log ends:"
		tail -n 20 "$worker_log" >&2
		return 1
	}
}

stop_worker() {
	local pid i
	pid=$(worker_pid) || {
		rm -f "$worker_pidf"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	rm -f "$worker_pidf"
}

# The no-op FastCGI program of GET /bench/fcgi (nginx.conf.in), built
# into the run directory, which the stack's user can reach.
noop_bin=$run_dir/bench-noop
noop_pidf=$run_dir/bench-noop.pid

start_noop() {
	local -a owner=()
	local -a flags
	read -r -a flags <<<"$(pkg-config --cflags --libs fcgi)"
	local lib=$here/../../lib
	cc -std=c11 -D_GNU_SOURCE -O2 -pthread -I"$lib" -o "$noop_bin" \
		"$here/fcgi-noop.c" "$lib/serve.c" "$lib/clock.c" "$lib/proc.c" \
		${flags[@]+"${flags[@]}"} >"$work/noop.log" 2>&1 || {
		cat "$work/noop.log" >&2
		return 1
	}
	chmod 755 "$noop_bin"
	[ "$(id -u)" -ne 0 ] || owner=(-u chat -g chat -U chat -G chat)
	rm -f "$run_dir/bench-noop.sock" "$run_dir/bench-noop-keep.sock"
	# libfcgi's loop (one connection per request) on bench-noop.sock
	# (/bench/fcgi, the floor); the programs' loop (lib/serve.c,
	# connections kept) on bench-noop-keep.sock (/bench/fcgi-keep).
	spawn-fcgi -s "$run_dir/bench-noop.sock" -M 0660 -F "$CHAT_FCGI_PROCS" \
		-P "$noop_pidf" ${owner[@]+"${owner[@]}"} -- "$noop_bin" \
		>"$work/noop.log" 2>&1 &&
		spawn-fcgi -s "$run_dir/bench-noop-keep.sock" -M 0660 -F "$CHAT_FCGI_PROCS" \
			-P "$noop_pidf.keep" ${owner[@]+"${owner[@]}"} -- "$noop_bin" serve \
			>>"$work/noop.log" 2>&1 || {
		cat "$work/noop.log" >&2
		return 1
	}
}

stop_noop() {
	local pid f
	for f in "$noop_pidf" "$noop_pidf.keep"; do
		[ -s "$f" ] || continue
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] || continue
			tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | grep -qF "$noop_bin" &&
				kill -TERM "$pid" 2>/dev/null
		done < <(grep -Eo '^[0-9]+' "$f")
	done
	rm -f "$noop_pidf" "$noop_pidf.keep" "$run_dir/bench-noop.sock" \
		"$run_dir/bench-noop-keep.sock"
}

# uss PID: the private memory (USS) of PID in kB, from smaps_rollup.
uss() {
	awk '$1 == "Private_Clean:" || $1 == "Private_Dirty:" { n += $2 }
		END { if (NR) print n }' "/proc/$1/smaps_rollup" 2>/dev/null
}

# vm PID FIELD: a /proc/PID/status figure in kB.
vm() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }

# ---------------------------------------------------------------- stack

# BENCH_WORKER_ALONE: the processes that work beside the worker while it
# persists, the search engine's JVMs and the live relays, paused until
# resume_background (also on exit: a stopped process would not stop).
paused=()
pause_background() {
	[ "$BENCH_WORKER_ALONE" = 1 ] || return 0
	mapfile -t paused < <(cat "$CHAT_VAR"/es*/search.pid \
		"$run_dir"/live-relay.*.pid 2>/dev/null | grep -Eo '^[0-9]+')
	[ "${#paused[@]}" -eq 0 ] || kill -STOP "${paused[@]}" 2>/dev/null
}

resume_background() {
	[ "${#paused[@]}" -eq 0 ] || kill -CONT "${paused[@]}" 2>/dev/null
	paused=()
}

# shellcheck disable=SC2317  # called by the trap
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	resume_background
	if [ "$stack_started" -eq 1 ] || [ "$finished" -eq 0 ]; then
		stop_worker
	fi
	stop_noop
	stop_replica
	if [ "$stack_started" -eq 1 ]; then
		say "stopping the bench stack"
		"$stack" stop >/dev/null 2>&1 || say "warning: stack.sh stop failed"
	fi
	rm -rf -- "$work"
	if [ "$finished" -eq 0 ]; then
		say "interrupted"
		[ "$failed" -gt 0 ] || failed=1
		summary
		[ "$rc" -ne 0 ] || rc=1
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_stack() {
	say "building"
	make -s all >"$work/make.log" 2>&1 || {
		cat "$work/make.log" >&2
		return 1
	}
	"$stack" stop >/dev/null 2>&1 || true
	if [ "$BENCH_KEEP" != 1 ]; then
		rm -rf -- "$CHAT_VAR/mysql" "$CHAT_VAR/redis" "$CHAT_VAR/es" \
			"$CHAT_VAR/log" "$CHAT_VAR/run" "$CHAT_VAR/nginx"
	fi
	mkdir -p "$CHAT_VAR/log" "$run_dir"
	say "starting the bench stack in $CHAT_VAR (http $CHAT_HTTP_PORT, mysql $CHAT_MYSQL_PORT, redis $CHAT_REDIS_PORT, search $CHAT_ES_PORT)"
	stack_started=1
	"$stack" start >"$work/stack.log" 2>&1 || {
		cat "$work/stack.log" >&2
		return 1
	}
	start_worker
}

# ---------------------------------------------------------------- parts

APP_TOKEN='' APP_ID=''
HOT_MAX=1	# messages persisted in chat 1 of the application

part_warmup() {
	local w wt wid out i
	w=$(new_app bench-warmup) || return 1
	read -r wt wid <<<"$w"
	out=$(http POST "/applications/$wt/chats")
	[[ $out == 202* ]] || { say "POST chats: $out"; return 1; }
	out=$(http POST "/applications/$wt/chats/1/messages" '{"body":"warm up hello"}')
	[[ $out == 202* ]] || { say "POST messages: $out"; return 1; }
	wait_drained 60 || return 1
	for ((i = 0; i < 100; i++)); do
		[ "$(es_count "$wid")" = 1 ] && break
		sleep 0.2
	done
	out=$(http GET "/applications/$wt/chats/1/messages/search?q=ell")
	[[ $out == 200*'"number":1'* ]] || { say "search: $out"; return 1; }
	local a
	a=$(new_app bench) || return 1
	read -r APP_TOKEN APP_ID <<<"$a"
}

# The search engine's warm-up: a JVM compiles its hot code in its first
# minutes of work, which the engine of a running service has long done,
# while the stack's is fresh (during a cold load its JIT compiler took
# three quarters of a CPU). BENCH_WARM documents, as the indexer sends them
# (bulk.awk, 1,000 a request), go into a scratch index with the service's
# mapping, which is deleted after: the worker part then measures the engine
# as it runs, not as it starts. R[warm_rate]: the cold engine's rate.
warm_engine() {
	local n=$BENCH_WARM ix=bench-warm dir=$work/warm f t0
	[ "$n" -gt 0 ] || return 0
	say "worker: warming the search engine up with $n documents"
	mkdir -p "$dir" || return 1
	awk -v n="$n" -v hot=$((n / 10)) -v chats="$BENCH_CHATS" -v seed=7 \
		-f "$here/rows.awk" "$BENCH_WORDS" |
		LC_ALL=C awk -F '\t' -v docs=1000 -v bytes=0 -v dir="$dir" \
			-v app=0 -v ts="$(date +%s)" -f "$here/bulk.awk" >/dev/null ||
		return 1
	curl -sS -m 60 -X DELETE "$CHAT_ES_URL/$ix" >/dev/null
	curl -fsS -m 60 -X PUT -H 'Content-Type: application/json' \
		--data-binary @"$repo/lib/search-index.json" "$CHAT_ES_URL/$ix" \
		>/dev/null || { say "warm-up: could not create $ix"; return 1; }
	t0=$(now)
	for f in "$dir"/b.*; do
		curl -sS -m 120 -H 'Content-Type: application/x-ndjson' \
			--data-binary @"$f" "$CHAT_ES_URL/$ix/_bulk" |
			grep -q '"errors":false' || {
			say "warm-up: $f had errors"
			return 1
		}
	done
	R[warm_rate]=$(fcalc "$n / ($(now) - $t0)" 0)
	curl -sS -m 60 -X DELETE "$CHAT_ES_URL/$ix" >/dev/null
	rm -rf "$dir"
}

# The worker part: R[worker_db_rate], R[worker_es_rate].
part_worker() {
	local n=$BENCH_JOBS shard ts t0 t_db='' t_es='' c e out deadline
	shard=$(shard_of "$APP_ID")
	ts=$(date +%s)
	say "worker: generating $n jobs ($BENCH_HOT in chat 1, $BENCH_CHATS chats)"
	awk -v n="$n" -v hot="$BENCH_HOT" -v chats="$BENCH_CHATS" -v seed=42 \
		-f "$here/rows.awk" "$BENCH_WORDS" >"$work/rows.tsv" || return 1
	HOT_MAX=$(awk -F '\t' '$1 == 1 { n++ } END { print n + 0 }' "$work/rows.tsv")
	stop_worker
	warm_engine || return 1
	LC_ALL=C awk -F '\t' -v app="$APP_ID" -v shard="$shard" -v ts="$ts" \
		-f "$here/resp.awk" "$work/rows.tsv" >"$work/jobs.resp" || return 1
	out=$(rcli --pipe <"$work/jobs.resp" 2>&1)
	[[ $out == *"errors: 0,"* ]] || { say "redis-cli --pipe: $out"; return 1; }
	local before
	before=$(sql -e "SELECT COALESCE(MAX(id), 0) FROM messages") || return 1
	say "worker: $(rcli XLEN "chat:{s$shard}:jobs") jobs queued; starting the worker"
	t0=$(now)
	start_worker || return 1
	pause_background
	deadline=$((SECONDS + BENCH_WAIT))
	# Counting the new rows reads an index entry for each: at 1M, a tenth
	# of a second or more of MariaDB's CPU per look, taken from the worker
	# being measured. The largest id is one descent of that index; count
	# only once the ids reach n (an id can be spent without a row, so the
	# count decides).
	while [ -z "$t_db" ] || [ -z "$t_es" ]; do
		if [ -z "$t_db" ]; then
			c=$(sql -e "SELECT COALESCE(MAX(id), 0) - $before FROM messages")
			[ "${c:-0}" -lt "$n" ] ||
				c=$(sql -e "SELECT COUNT(*) FROM messages WHERE id > $before")
			[ "${c:-0}" -lt "$n" ] || t_db=$(now)
			[ -z "$t_db" ] || resume_background
		fi
		if [ -z "$t_es" ] && [ "${#paused[@]}" -eq 0 ]; then
			e=$(es_count "$APP_ID")
			[ "${e:-0}" -lt "$n" ] || t_es=$(now)
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			say "worker: after ${BENCH_WAIT}s, about $c rows and ${e:-0} documents of $n"
			break
		fi
		sleep 0.25
	done
	resume_background
	R[worker_jobs]=$n
	[ -z "$t_db" ] || {
		R[worker_db_s]=$(fcalc "$t_db - $t0" 2)
		R[worker_db_rate]=$(fcalc "$n / ($t_db - $t0)" 0)
	}
	[ -z "$t_es" ] || {
		R[worker_es_s]=$(fcalc "$t_es - $t0" 2)
		R[worker_es_rate]=$(fcalc "$n / ($t_es - $t0)" 0)
	}
	local pid
	pid=$(worker_pid) && R[worker_hwm_kb]=$(vm "$pid" VmHWM)
	[ -n "$t_db" ]
}

part_mysql_ceiling() {
	local t0 t1 ts
	ts=$(date +%s)
	sql -e "SELECT number, id FROM chats WHERE application_id = $APP_ID" \
		>"$work/ids.tsv" || return 1
	LC_ALL=C awk -F '\t' -v table=bench_messages -v per=500 -v ts="$ts" \
		-f "$here/sql.awk" "$work/ids.tsv" "$work/rows.tsv" >"$work/ceiling.sql" ||
		return 1
	local i c
	local -a secs=()
	# A few seconds each, and noisy: the median of BENCH_RUNS runs.
	for ((i = 1; i <= BENCH_RUNS; i++)); do
		sql_ddl -e "DROP TABLE IF EXISTS bench_messages; CREATE TABLE bench_messages LIKE messages" ||
			return 1
		t0=$(now)
		sql <"$work/ceiling.sql" || return 1
		t1=$(now)
		c=$(sql -e "SELECT COUNT(*) FROM bench_messages")
		sql_ddl -e "DROP TABLE bench_messages"
		[ "$c" = "$BENCH_JOBS" ] || { say "MariaDB ceiling: $c rows of $BENCH_JOBS"; return 1; }
		secs+=("$(fcalc "$t1 - $t0" 3)")
		say "MariaDB ceiling run $i: ${secs[-1]} s"
	done
	R[mysql_s]=$(fcalc "$(median "${secs[@]}")" 2)
	R[mysql_rate]=$(fcalc "$BENCH_JOBS / ${R[mysql_s]}" 0)
}

# wrk_once KIND CONNECTIONS THREADS DURATION RATE: one wrk run; sets
# W_rps W_p50 W_p99 W_req W_err, or returns 1.
wrk_once() {
	local out line
	out=$(BENCH_KIND=$1 BENCH_RATE=$5 BENCH_THREADS=$3 \
		wrk -t "$3" -c "$2" -d "${4}s" --timeout 10s -s "$here/bench.lua" \
		"$base/" 2>&1)
	line=$(printf '%s\n' "$out" | grep '^BENCH ' | tail -n 1)
	[ -n "$line" ] || {
		say "wrk ($1) printed no result: $(printf '%s' "$out" | tail -n 5)"
		return 1
	}
	[[ $line =~ rps=([0-9.]+)\ p50_ms=([0-9.]+)\ p99_ms=([0-9.]+)\ requests=([0-9]+)\ non2xx=([0-9]+)\ socket_errors=([0-9]+) ]] ||
		return 1
	W_rps=${BASH_REMATCH[1]} W_p50=${BASH_REMATCH[2]} W_p99=${BASH_REMATCH[3]}
	W_req=${BASH_REMATCH[4]} W_err=$((BASH_REMATCH[5] + BASH_REMATCH[6]))
}

# The stack's processes by what they are, one "PID GROUP" a line: nginx
# (the workers of this stack's nginx), fcgi (every program's pool and the
# no-op program), mariadb, redis, jobs (workers and live relays: what a
# create costs after its answer), search (the engine's JVMs).
cpu_pids() {
	local f pid
	for pid in $(pgrep -P "$(head -n1 "$run_dir/nginx.pid" 2>/dev/null)" 2>/dev/null); do
		echo "$pid nginx"
	done
	for f in applications chats messages search health bench-noop; do
		grep -hEo '^[0-9]+' "$run_dir/$f.pid" "$run_dir/$f.pid.keep" \
			2>/dev/null | sed 's/$/ fcgi/'
	done
	grep -Eo '^[0-9]+' "$CHAT_VAR/mysql/mysqld.pid" 2>/dev/null | sed 's/$/ mariadb/'
	grep -Eo '^[0-9]+' "$run_dir/redis.pid" 2>/dev/null | sed 's/$/ redis/'
	cat "$run_dir"/worker.*.pid "$run_dir"/live-relay.*.pid 2>/dev/null |
		grep -Eo '^[0-9]+' | sed 's/$/ jobs/'
	cat "$CHAT_VAR"/es*/search.pid 2>/dev/null | grep -Eo '^[0-9]+' |
		sed 's/$/ search/'
}

# cpu_snap: "GROUP TICKS" for each group, CPU time (user + system, in
# clock ticks) its processes have used so far.
cpu_snap() {
	local pid group line rest
	local -A t=()
	while read -r pid group; do
		read -r line </proc/"$pid"/stat 2>/dev/null || continue
		rest=${line##*) }
		read -r -a f <<<"$rest"
		t[$group]=$((${t[$group]:-0} + f[11] + f[12]))
	done < <(cpu_pids)
	for group in "${!t[@]}"; do echo "$group ${t[$group]}"; done
}

cpu_groups=(nginx fcgi mariadb redis jobs search)
clk_tck=$(getconf CLK_TCK)

# wrk_part NAME KIND CONNECTIONS THREADS RATE: BENCH_RUNS runs; the
# medians go to R[NAME_rps], R[NAME_p50], R[NAME_p99], and the CPU time
# each group of processes used per request over all runs, in µs, to
# R[NAME_cpu_GROUP]. Fails on no result or more than 1% errors in a run.
wrk_part() {
	local name=$1 kind=$2 i g n requests=0
	local -a rps=() p50=() p99=()
	local -A before=() after=()
	while read -r g n; do before[$g]=$n; done < <(cpu_snap)
	for ((i = 1; i <= BENCH_RUNS; i++)); do
		wrk_once "$kind" "$3" "$4" "$BENCH_DURATION" "$5" || return 1
		requests=$((requests + W_req))
		say "$name run $i: $W_rps req/s, p50 $W_p50 ms, p99 $W_p99 ms, $W_err errors of $W_req"
		if [ "$W_req" -eq 0 ] || [ $((W_err * 100)) -gt "$W_req" ]; then
			say "$name: $W_err of $W_req requests failed"
			return 1
		fi
		rps+=("$W_rps") p50+=("$W_p50") p99+=("$W_p99")
	done
	while read -r g n; do after[$g]=$n; done < <(cpu_snap)
	for g in "${cpu_groups[@]}"; do
		R[${name}_cpu_$g]=$(fcalc "(${after[$g]:-0} - ${before[$g]:-0}) * 1000000 / $clk_tck / $requests" 0)
	done
	R[${name}_rps]=$(median "${rps[@]}")
	R[${name}_p50]=$(median "${p50[@]}")
	R[${name}_p99]=$(median "${p99[@]}")
}

# Right after the worker part the engine has never run a search of this
# size: one run first, not counted, warms its search code as a running
# service's is (the first of three counted runs had a p99 of 54 ms where
# the next two had 18 and 14).
# Then the same as a running service's engine answers: once it has merged
# the segments of the load, and after a run at BENCH_CONNECTIONS (not
# counted) has had its search code compiled (on a fresh engine, the p50 of
# one small search fell from 5 to 0.9 ms over its first 5,000):
# R[search_settled_*], the wait in R[settle_s], the index's segments then
# in R[settle_segments].
part_search_latency() {
	http_env search_latency
	wrk_once search_latency 1 1 "$BENCH_DURATION" 0 || return 1
	say "search_latency warm-up run (not counted): $W_rps req/s, p99 $W_p99 ms"
	wrk_part search_latency search_latency 1 1 0 || return 1
	R[search_docs]=$(es_count "$APP_ID")
	R[search_chat_docs]=$(es_count "$APP_ID" 1)
	settle_engine || return 1
	wrk_once search_latency "$BENCH_CONNECTIONS" "$BENCH_THREADS" \
		"$((BENCH_DURATION * 2))" 0 || return 1
	say "search_settled warm-up run at $BENCH_CONNECTIONS connections (not counted): $W_req searches"
	wrk_part search_settled search_latency 1 1 0
}

# engine_merges: the merges the search engine's nodes are running now.
engine_merges() {
	curl -s --max-time 5 "$CHAT_ES_URL/_nodes/stats/indices/merge" 2>/dev/null |
		grep -o '"merges":{"current":[0-9]*' |
		awk -F: '{ n += $NF } END { print NR ? n : "" }'
}

# settle_engine: wait (BENCH_WAIT at most) until no merge has run for 5 s
# in a row.
settle_engine() {
	local t0 quiet=0 m deadline=$((SECONDS + BENCH_WAIT))
	t0=$(now)
	while [ "$quiet" -lt 5 ]; do
		m=$(engine_merges)
		[ -n "$m" ] || { say "search latency: the engine's merge stats are unreadable"; return 1; }
		if [ "$m" -eq 0 ]; then quiet=$((quiet + 1)); else quiet=0; fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			say "search latency: the engine still merging after ${BENCH_WAIT}s"
			return 1
		fi
		sleep 1
	done
	R[settle_s]=$(fcalc "$(now) - $t0 - 5" 0)
	R[settle_segments]=$(curl -s --max-time 5 \
		"$CHAT_ES_URL/_cat/segments/$CHAT_ES_INDEX?h=segment" 2>/dev/null | wc -l)
	say "search latency: no merge for 5 s after ${R[settle_s]} s; ${R[settle_segments]} segments"
}

part_sync() {
	if [ ! -x "$sync_bin" ]; then
		R[sync]="not built"
		return 2
	fi
	local s sid k=$BENCH_SYNC_CHATS shard t0 t1 out
	s=$(new_app bench-sync) || return 1
	read -r _ sid <<<"$s"
	shard=$(shard_of "$sid")
	# Markers left by the parts before: not this part's work.
	"$sync_bin" >"$work/sync0.log" 2>&1 || { cat "$work/sync0.log" >&2; return 1; }
	awk -v app="$sid" -v k="$k" 'BEGIN {
		for (i = 1; i <= k; i++) {
			if ((i - 1) % 1000 == 0) {
				if (i > 1) print ";"
				printf "INSERT INTO chats (application_id, number, messages_count, created_at, updated_at) VALUES\n"
			} else print ","
			printf "(%d,%d,0,UTC_TIMESTAMP(),UTC_TIMESTAMP())", app, i
		}
		print ";"
		printf "INSERT INTO messages (chat_id, number, body, created_at, updated_at) SELECT id, 1, \x27hello sync\x27, UTC_TIMESTAMP(), UTC_TIMESTAMP() FROM chats WHERE application_id = %d;\n", app
	}' >"$work/sync.sql"
	sql <"$work/sync.sql" || return 1
	LC_ALL=C awk -v app="$sid" -v k="$k" -v key="chat:{s$shard}:dirty" '
		function arg(s) { return "$" length(s) "\r\n" s "\r\n" }
		BEGIN {
			printf "*3\r\n%s%s%s", arg("SADD"), arg(key), arg(app)
			for (i = 1; i <= k; i += 1000) {
				m = (k - i + 1 < 1000) ? k - i + 1 : 1000
				printf "*%d\r\n%s%s", m + 2, arg("SADD"), arg(key)
				for (j = i; j < i + m; j++) printf "%s", arg(app ":" j)
			}
		}' >"$work/dirty.resp"
	out=$(rcli --pipe <"$work/dirty.resp" 2>&1)
	[[ $out == *"errors: 0,"* ]] || { say "redis-cli --pipe: $out"; return 1; }
	R[sync_markers]=$(rcli SCARD "chat:{s$shard}:dirty")
	t0=$(now)
	"$sync_bin" >"$work/sync.log" 2>&1 || { cat "$work/sync.log" >&2; return 1; }
	t1=$(now)
	R[sync_s]=$(fcalc "$t1 - $t0" 2)
	R[sync_out]=$(head -c 200 "$work/sync.log" | tr '\n' ' ')
	out=$(sql -e "SELECT SUM(messages_count) FROM chats WHERE application_id = $sid")
	[ "$out" = "$k" ] || { say "sync: messages_count sums to $out, not $k"; return 1; }
	out=$(sql -e "SELECT chats_count FROM applications WHERE id = $sid")
	[ "$out" = "$k" ] || { say "sync: chats_count is $out, not $k"; return 1; }
}

part_redis_ceiling() {
	local sha exists app=999983 shard p i
	local -a rps=() p50=() p99=()
	awk -v script=create_message_script -f "$here/lua-script.awk" \
		lib/job.h lib/queue.c >"$work/create_message.lua" || return 1
	sha=$(sha1sum <"$work/create_message.lua" | cut -c1-40)
	# The API loaded its own copy in the warm-up: asked before this part
	# loads anything, the same SHA1 means the same text.
	exists=$(rcli SCRIPT EXISTS "$sha") || return 1
	R[redis_script_check]=yes
	if [ "$exists" != 1 ]; then
		say "warning: the script read from lib/queue.c is not the one the API loaded; measuring the one read"
		R[redis_script_check]="**no**: lib/queue.c parsed differently"
		# -x: the file's exact bytes, trailing newline included.
		sha=$(rcli -x SCRIPT LOAD <"$work/create_message.lua") || return 1
	fi
	[[ $sha =~ ^[0-9a-f]{40}$ ]] || { say "SCRIPT LOAD: $sha"; return 1; }
	shard=$(shard_of "$app")
	p="chat:{s$shard}:a$app"
	rcli SET "$p:n" 1 >/dev/null && rcli SET "$p:c1:n" 0 >/dev/null || return 1
	local body
	body=$(awk -v n=1 -v hot=1 -v chats=1 -v seed=7 -f "$here/rows.awk" \
		"$BENCH_WORDS" | cut -f3)
	for ((i = 1; i <= BENCH_RUNS; i++)); do
		local out line
		# The stream is not the worker's (chat:{sK}:jobs): same XADD cost,
		# nothing for the worker to do.
		out=$(redis-benchmark -h 127.0.0.1 -p "$CHAT_REDIS_PORT" \
			-a "$CHAT_REDIS_PASSWORD" -c 64 \
			-n "$BENCH_REDIS_REQUESTS" --csv EVALSHA "$sha" 4 "$p:n" "$p:del" \
			"$p:c1:n" "chat:{s$shard}:bench-jobs" 1 '' '' "$app" \
			"$(date +%s)" 86400 '' "$body" 2>&1)
		line=$(printf '%s\n' "$out" | grep '^"EVALSHA' | tail -n 1)
		[ -n "$line" ] || { say "redis-benchmark: $out"; return 1; }
		# "test","rps","avg","min","p50","p95","p99","max"
		IFS=, read -r _ r _ _ q50 _ q99 _ <<<"${line//\"/}"
		say "redis ceiling run $i: $r ops/s, p50 $q50 ms, p99 $q99 ms"
		rps+=("$r") p50+=("$q50") p99+=("$q99")
	done
	local top
	top=$(rcli GET "$p:c1:n")
	rcli DEL "chat:{s$shard}:bench-jobs" "$p:n" "$p:c1:n" >/dev/null
	[ "$top" = $((BENCH_REDIS_REQUESTS * BENCH_RUNS)) ] || {
		say "redis ceiling: the counter reached $top, not $((BENCH_REDIS_REQUESTS * BENCH_RUNS)): the script did not run every time"
		return 1
	}
	R[redis_rps]=$(median "${rps[@]}")
	R[redis_p50]=$(median "${p50[@]}")
	R[redis_p99]=$(median "${p99[@]}")
}

# The create rate (POST …/chats, wrk as in part_http) in each durability
# mode of one Redis: appendfsync everysec (the default), appendfsync
# always (CONFIG SET on the bench's Redis), and CHAT_REDIS_DURABLE=replica
# (a replica started on CHAT_REDIS_PORT+1 for the part, the chats program
# restarted with the setting, so each create WAITs for the replica).
durable_modes=(everysec always replica)
replica_pidf=$run_dir/bench-replica.pid

stop_replica() {
	local pid
	pid=$(head -n1 "$replica_pidf" 2>/dev/null) || return 0
	[[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null |
		grep -q redis-server && kill -TERM "$pid" 2>/dev/null
	rm -f "$replica_pidf"
}

# restart_chats [VAR=VALUE...]: the chats FastCGI program again, with the
# given settings, through stack.sh (which starts what is not running).
restart_chats() {
	local pid
	while read -r pid; do
		[[ $pid =~ ^[0-9]+$ ]] && kill -TERM "$pid" 2>/dev/null
	done < <(grep -Eo '^[0-9]+' "$run_dir/chats.pid" 2>/dev/null)
	sleep 0.5
	env "$@" "$stack" start >>"$work/stack.log" 2>&1
}

part_durability() {
	local m rc=0 port=$((CHAT_REDIS_PORT + 1)) i
	http_env post_chat
	for m in "${durable_modes[@]}"; do
		case $m in
		always) rcli CONFIG SET appendfsync always >/dev/null || return 1 ;;
		replica)
			mkdir -p "$CHAT_VAR/redis-replica"
			# The master requires CHAT_REDIS_PASSWORD (a local throwaway
			# one, as for redis-benchmark -a): the replica logs in with it
			# and requires it too, so redis-cli's REDISCLI_AUTH fits both.
			redis-server --port "$port" --bind 127.0.0.1 \
				--dir "$CHAT_VAR/redis-replica" --replicaof 127.0.0.1 "$CHAT_REDIS_PORT" \
				${CHAT_REDIS_PASSWORD:+--masterauth "$CHAT_REDIS_PASSWORD" --requirepass "$CHAT_REDIS_PASSWORD"} \
				--appendonly yes --daemonize yes --pidfile "$replica_pidf" \
				--logfile "$CHAT_VAR/log/bench-replica.log" </dev/null || return 1
			for ((i = 0; i < 100; i++)); do
				redis-cli -p "$port" info replication 2>/dev/null |
					grep -q '^master_link_status:up' && break
				sleep 0.2
			done
			restart_chats CHAT_REDIS_DURABLE=replica || { stop_replica; return 1; }
			;;
		esac
		wrk_part "durable_$m" post_chat "$BENCH_CONNECTIONS" "$BENCH_THREADS" 0 || rc=1
		case $m in
		always) rcli CONFIG SET appendfsync everysec >/dev/null ;;
		replica)
			[ "$(rcli WAIT 1 1000)" = 1 ] || { say "the replica does not acknowledge"; rc=1; }
			restart_chats || rc=1
			stop_replica
			;;
		esac
		wait_drained "$BENCH_WAIT" || rc=1
		[ $rc -eq 0 ] || return 1
	done
}

# The HTTP paths: name, wrk kind, whether it is an API path (half load).
read -r -a http_paths <<<"${BENCH_HTTP_PATHS:-ceiling fcgi_floor fcgi_keep post_message post_chat get_message list search}"
# shellcheck disable=SC2016  # Markdown code spans, not shell
declare -A http_label=(
	[ceiling]='`GET /bench/ceiling` (nginx alone)'
	[fcgi_floor]='`GET /bench/fcgi` (nginx + a no-op FastCGI program, one thread, one connection per request: the floor)'
	[fcgi_keep]='`GET /bench/fcgi-keep` (the same program with the programs'"'"' loop, lib/serve.c: kept connections)'
	[post_message]='`POST …/chats/2/messages`'
	[post_chat]='`POST …/chats`'
	[get_message]='`GET …/chats/1/messages/{n}`'
	[list]='`GET …/chats/1/messages?after=…&limit=50`'
	[search]='`GET …/chats/1/messages/search?q=…`'
)

http_env() {
	export BENCH_TOKEN=$APP_TOKEN BENCH_MAX=$HOT_MAX
	case $1 in
	post_message) export BENCH_CHAT=2 ;;
	*) export BENCH_CHAT=1 ;;
	esac
}

part_http() {
	local rc=0
	http_env "$1"
	if [ "$1" = fcgi_floor ] || [ "$1" = fcgi_keep ]; then
		start_noop || return 1
		wrk_part "http_$1" "$1" "$BENCH_CONNECTIONS" "$BENCH_THREADS" 0 || rc=1
		stop_noop
		return $rc
	fi
	wrk_part "http_$1" "$1" "$BENCH_CONNECTIONS" "$BENCH_THREADS" 0 || return 1
	# What a POST queued is the worker's to do before the next part runs.
	case $1 in post_*) wait_drained "$BENCH_WAIT" || return 1 ;; esac
}

part_http_half() {
	local max=${R[http_${1}_rps]:-}
	[ -n "$max" ] || { say "no maximum rate for $1"; return 1; }
	local rate
	rate=$(fcalc "$max / 2" 0)
	# Each connection sends one request every connections/rate seconds:
	# at a low rate (a slow search on a loaded machine) fewer
	# connections, so that each still sends about 4 in BENCH_DURATION.
	local conns=$BENCH_CONNECTIONS threads=$BENCH_THREADS
	if [ $((rate * BENCH_DURATION)) -lt $((4 * conns)) ]; then
		conns=$((rate * BENCH_DURATION / 4))
		[ "$conns" -ge 1 ] || conns=1
		[ "$threads" -le "$conns" ] || threads=$conns
	fi
	http_env "$1"
	wrk_part "half_$1" "$1" "$conns" "$threads" "$rate" || return 1
	R[half_${1}_target]=$rate
	case $1 in post_*) wait_drained "$BENCH_WAIT" || return 1 ;; esac
}

# pair_programs DIR: the API host's FastCGI programs become those of DIR
# (its nginx, relay and worker restarted with them).
pair_cgi=$repo/cgi-bin
pair_programs() {
	[ "$1" != "$pair_cgi" ] || return 0
	"$stack" stop-host && CHAT_CGI_DIR=$1 "$stack" start-host || return 1
	pair_cgi=$1
}

# The pairs part: R[pair_S_K_runs], each round's req/s of path K on side
# S (a or b); R[pair_S_K_rps] and R[pair_S_K_cpu_GROUP], the medians.
part_pairs() {
	local r side cmd k g cgi
	local log=$CHAT_VAR/log/pairs.log
	local -A runs=()
	export BENCH_STACK=$stack
	for ((r = 1; r <= BENCH_PAIR_ROUNDS; r++)); do
		for side in a b; do
			cmd=$BENCH_PAIR_A cgi=$repo/cgi-bin
			[ "$side" = a ] || cmd=$BENCH_PAIR_B cgi=${BENCH_PAIR_CGI_B:-$repo/cgi-bin}
			pair_programs "$cgi" >>"$log" 2>&1 || {
				say "pairs: the programs of $cgi did not start (see $log)"
				return 1
			}
			bash -c "$cmd" </dev/null >>"$log" 2>&1 || {
				say "pairs: the command of side $side failed (its output: $log)"
				return 1
			}
			start_worker || return 1
			# An nginx reloaded by the command: its old workers gone.
			sleep 2
			for k in "${pair_paths[@]}"; do
				http_env "$k"
				BENCH_RUNS=1 wrk_part "pairs_${r}_${side}_$k" "$k" \
					"$BENCH_CONNECTIONS" "$BENCH_THREADS" 0 || return 1
				runs[${side}_$k]+=" ${R[pairs_${r}_${side}_${k}_rps]}"
				for g in "${cpu_groups[@]}"; do
					runs[${side}_${k}_$g]+=" ${R[pairs_${r}_${side}_${k}_cpu_$g]}"
				done
				case $k in post_*) wait_drained "$BENCH_WAIT" || return 1 ;; esac
			done
		done
	done
	pair_programs "$repo/cgi-bin" >>"$log" 2>&1 && start_worker || return 1
	# shellcheck disable=SC2086  # the runs' figures, split into arguments
	for side in a b; do
		for k in "${pair_paths[@]}"; do
			R[pair_${side}_${k}_runs]=${runs[${side}_$k]# }
			R[pair_${side}_${k}_rps]=$(median ${runs[${side}_$k]})
			for g in "${cpu_groups[@]}"; do
				R[pair_${side}_${k}_cpu_$g]=$(fcalc "$(median ${runs[${side}_${k}_$g]})" 0)
			done
		done
	done
}

# report_pairs: the pairs part's table, when it ran.
report_pairs() {
	local k side g tot row a_tot=0 b_tot=0 ratio
	local -a in_request=(nginx fcgi mariadb redis)
	[ -n "${R[pair_a_${pair_paths[0]}_rps]:-}" ] || return 0
	echo "## Pairs: side A against side B, in turn on one stack"
	echo
	echo "- A: the programs of $repo/cgi-bin; then \`${BENCH_PAIR_A}\`"
	echo "- B: the programs of ${BENCH_PAIR_CGI_B:-$repo/cgi-bin}; then \`${BENCH_PAIR_B}\`"
	echo "- $BENCH_PAIR_ROUNDS rounds of A then B, each path once a side and round, ${BENCH_DURATION} s at $BENCH_CONNECTIONS connections; CPU µs per request, medians over the rounds"
	echo
	echo "| path | side | req/s by round | median req/s | nginx | FastCGI program | MariaDB | Redis | in the request | worker + live relays | search engine |"
	echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for k in "${pair_paths[@]}"; do
		for side in a b; do
			tot=0 row=''
			for g in "${in_request[@]}"; do
				tot=$((tot + ${R[pair_${side}_${k}_cpu_$g]:-0}))
				row+=" ${R[pair_${side}_${k}_cpu_$g]:-0} |"
			done
			if [ "$side" = a ]; then a_tot=$tot; else b_tot=$tot; fi
			printf '| %s | %s | %s | %s |%s %s | %s | %s |\n' "${http_label[$k]}" \
				"${side^^}" "${R[pair_${side}_${k}_runs]// /, }" \
				"${R[pair_${side}_${k}_rps]}" "$row" "$tot" \
				"${R[pair_${side}_${k}_cpu_jobs]:-0}" \
				"${R[pair_${side}_${k}_cpu_search]:-0}"
		done
		ratio='–'
		[ "$a_tot" -eq 0 ] || ratio=$(fcalc "$b_tot / $a_tot" 2)
		printf '| | B ÷ A | | %s | | | | | %s | | |\n' \
			"$(fcalc "${R[pair_b_${k}_rps]} / ${R[pair_a_${k}_rps]}" 2)" "$ratio"
	done
	echo
}

part_rss() {
	local name pid hwm anon u best best_anon best_uss n
	for name in applications chats messages health; do
		best=0 best_anon=0 best_uss=0 n=0
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] || continue
			hwm=$(vm "$pid" VmHWM) anon=$(vm "$pid" RssAnon) u=$(uss "$pid")
			[ -n "$hwm" ] || continue
			n=$((n + 1))
			[ "${u:-0}" -le "$best_uss" ] || best_uss=$u
			[ "$hwm" -le "$best" ] || best=$hwm
			[ "${anon:-0}" -le "$best_anon" ] || best_anon=$anon
		done < <(grep -Eo '^[0-9]+' "$run_dir/$name.pid" 2>/dev/null)
		[ "$n" -gt 0 ] || { say "no running $name process"; return 1; }
		R[rss_${name}]=$best R[rss_anon_${name}]=$best_anon R[uss_${name}]=$best_uss
	done
	pid=$(worker_pid) || { say "the worker is not running"; return 1; }
	R[worker_hwm_kb]=$(vm "$pid" VmHWM)
	R[worker_anon_kb]=$(vm "$pid" RssAnon)
	R[worker_uss_kb]=$(uss "$pid")
}

# wanted PART: whether BENCH_PARTS names it.
wanted() { [[ " $BENCH_PARTS " == *" $1 "* ]]; }

# run_part NAME FUNCTION ARGS...: run one part and count it.
run_part() {
	local name=$1 rc
	shift
	say "--- $name"
	"$@"
	rc=$?
	case $rc in
	0) ok "$name" ;;
	2) say "part $name: skipped (${R[sync]:-})" ;;
	*) bad "$name" "no figure (see the lines above)" ;;
	esac
}

# ---------------------------------------------------------------- report

# verdict VALUE OP LIMIT: "yes" or "**no**" (or "–" without a value).
verdict() {
	[ -n "$1" ] || { echo '–'; return; }
	if awk "BEGIN { exit !($1 $2 $3) }"; then echo yes; else echo '**no**'; fi
}
fmt() { [ -n "${1:-}" ] && printf '%s' "$1" || printf '–'; }
mb() { [ -n "${1:-}" ] && fcalc "$1 / 1024" 1 || printf '–'; }

report() {
	local ceiling=${R[http_ceiling_rps]:-} floor=${R[http_fcgi_floor_rps]:-}
	local k rps ratio fratio target met half hp99 row
	local htarget hmet
	echo "# Benchmark report ($mode)"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; load average at the start: $load_start"
	echo "- source: ${BENCH_SOURCE:-commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet HEAD -- lib cgi-bin jobs nginx 2>/dev/null || echo ' with local changes')}"
	echo "- stack: $CHAT_FCGI_PROCS FastCGI processes per program, 1 worker (batch ${CHAT_WORKER_BATCH:-1000}), nginx worker_processes auto; everything on this one machine, wrk included"
	echo "- sizes: $BENCH_JOBS message jobs for the worker and the search index, $HOT_MAX of them in the searched chat, over $BENCH_CHATS chats; $BENCH_SYNC_CHATS chats for the sync (the issue asks 1,000,000 messages with 100,000 in the searched chat: BENCH_JOBS=1000000 BENCH_HOT=100000)"
	echo "- wrk: $BENCH_CONNECTIONS connections, $BENCH_THREADS threads, ${BENCH_DURATION} s per run; every figure the median of $BENCH_RUNS runs"
	echo
	echo "## HTTP (through nginx)"
	echo
	echo "| path | req/s | p50 ms | p99 ms | ratio to ceiling | ratio to FastCGI floor | target | met | half load: req/s aimed / reached | p99 ms at half load | target | met |"
	echo "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---|---|"
	for k in "${http_paths[@]}"; do
		rps=${R[http_${k}_rps]:-}
		ratio='' fratio=''
		[ -z "$rps" ] || [ -z "$ceiling" ] || ratio=$(fcalc "$rps / $ceiling" 2)
		[ "$k" = ceiling ] || [ -z "$rps" ] || [ -z "$floor" ] ||
			fratio=$(fcalc "$rps / $floor" 2)
		target='' met=''
		# The targets are ratios to the floor measured in the same run.
		case $k in
		fcgi_keep) target='≥ 1.3 of floor'; met=$(verdict "$fratio" '>=' 1.3) ;;
		post_message | post_chat) target='≥ 0.9 of floor'; met=$(verdict "$fratio" '>=' 0.9) ;;
		get_message) target='≥ 0.85 of floor'; met=$(verdict "$fratio" '>=' 0.85) ;;
		list) target='≥ 0.6 of floor'; met=$(verdict "$fratio" '>=' 0.6) ;;
		esac
		half='' hp99='' htarget='' hmet=''
		if [ "$k" != ceiling ] && [ "$k" != fcgi_floor ] && [ "$k" != fcgi_keep ]; then
			half="$(fmt "${R[half_${k}_target]:-}") / $(fmt "${R[half_${k}_rps]:-}")"
			hp99=$(fmt "${R[half_${k}_p99]:-}")
			if [ "$k" = search ]; then
				htarget='≤ 50 (search)'; hmet=$(verdict "${R[half_${k}_p99]:-}" '<=' 50)
			else
				htarget='≤ 5'; hmet=$(verdict "${R[half_${k}_p99]:-}" '<=' 5)
			fi
		fi
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
			"${http_label[$k]}" "$(fmt "$rps")" "$(fmt "${R[http_${k}_p50]:-}")" \
			"$(fmt "${R[http_${k}_p99]:-}")" "$(fmt "$ratio")" "$fratio" "$target" "$met" \
			"$half" "$hp99" "$htarget" "$hmet"
	done
	echo
	echo "CPU time per request, in µs, of each group of the stack's processes over"
	echo "the runs above (/proc/PID/stat; wrk's own not counted). \"In the request\" is"
	echo "nginx, the program, MariaDB and Redis: with the CPUs busy, as they are at"
	echo "64 connections, req/s goes about as the inverse of that total, so the"
	echo "floor's total ÷ a path's total is about the ratio to the floor the path"
	echo "can reach on this machine while it does what it does. The worker, the live"
	echo "relays and the search engine work after the answer (for a create: persist,"
	echo "publish, index), or on what an earlier part left (indexing still going on"
	echo "shows under a GET)."
	echo
	echo "| path | nginx | FastCGI program | MariaDB | Redis | in the request | floor's ÷ this | worker + live relays | search engine |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	local g tot ftot=''
	local -a in_request=(nginx fcgi mariadb redis)
	if [ -n "${R[http_fcgi_floor_cpu_nginx]:-}" ]; then
		ftot=0
		for g in "${in_request[@]}"; do ftot=$((ftot + ${R[http_fcgi_floor_cpu_$g]:-0})); done
	fi
	for k in "${http_paths[@]}"; do
		[ -n "${R[http_${k}_cpu_nginx]:-}" ] || continue
		tot=0 row=''
		for g in "${in_request[@]}"; do
			tot=$((tot + ${R[http_${k}_cpu_$g]:-0}))
			row+=" ${R[http_${k}_cpu_$g]:-0} |"
		done
		ratio=''
		[ -z "$ftot" ] || [ "$tot" -eq 0 ] || ratio=$(fcalc "$ftot / $tot" 2)
		printf '| %s |%s %s | %s | %s | %s |\n' "${http_label[$k]}" "$row" "$tot" \
			"$ratio" "${R[http_${k}_cpu_jobs]:-0}" "${R[http_${k}_cpu_search]:-0}"
	done
	echo
	echo "The FastCGI floor is tests/bench/fcgi-noop.c, a program that answers without"
	echo "doing anything, behind the same nginx with the same process count as the API"
	echo "programs, with libfcgi's loop (one connection per request): the issue's"
	echo "targets are ratios to it. \`/bench/fcgi-keep\` is the same program with the"
	echo "programs' own loop (lib/serve.c: every connection watched at once, kept"
	echo "between requests with upstream keepalive and fastcgi_keep_conn)."
	echo
	echo "Half load: bench.lua paced with wrk's delay() hook, one slot every"
	echo "threads/rate seconds per wrk thread (CLOCK_MONOTONIC via LuaJIT FFI),"
	echo "same $BENCH_CONNECTIONS connections, aiming at half the req/s measured above"
	echo "(wrk2 is not in Debian). Latency is from the request's send, as wrk measures it."
	echo
	report_pairs
	echo "## Durability modes: POST …/chats"
	echo
	echo "| appendfsync everysec (default) | appendfsync always | CHAT_REDIS_DURABLE=replica (WAIT 1 ${CHAT_REDIS_WAIT_MS:-100}) |"
	echo "|---:|---:|---:|"
	echo "| $(fmt "${R[durable_everysec_rps]:-}") req/s, p99 $(fmt "${R[durable_everysec_p99]:-}") ms | $(fmt "${R[durable_always_rps]:-}") req/s, p99 $(fmt "${R[durable_always_p99]:-}") ms | $(fmt "${R[durable_replica_rps]:-}") req/s, p99 $(fmt "${R[durable_replica_p99]:-}") ms |"
	echo
	echo "## Backends and jobs"
	echo
	local wdb=${R[worker_db_rate]:-} wes=${R[worker_es_rate]:-} myc=${R[mysql_rate]:-} wr=''
	[ -z "$wdb" ] || [ -z "$myc" ] || wr=$(fcalc "$wdb / $myc" 2)
	echo "| part | figure | target | met |"
	echo "|---|---|---|---|"
	echo "| Redis ceiling: \`EVALSHA\` message create script, redis-benchmark, 64 clients, ${BENCH_REDIS_REQUESTS} calls (script text check: $(fmt "${R[redis_script_check]:-}")) | $(fmt "${R[redis_rps]:-}") calls/s, p50 $(fmt "${R[redis_p50]:-}") ms, p99 $(fmt "${R[redis_p99]:-}") ms | (ceiling) | |"
	echo "| MariaDB ceiling: the worker's ${BENCH_JOBS} rows by the mariadb client, 500-row INSERTs, one commit each, median of $BENCH_RUNS | $(fmt "$myc") rows/s ($(fmt "${R[mysql_s]:-}") s) | (ceiling) | |"
	local alone=''
	[ "$BENCH_WORKER_ALONE" != 1 ] ||
		alone=', the search engine and the live relay paused meanwhile (BENCH_WORKER_ALONE)'
	echo "| worker: ${BENCH_JOBS} preloaded jobs ($BENCH_CHATS chats) until all are rows in MariaDB$alone | $(fmt "$wdb") messages/s ($(fmt "${R[worker_db_s]:-}") s), $(fmt "$wr") of the MariaDB ceiling | ≥ 0.7 of ceiling | $(verdict "$wr" '>=' 0.7) |"
	echo "| search engine warm-up before the worker part: ${BENCH_WARM} documents into a scratch index, 1,000 a request, on the freshly started engine (not searchable-timed) | $(fmt "${R[warm_rate]:-}") documents/s sent | | |"
	echo "| worker: the same jobs until all are counted by the search engine | $(fmt "$wes") documents/s ($(fmt "${R[worker_es_s]:-}") s) | ≥ 15,000 docs/s | $(verdict "$wes" '>=' 15000) |"
	echo "| search latency: partial-match queries, 1 connection through nginx (after one run not counted), index of $(fmt "${R[search_docs]:-}") messages of the application, $(fmt "${R[search_chat_docs]:-}") in the queried chat | p50 $(fmt "${R[search_latency_p50]:-}") ms, p99 $(fmt "${R[search_latency_p99]:-}") ms ($(fmt "${R[search_latency_rps]:-}") req/s) | p99 ≤ 15 ms | $(verdict "${R[search_latency_p99]:-}" '<=' 15) |"
	echo "| the same as a running engine answers: once its merges ended ($(fmt "${R[settle_s]:-}") s after the runs above, then 5 s without one; $(fmt "${R[settle_segments]:-}") segments) and after $((BENCH_DURATION * 2)) s of searches at $BENCH_CONNECTIONS connections (not counted) | p50 $(fmt "${R[search_settled_p50]:-}") ms, p99 $(fmt "${R[search_settled_p99]:-}") ms ($(fmt "${R[search_settled_rps]:-}") req/s) | p99 ≤ 15 ms | $(verdict "${R[search_settled_p99]:-}" '<=' 15) |"
	local sync_fig sync_met
	if [ "${R[sync]:-}" = "not built" ]; then
		sync_fig='not built (jobs/sync absent)' sync_met='–'
	else
		sync_fig="$(fmt "${R[sync_s]:-}") s for $(fmt "${R[sync_markers]:-}") markers ($BENCH_SYNC_CHATS chats + their application)"
		sync_met=$(verdict "${R[sync_s]:-}" '<=' 5)
		[ "$BENCH_SYNC_CHATS" -ge 100000 ] || sync_met="$sync_met (target is for 100k)"
	fi
	echo "| sync: jobs/sync on $BENCH_SYNC_CHATS changed chats | $sync_fig | ≤ 5 s for 100k | $sync_met |"
	local name worst=0 worst_uss=0
	for name in applications chats messages health; do
		[ "${R[rss_$name]:-0}" -le "$worst" ] || worst=${R[rss_$name]}
		[ "${R[uss_$name]:-0}" -le "$worst_uss" ] || worst_uss=${R[uss_$name]}
	done
	echo "| private memory (USS: Private_Clean + Private_Dirty of smaps_rollup) of a FastCGI process after the load above: applications $(mb "${R[uss_applications]:-}"), chats $(mb "${R[uss_chats]:-}"), messages $(mb "${R[uss_messages]:-}"), health $(mb "${R[uss_health]:-}") MiB | largest $(mb "$worst_uss") MiB | ≤ 1.5 MiB | $(verdict "${R[uss_messages]:+$worst_uss}" '<=' 1536) |"
	echo "| private memory (USS) of the worker | $(mb "${R[worker_uss_kb]:-}") MiB | ≤ 8 MiB | $(verdict "${R[worker_uss_kb]:-}" '<=' 8192) |"
	echo "| peak RSS (VmHWM) of a FastCGI process after the load above: applications $(mb "${R[rss_applications]:-}"), chats $(mb "${R[rss_chats]:-}"), messages $(mb "${R[rss_messages]:-}"), health $(mb "${R[rss_health]:-}") MiB | largest $(mb "$worst") MiB (private anonymous now: messages $(mb "${R[rss_anon_messages]:-}") MiB) | ≤ 4 MB | $(verdict "${R[rss_messages]:+$worst}" '<=' 4096) |"
	echo "| peak RSS (VmHWM) of the worker | $(mb "${R[worker_hwm_kb]:-}") MiB (private anonymous now: $(mb "${R[worker_anon_kb]:-}") MiB) | ≤ 32 MB | $(verdict "${R[worker_hwm_kb]:-}" '<=' 32768) |"
	echo
	if [ ${#failures[@]} -gt 0 ]; then
		echo "## Parts without a figure"
		echo
		printf -- '- %s\n' "${failures[@]}"
		echo
	fi
	echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). wrk, nginx, the"
	echo "programs, MariaDB, Redis and the search engine share this machine's $(nproc) CPUs;"
	echo "a load average well above the CPU count means other work ran beside the benchmark,"
	echo "and the figures are lower and noisier than on an idle machine."
	echo
	echo "$passed parts produced their figures, $failed did not."
}

# ---------------------------------------------------------------- main

stack_ok=0
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "mode $mode: ${BENCH_DURATION}s x $BENCH_RUNS runs per HTTP figure, $BENCH_JOBS worker jobs, $BENCH_SYNC_CHATS sync chats"
if ! start_stack; then
	bad stack "the bench stack did not start"
else
	ok stack
	stack_ok=1
	run_part warm-up part_warmup
	if [ -z "$APP_ID" ]; then
		bad setup "no application to benchmark"
	else
		wanted worker && run_part worker part_worker
		wanted mysql && run_part "MariaDB ceiling" part_mysql_ceiling
		wanted search && run_part "search latency" part_search_latency
		wanted sync && run_part sync part_sync
		wanted redis && run_part "Redis ceiling" part_redis_ceiling
		for k in "${http_paths[@]}"; do
			wanted http && run_part "http $k" part_http "$k"
		done
		for k in "${http_paths[@]}"; do
			case $k in ceiling | fcgi_floor | fcgi_keep) continue ;; esac
			wanted half && run_part "http $k (half load)" part_http_half "$k"
		done
		wanted pairs && run_part pairs part_pairs
		wanted durable && run_part "durability modes" part_durability
		wanted rss && run_part RSS part_rss
	fi
fi

mkdir -p "$CHAT_VAR"
out=$CHAT_VAR/report-$([ "$mode" = smoke ] && echo smoke-)$(date -u +%Y%m%d-%H%M%S).md
report >"$out"
echo
cat "$out"
echo
say "report written to $out"
finished=1
if [ "$BENCH_LEAVE_UP" = 1 ] && [ "$stack_ok" -eq 1 ]; then
	stack_started=0
	say "BENCH_LEAVE_UP=1: the stack is still up; stop it with CHAT_VAR=$CHAT_VAR $stack stop"
else
	stop_worker
	if [ "$stack_started" -eq 1 ]; then
		stack_started=0
		"$stack" stop >/dev/null 2>&1 || say "warning: stack.sh stop failed"
	fi
fi
summary
[ "$failed" -eq 0 ]
