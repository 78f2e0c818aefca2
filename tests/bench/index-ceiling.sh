#!/usr/bin/env bash
# index-ceiling.sh - the search engine alone: how many documents per second
# it makes searchable with today's mapping (lib/search-index.json), by
# _bulk request size and by how many requests are in flight at once.
#
# Usage: tests/bench/index-ceiling.sh
#
# What it does (every wait bounded by CEIL_WAIT seconds):
#
#   1. starts its own search engine (tests/harness/search-engine.sh, the
#      stack's node settings: one CPU's thread pools, CHAT_ES_HEAP; data in
#      $CEIL_VAR/es, HTTP on CEIL_ES_PORT, transport on CEIL_ES_PORT+100)
#      unless one answers there already (then it is used and left running);
#   2. builds CEIL_N messages as `make bench` does (tests/bench/rows.awk
#      over words.txt) and from them the _bulk bodies the indexer sends
#      (lib/search.c add_bulk_doc: a `create` with the id "<app>-<chat>-
#      <number>", app, chat, number, body, created_at, updated_at,
#      json_len), cut into requests of each size of CEIL_SIZES: "<n>d" is
#      n documents a request, "<n>k" n KiB of NDJSON a request;
#   3. for each size and each count of CEIL_CONNS (requests in flight at
#      once, curl over xargs -P), and CEIL_ROUNDS rounds of all of them in
#      turn (so that the machine's load of the moment falls on all alike),
#      creates a fresh index with lib/search-index.json, sends every
#      request, and times until a search counts all CEIL_N (the index's own
#      refresh_interval); with CEIL_NOREFRESH=1 also a variant that sets
#      refresh_interval -1 during the load and refreshes once at the end;
#      with CEIL_GZIP=1 also one that sends each request gzipped
#      (Content-Encoding: gzip, compressed beforehand: the engine's side
#      of it only); for each line of CEIL_JQ, a jq program, also one whose
#      index is created with lib/search-index.json changed by it (a
#      setting or a mapping to compare: the documents sent stay the same);
#   4. prints a Markdown table (median of the rounds, the lower middle
#      one for an even count, and each round's figure) and writes it to $CEIL_VAR/report-<date>.md; stops the engine
#      if it started it.
#
# Settings (defaults):
#   CEIL_VAR     var/index-ceiling      CEIL_ES_PORT  12750
#   CEIL_N       100000                 CEIL_CHATS    1000
#   CEIL_SIZES   "1000d 2000d 5000d 1024k 4096k"
#   CEIL_CONNS   "1 2 3"                CEIL_ROUNDS   2
#   CEIL_NOREFRESH 0                    CEIL_WAIT     600
#   CEIL_GZIP    0                      CEIL_JQ       (none)
#   CHAT_ES_HEAP (search-engine.sh's default)
#
# The last line is "N passed, M failed" (loads that produced their figure).

set -uo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1

: "${CEIL_VAR:=$repo/var/index-ceiling}"
: "${CEIL_ES_PORT:=12750}"
: "${CEIL_N:=100000}"
: "${CEIL_CHATS:=1000}"
: "${CEIL_SIZES:=1000d 2000d 5000d 1024k 4096k}"
: "${CEIL_CONNS:=1 2 3}"
: "${CEIL_ROUNDS:=2}"
: "${CEIL_NOREFRESH:=0}"
: "${CEIL_GZIP:=0}"
: "${CEIL_JQ:=}"
: "${CEIL_WAIT:=600}"

es=http://127.0.0.1:$CEIL_ES_PORT
data=$CEIL_VAR/data
ix=ceiling
mkdir -p "$data" || exit 1
passed=0
failed=0

say() { printf 'index-ceiling: %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }
# shellcheck source=engine-alone.sh
. "$here/engine-alone.sh"

engine_alone_check_tools curl jq awk split xargs gzip

cleanup() {
	curl -sS -m 60 -X DELETE "$es/$ix" >/dev/null 2>&1
	engine_alone_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

engine_alone_up "$CEIL_ES_PORT" "$CEIL_VAR/es"

# ---------------------------------------------------------------- bodies

rows=$data/rows-$CEIL_N.tsv
[ -s "$rows" ] || awk -v n="$CEIL_N" -v hot=$((CEIL_N / 10)) \
	-v chats="$CEIL_CHATS" -v seed=42 -f "$here/rows.awk" \
	"$here/words.txt" >"$rows" || exit 1

# The requests of size $1 into directory $2, one file each (bulk.awk).
bulk_files() {
	local size=$1 dir=$2 docs=0 bytes=0
	case $size in
	*d) docs=${size%d} ;;
	*k) bytes=$((${size%k} * 1024)) ;;
	*) return 1 ;;
	esac
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	LC_ALL=C awk -F '\t' -v docs="$docs" -v bytes="$bytes" -v dir="$dir" \
		-v app=1 -v ts=1700000000 -f "$here/bulk.awk" "$rows"
}

count() {
	curl -sS -m 30 "$es/$ix/_count" | jq -r '.count // 0'
}

