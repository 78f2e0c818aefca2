#!/usr/bin/env bash
# search-alternatives.sh - the search engine's side of a search and of
# indexing, measured for several mappings and query forms side by side, in
# one run against one engine, with the same messages and the same queries.
#
# Usage: tests/bench/search-alternatives.sh
#
# What it does, in order (every step bounded: wrk runs ALT_DURATION seconds,
# every wait at most ALT_WAIT seconds):
#
#   1. starts its own search engine (tests/harness/search-engine.sh, data in
#      $ALT_VAR/es, HTTP on ALT_ES_PORT, transport on ALT_ES_PORT+100) unless
#      one answers there already (then it is used and left running);
#   2. indexing: for each mapping of ALT_INDEXINGS, loads ALT_INDEX_N
#      messages (tests/bench/rows.awk, the rows of `make bench`) into a new
#      index over _bulk (ALT_BULK_DOCS documents a request, ALT_BULK_CONNS
#      connections) and reports documents/s until all are counted by a
#      search (refreshed), then deletes the index;
#   3. searching: loads ALT_N messages, ALT_HOT of them in chat 1, into each
#      index that the query forms of ALT_QUERIES need, then runs each form
#      with wrk (tests/bench/search-alt.lua) against the engine directly,
#      with 1 connection and with ALT_CONNECTIONS, in ALT_ROUNDS rounds of
#      all forms in turn (median reported), the same ALT_POOL
#      queries (partial words as bench.lua draws them, fixed seed) for all;
#      each form is checked first to give the same hits, in the same order,
#      as today's for every query (a form that does not says so);
#   4. prints a Markdown table (and writes it to $ALT_VAR/report-<date>.md),
#      stops the engine if it started it. Loaded indices are kept (named
#      after their mapping and size) so that a second run only queries;
#      ALT_FRESH=1 deletes them first.
#
# Mappings (lib/search-index.json, changed as named):
#   today    lib/search-index.json as it is
#   jsonlen  today + json_len (long, doc values only): the body's length as
#            the contract's JSON writes it, computed when indexing
#   lean     jsonlen + number, created_at and updated_at doc values only
#            (never searched, only sorted or returned)
#   sorted   jsonlen with the index sorted by app, chat, number
#   kw       jsonlen + app_k and chat_k, keywords (term filters on postings
#            instead of points)
#   routed   jsonlen in ALT_ROUTED_SHARDS shards, routed by app and chat
#   wild     jsonlen + body.wild, a `wildcard` subfield (no ranking of its
#            own: not the same order, measured for the record)
#   phrases  jsonlen + index_phrases on body.tri (pairs of adjacent
#            3-grams as terms: a 4-letter word is one term, no positions)
#   sorted_phrases  both
#   words    body as words only, no 3-grams, no prefixes: not correct (no
#            partial matches), the bound of what the 3-grams cost
#
# Query forms (ALT_QUERIES), each step one of a search unless said:
#   today     script_fields json_len over _source (index jsonlen)
#   dv        docvalue_fields json_len (index jsonlen)
#   dvs       script_fields json_len: the stored value, or today's script
#             for a document without it (index jsonlen)
#   dvs_sorted dvs on the sorted index
#   dv_kw     dv, the app and chat filter on keywords (index kw)
#   dv_sorted dv on the sorted index
#   dv_routed dv on the routed index, ?routing=<app>-<chat>
#   dv_phrases, dv_sorted_phrases  dv on those indices
#   wild      dv, words of 3+ characters as `wildcard` *w* on body.wild
#             (index wild)
#   mget      step two: the _mget of 20 documents (for scale)
#
# Settings (defaults):
#   ALT_VAR          var/search-alt      ALT_ES_PORT   12650
#   ALT_N            1000000             ALT_HOT       ALT_N / 10
#   ALT_CHATS        1000                ALT_INDEX_N   200000
#   ALT_BULK_DOCS    1000                ALT_BULK_CONNS 1
#   ALT_DURATION     5                   ALT_CONNECTIONS 64
#   ALT_POOL         200 queries         ALT_WAIT      600
#   ALT_WARMUP       3 (s of wrk before each form's figures, not counted)
#   ALT_ROUNDS       3 (rounds of all forms in turn; the median reported)
#   ALT_INDEXINGS    "today jsonlen lean words" (" ": none)
#   ALT_QUERIES      "today dv dv_kw dv_sorted mget" (today first: the
#                    reference of the hits and of the ratios)
#   ALT_ROUTED_SHARDS 4                  CHAT_ES_HEAP  (search-engine.sh's)
#
# The last line is "N passed, M failed" (steps that produced their figure).

