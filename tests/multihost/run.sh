#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Several API hosts in front of one MariaDB, one Redis and the search
# engine (README "Scaling out"): three hosts, each in its own network
# namespace with its own nginx, FastCGI programs and worker
# (tests/harness/hosts.sh), against the stack that is running (run-tests.sh
# runs this while the first pass's stack is up). Every request goes
# through a host's nginx, sent from inside that host's namespace (so that
# a host cut off from the stores can still be asked); what was persisted is
# read from MariaDB, what is searchable through the API.
#
#   spread     2,000 creates spread over the hosts into one chat: numbers
#              exactly 1..2000, each persisted once with the body sent, each
#              found by search
#   takeover   one host's worker killed (-9) under load while it holds
#              jobs: another host's worker claims them (CHAT_WORKER_CLAIM_MS
#              short here); the time until none is left is printed; nothing
#              answered 202 is lost
#   partition  one host's link down for 20 s under load: its creates
#              answer 503 within the store timeout (the slowest is
#              printed), the others keep answering 202, and once the link
#              is back it answers 202 again with no restart (the time is
#              printed); nothing answered 202 is lost
#   rolling    every host restarted in turn under load: no request fails
#              but on the host being restarted; nothing answered 202 lost
#
# Ends with "N passed, M failed". A machine where network namespaces
# cannot be made (not root, no CAP_NET_ADMIN, a container without them)
# prints why and counts one failure: run-tests.sh never lets a test skip
# silently. CHAT_TEST_MULTIHOST=0 leaves these tests out (said so).
#
# Every loop is bounded in count and time; hosts.sh down runs on any exit.

