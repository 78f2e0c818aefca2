#!/usr/bin/env bash
# The whole test suite, as `make test` runs it:
#
#   1. build everything with -Werror and AddressSanitizer + UBSan (see
#      SANITIZE below): the programs, the unit and integration tests;
#   2. run every tests/unit/test_* binary;
#   3. start a private stack on the test ports under var/test (stopping any
#      test stack left over first, so the programs just built are the ones
#      served), run every tests/integration/test_* binary against it with
#      the CHAT_* variables exported, and stop the stack again, whatever
#      happens (failure, Ctrl-C, TERM);
#      The install test runs after the unit tests; the OpenAPI, routes
#      and Swagger UI tests (tests/docs) and the tests of several API
#      hosts (tests/multihost: three hosts in network namespaces in front
#      of this stack's stores) run while the stack is up; once
#      it is stopped, two checks that no token leaked (every token the
#      tests saw, recorded in $CHAT_VAR/test-tokens.txt, is looked for in
#      every log the stack wrote, then in MariaDB's and Redis's files), a
#      short smoke run of the benchmarks (tests/bench) after it stopped,
#      and the unit tests under valgrind (a plain build) last;
#   4. print each Criterion summary as it comes, then one line alone:
#
#        N passed, M failed
#
#      summed over every binary (Criterion's crashes and timeouts count as
#      failures; so does a skipped integration test, a binary that dies
#      without a summary, a build that fails, or a stack that does not
#      start). Exit status 0 only when M is 0.
#
# Integration tests never skip: if the stack cannot start, stack.sh names
# the part that did not come up and the run fails.
#
# Environment:
#   SANITIZE      sanitizers to build with (default address,undefined;
#                 empty for a plain build): clean rebuild, and any report
#                 in a program's log fails the run
#   CRITERION_ARGS  extra arguments for every test binary (e.g. --jobs 1,
#                 --filter 'applications/*')
#   CHAT_TEST_VAR, CHAT_TEST_HTTP_PORT, CHAT_TEST_MYSQL_PORT,
#   CHAT_TEST_REDIS_PORT, CHAT_TEST_ES_PORT  where the test stack lives
#                 (default var/test and ports 18080, 13307, 16380, 19250; its
#                 second nginx, nginx-limits, on CHAT_TEST_LIMITS_HTTP_PORT,
#                 default the HTTP port + 1), for
#                 two test runs side by side; the directory is wiped at the
#                 start of each run
#   CHAT_TEST_CLUSTER  masters of the Redis Cluster of the second stack
#                 (default 3; 0 leaves that stack out), which runs the
#                 tests of creates, lists, deletes, search, sync and faults
#                 again, and the failover and resharding tests; that stack
#                 also runs a search cluster of CHAT_TEST_ES_NODES nodes
#                 (default 2; ports CHAT_TEST_ES_PORT and after, transport
#                 ports from CHAT_TEST_ES_PORT+100), and test_es_cluster
#                 kills one of them
#   CHAT_TEST_REDIS_CLUSTER_PORT  its first node port (default
#                 CHAT_TEST_REDIS_PORT+1; it uses 2 x CHAT_TEST_CLUSTER ports)
#   CHAT_BENCH_VAR, CHAT_BENCH_*_PORT  where the benchmark smoke run's
#                 stack lives (tests/bench/bench.sh), kept for it
#   CHAT_TEST_MULTIHOST  0 leaves out the tests of several API hosts
#                 (tests/multihost/run.sh), which need root for network
#                 namespaces: without them they say why and count one
#                 failure
#   CHAT_TEST_HOSTS_PREFIX, CHAT_TEST_HOSTS_NET  their namespace prefix and
#                 /24 (default chatmh- and 198.19.64 on the default HTTP
#                 port; else mh<port>- and 198.18.<port % 256>, so that two
#                 runs side by side on other ports do not share them)
#   CHAT_TEST_IDEMPOTENCY_TTL  the test stack's CHAT_IDEMPOTENCY_TTL
#                 (default 15 s, so that test_idempotency sees keys expire)
#   CHAT_SKIP_SEARCH, CHAT_FCGI_PROCS, CHAT_WORKERS, CHAT_RATE, CHAT_BURST,
#   CHAT_SYNC_INTERVAL, CHAT_TIMEOUT_MS  passed on to the test stack; every
#                 other CHAT_* setting is replaced by the test stack's own, so
#                 a shell set up for the development stack cannot point the
#                 tests at it.

