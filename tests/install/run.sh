#!/usr/bin/env bash
# Tests `make install`: installs into a fresh DESTDIR (twice: PREFIX
# /usr/local, then /opt/chat-backend) and checks the tree: every file in its
# place with its mode, the programs linked against libraries that exist,
# the paths written into the cron file, the systemd units and chat-migrate
# pointing at installed files, the units accepted by `systemd-analyze
# verify` (when installed; else checked with grep), the nginx includes,
# migrations and /api-docs files identical to the repository's, and an
# existing env file left alone by a second install.
#
# Usage: tests/install/run.sh [VARIABLE=VALUE...]
#
# The arguments go to every make (run-tests.sh passes its own build flags,
# so that installing does not rebuild the suite's programs with others).
# Builds what `make install` needs (make all docs: the docs need npm the
# first time).  Prints one line per check, then one line alone:
#
#   N passed, M failed
#
# and exits 0 only when M is 0.

# shellcheck disable=SC2016 # the sh -c scripts expand their own $1
# shellcheck disable=SC2317 # the helpers are called through check
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1

passed=0
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/chat-install-test.XXXXXX") || exit 1
trap 'rm -rf -- "$work"' EXIT

ok() {
	passed=$((passed + 1))
	printf 'ok     %s\n' "$*"
}
not_ok() {
	failed=$((failed + 1))
	printf 'FAILED %s\n' "$*"
}
# check DESCRIPTION COMMAND...: one check.
check() {
	local what=$1
	shift
	if "$@" >"$work/out" 2>&1; then ok "$what"; else
		not_ok "$what"
		sed 's/^/       | /' "$work/out" | head -n 20
	fi
}
finish() {
	printf '%d passed, %d failed\n' "$passed" "$failed"
	[ "$failed" -eq 0 ]
	exit
}

mode_is() { [ "$(stat -c %a -- "$2")" = "$1" ] || { echo "$2: mode $(stat -c %a -- "$2"), want $1"; return 1; }; }
same() { cmp -- "$1" "$2"; }
no_placeholder() { ! grep -n '@[A-Z_]*@' "$@"; }

# libs_resolve BIN: ldd finds every shared library.
libs_resolve() { ! ldd "$1" | grep 'not found'; }

# ---------------------------------------------------------------- install

dest=$work/root
if make "$@" install DESTDIR="$dest" >"$work/make.log" 2>&1; then
	ok "make install DESTDIR=$dest"
else
	not_ok "make install DESTDIR=$dest"
	tail -n 30 "$work/make.log" | sed 's/^/       | /'
	finish
fi

p=$dest/usr/local
lib=$p/lib/chat-backend
share=$p/share/chat-backend
etc=$dest/etc

for prog in applications chats messages search health; do
	f=$lib/cgi-bin/$prog
	check "cgi-bin/$prog in lib/chat-backend/cgi-bin, mode 755" mode_is 755 "$f"
	check "cgi-bin/$prog finds its shared libraries" libs_resolve "$f"
done
for prog in worker sync replay live-relay; do
	f=$p/bin/chat-$prog
	check "jobs/$prog as bin/chat-$prog, mode 755" mode_is 755 "$f"
	check "chat-$prog finds its shared libraries" libs_resolve "$f"