set -uo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1

: "${ALT_VAR:=$repo/var/search-alt}"
: "${ALT_ES_PORT:=12650}"
: "${ALT_N:=1000000}"
: "${ALT_HOT:=$((ALT_N / 10))}"
: "${ALT_CHATS:=1000}"
: "${ALT_INDEX_N:=200000}"
: "${ALT_BULK_DOCS:=1000}"
: "${ALT_BULK_CONNS:=1}"
: "${ALT_DURATION:=5}"
: "${ALT_CONNECTIONS:=64}"
: "${ALT_POOL:=200}"
: "${ALT_WAIT:=600}"
: "${ALT_INDEXINGS:=today jsonlen lean words}"
: "${ALT_QUERIES:=today dv dv_kw dv_sorted mget}"
: "${ALT_ROUTED_SHARDS:=4}"
: "${ALT_FRESH:=0}"
: "${ALT_WARMUP:=3}"
: "${ALT_ROUNDS:=3}"

es=http://127.0.0.1:$ALT_ES_PORT
data=$ALT_VAR/data
mkdir -p "$data" || exit 1
passed=0
failed=0
declare -a lines=()

say() { printf 'search-alt: %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }
# shellcheck source=engine-alone.sh
. "$here/engine-alone.sh"

engine_alone_check_tools curl jq wrk awk split

cleanup() {
	engine_alone_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- engine

engine_alone_up "$ALT_ES_PORT" "$ALT_VAR/es"

# ---------------------------------------------------------------- mappings

# The index definition of mapping $1 on stdout.
mapping() {
	local jl='.mappings.properties.json_len = {"type": "long", "index": false}'
	local f
	case $1 in
	today) f='.' ;;
	jsonlen) f=$jl ;;
	lean) f="$jl | .mappings.properties.number.index = false
		| .mappings.properties.created_at.index = false
		| .mappings.properties.updated_at.index = false" ;;
	sorted) f="$jl | .settings.index.sort = {\"field\": [\"app\", \"chat\", \"number\"],
		\"order\": [\"asc\", \"asc\", \"asc\"]}" ;;
	kw) f="$jl | .mappings.properties.app_k = {\"type\": \"keyword\"}
		| .mappings.properties.chat_k = {\"type\": \"keyword\"}" ;;
	routed) f="$jl | .settings.index.number_of_shards = $ALT_ROUTED_SHARDS" ;;
	wild) f="$jl | .mappings.properties.body.fields.wild = {\"type\": \"wildcard\"}" ;;
	phrases) f="$jl | .mappings.properties.body.fields.tri.index_phrases = true" ;;
	sorted_phrases) f="$jl | .mappings.properties.body.fields.tri.index_phrases = true
		| .settings.index.sort = {\"field\": [\"app\", \"chat\", \"number\"],
		\"order\": [\"asc\", \"asc\", \"asc\"]}" ;;
	words) f='.mappings.properties.body.fields = {}' ;;
	*) return 1 ;;
	esac
	jq -c "$f" "$repo/lib/search-index.json"
}

# The _bulk bodies of mapping $1 for the rows file $2 into directory $3
# (one file per request).
bulk_files() {
	local m=$1 rows=$2 dir=$3 extra=0 routed=0
	case $m in
	today | words) extra=0 ;;
	kw) extra=2 ;;
	*) extra=1 ;;
	esac
	[ "$m" = routed ] && routed=1
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	# Bodies are ASCII letters and spaces: the JSON length is the length.
	LC_ALL=C awk -F '\t' -v extra="$extra" -v routed="$routed" -v ts=1700000000 '{
		r = routed ? sprintf(",\"routing\":\"1-%d\"", $1) : ""
		printf "{\"index\":{\"_id\":\"1-%d-%d\"%s}}\n", $1, $2, r
		x = ""
		if (extra >= 1) x = sprintf(",\"json_len\":%d", length($3))
		if (extra >= 2) x = x sprintf(",\"app_k\":\"1\",\"chat_k\":\"%d\"", $1)
		printf "{\"app\":1,\"chat\":%d,\"number\":%d,\"body\":\"%s\",\"created_at\":%d,\"updated_at\":%d%s}\n", $1, $2, $3, ts, ts, x
	}' "$rows" | split -l $((ALT_BULK_DOCS * 2)) -a 5 - "$dir/b."
}