# shellcheck source-path=SCRIPTDIR
set -uo pipefail

# The suite runs instrumented unless told otherwise (SANITIZE= make test).
SANITIZE=${SANITIZE-address,undefined}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1

passed=0
failed=0
stack_started=0
stack_ran=0
stack_vars=()
finished=0
work=$(mktemp -d "${TMPDIR:-/tmp}/chat-tests.XXXXXX") || exit 1

# Each line carries the minutes and seconds since the run began.
say() { printf 'run-tests: [%02d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

summary() {
	printf '%d passed, %d failed\n' "$passed" "$failed"
}

stop_stack() {
	if [ "$stack_started" -eq 1 ]; then
		stack_started=0
		say "stopping the test stack"
		"$here/stack.sh" stop 8>&- || say "warning: stack.sh stop failed"
	fi
}

# shellcheck disable=SC2317  # called by the trap
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	stop_stack
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

# Sanitizer reports of the programs behind nginx land in their logs (leaks
# only when they exit, so this runs after the stack has stopped).
scan_logs() {
	local pattern='ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:'
	local -a reports
	[ -n "${SANITIZE:-}" ] && [ "$stack_ran" -eq 1 ] || return 0
	local v logs=()
	for v in ${stack_vars[@]+"${stack_vars[@]}"}; do logs+=("$v"/log/*.log "$v"/hosts/*/log/*.log); done
	mapfile -t reports < <(grep -lE "$pattern" ${logs[@]+"${logs[@]}"} 2>/dev/null)
	[ ${#reports[@]} -gt 0 ] || return 0
	say "sanitizer reports in the test stack's logs (${reports[*]}):"
	grep -hE -A 20 "$pattern" "${reports[@]}" | head -n 200
	failed=$((failed + 1))
}

# Logs the test stack wrote: its own directory (nginx, the programs, the
# worker, the sync, MariaDB, Redis), the API hosts' of tests/multihost and
# the search engine's.
stack_logs() {
	local es
	find "$CHAT_VAR/log" -type f
	[ ! -d "$CHAT_VAR/hosts" ] || find "$CHAT_VAR/hosts" -path '*/log/*' -type f
	# Every node of a search cluster: es, es2, ...
	for es in "$CHAT_VAR/es" "$CHAT_VAR"/es[0-9]*; do
		[ -d "$es" ] || continue
		find "$es" \( -path "$es/data" -o -path "$es/engine" \
			-o -path "$es/home" \) -prune -o -type f \
			\( -name '*.log' -o -name '*.log.*' -o -path "$es/logs/*" \) -print
	done
}

# check_no_tokens WHAT FILE...: one check: no recorded token occurs in any
# FILE (searched as bytes: data files are binary).
check_no_tokens() {
	local what=$1 tokens=$work/tokens hits
	shift
	if [ ! -s "$tokens" ]; then
		say "$what: no token was recorded in $CHAT_TEST_TOKENS, so the check would prove nothing: counted as a failure"
		failed=$((failed + 1))
		return
	fi
	if [ $# -eq 0 ]; then
		say "$what: no file to search: counted as a failure"
		failed=$((failed + 1))
		return
	fi
	hits=$(grep -a -c -H -F -f "$tokens" -- "$@" 2>/dev/null | grep -v ':0$')
	if [ -z "$hits" ]; then
		say "$what: none of $(wc -l <"$tokens") tokens in $# files: passed"
		passed=$((passed + 1))
	else
		say "$what: tokens found (file:lines):"
		printf '%s\n' "$hits" | sed 's/^/run-tests:   /'
		grep -a -o -h -F -f "$tokens" -- "$@" 2>/dev/null | head -n 3 |
			sed 's/^/run-tests:   e.g. /'
		failed=$((failed + 1))
	fi
}

# Tokens are credentials: none may reach a log, nor a store in clear.
check_tokens() {
	local -a files
	[ "$stack_ran" -eq 1 ] || return 0
	sort -u -- "$CHAT_TEST_TOKENS" >"$work/tokens" 2>/dev/null || : >"$work/tokens"
	mapfile -t files < <(stack_logs)
	check_no_tokens "tokens in the test stack's logs" ${files[@]+"${files[@]}"}
	mapfile -t files < <(find "$CHAT_VAR/mysql/data" "$CHAT_VAR/redis" "$CHAT_VAR/redis-cluster" -type f 2>/dev/null)
	check_no_tokens "tokens in MariaDB's and Redis's files" ${files[@]+"${files[@]}"}
}

# finish: print the overall line and exit with its verdict.
finish() {
	finished=1
	stop_stack
	scan_logs
	summary
	if [ "$failed" -eq 0 ]; then exit 0; else exit 1; fi
}

# run_binary PATH KIND: run one Criterion binary, show its output, and add
# its synthesis to the totals. Criterion leaves skipped tests out of its
# synthesis (and, unless verbose, out of its output), so they are found in
# its TAP report: an integration test that skips counts as a failure.
run_binary() {
	local bin=$1 kind=$2 out=$work/out tap=$work/tap rc line tested pass
	local fail crash skipped
	local -a args=(--short-filename "--tap=$tap")
	# shellcheck disable=SC2206  # word splitting is the point
	[ -z "${CRITERION_ARGS:-}" ] || args+=($CRITERION_ARGS)

	say "running ${bin#"$repo"/}"
	rm -f -- "$tap"
	"$bin" "${args[@]}" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	skipped=$(grep -E '^ok .* # SKIP' "$tap" 2>/dev/null)
	if [ -n "$skipped" ]; then
		printf '%s\n' "$skipped" | sed 's/^/run-tests: skipped: /'
		if [ "$kind" = integration ]; then
			say "integration tests must not skip: each counted as a failure"
			failed=$((failed + $(printf '%s\n' "$skipped" | wc -l)))
		fi
	fi
	line=$(sed 's/\x1b\[[0-9;]*m//g' "$out" |
		grep -E 'Synthesis: Tested: [0-9]+ \| Passing: [0-9]+ \| Failing: [0-9]+ \| Crashing: [0-9]+' |
		tail -n 1)
	if [ -z "$line" ]; then
		say "${bin#"$repo"/} ended (status $rc) without a summary: counted as one failure"
		failed=$((failed + 1))
		return
	fi
	[[ $line =~ Tested:\ ([0-9]+)\ \|\ Passing:\ ([0-9]+)\ \|\ Failing:\ ([0-9]+)\ \|\ Crashing:\ ([0-9]+) ]]
	tested=${BASH_REMATCH[1]}
	pass=${BASH_REMATCH[2]}
	fail=${BASH_REMATCH[3]}
	crash=${BASH_REMATCH[4]}
	passed=$((passed + pass))
	failed=$((failed + fail + crash))
	if [ "$rc" -ne 0 ] && [ $((fail + crash)) -eq 0 ]; then
		say "${bin#"$repo"/} exited with status $rc although its $tested tests passed: counted as one failure"
		failed=$((failed + 1))
	fi
}

# run_script CMD...: run a test script that ends with "N passed, M failed"
# (the docs, install and benchmark smoke tests) and add its counts.
run_script() {
	local out=$work/out rc line
	say "running ${1#"$repo"/} ${*:2}"
	"$@" 2>&1 8>&- | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(sed 's/\x1b\[[0-9;]*m//g' "$out" |
		grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then
			say "${1#"$repo"/} exited with status $rc: counted as one failure"
			failed=$((failed + 1))
		fi
	else
		say "${1#"$repo"/} ended (status $rc) without a summary: counted as one failure"
		failed=$((failed + 1))
	fi
}

# start_stack WHAT: a fresh stack in $CHAT_VAR (stopping one left there
# first), which stop_stack stops; the run ends if it does not start.
# Every run starts from empty stores: data or an index mapping left by an
# older build must not decide a result.
start_stack() {
	"$here/stack.sh" stop >/dev/null 2>&1 8>&- || true
	rm -rf -- "$CHAT_VAR"
	stack_started=1
	stack_vars+=("$CHAT_VAR")
	if ! "$here/stack.sh" start 8>&-; then
		say "$1 did not start (stack.sh names the part above); integration tests not run"
		failed=$((failed + 1))
		finish
	fi
}

# binaries DIR: the test binaries built from DIR/test_*.c.
binaries() {
	local src
	for src in "$1"/test_*.c; do
		[ -e "$src" ] || continue
		printf '%s\n' "${src%.c}"
	done
}

# --- 1. build ------------------------------------------------------------

# Runs in one tree share its build: several may go side by side (each with
# its own CHAT_TEST_VAR and ports), but one that rebuilds from clean must
# be alone. The lock is fd 8, closed for the stack's long-lived services.
instrumented() {
	# (Not grep -q: with pipefail, nm killed by SIGPIPE would make the
	# test false.)
	nm lib/libchat.a 2>/dev/null | grep -E '__(asan|ubsan|tsan|msan)_' >/dev/null
}
lock_mode=-s
if [ -n "${SANITIZE:-}" ] || instrumented; then lock_mode=-x; fi
mkdir -p "$repo/var" && exec 8>"$repo/var/run-tests.lock" || exit 1
if ! flock -n "$lock_mode" 8; then
	say "waiting for another run-tests.sh in this tree (they share its build)"
	flock "$lock_mode" 8
fi

mapfile -t unit_bins < <(binaries tests/unit)
# test_cluster needs a Redis Cluster, test_es_cluster a search cluster:
# they run on the second stack only.
mapfile -t integ_bins < <(binaries tests/integration | grep -v -e '/test_cluster$' -e '/test_es_cluster$')

make_args=(WERROR=1)
if [ -n "${SANITIZE:-}" ]; then
	make_args+=("SANITIZE=$SANITIZE")
	say "SANITIZE=$SANITIZE: rebuilding everything from clean"
	make clean >/dev/null || { failed=$((failed + 1)); say "make clean failed"; finish; }
	# Make every sanitizer report fail the process that hit it. Criterion
	# itself leaks a little (with --filter, for one), which is not ours.
	printf 'leak:libcriterion.so\n' >"$work/lsan.supp"
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
	export LSAN_OPTIONS=suppressions=$work/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}
elif instrumented; then
	# make does not track flags: objects left by a SANITIZE run would not
	# link into plain programs.
	# (Unlock first: two runs upgrading together would wait for each other.)
	[ "$lock_mode" = -x ] || { flock -u 8 && flock -x 8; }
	say "the last build was instrumented: rebuilding from clean"
	make clean >/dev/null || { failed=$((failed + 1)); say "make clean failed"; finish; }
fi

say "building: make ${make_args[*]} all and the unit and integration tests"
# The test binaries are named rather than built with `make unit` or `make
# integration`, which would also run them (and stop at the first failing one);
# test_cluster, left out of the first pass, is built for the cluster pass.
if ! make "${make_args[@]}" all docs DOCS_DIR="$repo/var/docs" \
	${unit_bins[@]+"${unit_bins[@]}"} ${integ_bins[@]+"${integ_bins[@]}"} \
	tests/integration/test_cluster tests/integration/test_es_cluster; then
	say "the build failed"
	failed=$((failed + 1))
	finish
fi

# --- 2. unit tests -------------------------------------------------------

for bin in ${unit_bins[@]+"${unit_bins[@]}"}; do
	run_binary "$repo/$bin" unit
done
# With the suite's own flags: other flags would rebuild every program, and
# the stack would serve uninstrumented ones.
run_script "$repo/tests/install/run.sh" "${make_args[@]}"
# Every fuzz target briefly over its seed corpus.
say "running make fuzz-smoke"
if make fuzz-smoke 8>&-; then
	passed=$((passed + 1))
else
	say "make fuzz-smoke failed (inputs in tests/fuzz/build/crashes/)"
	failed=$((failed + 1))
fi

# --- 3. integration tests against a private stack ------------------------

# Keep the knobs a developer may turn; drop every other CHAT_* setting so
# that nothing points at the development stack.
while IFS= read -r var; do
	case $var in
	CHAT_SKIP_SEARCH | CHAT_FCGI_PROCS | CHAT_WORKERS | CHAT_RATE | \
		CHAT_BURST | CHAT_SYNC_INTERVAL | CHAT_TIMEOUT_MS | CHAT_TEST_* | \
		CHAT_BENCH_*) ;;
	CHAT_*) unset "$var" ;;
	esac
done < <(compgen -e)
export CHAT_VAR=${CHAT_TEST_VAR:-$repo/var/test}
export CHAT_HTTP_PORT=${CHAT_TEST_HTTP_PORT:-18080}
export CHAT_MYSQL_PORT=${CHAT_TEST_MYSQL_PORT:-13307}
export CHAT_REDIS_PORT=${CHAT_TEST_REDIS_PORT:-16380}
export CHAT_ES_PORT=${CHAT_TEST_ES_PORT:-19250}
# The suite sends bursts with one token (hundreds of creates at once) from
# one address: the test stack's per-token and per-address limits are out of
# the way. test_limits tests them on the stack's second nginx, nginx-limits,
# which has them low (stack.sh).
export CHAT_TOKEN_RATE=100000r/s CHAT_TOKEN_BURST=100000 \
	CHAT_TOKEN_READ_RATE=100000r/s CHAT_TOKEN_READ_BURST=100000 \
	CHAT_TOKEN_SEARCH_RATE=100000r/s CHAT_TOKEN_SEARCH_BURST=100000 \
	CHAT_ADDR_CONN=60000
export CHAT_LIMITS_HTTP_PORT=${CHAT_TEST_LIMITS_HTTP_PORT:-$((CHAT_HTTP_PORT + 1))}
# shellcheck source=env.sh
. "$here/env.sh"
# Idempotency keys expire within the run, so that test_idempotency can
# see it happen (the programs' default is 24 hours).
export CHAT_IDEMPOTENCY_TTL=${CHAT_TEST_IDEMPOTENCY_TTL:-15}
# The programs log every request (their default: 5xx and slow ones only),
# so that the token check after the run reads a line for each request.
export CHAT_LOG_SLOW_MS=0

if [ ${#integ_bins[@]} -eq 0 ]; then
	say "no integration tests found in tests/integration"
	failed=$((failed + 1))
	finish
fi

say "starting the test stack in $CHAT_VAR (http://127.0.0.1:$CHAT_HTTP_PORT)"
# A test stack left over from an interrupted run would serve old binaries.
# Where the test clients record every token they see (check_tokens).
export CHAT_TEST_TOKENS=$CHAT_VAR/test-tokens.txt
stack_ran=1
start_stack "the test stack"

for bin in "${integ_bins[@]}"; do
	run_binary "$repo/$bin" integration
done
# The OpenAPI document, the routes and Swagger UI in a real browser.
run_script "$repo/tests/docs/run.sh"
# Three more API hosts, each in a network namespace, in front of this
# stack's stores (README "Scaling out").
if [ "$CHAT_HTTP_PORT" = 18080 ]; then
	hosts_prefix=chatmh- hosts_net=198.19.64
else
	hosts_prefix=mh$CHAT_HTTP_PORT- hosts_net=198.18.$((CHAT_HTTP_PORT % 256))
fi
CHAT_HOSTS_PREFIX=${CHAT_TEST_HOSTS_PREFIX:-$hosts_prefix} \
	CHAT_HOSTS_NET=${CHAT_TEST_HOSTS_NET:-$hosts_net} \
	run_script "$repo/tests/multihost/run.sh"
stop_stack
# After the stop: nginx's buffered access log and every other log are
# complete, and MariaDB and Redis have written their files.
check_tokens

# --- 3b. the same programs on a Redis Cluster and a search cluster --------
# A second stack, with a cluster of $CHAT_TEST_CLUSTER masters and as many
# replicas instead of one Redis, and a search cluster of
# $CHAT_TEST_ES_NODES nodes, runs the tests of creates, lists, deletes,
# search, the sync, the faults and the live streams again, then the
# failover and resharding tests (test_cluster), which need a Redis
# Cluster, and the test of a search node killed (test_es_cluster).
cluster_tests=(test_chats test_messages test_search test_sync test_faults test_live)
if [ "${CHAT_TEST_CLUSTER:-3}" -gt 0 ]; then
	export CHAT_VAR=${CHAT_TEST_VAR:-$repo/var/test}-cluster
	export CHAT_ES_NODES=${CHAT_TEST_ES_NODES:-2}
	unset CHAT_ES_URL
	# shellcheck source=env.sh
	. "$here/env.sh" # CHAT_ES_URL: every node
	export CHAT_REDIS_CLUSTER=${CHAT_TEST_CLUSTER:-3}
	export CHAT_REDIS_CLUSTER_PORT=${CHAT_TEST_REDIS_CLUSTER_PORT:-$((CHAT_REDIS_PORT + 1))}
	# Short, so that the failover test sees a replica take over quickly.
	export CHAT_REDIS_NODE_TIMEOUT=${CHAT_TEST_REDIS_NODE_TIMEOUT:-1000}
	say "starting the cluster test stack in $CHAT_VAR (Redis Cluster on port $CHAT_REDIS_CLUSTER_PORT and up, $CHAT_ES_NODES search nodes on $CHAT_ES_URL)"
	start_stack "the cluster test stack"
	CHAT_REDIS_NODES=$(. "$CHAT_VAR/run/stack.env" && echo "$CHAT_REDIS_NODES")
	export CHAT_REDIS_NODES
	for bin in "${cluster_tests[@]}" test_cluster test_es_cluster; do
		run_binary "$repo/tests/integration/$bin" integration
	done
	stop_stack
	# The cluster's nodes have their own logs, AOF and dumps.
	check_tokens
	unset CHAT_REDIS_NODES CHAT_REDIS_CLUSTER
	export CHAT_ES_NODES=1 CHAT_ES_URL=http://127.0.0.1:$CHAT_ES_PORT
fi

# --- 4. the benchmarks, briefly, on their own stack -----------------------
# So that the benchmark code cannot rot; the figures mean nothing here.
# The test stack has stopped, so the smoke run takes over its ports: two
# test runs side by side (other CHAT_TEST_* ports) never meet on the
# benchmark's default ones.
export CHAT_BENCH_HTTP_PORT=${CHAT_BENCH_HTTP_PORT:-$CHAT_HTTP_PORT}
export CHAT_BENCH_MYSQL_PORT=${CHAT_BENCH_MYSQL_PORT:-$CHAT_MYSQL_PORT}
export CHAT_BENCH_REDIS_PORT=${CHAT_BENCH_REDIS_PORT:-$CHAT_REDIS_PORT}
export CHAT_BENCH_ES_PORT=${CHAT_BENCH_ES_PORT:-$CHAT_ES_PORT}
run_script "$repo/tests/bench/bench.sh" --smoke

# --- 5. the unit tests once more, built plain, under valgrind -------------
say "running make valgrind-unit"
if make WERROR=1 valgrind-unit 8>&-; then
	passed=$((passed + 1))
else
	say "make valgrind-unit failed (logs in tests/unit/valgrind/)"
	failed=$((failed + 1))
fi

finish