done
# hardened BIN: what the Makefile's hardening flags leave in a binary, read
# with readelf and nm as checksec does: a position-independent executable,
# full RELRO (a GNU_RELRO segment and BIND_NOW: the GOT is read-only once
# relocated), no executable stack, stack canaries (__stack_chk_fail) and
# glibc's checked functions (_FORTIFY_SOURCE: __*_chk).
hardened() {
	local f=$1 dyn syms
	readelf -h "$f" | grep -q 'Type: *DYN' || { echo "$f: not PIE"; return 1; }
	dyn=$(readelf -dW "$f")
	grep -Eq 'FLAGS_1.*\<PIE\>' <<<"$dyn" || { echo "$f: no PIE flag"; return 1; }
	grep -Eq '\(FLAGS\).*BIND_NOW|FLAGS_1.*\<NOW\>' <<<"$dyn" || { echo "$f: no BIND_NOW (partial RELRO)"; return 1; }
	readelf -lW "$f" | grep -q GNU_RELRO || { echo "$f: no GNU_RELRO segment"; return 1; }
	readelf -lW "$f" | grep GNU_STACK | grep -q ' RW ' || { echo "$f: executable stack"; return 1; }
	syms=$(nm -D --undefined-only "$f")
	grep -q '__stack_chk_fail' <<<"$syms" || { echo "$f: no stack protector"; return 1; }
	grep -Eq '__[a-z]+_chk\>' <<<"$syms" || { echo "$f: no _FORTIFY_SOURCE function"; return 1; }
}
for prog in applications chats messages health; do
	check "cgi-bin/$prog: PIE, full RELRO, NX stack, canaries, FORTIFY" hardened "$lib/cgi-bin/$prog"
done
for prog in worker sync reindex live-relay; do
	check "chat-$prog: PIE, full RELRO, NX stack, canaries, FORTIFY" hardened "$p/bin/chat-$prog"
done
check "bin/chat-migrate, mode 755" mode_is 755 "$p/bin/chat-migrate"
check "chat-migrate is valid sh" sh -n "$p/bin/chat-migrate"
check "chat-migrate runs the installed migrate.sh on the installed sql/" \
	grep -q -e "exec /usr/local/lib/chat-backend/migrate.sh" -e "CHAT_SQL_DIR:=/usr/local/share/chat-backend/sql" "$p/bin/chat-migrate"
check "chat-migrate takes the migrations' account from /etc/chat-backend/migrate.env" \
	grep -q 'migrate_env=/etc/chat-backend/migrate.env' "$p/bin/chat-migrate"
check "migrate.sh (755) and env.sh beside it" \
	sh -c 'test "$(stat -c %a "$1/migrate.sh")" = 755 && cmp "$1/env.sh" "$2/tests/harness/env.sh" && cmp "$1/migrate.sh" "$2/tests/harness/migrate.sh"' _ "$lib" "$repo"

for f in chat-http.conf chat-api.conf chat-live-http.conf chat-live.conf; do
	check "nginx/$f in share/chat-backend/nginx, unchanged, mode 644" \
		sh -c 'cmp "$1" "$2" && test "$(stat -c %a "$2")" = 644' _ "nginx/$f" "$share/nginx/$f"
done
for f in sql/*.sql; do
	check "$f in share/chat-backend/sql, unchanged" same "$f" "$share/sql/${f##*/}"
done
check "no other file in share/chat-backend/sql" \
	test "$(find "$share/sql" -type f | wc -l)" -eq "$(find sql -maxdepth 1 -name '*.sql' | wc -l)"
for f in index.html swagger-init.js openapi.json; do
	check "/api-docs: $f in share/chat-backend/docs, unchanged" same "nginx/api-docs/$f" "$share/docs/$f"
done
for f in swagger-ui-bundle.js swagger-ui.css; do
	check "/api-docs: Swagger UI's $f in share/chat-backend/docs" test -s "$share/docs/$f"
done

# ---------------------------------------------------------------- cron

cron=$etc/cron.d/chat-backend
check "jobs/crontab as /etc/cron.d/chat-backend, mode 644" mode_is 644 "$cron"
check "the cron job runs the installed chat-sync as user chat" \
	grep -Eq '^[0-9*,/-]+ [0-9*,/-]+ [0-9*,/-]+ [0-9*,/-]+ [0-9*,/-]+ chat .*/usr/local/bin/chat-sync' "$cron"
check "the cron job reads /etc/chat-backend/env" grep -q '\. /etc/chat-backend/env' "$cron"

# ---------------------------------------------------------------- env

