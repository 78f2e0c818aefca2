#!/usr/bin/env bash
# The JavaScript tests of the API documentation and the deployment files,
# with node's test runner:
#
#   openapi.test.mjs  nginx/api-docs/openapi.json, the contract, validates
#                     (swagger-parser) and is whole: objects, errors,
#                     headers; its routes are exactly those of the route
#                     tables of cgi-bin/*.c; every error code sent is in it
#   routes.test.mjs   every operation of the document is served by nginx
#                     (nginx/chat-api.conf) and the program it goes to
#   compose.test.mjs  docker-compose.yml: Compose schema, dclint, and
#                     cross-checks with the repository; nginx -t of the
#                     configuration the nginx service gets
#   browser.test.mjs  headless Chromium on /api-docs of a RUNNING stack at
#                     http://127.0.0.1:$CHAT_HTTP_PORT: every operation
#                     listed, "Try it out" on POST /applications gives 201;
#                     screenshots in $CHAT_VAR/screenshots/
#
# Usage: tests/docs/run.sh [--no-browser]
#
# --no-browser leaves the browser test out (no stack needed) and says so.
# The pinned devDependencies of package.json are installed with npm ci
# when node_modules/ does not match package-lock.json.  Needs Node.js 20+
# and, for the browser test, Debian's chromium (or CHROMIUM=path).
# Prints the test runner's report, then one line alone:
#
#   N passed, M failed
#
# and exits 0 only when M is 0.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here" || exit 1

browser=1
for arg in "$@"; do
	case $arg in
	--no-browser) browser=0 ;;
	*)
		echo "usage: $0 [--no-browser]" >&2
		exit 2
		;;
	esac
done

say() { printf 'docs-tests: %s\n' "$*"; }
give_up() {
	say "$*"
	printf '0 passed, 1 failed\n'
	exit 1
}

command -v node >/dev/null 2>&1 || give_up "node is not installed (apt-get install nodejs npm)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || give_up "Node.js $(node -v) is too old: these tests need 20 or later"

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.chat-package-lock
if ! cmp -s package-lock.json "$stamp"; then
	command -v npm >/dev/null 2>&1 || give_up "npm is not installed (apt-get install npm)"
	say "installing the devDependencies (npm ci)"
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error ||
		give_up "npm ci failed"
	cp package-lock.json "$stamp"
fi

files=(openapi.test.mjs routes.test.mjs compose.test.mjs)
if [ "$browser" -eq 1 ]; then
	files+=(browser.test.mjs)
else
	say "browser.test.mjs left out (--no-browser)"
fi

tap=$(mktemp "${TMPDIR:-/tmp}/chat-docs-tests.XXXXXX") || exit 1
trap 'rm -f -- "$tap"' EXIT
node --test --test-reporter=spec --test-reporter-destination=stdout \
	--test-reporter=tap --test-reporter-destination="$tap" "${files[@]}"
rc=$?

count() { sed -n "s/^# $1 \([0-9][0-9]*\)\$/\1/p" "$tap" | tail -n 1; }
passed=$(count pass)
failed=$(count fail)
cancelled=$(count cancelled)
skipped=$(count skipped)
if [ -z "$passed" ] || [ -z "$failed" ]; then
	say "the test runner ended (status $rc) without a summary"
	printf '%d passed, %d failed\n' "${passed:-0}" "$((${failed:-0} + 1))"
	exit 1
fi
failed=$((failed + ${cancelled:-0}))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	say "the test runner exited with status $rc: counted as one failure"
	failed=1
fi
[ "${skipped:-0}" -eq 0 ] || say "$skipped skipped (see above)"
printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
