# shellcheck shell=bash
# mariadb-init.sh - the programs' MariaDB account in docker-compose.yml.
#
# Mounted into /docker-entrypoint-initdb.d/ of the mysql service, and sourced
# by the mariadb image's entrypoint on its first start (an empty data
# volume), after it created MARIADB_DATABASE and MARIADB_USER: that account
# (chat_migrate) owns the schema and is the migrate service's.  This adds
# CHAT_MYSQL_USER, the account of the FastCGI programs, the worker and the
# sync, which may only read and write rows: SELECT, INSERT, UPDATE and
# DELETE on MARIADB_DATABASE, nothing else.  docker_process_sql and
# docker_sql_escape_string_literal are the entrypoint's own functions.

[[ ${CHAT_MYSQL_USER:-} =~ ^[A-Za-z0-9_]+$ ]] ||
	mysql_error "CHAT_MYSQL_USER must be set, and match [A-Za-z0-9_]+"
[ -n "${CHAT_MYSQL_PASSWORD:-}" ] || mysql_error "CHAT_MYSQL_PASSWORD must be set"
[ "$CHAT_MYSQL_USER" != "$MARIADB_USER" ] ||
	mysql_error "CHAT_MYSQL_USER must differ from MARIADB_USER (the migrations' account)"
mysql_note "creating the programs' account $CHAT_MYSQL_USER (rows of $MARIADB_DATABASE only)"
docker_process_sql --database=mysql <<EOSQL
CREATE USER '$CHAT_MYSQL_USER'@'%' IDENTIFIED BY '$(docker_sql_escape_string_literal "$CHAT_MYSQL_PASSWORD")';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`$MARIADB_DATABASE\`.* TO '$CHAT_MYSQL_USER'@'%';
EOSQL