env=$etc/chat-backend/env
check "/etc/chat-backend/env, mode 640" mode_is 640 "$env"
check "share/chat-backend/env.example, mode 644" mode_is 644 "$share/env.example"
check "the env file sets the programs' settings" \
	grep -q -e '^CHAT_MYSQL_PASSWORD=' -e '^CHAT_ES_URL=' "$env"
check "the env file is plain NAME=value lines (sh and systemd read it alike)" \
	sh -c '! grep -Ev "^(#.*|[A-Z_][A-Z0-9_]*=[^\"'"'"' \$]*|)$" "$1"' _ "$env"
check "the env file sources in sh" sh -c 'set -a; . "$1"; test -n "$CHAT_MYSQL_HOST"' _ "$env"

# ---------------------------------------------------------------- systemd

units=$etc/systemd/system
for u in chat-fcgi@.service chat-worker.service chat-live-relay.service; do
	check "$u in /etc/systemd/system, mode 644" mode_is 644 "$units/$u"
	check "$u: every placeholder replaced" no_placeholder "$units/$u"
	check "$u: reads /etc/chat-backend/env" grep -qx 'EnvironmentFile=/etc/chat-backend/env' "$units/$u"
	check "$u: [Unit], [Service] and [Install]" \
		sh -c 'grep -qx "\[Unit\]" "$1" && grep -qx "\[Service\]" "$1" && grep -qx "\[Install\]" "$1"' _ "$units/$u"
done
check "chat-fcgi@.service: spawn-fcgi runs cgi-bin/%i on /run/chat-backend/%i.sock" \
	grep -q -e '-s /run/chat-backend/%i.sock' "$units/chat-fcgi@.service"
check "chat-fcgi@.service: the program path is installed" \
	grep -q -e "/usr/local/lib/chat-backend/cgi-bin/%i" "$units/chat-fcgi@.service"
check "chat-http.conf's sockets are under @RUN_DIR@ (the units' /run/chat-backend)" \
	grep -q 'server unix:@RUN_DIR@/applications.sock;' "$share/nginx/chat-http.conf"
for u in chat-fcgi@.service chat-worker.service chat-live-relay.service; do
	check "$u: runs as chat, no capability, hardened" \
		sh -c 'for l in User=chat NoNewPrivileges=yes CapabilityBoundingSet= ProtectSystem=strict \
			PrivateTmp=yes ProtectHome=yes "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
			SystemCallFilter=@system-service; do
			grep -qxF "$l" "$1" || { echo "no $l"; exit 1; }; done
			grep -Eq "^MemoryMax=[0-9]+[KMG]$" "$1" || { echo "no MemoryMax"; exit 1; }' _ "$units/$u"
done
check "chat-fcgi@.service: only the chgrp of the socket runs privileged" \
	sh -c 'test "$(grep -c "^Exec[A-Za-z]*=[+!]" "$1")" = 1 && grep -qx "ExecStartPost=+/bin/chgrp www-data /run/chat-backend/%i.sock" "$1"' _ "$units/chat-fcgi@.service"
check "chat-worker.service runs the installed chat-worker as chat" \
	sh -c 'grep -qx "ExecStart=/usr/local/bin/chat-worker" "$1" && grep -qx "User=chat" "$1"' _ "$units/chat-worker.service"
check "chat-live-relay.service runs the installed chat-live-relay as chat, socket directory 0700" \
	sh -c 'grep -qx "ExecStart=/usr/local/bin/chat-live-relay" "$1" && grep -qx "User=chat" "$1" && grep -qx "RuntimeDirectoryMode=0700" "$1"' _ "$units/chat-live-relay.service"

