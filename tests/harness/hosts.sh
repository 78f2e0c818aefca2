#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Several API hosts on one machine, each in its own network namespace, in
# front of the one MariaDB, Redis and search engine of a running stack
# (stack.sh start) in the root namespace:
#
#   root namespace   the stack's stores on 127.0.0.1; the bridge
#                    $CHAT_HOSTS_BRIDGE with $CHAT_HOSTS_NET.1, where a
#                    small TCP forward (socat) per store listens and passes
#                    each connection on to the store's 127.0.0.1 port
#   namespace hN     ${CHAT_HOSTS_PREFIX}hN: loopback, and a veth pair
#                    (eth0 inside, ${CHAT_HOSTS_PREFIX}hNo on the bridge)
#                    with $CHAT_HOSTS_NET.(10+N); stack.sh start-host runs
#                    the host's FastCGI programs, its worker (named hN-1)
#                    and its nginx on 127.0.0.1:$CHAT_HTTP_PORT, with
#                    CHAT_VAR=$CHAT_VAR/hosts/hN and the stores at
#                    $CHAT_HOSTS_NET.1
#
# Why forwards rather than the stores binding the bridge address too: the
# bridge exists only while a test runs, after the stores started (a bind
# to an address that does not exist fails), and the connections reach the
# stores from 127.0.0.1, the address the MariaDB accounts are made for, so
# nothing about the stack changes. The forwards are started here and
# stopped by their pid.
#
# Usage: tests/harness/hosts.sh COMMAND [ARGS]
#
#   check         exit 0 when namespaces, veth pairs and bridges can be
#                 made here (and socat is installed); else print why, exit 1
#   up N          the bridge, the forwards and N hosts (2 or 3), each up
#                 when its GET /health answers 200
#   down          every host stopped, every namespace, veth, the bridge and
#                 the forwards removed; harmless when nothing is up
#   exec N CMD... CMD inside host N's namespace
#   start N, stop N   host N's programs and nginx (stack.sh start-host,
#                 stop-host) inside its namespace
#   cut N, mend N     host N's link down (cut off from the stores) or up
#   worker-pid N  the pid of host N's worker
#
# Settings: the stack's CHAT_* (run-tests.sh exports them), and
#   CHAT_HOSTS_PREFIX  namespace and interface prefix (default chatmh-)
#   CHAT_HOSTS_NET     the /24, first three octets (default 198.19.64): from
#                      198.18.0.0/15, the block reserved for network tests
#   CHAT_HOSTS_BRIDGE  the bridge (default ${CHAT_HOSTS_PREFIX}br0)
# and every CHAT_* setting of the programs (CHAT_WORKER_CLAIM_MS,
# CHAT_TIMEOUT_MS...), passed on to each host.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=env.sh
. "$here/env.sh"

prefix=${CHAT_HOSTS_PREFIX:-chatmh-}
net=${CHAT_HOSTS_NET:-198.19.64}
bridge=${CHAT_HOSTS_BRIDGE:-${prefix}br0}
gateway=$net.1
hosts_dir=$CHAT_VAR/hosts
state=$hosts_dir/hosts.state

say() { printf 'hosts: %s\n' "$*"; }
die() {
	printf 'hosts: %s\n' "$*" >&2
	exit 1
}

[[ $net =~ ^198\.1[89]\.[0-9]{1,3}$ ]] ||
	die "CHAT_HOSTS_NET=$net is not in 198.18.0.0/15, the block for network tests"

ns_of() { echo "${prefix}h$1"; }
addr_of() { echo "$net.$((10 + $1))"; }
var_of() { echo "$hosts_dir/h$1"; }

# The hosts that are up: the numbers recorded by up.
host_numbers() {
	[ -s "$state" ] || return 0
	sed -n 's/^host=//p' "$state"
}

cmd_check() {
	local probe=${prefix}probe$$ tool
	for tool in ip socat; do
		command -v "$tool" >/dev/null 2>&1 ||
			{ echo "$tool is not installed (tests/harness/deps.sh installs it)"; return 1; }
	done
	[ "$(id -u)" -eq 0 ] || { echo "network namespaces (ip netns add) need root here; running as $(id -un)"; return 1; }
	local err
	if ! err=$(ip netns add "$probe" 2>&1); then
		echo "ip netns add failed: $err"
		return 1
	fi
	if ! err=$(ip link add "${prefix}pr$$" type veth peer name "${prefix}pp$$" netns "$probe" 2>&1); then
		ip netns delete "$probe" 2>/dev/null || true
		echo "ip link add type veth failed: $err"
		return 1
	fi
	ip link delete "${prefix}pr$$" 2>/dev/null || true
	ip netns delete "$probe" 2>/dev/null || true
	if ! err=$(ip link add "${prefix}pb$$" type bridge 2>&1); then
		echo "ip link add type bridge failed: $err"
		return 1
	fi
	ip link delete "${prefix}pb$$" 2>/dev/null || true
}

