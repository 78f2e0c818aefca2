#!/usr/bin/env bash
# Installs the Debian packages needed to build, run and test the project,
# then the search engine (tests/harness/search-engine.sh install).
#
# Only what is missing is installed (dpkg-query decides), so a machine that
# has everything is not touched and needs no network. As root it runs
# apt-get update and apt-get install; as anyone else it exits 1 with the
# exact command to run.
#
# Usage: tests/harness/deps.sh

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

packages=(
	# build
	pkg-config libfcgi-dev libjson-c-dev libhiredis-dev libmariadb-dev
	libcurl4-openssl-dev libcriterion-dev
	# services of the local stack
	mariadb-server mariadb-client redis-server nginx spawn-fcgi
	# nginx's pub/sub module, for the live streams (nginx/chat-live*.conf)
	libnginx-mod-nchan
	# search engine (fetched with Maven, runs on the JDK)
	maven default-jdk-headless
	# tools of the harness and benchmarks
	curl unzip wrk
	# several API hosts in network namespaces (tests/multihost)
	iproute2 socat
	# fuzzing (make fuzz, make fuzz-smoke): clang and its libFuzzer
	clang libclang-rt-14-dev
	# /api-docs (make docs) and tests/docs: Node.js 20+, headless Chromium
	nodejs chromium
)
# npm: NodeSource's nodejs has it built in (and conflicts with Debian's npm).
command -v npm >/dev/null 2>&1 || packages+=(npm)

installed() {
	dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed
}

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		{
			echo "deps: missing Debian packages: ${missing[*]}"
			echo "deps: install them as root, then run this again:"
			echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
		} >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q "${missing[@]}"
	for p in "${missing[@]}"; do
		installed "$p" || {
			echo "deps: $p is still not installed" >&2
			exit 1
		}
	done
else
	echo "deps: all ${#packages[@]} Debian packages present"
fi

if [ -f "$here/search-engine.sh" ]; then
	bash "$here/search-engine.sh" install
else
	echo "deps: tests/harness/search-engine.sh not there yet; search engine not installed" >&2
fi