count() {
	curl -sS -m 30 "$es/$1/_count" | jq -r '.count // 0'
}

# Create index $1 of mapping $2 and load rows file $3 into it; prints the
# documents/s until all are counted. Fails when they are not within ALT_WAIT.
load() {
	local ix=$1 m=$2 rows=$3 n t0 t1 deadline c dir=$data/bulk-$2
	n=$(wc -l <"$rows")
	curl -sS -m 60 -X DELETE "$es/$ix" >/dev/null
	mapping "$m" | curl -fsS -m 60 -X PUT -H 'Content-Type: application/json' \
		--data-binary @- "$es/$ix" >/dev/null || { say "create $ix failed"; return 1; }
	bulk_files "$m" "$rows" "$dir" || return 1
	t0=$(now_ms)
	# shellcheck disable=SC2016
	find "$dir" -name 'b.*' | sort | xargs -P "$ALT_BULK_CONNS" -I{} sh -c '
		curl -sS -m 120 -H "Content-Type: application/x-ndjson" \
			--data-binary @"$1" "$2" | grep -q "\"errors\":false" ||
			echo "bulk $1 had errors" >&2' _ {} "$es/$ix/_bulk"
	deadline=$((SECONDS + ALT_WAIT))
	while c=$(count "$ix"); [ "${c:-0}" -lt "$n" ]; do
		[ $SECONDS -ge $deadline ] && { say "$ix: $c of $n after ${ALT_WAIT}s"; return 1; }
		sleep 0.1
	done
	t1=$(now_ms)
	rm -rf "$dir"
	awk -v n="$n" -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f %.1f\n", n / (ms / 1000), ms / 1000 }'
}

# ---------------------------------------------------------------- queries

# ALT_POOL queries as bench.lua draws them (a part of 3 to 5 letters from
# inside a word of 5 or more, now and then two), fixed seed.
queries() {
	awk -v n="$ALT_POOL" 'length($1) >= 5 { w[++nw] = $1 }
	function part(   x, len, from) {
		x = w[1 + int(rand() * nw)]
		len = 3 + int(rand() * ((length(x) - 1 < 5 ? length(x) - 1 : 5) - 2))
		from = 2 + int(rand() * (length(x) - len))
		return substr(x, from, len)
	}
	END {
		srand(11)
		for (i = 0; i < n; i++)
			print (rand() < 0.25 ? part() " " part() : part())
	}' "$here/words.txt"
}

# The search body of query form $1 for each query line on stdin (the
# query lib/search.c builds: every word must match, short ones as
# prefixes, whole words rank first; 21 hits, as for limit=20).
bodies() {
	local form=$1
	jq -Rc --arg form "$form" '
	def word_q:
		if length >= 3 then
			if $form == "wild" then {wildcard: {"body.wild": {value: ("*" + . + "*"), case_insensitive: true}}}
			else {match_phrase: {"body.tri": {query: .}}} end
		else {match: {"body.prefix": {query: ., operator: "and"}}} end;
	(split(" ") | map(select(length > 0))) as $w
	| {track_total_hits: false, _source: false,
	   sort: [{_score: "desc"}, {number: "asc"}],
	   query: {bool: {
		filter: (if $form == "dv_kw" then [{term: {app_k: "1"}}, {term: {chat_k: "1"}}]
			 else [{term: {app: 1}}, {term: {chat: 1}}] end),
		must: ($w | map(word_q)),
		should: ($w | map({match: {body: {query: .}}}))}},
	   from: 0, size: 21}
	| if $form == "today" then
		.script_fields = {json_len: {script: {lang: "painless", source: $script}}}
	  elif $form == "dvs" or $form == "dvs_sorted" then
		.script_fields = {json_len: {script: {lang: "painless", source: ($fallback + $script)}}}
	  else .docvalue_fields = ["json_len"] end
	' --arg script "$(script_text)" --arg fallback "$fallback"
}

# The painless script that lib/search.c ran for every hit before the
# length was stored (commit 3b1813f): the body's JSON length from _source.
script_text() {
	printf '%s' "String b = params['_source']['body']; long n = 0;" \
		" for (int i = 0; i < b.length(); ++i) { char c = b.charAt(i);" \
		" if (c == 34 || c == 92 || c == 8 || c == 9 || c == 10 || c == 12 ||" \
		" c == 13) { n += 2; } else if (c < 32) { n += 6; }" \
		" else if (c < 128) { n += 1; }" \
		" else if (c < 2048 || Character.isSurrogate(c)) { n += 2; }" \
		" else { n += 3; } } return n;"
}

