#!/usr/bin/env bash
# docker-entrypoint.sh - the roles of the chat-backend image, one per
# service of docker-compose.yml (jobs/deploy/Dockerfile):
#
#   fcgi          the FastCGI programs applications, chats, messages,
#                 search (the search route, a pool of its own) and health
#                 under spawn-fcgi, $CHAT_FCGI_PROCS processes each
#                 (default 4), sockets in /run/chat-backend (a volume that
#                 nginx mounts too); exits when a process dies, so that
#                 the restart policy starts the pools afresh
#   worker        chat-worker, the queue worker
#   sync          chat-sync at start, then every $CHAT_SYNC_INTERVAL
#                 seconds (default 3600)
#   migrate       chat-migrate: applies the schema migrations (one-shot)
#   nginx-config  writes the nginx configuration (nginx/chat-http.conf and
#                 nginx/chat-api.conf with their placeholders replaced, and
#                 the server of nginx-server.conf) into /etc/chat-nginx, and
#                 the /api-docs files into /srv/chat-docs (one-shot; both
#                 are volumes that the nginx service mounts)
#   health ROLE   the healthcheck of fcgi, worker or sync
#   anything else is run as a command
#
# The image runs every role as the unprivileged user chat (its USER), which
# needs no capability; started as root instead (docker run --user root), the
# programs still drop to chat.  Everything logs to the container's stderr.

set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
prefix=${here%/lib/chat-backend}
pkglib=$prefix/lib/chat-backend
pkgdata=$prefix/share/chat-backend
run_dir=/run/chat-backend
programs=(applications chats messages search health)
# GnuTLS, linked by libcurl for protocols we never use, is left
# uninitialised (README, "Memory bounds").
export GNUTLS_NO_IMPLICIT_INIT=1
# The nginx image's workers run as user and group nginx, gid 101: the
# image creates a group with that gid for the sockets.
sock_group=nginx
sync_state=/tmp/chat-sync.state
# nchan's publisher socket (nginx/chat-live-http.conf), in the volume
# live-run that only the nginx and live-relay services mount.
live_socket=/run/chat-live/publish.sock