set -uo pipefail

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
here=${self%/*}
repo=$(cd "$here/../.." && pwd)
hosts=$repo/tests/harness/hosts.sh
# shellcheck source=../harness/env.sh
. "$repo/tests/harness/env.sh"

HOSTS=3
# Short, so that a dead worker's jobs are claimed soon.
export CHAT_WORKER_CLAIM_MS=${CHAT_TEST_CLAIM_MS:-1000}
# Three hosts beside the test stack on a small machine.
export CHAT_FCGI_PROCS=${CHAT_TEST_HOST_PROCS:-2}
timeout_ms=${CHAT_TIMEOUT_MS:-2000}
base="http://127.0.0.1:$CHAT_HTTP_PORT"

say() { printf 'multihost: %s\n' "$*"; }

# ---------------------------------------------------------------- load

# _load N DIR TAG COUNT SECONDS: inside host N's namespace, up to COUNT
# creates of messages in $URL, in batches of 8 (4 at a time), for SECONDS
# at most or until DIR/stop exists. Each answer: a line "BATCH_START_MS
# BATCH_END_MS CODE SECONDS FILE" in DIR/hN.txt, the body in FILE.
load_loop() {
	local n=$1 dir=$2 tag=$3 count=$4 seconds=$5 i=0 j start end cfg
	local deadline=$((SECONDS + seconds)) out=$dir/h$n.txt
	mkdir -p -- "$dir/r"
	cfg=$dir/h$n.cfg
	while [ "$i" -lt "$count" ] && [ "$SECONDS" -lt "$deadline" ] && [ ! -e "$dir/stop" ]; do
		: >"$cfg"
		for ((j = 0; j < 8 && i < count; j++, i++)); do
			# "next" between operations only: one after the last fails all.
			[ "$j" -eq 0 ] || echo next >>"$cfg"
			printf 'url = "%s"\nrequest = "POST"\ndata = "{\\"body\\":\\"%s-h%d-%d grp%02d\\"}"\noutput = "%s"\nwrite-out = "%%{http_code} %%{time_total} %%{filename_effective}\\n"\nmax-time = 15\n' \
				"$URL" "$tag" "$n" "$i" $((i % 40)) "$dir/r/$tag-h$n-$i" >>"$cfg"
		done
		start=$(date +%s%3N)
		curl -s --parallel --parallel-max 4 -K "$cfg" >"$cfg.out" 2>/dev/null
		end=$(date +%s%3N)
		sed "s|^|$start $end |" "$cfg.out" >>"$out"
	done
}

# start_load DIR TAG COUNT SECONDS: one load per host, in the background
# (pids in load_pids).
load_pids=()
start_load() {
	local n
	load_pids=()
	mkdir -p -- "$1"
	for ((n = 1; n <= HOSTS; n++)); do
		: >"$1/h$n.txt"
		"$hosts" exec "$n" env URL="$URL" bash "$self" _load "$n" "$@" &
		load_pids+=($!)
	done
}

wait_load() {
	local pid
	for pid in ${load_pids[@]+"${load_pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
	load_pids=()
}

stop_load() {
	touch -- "$1/stop"
	wait_load
}

# ---------------------------------------------------------------- checks

passed=0
failed=0
pass() {
	say "ok: $*"
	passed=$((passed + 1))
}
fail() {
	say "FAILED: $*"
	failed=$((failed + 1))
}

sql() {
	mariadb --no-defaults --socket="$CHAT_VAR/mysql/mysqld.sock" --user="$(id -un)" \
		-N -B "$CHAT_MYSQL_DATABASE" -e "$1"
}

# http N METHOD PATH [BODY]: the status code; the body in $work/body.
http() {
	local -a data=()
	[ $# -lt 4 ] || data=(--data "$4")
	"$hosts" exec "$1" curl -s -o "$work/body" -w '%{http_code}' --max-time 15 \
		-X "$2" ${data[@]+"${data[@]}"} "$base$3" 2>/dev/null || true
}

# accepted DIR: "NUMBER BODY" of every create answered 202, sorted (NUMBER
# "none" when its answer has none). One awk reads all the answers: a grep
# per answer took half a minute for 4,000 of them.
accepted() {
	awk '$3 == 202 { print $5 }' "$1"/h*.txt | xargs -r awk '
		function put(file,    name, part, n) {
			name = file
			sub(/.*\//, "", name)
			n = split(name, part, "-")
			printf "%s\t%s grp%02d\n", num[file] == "" ? "none" : num[file], name, part[n] % 40
		}
		BEGIN { for (i = 1; i < ARGC; i++) num[ARGV[i]] = "" }
		num[FILENAME] == "" && match($0, /"number":[0-9]+/) {
			num[FILENAME] = substr($0, RSTART + 9, RLENGTH - 9)
		}
		END { for (f in num) put(f) }' | sort
}

# persisted TAG: "NUMBER BODY" of every row of MariaDB whose body starts
# with TAG, sorted as accepted sorts.
persisted() {
	sql "SELECT number, body FROM messages WHERE body LIKE '$1-%'" | sort
}

# wait_persisted DIR TAG: wait (90 s at most) until every create of DIR
# answered 202 is in MariaDB with its number; then one check.
wait_persisted() {
	local dir=$1 tag=$2 what=$3 i missing=0 total
	accepted "$dir" >"$dir/accepted"
	total=$(wc -l <"$dir/accepted")
	for ((i = 0; i < 180; i++)); do
		persisted "$tag" >"$dir/persisted"
		missing=$(comm -23 "$dir/accepted" "$dir/persisted" | wc -l)
		[ "$missing" -gt 0 ] || break
		sleep 0.5
	done
	if [ "$total" -eq 0 ]; then
		fail "$what: no create was answered 202"
	elif [ "$missing" -eq 0 ]; then
		pass "$what: all $total creates answered 202 are persisted with their numbers ($(wc -l <"$dir/persisted") rows)"
	else
		fail "$what: $missing of $total creates answered 202 are not persisted, e.g. $(comm -23 "$dir/accepted" "$dir/persisted" | head -n 3 | tr '\n\t' '; ')"
	fi
}

# codes DIR N: "CODE COUNT" of host N's answers.
codes() {
	awk '{print $3}' "$1/h$2.txt" | sort | uniq -c | awk '{printf "%s x%s ", $2, $1}'
}

# pending CONSUMER: jobs the consumer has read and not acknowledged.
pending() {
	local s
	for ((s = 0; s < 16; s++)); do
		printf 'XINFO CONSUMERS chat:{s%d}:jobs persist\n' "$s"
	done | redis-cli -h 127.0.0.1 -p "$CHAT_REDIS_PORT" 2>/dev/null |
		awk -v c="$1" '$0 == "name" { getline; cur = $0 } $0 == "pending" { getline; if (cur == c) n += $0 } END { print n + 0 }'
}

now_ms() { date +%s%3N; }

# new_chat: a chat of the test application, created through host 1; its
# path in $URL's form.
new_chat() {
	local code num
	code=$(http 1 POST "/applications/$token/chats")
	num=$(grep -o '"number":[0-9]*' "$work/body" | cut -d: -f2)
	[ "$code" = 202 ] && [ -n "$num" ] || return 1
	echo "$base/applications/$token/chats/$num/messages"
}

# ---------------------------------------------------------------- tests

test_spread() {
	local dir=$work/spread tag=${run}s per rows g i code want got
	say "spread: 2000 creates over $HOSTS hosts into one chat"
	URL=$(new_chat) || { fail "spread: no chat"; return; }
	mkdir -p -- "$dir"
	load_pids=()
	for ((i = 1; i <= HOSTS; i++)); do
		per=$((2000 / HOSTS + (i <= 2000 % HOSTS ? 1 : 0)))
		: >"$dir/h$i.txt"
		"$hosts" exec "$i" env URL="$URL" bash "$self" _load "$i" "$dir" "$tag" "$per" 300 &
		load_pids+=($!)
	done
	wait_load
	for ((i = 1; i <= HOSTS; i++)); do say "spread: host h$i answered $(codes "$dir" "$i")"; done
	code=$(awk '$3 == 202' "$dir"/h*.txt | wc -l)
	if [ "$code" -eq 2000 ]; then pass "spread: 2000 creates answered 202"; else fail "spread: $code of 2000 creates answered 202"; fi
	wait_persisted "$dir" "$tag" spread
	rows=$(sql "SELECT CONCAT_WS(' ', COUNT(*), COUNT(DISTINCT number), MIN(number), MAX(number), COUNT(DISTINCT body)) FROM messages WHERE body LIKE '$tag-%'")
	if [ "$rows" = "2000 2000 1 2000 2000" ]; then
		pass "spread: numbers exactly 1..2000, each persisted once"
	else
		fail "spread: rows, distinct numbers, min, max, distinct bodies: $rows (want 2000 2000 1 2000 2000)"
	fi
	# Searchable: each of 40 words is in 50 bodies; together all 2000.
	seq 1 2000 >"$dir/want"
	for ((i = 0; i < 60; i++)); do
		: >"$dir/found"
		for ((g = 0; g < 40; g++)); do
			code=$(http $((g % HOSTS + 1)) GET "${URL#"$base"}/search?q=grp$(printf %02d "$g")&limit=1000")
			[ "$code" = 200 ] && grep -o '"number":[0-9]*' "$work/body" | cut -d: -f2 >>"$dir/found"
		done
		sort -n "$dir/found" >"$dir/found.sorted"
		cmp -s "$dir/want" "$dir/found.sorted" && break
		sleep 1
	done
	want=2000
	got=$(sort -nu "$dir/found" | wc -l)
	if cmp -s "$dir/want" "$dir/found.sorted"; then
		pass "spread: all 2000 messages found by search, each once"
	else
		fail "spread: search finds $got distinct of $want numbers ($(wc -l <"$dir/found") results)"
	fi
}

test_takeover() {
	local dir=$work/takeover tag=${run}k pid i n=0 t0 t1 held=0 left
	say "takeover: kill -9 host h1's worker under load (CHAT_WORKER_CLAIM_MS=$CHAT_WORKER_CLAIM_MS)"
	URL=$(new_chat) || { fail "takeover: no chat"; return; }
	start_load "$dir" "$tag" 400 90
	sleep 2
	pid=$("$hosts" worker-pid 1)
	# Stopped, then killed only while it holds jobs: it dies mid-batch.
	for ((i = 0; i < 400; i++)); do
		kill -STOP "$pid" 2>/dev/null || break
		held=$(pending h1-1)
		if [ "$held" -gt 0 ]; then
			kill -KILL "$pid"
			t0=$(now_ms)
			break
		fi
		kill -CONT "$pid"
		sleep 0.02
	done
	if [ "$held" -eq 0 ]; then
		kill -CONT "$pid" 2>/dev/null || true
		stop_load "$dir"
		fail "takeover: host h1's worker never held a job in 400 tries"
		return
	fi
	for ((i = 0; i < 600; i++)); do
		left=$(pending h1-1)
		[ "$left" -gt 0 ] || break
		sleep 0.05
	done
	t1=$(now_ms)
	if [ "$left" -eq 0 ]; then
		pass "takeover: the $held jobs host h1's killed worker held were claimed by another host's worker in $((t1 - t0)) ms (claim after ${CHAT_WORKER_CLAIM_MS} ms idle)"
	else
		fail "takeover: $left of the $held jobs of the killed worker still pending after $((t1 - t0)) ms"
	fi
	wait_load
	for ((i = 1; i <= HOSTS; i++)); do say "takeover: host h$i answered $(codes "$dir" "$i")"; done
	wait_persisted "$dir" "$tag" takeover
	# Host h1 gets a worker again (the rest of it kept running).
	"$hosts" start 1 >"$dir/restart.log" 2>&1 || fail "takeover: host h1 did not start again: $(tail -n 5 "$dir/restart.log")"
}

test_partition() {
	local dir=$work/partition tag=${run}p cut mended back=-1 i code max median other others bad503
	say "partition: host h2 cut off for 20 s under load"
	URL=$(new_chat) || { fail "partition: no chat"; return; }
	start_load "$dir" "$tag" 100000 45
	sleep 4
	"$hosts" cut 2
	cut=$(now_ms)
	sleep 20
	"$hosts" mend 2
	mended=$(now_ms)
	# Served again without a restart: one create every 0.2 s, 30 s at most.
	for ((i = 0; i < 150; i++)); do
		code=$(http 2 POST "${URL#"$base"}" '{"body":"'"$tag"'-probe"}')
		if [ "$code" = 202 ]; then
			back=$(($(now_ms) - mended))
			break
		fi
		sleep 0.2
	done
	stop_load "$dir"
	for ((i = 1; i <= HOSTS; i++)); do say "partition: host h$i answered $(codes "$dir" "$i")"; done
	# Host h2's answers: 202 or a 503; nothing else (no 000: no hang past
	# curl's 15 s, no 502/504 from nginx).
	awk '$3 == 503 { print $4 }' "$dir/h2.txt" | sort -n >"$dir/503"
	bad503=$(wc -l <"$dir/503")
	max=$(tail -n 1 "$dir/503")
	median=none
	[ "$bad503" -eq 0 ] || median=$(sed -n "$(((bad503 + 1) / 2))p" "$dir/503")
	other=$(awk '$3 != 202 && $3 != 503' "$dir/h2.txt" | wc -l)
	if [ "$bad503" -gt 0 ] && [ "$other" -eq 0 ] &&
		awk -v m="${max:-0}" -v t="$timeout_ms" 'BEGIN { exit !(m * 1000 <= t + 3000) }'; then
		pass "partition: cut off, host h2 answered $bad503 creates 503, in $median s (median), the slowest in $max s (store timeout $timeout_ms ms, margin 3 s)"
	else
		fail "partition: host h2 answered 503 $bad503 times (slowest $max s, limit $timeout_ms ms + 3 s) and $other times neither 202 nor 503: $(codes "$dir" 2)"
	fi
	others=$(awk '$3 != 202' "$dir/h1.txt" "$dir/h3.txt" | wc -l)
	if [ "$others" -eq 0 ] && [ -s "$dir/h1.txt" ] && [ -s "$dir/h3.txt" ]; then
		pass "partition: hosts h1 and h3 answered every create 202 ($(cat "$dir/h1.txt" "$dir/h3.txt" | wc -l)) while h2 was cut off"
	else
		fail "partition: hosts h1 and h3 answered $others creates other than 202"
	fi
	if [ "$back" -ge 0 ]; then
		pass "partition: host h2 answered 202 again $back ms after its link came back, not restarted"
	else
		fail "partition: host h2 did not answer 202 within 30 s of its link coming back"
	fi
	say "partition: cut for $((mended - cut)) ms"
	wait_persisted "$dir" "$tag" partition
}

test_rolling() {
	local dir=$work/rolling tag=${run}r n ws we bad
	say "rolling: every host restarted in turn under load"
	URL=$(new_chat) || { fail "rolling: no chat"; return; }
	start_load "$dir" "$tag" 100000 120
	: >"$dir/windows"
	sleep 2
	for ((n = 1; n <= HOSTS; n++)); do
		ws=$(now_ms)
		"$hosts" stop "$n" >>"$dir/restart.log" 2>&1
		"$hosts" start "$n" >>"$dir/restart.log" 2>&1 || fail "rolling: host h$n did not start again"
		we=$(now_ms)
		echo "$n $ws $we" >>"$dir/windows"
		say "rolling: host h$n restarted in $((we - ws)) ms"
		sleep 2
	done
	stop_load "$dir"
	for ((n = 1; n <= HOSTS; n++)); do say "rolling: host h$n answered $(codes "$dir" "$n")"; done
	# A failure counts only when its batch overlapped its own host's restart.
	bad=0
	for ((n = 1; n <= HOSTS; n++)); do
		read -r _ ws we < <(awk -v n="$n" '$1 == n' "$dir/windows")
		bad=$((bad + $(awk -v s="$ws" -v e="$we" '$3 != 202 && ($2 < s || $1 > e)' "$dir/h$n.txt" | wc -l)))
	done
	if [ "$bad" -eq 0 ] && [ "$(wc -l <"$dir/windows")" -eq "$HOSTS" ]; then
		pass "rolling: no create failed but on the host being restarted"
	else
		fail "rolling: $bad creates failed outside their host's restart"
	fi
	wait_persisted "$dir" "$tag" rolling
}

# ---------------------------------------------------------------- main

if [ "${1:-}" = _load ]; then
	shift
	load_loop "$@"
	exit 0
fi

summary() { printf '%d passed, %d failed\n' "$passed" "$failed"; }

if [ "${CHAT_TEST_MULTIHOST:-1}" = 0 ]; then
	say "left out (CHAT_TEST_MULTIHOST=0)"
	summary
	exit 0
fi
if ! why=$("$hosts" check 2>&1); then
	say "SKIPPED, counted as one failure: several hosts need network namespaces, and here: $why"
	failed=1
	summary
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/chat-multihost.XXXXXX") || exit 1
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -z "${work:-}" ] || touch -- "$work"/*/stop 2>/dev/null
	wait_load
	"$hosts" down >/dev/null 2>&1 || say "warning: hosts.sh down failed"
	rm -rf -- "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run=mh$(date +%s)
if ! "$hosts" up "$HOSTS"; then
	fail "the $HOSTS hosts did not come up"
	summary
	exit 1
fi
code=$(http 1 POST /applications '{"name":"multihost"}')
token=$(grep -o '"token":"[^"]*"' "$work/body" | cut -d'"' -f4)
if [ "$code" != 201 ] || [ -z "$token" ]; then
	fail "POST /applications through host h1 answered $code"
	summary
	exit 1
fi
[ -z "${CHAT_TEST_TOKENS:-}" ] || echo "$token" >>"$CHAT_TEST_TOKENS"

for t in ${CHAT_TEST_MULTIHOST_ONLY:-spread takeover partition rolling}; do
	"test_$t"
done
summary
[ "$failed" -eq 0 ]