# The stored length when the document has it, else today's script.
fallback="if (doc.containsKey('json_len') && !doc['json_len'].empty) { return doc['json_len'].value; } "

# The index and path of query form $1.
form_index() {
	case $1 in
	today | dv | dvs) echo "jsonlen" ;;
	wild) echo "wild" ;;
	dv_kw) echo "kw" ;;
	dv_sorted | dvs_sorted) echo "sorted" ;;
	dv_routed) echo "routed" ;;
	dv_phrases) echo "phrases" ;;
	dv_sorted_phrases) echo "sorted_phrases" ;;
	mget) echo "jsonlen" ;;
	esac
}

index_name() { echo "alt-$1-$ALT_N"; }

# The hits (ids in order) of every body of file $2 on index $1, one line each.
hits() {
	local ix=$1 file=$2 path=$3 line
	while IFS= read -r line; do
		curl -sS -m 30 -H 'Content-Type: application/json' --data-binary "$line" \
			"$es/$ix/_search$path" | jq -c '[.hits.hits[]._id]'
	done <"$file"
}

# wrk over bodies $2 on path $1 with $3 connections: "rps p50 p99".
run_wrk() {
	local path=$1 file=$2 c=$3 threads=1 out
	[ "$c" -gt 1 ] && threads=2
	out=$(ALT_PATH=$path ALT_BODIES=$file wrk -t "$threads" -c "$c" \
		-d "${ALT_DURATION}s" --timeout 10s -s "$here/search-alt.lua" \
		"$es" 2>&1 | grep '^ALT ')
	[ -n "$out" ] || return 1
	case $out in *" non2xx=0 socket_errors=0"*) ;; *) say "wrk: $out" ;; esac
	echo "$out" | sed 's/.*rps=\([^ ]*\) p50_ms=\([^ ]*\) p99_ms=\([^ ]*\).*/\1 \2 \3/'
}

# ---------------------------------------------------------------- run

rows_for() {	# rows file of n=$1, hot=$2
	local f=$data/rows-$1-$2.tsv
	[ -s "$f" ] || awk -v n="$1" -v hot="$2" -v chats="$ALT_CHATS" -v seed=42 \
		-f "$here/rows.awk" "$here/words.txt" >"$f"
	echo "$f"
}

say "engine $es: $(curl -sS "$es/" | jq -r '.version.distribution + " " + .version.number')"
lines+=("| indexing: mapping | documents | bulk docs × connections | documents/s (until counted) | × today |")
lines+=("|---|---:|---:|---:|---:|")
rows=$(rows_for "$ALT_INDEX_N" $((ALT_INDEX_N / 10)))
base_rate=''
for m in $ALT_INDEXINGS; do
	say "indexing: $m, $ALT_INDEX_N documents"
	if r=$(load "alt-ix-$m" "$m" "$rows"); then
		rate=${r% *}
		[ -z "$base_rate" ] && base_rate=$rate
		lines+=("| $m | $ALT_INDEX_N | $ALT_BULK_DOCS × $ALT_BULK_CONNS | $rate ($( echo "$r" | cut -d' ' -f2) s) | $(awk -v a="$rate" -v b="$base_rate" 'BEGIN { printf "%.2f", a / b }') |")
		passed=$((passed + 1))
	else
		lines+=("| $m | $ALT_INDEX_N | | failed | |")
		failed=$((failed + 1))
	fi
	curl -sS -m 60 -X DELETE "$es/alt-ix-$m" >/dev/null
done

queries >"$data/queries.txt"
rows=$(rows_for "$ALT_N" "$ALT_HOT")
declare -A loaded=()
for f in $ALT_QUERIES; do
	m=$(form_index "$f")
	[ -n "${loaded[$m]:-}" ] && continue
	ix=$(index_name "$m")
	[ "$ALT_FRESH" = 1 ] && curl -sS -m 60 -X DELETE "$es/$ix" >/dev/null
	if [ "$(count "$ix" 2>/dev/null)" = "$ALT_N" ]; then
		say "index $ix: loaded already"
	else
		say "loading $ix: $ALT_N documents, $ALT_HOT in chat 1"
		r=$(load "$ix" "$m" "$rows") || { failed=$((failed + 1)); continue; }
		say "loaded $ix: $r (documents/s, s)"
	fi
	curl -sS -m 600 -X POST "$es/$ix/_forcemerge?max_num_segments=8" >/dev/null
	loaded[$m]=1