say() { printf '%s: %s\n' "${role:-entrypoint}" "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# Runs a command as user chat (exec), dropping root if need be.
exec_as_chat() {
	if [ "$(id -u)" -eq 0 ]; then
		exec setpriv --reuid=chat --regid=chat --init-groups -- "$@"
	fi
	exec "$@"
}

# ---------------------------------------------------------------- fcgi

fcgi_pids() {
	local p
	for p in "${programs[@]}"; do
		[ -s "$run_dir/$p.pid" ] && grep -Eo '^[0-9]+' "$run_dir/$p.pid"
	done
	return 0
}

fcgi_stop() {
	local pid i
	local -a pids
	mapfile -t pids < <(fcgi_pids)
	[ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		local alive=0
		for pid in ${pids[@]+"${pids[@]}"}; do
			if kill -0 "$pid" 2>/dev/null; then alive=1; fi
		done
		[ "$alive" -eq 1 ] || break
		sleep 0.1
	done
	[ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
	for p in "${programs[@]}"; do
		rm -f -- "$run_dir/$p.sock" "$run_dir/$p.pid"
	done
}

role_fcgi() {
	local procs=${CHAT_FCGI_PROCS:-4} p prog fifo=/run/chat-log/fcgi
	[[ $procs =~ ^[1-9][0-9]*$ ]] || die "CHAT_FCGI_PROCS=$procs is not a positive number"
	local root=0
	local -a owner=()
	# As root, spawn-fcgi gives the sockets to nginx's group and drops to
	# chat itself; as chat (the image's user) it cannot (it ignores -U, -G,
	# -u and -g), so the sockets are given to the group below.
	if [ "$(id -u)" -eq 0 ]; then
		root=1
		owner=(-U chat -G "$sock_group" -u chat -g chat)
	fi
	mkdir -p -- "$run_dir" /run/chat-log
	[ -w "$run_dir" ] || die "$run_dir is not writable by $(id -un) (a volume made by an older image? remove it)"
	# spawn-fcgi sends the programs' stderr to /dev/null: they write their
	# log lines into this FIFO instead, and cat copies them to ours.
	rm -f -- "$fifo"
	mkfifo -m 0620 "$fifo"
	[ "$root" -eq 0 ] || chown root:chat "$fifo"
	cat <>"$fifo" >&2 &
	for p in "${programs[@]}"; do
		prog=$pkglib/cgi-bin/$p
		[ -x "$prog" ] || die "$prog is missing"
		rm -f -- "$run_dir/$p.sock" "$run_dir/$p.pid"
		# shellcheck disable=SC2016 # $0 and $1 are the inner shell's
		spawn-fcgi -s "$run_dir/$p.sock" -M 0660 ${owner[@]+"${owner[@]}"} \
			-F "$procs" -P "$run_dir/$p.pid" \
			-- /bin/sh -c 'exec "$0" 2>>"$1"' "$prog" "$fifo" >/dev/null ||
			die "spawn-fcgi could not start $p"
		[ "$root" -eq 1 ] || chgrp "$sock_group" "$run_dir/$p.sock" ||
			die "cannot give $run_dir/$p.sock to group $sock_group (is $(id -un) a member?)"
		say "$p: $procs processes on $run_dir/$p.sock"
	done

	local stopping=0 pid
	trap 'stopping=1' TERM INT
	while [ "$stopping" -eq 0 ]; do
		for p in "${programs[@]}"; do
			while read -r pid; do
				if ! kill -0 "$pid" 2>/dev/null; then
					say "$p: process $pid is gone; stopping the pools"
					fcgi_stop
					exit 1
				fi
			done < <(grep -Eo '^[0-9]+' "$run_dir/$p.pid")
		done
		sleep 5 &
		wait $! || true
	done
	say "stopping"
	fcgi_stop
	exit 0
}

# Each pool answers a FastCGI request for an unknown path with its own
# JSON 404, without touching a backing store.
health_fcgi() {
	local p out
	for p in "${programs[@]}"; do
		out=$(env -i REQUEST_METHOD=GET REQUEST_URI=/healthcheck \
			DOCUMENT_URI=/healthcheck QUERY_STRING= CONTENT_LENGTH=0 \
			REMOTE_ADDR=127.0.0.1 SERVER_PROTOCOL=HTTP/1.1 \
			timeout 5 cgi-fcgi -bind -connect "$run_dir/$p.sock" </dev/null 2>&1) ||
			die "$p: no answer on $run_dir/$p.sock"
		grep -q '^Status: 404' <<<"$out" || die "$p: unexpected answer: ${out:0:200}"
	done
}

# ---------------------------------------------------------------- sync

role_sync() {
	local interval=${CHAT_SYNC_INTERVAL:-3600}
	[[ $interval =~ ^[1-9][0-9]*$ ]] || die "CHAT_SYNC_INTERVAL=$interval is not a positive number"
	local -a as_chat=()
	[ "$(id -u)" -ne 0 ] || as_chat=(setpriv --reuid=chat --regid=chat --init-groups --)
	local child=
	trap '[ -z "$child" ] || kill -TERM "$child" 2>/dev/null; exit 0' TERM INT
	echo started >"$sync_state"
	while :; do
		"${as_chat[@]}" "$prefix/bin/chat-sync" &
		child=$!
		if wait "$child"; then
			echo ok >"$sync_state"
		else
			say "chat-sync failed (status $?); next run in ${interval}s"
			echo failed >"$sync_state"
		fi
		sleep "$interval" &
		child=$!
		wait "$child" || true
		child=
	done
}

# Healthy while the loop is alive (it rewrites the state file on every run)
# and the last run did not fail.
health_sync() {
	local interval=${CHAT_SYNC_INTERVAL:-3600} age
	[ -f "$sync_state" ] || die "no run yet"
	age=$(($(date +%s) - $(stat -c %Y "$sync_state")))
	[ "$age" -le $((interval + 900)) ] || die "no run for ${age}s"
	! grep -qx failed "$sync_state" || die "the last run failed"
}

health_process() {
	local f
	for f in /proc/[0-9]*/comm; do
		[ "$(cat "$f" 2>/dev/null)" = "$1" ] && return 0
	done
	die "no $1 process"
}

# ---------------------------------------------------------------- nginx-config

role_nginx_config() {
	local conf_out=/etc/chat-nginx docs_out=/srv/chat-docs
	local rate=${CHAT_RATE:-10r/s} burst=${CHAT_BURST:-20} f
	local token_rate=${CHAT_TOKEN_RATE:-50r/s} token_burst=${CHAT_TOKEN_BURST:-500}
	local read_rate=${CHAT_TOKEN_READ_RATE:-100r/s} read_burst=${CHAT_TOKEN_READ_BURST:-1000}
	local search_rate=${CHAT_TOKEN_SEARCH_RATE:-10r/s} search_burst=${CHAT_TOKEN_SEARCH_BURST:-50}
	local addr_conn=${CHAT_ADDR_CONN:-256}
	for f in CHAT_RATE="$rate" CHAT_TOKEN_RATE="$token_rate" \
		CHAT_TOKEN_READ_RATE="$read_rate" CHAT_TOKEN_SEARCH_RATE="$search_rate"; do
		[[ ${f#*=} =~ ^[0-9]+r/[sm]$ ]] || die "$f is not like 10r/s"
	done
	for f in CHAT_BURST="$burst" CHAT_TOKEN_BURST="$token_burst" \
		CHAT_TOKEN_READ_BURST="$read_burst" CHAT_TOKEN_SEARCH_BURST="$search_burst" \
		CHAT_ADDR_CONN="$addr_conn"; do
		[[ ${f#*=} =~ ^[0-9]+$ ]] || die "$f is not a number"
	done
	if [ ! -d "$conf_out" ] || [ ! -d "$docs_out" ]; then
		die "mount the nginx configuration volume on $conf_out and the docs volume on $docs_out"
	fi
	[ -w "$conf_out" ] && [ -w "$docs_out" ] ||
		die "$conf_out and $docs_out must be writable by $(id -un) (volumes made by an older image? remove them)"
	find "$conf_out" "$docs_out" -mindepth 1 -delete
	mkdir -p -- "$conf_out/chat"
	for f in chat-http.conf chat-api.conf chat-default.conf chat-live-http.conf \
		chat-live.conf; do
		sed -e "s|@RUN_DIR@|$run_dir|g" \
			-e "s|@DOCS_DIR@|/usr/share/chat-backend/docs|g" \
			-e "s|@RATE@|$rate|g" -e "s|@BURST@|$burst|g" \
			-e "s|@TOKEN_RATE@|$token_rate|g" -e "s|@TOKEN_BURST@|$token_burst|g" \
			-e "s|@TOKEN_READ_RATE@|$read_rate|g" -e "s|@TOKEN_READ_BURST@|$read_burst|g" \
			-e "s|@TOKEN_SEARCH_RATE@|$search_rate|g" -e "s|@TOKEN_SEARCH_BURST@|$search_burst|g" \
			-e "s|@ADDR_CONN@|$addr_conn|g" \
			-e "s|@LIVE_INCLUDE@|include /etc/nginx/conf.d/chat/chat-live.conf;|g" \
			-e "s|@LIVE_SOCKET@|$live_socket|g" \
			"$pkgdata/nginx/$f" >"$conf_out/chat/$f"
	done
	cp -- "$pkgdata/docker/nginx-server.conf" "$conf_out/default.conf"
	if grep -l '@[A-Z_]*@' "$conf_out"/chat/*.conf; then
		die "unreplaced placeholder in the files above"
	fi
	cp -R -- "$pkgdata/docs/." "$docs_out/"
	chmod -R a+rX -- "$conf_out" "$docs_out"
	say "nginx configuration in $conf_out, /api-docs files in $docs_out"
}

# ---------------------------------------------------------------- main

role=${1:-fcgi}
case $role in
fcgi) role_fcgi ;;
worker) exec_as_chat "$prefix/bin/chat-worker" ;;
live-relay)
	export CHAT_LIVE_SOCKET=$live_socket
	exec_as_chat "$prefix/bin/chat-live-relay"
	;;
sync) role_sync ;;
migrate) exec_as_chat "$prefix/bin/chat-migrate" ;;
nginx-config) role_nginx_config ;;
health)
	role=health-${2:-}
	case ${2:-} in
	fcgi) health_fcgi ;;
	worker) health_process chat-worker ;;
	live-relay) health_process chat-live-relay ;;
	sync) health_sync ;;
	*) die "usage: $0 health fcgi|worker|live-relay|sync" ;;
	esac
	;;
*) exec "$@" ;;
esac
