# shellcheck shell=bash
# engine-alone.sh - sourced by the benchmarks of the search engine alone
# (search-alternatives.sh, index-ceiling.sh): a private engine of their
# own, started by tests/harness/search-engine.sh unless one already
# answers on the port, and stopped at exit only if started here.
#
#   engine_alone_check_tools TOOL...  each on PATH, or the "0 passed, 1
#                                     failed" line and exit 1
#   engine_alone_up PORT DIR          an engine on PORT (data in DIR), or
#                                     the same line and exit 1
#   engine_alone_down                 stop it if engine_alone_up started it
#
# The caller sets $repo (the project's root) and say().

engine_alone_port=''
engine_alone_dir=''

engine_alone_check_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 && continue
		say "missing tool: $tool"
		echo "0 passed, 1 failed"
		exit 1
	done
}

engine_alone_up() {
	curl -fsS -m 5 "http://127.0.0.1:$1/" >/dev/null 2>&1 && return 0
	CHAT_ES_PORT=$1 CHAT_ES_DIR=$2 CHAT_ES_TRANSPORT_PORT=$(($1 + 100)) \
		bash "$repo/tests/harness/search-engine.sh" start >&2 || {
		echo "0 passed, 1 failed"
		exit 1
	}
	engine_alone_port=$1 engine_alone_dir=$2
}

engine_alone_down() {
	[ -n "$engine_alone_port" ] || return 0
	CHAT_ES_PORT=$engine_alone_port CHAT_ES_DIR=$engine_alone_dir \
		bash "$repo/tests/harness/search-engine.sh" stop >&2
	engine_alone_port=''
}