done

lines+=("")
lines+=("| search step (engine only) | index | same hits as today | 1 conn p50 / p99 ms | 1 conn req/s | $ALT_CONNECTIONS conns req/s | p50 / p99 ms | × today at $ALT_CONNECTIONS |")
lines+=("|---|---|---|---:|---:|---:|---:|---:|")
ref_hits=$data/hits-today.txt
declare -A url=() same=() res1=() resn=()
forms=()
for f in $ALT_QUERIES; do
	m=$(form_index "$f")
	ix=$(index_name "$m")
	[ -n "${loaded[$m]:-}" ] || { lines+=("| $f | $m | | index not loaded | | | | |"); continue; }
	path='?preference=chat-1-1'
	[ "$f" = dv_routed ] && path='?preference=chat-1-1&routing=1-1'
	if [ "$f" = mget ]; then
		head -50 "$ref_hits" 2>/dev/null | jq -c '{ids: .[0:20]}' >"$data/bodies-mget.txt"
		[ -s "$data/bodies-mget.txt" ] || queries | head -1 | bodies dv |
			curl -sS -H 'Content-Type: application/json' --data-binary @- \
			"$es/$ix/_search" | jq -c '{ids: [.hits.hits[]._id][0:20]}' >"$data/bodies-mget.txt"
		url[$f]="/$ix/_mget?realtime=false&preference=chat-1-1&_source_includes=number,body,created_at,updated_at"
		same[$f]='n/a'
	else
		bodies "$f" <"$data/queries.txt" >"$data/bodies-$f.txt"
		hits "$ix" "$data/bodies-$f.txt" "$path" >"$data/hits-$f.txt"
		if [ "$f" = today ]; then
			same[$f]=reference
		elif cmp -s "$data/hits-$f.txt" "$ref_hits"; then
			same[$f]=yes
		else
			same[$f]="no ($(paste -d'\t' "$data/hits-$f.txt" "$ref_hits" | awk -F'\t' '$1 != $2' | wc -l) of $ALT_POOL differ)"
		fi
		url[$f]="/$ix/_search$path"
	fi
	say "query form $f on $ix: same hits as today: ${same[$f]}"
	# Warm-up (JIT, caches), not counted.
	ALT_DURATION=$ALT_WARMUP run_wrk "${url[$f]}" "$data/bodies-$f.txt" 2 >/dev/null
	forms+=("$f")
done

# Rounds of every form in turn, so that the machine's load of the moment
# falls on all of them alike; the median round of each is reported.
for ((round = 1; round <= ALT_ROUNDS; round++)); do
	for f in "${forms[@]}"; do
		say "round $round: $f"
		one=$(run_wrk "${url[$f]}" "$data/bodies-$f.txt" 1) &&
			many=$(run_wrk "${url[$f]}" "$data/bodies-$f.txt" "$ALT_CONNECTIONS") ||
			continue
		res1[$f]+="$one"$'\n'
		resn[$f]+="$many"$'\n'
	done
done

# The median line of $1 by its first field (req/s).
median() { printf '%s' "$1" | sort -n -k1,1 | awk '{ l[NR] = $0 } END { if (NR) print l[int((NR + 1) / 2)] }'; }

ref_rps=''
for f in "${forms[@]}"; do
	one=$(median "${res1[$f]:-}")
	many=$(median "${resn[$f]:-}")
	if [ -z "$one" ] || [ -z "$many" ]; then
		lines+=("| $f | $(form_index "$f") | ${same[$f]} | failed | | | | |")
		failed=$((failed + 1))
		continue
	fi
	read -r rps1 p501 p991 <<<"$one"
	read -r rpsn p50n p99n <<<"$many"
	[ "$f" = today ] && ref_rps=$rpsn
	lines+=("| $f | $(form_index "$f") | ${same[$f]} | $p501 / $p991 | $rps1 | $rpsn | $p50n / $p99n | $(awk -v a="$rpsn" -v b="${ref_rps:-$rpsn}" 'BEGIN { printf "%.2f", a / b }') |")
	passed=$((passed + 1))
done

report=$ALT_VAR/report-$(date -u +%Y%m%dT%H%M%SZ).md
{
	echo "# Search alternatives, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$ALT_N messages ($ALT_HOT in the searched chat, $ALT_CHATS chats), $ALT_POOL queries, wrk ${ALT_DURATION}s per run, median of $ALT_ROUNDS rounds; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	printf '%s\n' "${lines[@]}"
} | tee "$report"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
