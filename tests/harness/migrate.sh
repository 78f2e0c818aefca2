#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Applies the schema migrations sql/NNN_*.sql in order, each exactly once.
#
# Applied versions (the file name without .sql, e.g. 001_create_applications)
# are recorded in schema_migrations. A migration and its record go through one
# client session that stops at the first error, so a failed migration is not
# recorded and the run exits non-zero naming the file. Connects over TCP to
# CHAT_MYSQL_HOST:CHAT_MYSQL_PORT, database CHAT_MYSQL_DATABASE, as
# CHAT_MIGRATE_USER with CHAT_MIGRATE_PASSWORD (defaults in env.sh): the
# account that owns the schema, not the programs' CHAT_MYSQL_USER, which may
# only read and write rows. CHAT_SQL_DIR overrides the directory of
# migrations (default: sql/ at the top of the repository).
#
# Usage: tests/harness/migrate.sh

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=env.sh
. "$here/env.sh"
sql_dir=${CHAT_SQL_DIR:-$repo/sql}

die() {
	printf 'migrate: %s\n' "$*" >&2
	exit 1
}

# The password goes through the environment, not argv, so ps cannot show it.
client() {
	MYSQL_PWD=$CHAT_MIGRATE_PASSWORD mariadb --protocol=tcp \
		--host="$CHAT_MYSQL_HOST" --port="$CHAT_MYSQL_PORT" \
		--user="$CHAT_MIGRATE_USER" --database="$CHAT_MYSQL_DATABASE" \
		--batch --skip-column-names "$@"
}

[ -d "$sql_dir" ] || die "no migrations directory $sql_dir"

shopt -s nullglob
files=("$sql_dir"/[0-9][0-9][0-9]_*.sql)
shopt -u nullglob
[ ${#files[@]} -gt 0 ] || die "no migrations (NNN_*.sql) in $sql_dir"

# Two files with one number would apply in an order nobody chose.
declare -A seen=()
for f in "${files[@]}"; do
	base=${f##*/}
	num=${base%%_*}
	[ -z "${seen[$num]:-}" ] || die "two migrations numbered $num: ${seen[$num]} and $base"
	seen[$num]=$base
	[[ $base =~ ^[0-9]{3}_[A-Za-z0-9_]+\.sql$ ]] ||
		die "migration name $base is not NNN_[A-Za-z0-9_]+.sql"
done

client -e "CREATE TABLE IF NOT EXISTS schema_migrations (
	version    VARCHAR(255) NOT NULL PRIMARY KEY,
	applied_at DATETIME NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci" ||
	die "cannot reach MariaDB at $CHAT_MYSQL_HOST:$CHAT_MYSQL_PORT as $CHAT_MIGRATE_USER (database $CHAT_MYSQL_DATABASE)"

applied=$(client -e 'SELECT version FROM schema_migrations')

count=0
for f in "${files[@]}"; do
	base=${f##*/}
	version=${base%.sql}
	if grep -qxF -- "$version" <<<"$applied"; then
		continue
	fi
	printf 'migrate: applying %s\n' "$base"
	# The version matched [0-9A-Za-z_] above, so it is safe inside quotes.
	if ! { cat -- "$f"; printf '\nINSERT INTO schema_migrations (version, applied_at) VALUES (%s, UTC_TIMESTAMP());\n' "'$version'"; } | client; then
		die "$base failed; it is not recorded as applied (fix it, then check what it left behind)"
	fi
	count=$((count + 1))
done

if [ "$count" -eq 0 ]; then
	printf 'migrate: up to date (%d migrations)\n' "${#files[@]}"
else
	printf 'migrate: applied %d of %d migrations\n' "$count" "${#files[@]}"
fi