# Load the requests of directory $1 with $2 in flight, into a fresh index;
# with $3 = 1, refresh_interval -1 during the load; with $3 = 2, the
# gzipped requests; with $3 = jK, an index made by line K of CEIL_JQ.
# Prints documents/s until all are counted; fails when they are not within
# CEIL_WAIT.
load() {
	local dir=$1 conns=$2 norefresh=0 t0 t1 deadline c errs=$data/errors
	local enc='X-Plain: 1' pat='b.*[0-9]' mapping=$repo/lib/search-index.json
	[ "${3:-0}" = 1 ] && norefresh=1
	[ "${3:-0}" = 2 ] && enc='Content-Encoding: gzip' pat='b.*.gz'
	if [[ ${3:-0} == j* ]]; then
		mapping=$data/index-${3}.json
		jq "$(jq_line "${3#j}")" "$repo/lib/search-index.json" >"$mapping" || return 1
	fi
	curl -sS -m 60 -X DELETE "$es/$ix" >/dev/null
	curl -fsS -m 60 -X PUT -H 'Content-Type: application/json' \
		--data-binary @"$mapping" "$es/$ix" >/dev/null || {
		say "create $ix failed"
		return 1
	}
	if [ "$norefresh" = 1 ]; then
		curl -fsS -m 30 -X PUT -H 'Content-Type: application/json' \
			-d '{"index":{"refresh_interval":"-1"}}' "$es/$ix/_settings" >/dev/null || return 1
	fi
	: >"$errs"
	t0=$(now_ms)
	# shellcheck disable=SC2016
	find "$dir" -name "$pat" | sort | xargs -P "$conns" -I{} sh -c '
		curl -sS -m 120 -H "Content-Type: application/x-ndjson" \
			-H "$4" --data-binary @"$1" "$2" |
			grep -q "\"errors\":false" ||
			echo "bulk $1 had errors" >>"$3"' _ {} "$es/$ix/_bulk" "$errs" "$enc"
	if [ -s "$errs" ]; then
		say "$(head -3 "$errs")"
		return 1
	fi
	if [ "$norefresh" = 1 ]; then
		curl -fsS -m 30 -X PUT -H 'Content-Type: application/json' \
			-d '{"index":{"refresh_interval":"500ms"}}' "$es/$ix/_settings" >/dev/null || return 1
		curl -fsS -m 120 -X POST "$es/$ix/_refresh" >/dev/null || return 1
	fi
	deadline=$((SECONDS + CEIL_WAIT))
	while c=$(count); [ "${c:-0}" -lt "$CEIL_N" ]; do
		[ $SECONDS -ge $deadline ] && { say "$c of $CEIL_N after ${CEIL_WAIT}s"; return 1; }
		sleep 0.1
	done
	t1=$(now_ms)
	awk -v n="$CEIL_N" -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f\n", n / (ms / 1000) }'
}

# Line $1 (from 1) of CEIL_JQ.
jq_line() { sed -n "${1}p" <<<"$CEIL_JQ"; }

# ---------------------------------------------------------------- run

say "engine $es: $(curl -sS "$es/" | jq -r '.version.distribution + " " + .version.number'); $CEIL_N documents"
declare -A reqs=() res=()
variants=()
for s in $CEIL_SIZES; do
	reqs[$s]=$(bulk_files "$s" "$data/bulk-$s") || exit 1
	for c in $CEIL_CONNS; do
		variants+=("$s:$c:0")
	done
done
if [ "$CEIL_NOREFRESH" = 1 ]; then
	for s in $CEIL_SIZES; do
		variants+=("$s:${CEIL_CONNS##* }:1")
	done
fi
if [ "$CEIL_GZIP" = 1 ]; then
	for s in $CEIL_SIZES; do
		for f in "$data/bulk-$s"/b.*[0-9]; do
			gzip -c "$f" >"$f.gz" || exit 1
		done
		variants+=("$s:${CEIL_CONNS##* }:2")
	done
fi
njq=$(grep -c . <<<"$CEIL_JQ")
for ((k = 1; k <= njq; k++)); do
	for s in $CEIL_SIZES; do
		variants+=("$s:${CEIL_CONNS##* }:j$k")
	done
done

for ((round = 1; round <= CEIL_ROUNDS; round++)); do
	for v in "${variants[@]}"; do
		IFS=: read -r s c nr <<<"$v"
		if r=$(load "$data/bulk-$s" "$c" "$nr"); then
			say "round $round: $s × $c (variant $nr): $r documents/s"
			res[$v]+="$r "
		else
			say "round $round: $s × $c (variant $nr): failed"
		fi
	done
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

lines=("| request size | requests | documents a request | in flight | variant | documents/s (median) | each round |"
	"|---|---:|---:|---:|---|---:|---|")
for v in "${variants[@]}"; do
	IFS=: read -r s c nr <<<"$v"
	# shellcheck disable=SC2086
	m=$(median ${res[$v]:-})
	if [ -z "$m" ]; then
		failed=$((failed + 1))
		m=failed
	else
		passed=$((passed + 1))
	fi
	lines+=("| $s | ${reqs[$s]} | $((CEIL_N / ${reqs[$s]})) | $c | $(case $nr in 1) echo 'refresh off, one at the end' ;; 2) echo 'gzipped' ;; j*) echo "\`$(jq_line "${nr#j}" | sed 's/|/\\|/g')\`" ;; *) echo 'as is' ;; esac) | $m | ${res[$v]:-} |")
done

report=$CEIL_VAR/report-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "# Indexing ceiling, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$CEIL_N messages of \`make bench\` ($CEIL_CHATS chats), lib/search-index.json, $CEIL_ROUNDS rounds of all variants in turn; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	printf '%s\n' "${lines[@]}"
} | tee "$report"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
