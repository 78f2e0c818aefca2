#!/bin/sh
# Assembles what nginx serves at /api-docs into DEST (make docs runs this):
# index.html, swagger-init.js and openapi.json from this directory, and the
# Swagger UI files of the npm package swagger-ui-dist (version pinned in
# package.json and package-lock.json).
#
# swagger-ui-dist is fetched with `npm ci` into node_modules/ here (not in
# git), only when node_modules/ does not already hold the pinned version, so
# a second run, or a Docker build stage that copied node_modules/ in, needs
# neither npm nor the network. Install scripts are not run
# (--ignore-scripts): swagger-ui-dist's dependency @scarf/scarf would
# otherwise phone home.
#
# Usage: nginx/api-docs/build.sh DEST

set -eu

[ $# -eq 1 ] || {
	echo "usage: $0 DEST" >&2
	exit 2
}
src=$(cd "$(dirname "$0")" && pwd)
dest=$1

# The version pinned in package.json ("swagger-ui-dist": "X.Y.Z").
want=$(sed -n 's/^ *"swagger-ui-dist": *"\([^"]*\)".*/\1/p' "$src/package.json")
pkg=$src/node_modules/swagger-ui-dist
have=
if [ -f "$pkg/package.json" ]; then
	have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg/package.json" | head -n 1)
fi
if [ -z "$want" ]; then
	echo "docs: no swagger-ui-dist version in $src/package.json" >&2
	exit 1
fi
if [ "$have" != "$want" ]; then
	command -v npm >/dev/null 2>&1 || {
		echo "docs: npm is needed to fetch swagger-ui-dist $want (apt-get install nodejs npm)" >&2
		exit 1
	}
	echo "docs: fetching swagger-ui-dist $want with npm ci"
	(cd "$src" && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit \
		--no-fund --loglevel=error)
fi

tmp=$dest.tmp.$$
rm -rf -- "$tmp"
mkdir -p -- "$tmp"
trap 'rm -rf -- "$tmp"' EXIT
for f in swagger-ui.css swagger-ui-bundle.js favicon-16x16.png favicon-32x32.png; do
	cp -- "$pkg/$f" "$tmp/$f"
done
cp -- "$pkg/LICENSE" "$tmp/swagger-ui-LICENSE"
cp -- "$src/index.html" "$src/swagger-init.js" "$src/openapi.json" "$tmp/"
chmod 0755 "$tmp"
chmod 0644 "$tmp"/*
rm -rf -- "$dest"
mv -- "$tmp" "$dest"
trap - EXIT
echo "docs: Swagger UI $want and openapi.json in $dest"