# systemd-analyze verify checks that the commands exist: the units are
# checked with their /usr/local paths moved into DESTDIR.
if command -v systemd-analyze >/dev/null 2>&1; then
	vdir=$work/verify
	mkdir -p "$vdir"
	for u in chat-fcgi@.service chat-worker.service chat-live-relay.service; do
		sed "s|/usr/local/|$p/|g" "$units/$u" >"$vdir/$u"
	done
	verify() {
		local out
		out=$(cd "$vdir" && systemd-analyze verify --man=no "$@" 2>&1)
		local rc=$?
		printf '%s' "$out"
		# Any message (an unknown key is only a warning) is a failure.
		[ "$rc" -eq 0 ] && [ -z "$out" ]
	}
	for u in chat-fcgi@applications.service chat-worker.service chat-live-relay.service; do
		check "systemd-analyze verify $u" verify "$u"
	done
	# exposure UNIT MAX: systemd-analyze security's overall exposure (0 safe,
	# 10 exposed) of the unit file is at most MAX.  Measured 1.2 for both
	# (8.2 and 7.8 before the hardening); a change that loosens them fails.
	exposure() {
		local out score
		out=$(cd "$vdir" && systemd-analyze security --offline=true --no-pager "$1" 2>&1)
		score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p' <<<"$out")
		echo "$1: exposure ${score:-?}, at most $2"
		grep '✗' <<<"$out" | sed 's/  */ /g'
		[ -n "$score" ] && awk -v s="$score" -v m="$2" 'BEGIN { exit !(s <= m) }'
	}
	# --offline needs systemd 252; older ones only have the running system.
	if systemd-analyze security --help 2>&1 | grep -q -- --offline; then
		for u in chat-fcgi@applications.service chat-worker.service chat-live-relay.service; do
			check "systemd-analyze security $u: exposure at most 1.5" exposure "$u" 1.5
		done
	else
		ok "systemd-analyze security has no --offline here: exposure not measured"
	fi
else
	ok "systemd-analyze not installed: units checked with grep only (above)"
fi

# ---------------------------------------------------------------- PREFIX

dest2=$work/opt
if make "$@" install DESTDIR="$dest2" PREFIX=/opt/chat-backend >"$work/make2.log" 2>&1; then
	ok "make install PREFIX=/opt/chat-backend DESTDIR=$dest2"
	o=$dest2/opt/chat-backend
	check "PREFIX: programs under /opt/chat-backend" \
		test -x "$o/bin/chat-worker" -a -x "$o/bin/chat-sync" -a -x "$o/lib/chat-backend/cgi-bin/messages"
	check "PREFIX: the cron job runs /opt/chat-backend/bin/chat-sync" \
		grep -q ' /opt/chat-backend/bin/chat-sync' "$dest2/etc/cron.d/chat-backend"
	check "PREFIX: the units run /opt/chat-backend programs" \
		sh -c 'grep -q "/opt/chat-backend/lib/chat-backend/cgi-bin/%i" "$1/chat-fcgi@.service" && grep -qx "ExecStart=/opt/chat-backend/bin/chat-worker" "$1/chat-worker.service"' _ "$dest2/etc/systemd/system"
	check "PREFIX: chat-migrate uses /opt/chat-backend" \
		grep -q 'exec /opt/chat-backend/lib/chat-backend/migrate.sh' "$o/bin/chat-migrate"
	check "PREFIX: nothing written under /usr/local" test ! -e "$dest2/usr/local"
else
	not_ok "make install PREFIX=/opt/chat-backend DESTDIR=$dest2"
	tail -n 30 "$work/make2.log" | sed 's/^/       | /'
fi

# ---------------------------------------------------------------- again

echo 'CHAT_MYSQL_PASSWORD=kept' >>"$env"
if make "$@" install DESTDIR="$dest" >"$work/make3.log" 2>&1; then
	ok "make install again into the same DESTDIR"
	check "a second install keeps the existing /etc/chat-backend/env" grep -qx 'CHAT_MYSQL_PASSWORD=kept' "$env"
else
	not_ok "make install again into the same DESTDIR"
	tail -n 30 "$work/make3.log" | sed 's/^/       | /'
fi

finish