# The stores a host reaches: MariaDB, Redis, the search engine.
store_ports() {
	echo "$CHAT_MYSQL_PORT" "$CHAT_REDIS_PORT" "$CHAT_ES_PORT"
}

start_forwards() {
	local port pid
	for port in $(store_ports); do
		setsid socat "TCP-LISTEN:$port,bind=$gateway,reuseaddr,fork" \
			"TCP:127.0.0.1:$port" </dev/null >>"$hosts_dir/forward-$port.log" 2>&1 8>&- 9>&- &
		pid=$!
		echo "forward=$pid" >>"$state"
	done
	# Listening before the hosts need them.
	local i
	for port in $(store_ports); do
		for ((i = 0; i < 50; i++)); do
			ss -Hltn "src $gateway:$port" 2>/dev/null | grep -q . && break
			sleep 0.1
		done
	done
}

# The environment of host N's programs: the stack's, with its own
# directory, worker name and the stores behind the bridge.
host_env() {
	local n=$1
	echo CHAT_VAR="$(var_of "$n")" CHAT_MYSQL_HOST="$gateway" CHAT_REDIS_HOST="$gateway" \
		CHAT_ES_URL="http://$gateway:$CHAT_ES_PORT" CHAT_WORKER_NAME="h$n" CHAT_WORKERS=1
}

cmd_exec() {
	local n=$1
	shift
	ip netns exec "$(ns_of "$n")" "$@"
}

cmd_start() {
	local n=$1
	# shellcheck disable=SC2046  # one word per setting
	ip netns exec "$(ns_of "$n")" env $(host_env "$n") "$here/stack.sh" start-host 8>&-
}

cmd_stop() {
	local n=$1
	[ -d "$(var_of "$n")/run" ] || return 0
	# shellcheck disable=SC2046
	ip netns exec "$(ns_of "$n")" env $(host_env "$n") "$here/stack.sh" stop-host 8>&-
}

cmd_cut() { ip -n "$(ns_of "$1")" link set dev eth0 down; }
cmd_mend() { ip -n "$(ns_of "$1")" link set dev eth0 up; }

cmd_worker_pid() {
	head -n1 "$(var_of "$1")/run/worker.1.pid"
}

add_host() {
	local n=$1 ns outer
	ns=$(ns_of "$n")
	outer=${prefix}h${n}o
	ip netns delete "$ns" 2>/dev/null || true
	ip link delete "$outer" 2>/dev/null || true
	ip netns add "$ns"
	echo "host=$n" >>"$state"
	ip link add "$outer" type veth peer name eth0 netns "$ns"
	ip link set dev "$outer" master "$bridge" up
	ip -n "$ns" link set dev lo up
	ip -n "$ns" addr add "$(addr_of "$n")/24" dev eth0
	ip -n "$ns" link set dev eth0 up
	mkdir -p -- "$(var_of "$n")"
}

cmd_up() {
	local count=${1:-3} n why
	[[ $count =~ ^[23]$ ]] || die "up: 2 or 3 hosts"
	why=$(cmd_check) || die "cannot run hosts in network namespaces here: $why"
	cmd_down >/dev/null 2>&1 || true
	mkdir -p -- "$hosts_dir"
	: >"$state"
	echo "bridge=$bridge" >>"$state"
	ip link add "$bridge" type bridge
	ip addr add "$gateway/24" dev "$bridge"
	ip link set dev "$bridge" up
	start_forwards
	for ((n = 1; n <= count; n++)); do
		add_host "$n"
	done
	for ((n = 1; n <= count; n++)); do
		say "starting host h$n ($(addr_of "$n"), namespace $(ns_of "$n"))"
		cmd_start "$n" || die "host h$n did not come up (logs in $(var_of "$n")/log)"
	done
	say "$count hosts up"
}

cmd_down() {
	local n pid
	for n in $(host_numbers); do
		ip netns pids "$(ns_of "$n")" >/dev/null 2>&1 && cmd_stop "$n" || true
	done
	if [ -s "$state" ]; then
		for pid in $(sed -n 's/^forward=//p' "$state"); do
			# socat forks one child per connection: its process group.
			if tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | grep -q "^socat TCP-LISTEN:.*bind=$gateway"; then
				kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
			fi
		done
	fi
	for n in $(host_numbers); do
		ip link delete "${prefix}h${n}o" 2>/dev/null || true
		ip netns delete "$(ns_of "$n")" 2>/dev/null || true
	done
	ip link delete "$bridge" 2>/dev/null || true
	rm -f -- "$state"
}

case ${1:-} in
check) cmd_check ;;
up) cmd_up "${2:-3}" ;;
down) cmd_down ;;
exec) cmd_exec "${@:2}" ;;
start) cmd_start "$2" ;;
stop) cmd_stop "$2" ;;
cut) cmd_cut "$2" ;;
mend) cmd_mend "$2" ;;
worker-pid) cmd_worker_pid "$2" ;;
*)
	echo "usage: $0 check|up N|down|exec N CMD...|start N|stop N|cut N|mend N|worker-pid N" >&2
	exit 2
	;;
esac
