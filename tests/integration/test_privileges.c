/*
 * test_privileges.c - least privilege in the running stack: the MariaDB
 * account of the programs (CHAT_MYSQL_USER) may read and write rows and do
 * nothing else (no DDL, no grants, no files, no other database), while the
 * migrations' account (CHAT_MIGRATE_USER) can change the schema; mariadbd,
 * the FastCGI processes and the workers run under a uid other than root.
 *
 * The processes are found through the pid files stack.sh writes under
 * $CHAT_VAR (the run-tests.sh stack: var/test).
 */
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mysql.h>
#include <mysqld_error.h>

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

static MYSQL *connect_as(const char *user, const char *password)
{
	const char *port = env_or("CHAT_MYSQL_PORT", "3307");
	unsigned timeout = 5;
	MYSQL *m = mysql_init(NULL);

	cr_assert_not_null(m, "mysql_init failed");
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	if (!mysql_real_connect(m, env_or("CHAT_MYSQL_HOST", "127.0.0.1"),
				user, password,
				env_or("CHAT_MYSQL_DATABASE", "chat"),
				(unsigned)atoi(port), NULL, 0))
		cr_assert_fail("MariaDB on port %s as %s: %s", port, user,
			       mysql_error(m));
	return m;
}

static MYSQL *connect_programs(void)
{
	return connect_as(env_or("CHAT_MYSQL_USER", "chat"),
			  env_or("CHAT_MYSQL_PASSWORD", "chat"));
}

/* Runs `sql` and discards any result; returns mysql_errno (0: it ran). */
static unsigned run(MYSQL *m, const char *sql)
{
	MYSQL_RES *res;

	if (mysql_query(m, sql) != 0)
		return mysql_errno(m);
	res = mysql_store_result(m);
	mysql_free_result(res);
	return 0;
}

/* The errors MariaDB answers a statement the account may not run with. */
static bool is_denied(unsigned err)
{
	return err == ER_TABLEACCESS_DENIED_ERROR ||
	       err == ER_DBACCESS_DENIED_ERROR ||
	       err == ER_SPECIFIC_ACCESS_DENIED_ERROR ||
	       err == ER_COLUMNACCESS_DENIED_ERROR ||
	       err == ER_ACCESS_DENIED_ERROR ||
	       err == ER_PROCACCESS_DENIED_ERROR ||
	       err == ER_CANT_CREATE_USER_WITH_GRANT ||
	       err == ER_PASSWORD_NOT_ALLOWED;
}

Test(privileges, programs_account_cannot_change_the_schema)
{
	static const char *const refused[] = {
		"CREATE TABLE priv_probe (id INT)",
		"DROP TABLE messages",
		"ALTER TABLE messages ADD COLUMN priv_probe INT",
		"TRUNCATE TABLE messages",
		"CREATE INDEX priv_probe ON messages (created_at)",
		"RENAME TABLE chats TO priv_probe",
		"CREATE VIEW priv_probe AS SELECT 1",
		"CREATE TEMPORARY TABLE priv_probe (id INT)",
		"LOCK TABLES messages WRITE",
		"CREATE DATABASE priv_probe",
		"DROP DATABASE chat",
		"CREATE USER 'priv_probe'@'%'",
		"GRANT SELECT ON chat.* TO 'priv_probe'@'%' IDENTIFIED BY 'x'",
		"SELECT user FROM mysql.user",
		"SELECT 1 INTO OUTFILE '/tmp/priv_probe'",
		"SELECT LOAD_FILE('/etc/passwd') IS NOT NULL FROM applications LIMIT 1",
		"SET GLOBAL max_connections = 1",
		"SHUTDOWN",
	};
	MYSQL *m = connect_programs();
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		unsigned err = run(m, refused[i]);

		/* LOAD_FILE without FILE answers NULL rather than an error:
		 * the query runs, and must yield no file. */
		if (strstr(refused[i], "LOAD_FILE")) {
			MYSQL_RES *res;
			MYSQL_ROW row;

			cr_assert_eq(mysql_query(m, refused[i]), 0, "%s: %s",
				     refused[i], mysql_error(m));
			res = mysql_store_result(m);
			row = res ? mysql_fetch_row(res) : NULL;
			cr_assert(!row || strcmp(row[0], "0") == 0,
				  "LOAD_FILE read /etc/passwd");
			mysql_free_result(res);
			continue;
		}
		cr_expect(is_denied(err), "%s: ran or failed otherwise (%u: %s)",
			  refused[i], err, mysql_error(m));
	}
	/* Nothing changed: the tables are there with their columns. */
	cr_assert_eq(run(m, "SELECT id, chat_id, number, body FROM messages LIMIT 1"), 0,
		     "messages: %s", mysql_error(m));
	cr_assert_eq(run(m, "SELECT id FROM chats LIMIT 1"), 0, "chats: %s",
		     mysql_error(m));
	mysql_close(m);
}

Test(privileges, programs_account_has_only_row_privileges)
{
	MYSQL *m = connect_programs();
	MYSQL_RES *res;
	MYSQL_ROW row;
	char want[256];
	bool db_grant = false;

	snprintf(want, sizeof(want),
		 "GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.* TO ",
		 env_or("CHAT_MYSQL_DATABASE", "chat"));
	cr_assert_eq(mysql_query(m, "SHOW GRANTS"), 0, "%s", mysql_error(m));
	res = mysql_store_result(m);
	cr_assert_not_null(res);
	while ((row = mysql_fetch_row(res))) {
		const char *g = row[0];

		if (strncmp(g, want, strlen(want)) == 0) {
			db_grant = true;
			continue;
		}
		/* The only other line: the account itself, with no privilege. */
		cr_expect(strncmp(g, "GRANT USAGE ON *.* TO ", 22) == 0,
			  "unexpected grant: %s", g);
		cr_expect(!strstr(g, "WITH GRANT OPTION"), "grant option: %s", g);
	}
	mysql_free_result(res);
	cr_expect(db_grant, "no \"%s...\" line", want);

	/* What the programs do, it still may. */
	cr_assert_eq(run(m, "START TRANSACTION"), 0);
	cr_assert_eq(run(m, "DELETE FROM messages WHERE id = 0"), 0, "%s",
		     mysql_error(m));
	cr_assert_eq(run(m, "UPDATE chats SET messages_count = messages_count WHERE id = 0"),
		     0, "%s", mysql_error(m));
	cr_assert_eq(run(m, "ROLLBACK"), 0);
	mysql_close(m);
}

/* The refusals above come from the account, not from a server that
 * refuses DDL to everyone: the migrations' account may. */
Test(privileges, migrate_account_owns_the_schema)
{
	MYSQL *m = connect_as(env_or("CHAT_MIGRATE_USER", "chat_migrate"),
			      env_or("CHAT_MIGRATE_PASSWORD", "chat_migrate"));
	char sql[128];

	snprintf(sql, sizeof(sql), "CREATE TABLE priv_probe_%ld (id INT)",
		 (long)getpid());
	cr_assert_eq(run(m, sql), 0, "%s: %s", sql, mysql_error(m));
	snprintf(sql, sizeof(sql), "DROP TABLE priv_probe_%ld", (long)getpid());
	cr_assert_eq(run(m, sql), 0, "%s: %s", sql, mysql_error(m));
	mysql_close(m);
}

/* The real uid, effective uid, saved uid and filesystem uid of `pid`. */
static void proc_uids(long pid, long uids[4])
{
	char path[64], line[256];
	FILE *f;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Uid: %ld %ld %ld %ld", &uids[0], &uids[1],
			   &uids[2], &uids[3]) == 4) {
			found = true;
			break;
		}
	}
	fclose(f);
	cr_assert(found, "no Uid line in %s", path);
}

/* Every pid (one a line) of the pid file $CHAT_VAR/`rel` runs as no root
 * uid; returns how many there were. */
static int assert_not_root(const char *rel, uid_t want)
{
	char path[4096];
	FILE *f;
	long pid, uids[4];
	int n = 0, i;

	snprintf(path, sizeof(path), "%s/%s", env_or("CHAT_VAR", "var"), rel);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (fscanf(f, "%ld", &pid) == 1) {
		proc_uids(pid, uids);
		for (i = 0; i < 4; i++) {
			cr_expect_neq(uids[i], 0, "%s: pid %ld runs with uid 0",
				      rel, pid);
			if (want != (uid_t)-1)
				cr_expect_eq(uids[i], (long)want,
					     "%s: pid %ld has uid %ld, want %ld",
					     rel, pid, uids[i], (long)want);
		}
		n++;
	}
	fclose(f);
	cr_assert_gt(n, 0, "no pid in %s", path);
	return n;
}

static uid_t uid_of(const char *user)
{
	struct passwd *pw;

	if (getuid() != 0)
		return getuid(); /* an ordinary user's stack runs as that user */
	pw = getpwnam(user);
	cr_assert_not_null(pw, "no user %s", user);
	return pw->pw_uid;
}

Test(privileges, mariadbd_runs_unprivileged)
{
	assert_not_root("mysql/mysqld.pid", uid_of("mysql"));
}

Test(privileges, programs_run_unprivileged)
{
	static const char *const pidfiles[] = {
		"run/applications.pid", "run/chats.pid", "run/messages.pid",
		"run/health.pid", "run/worker.1.pid",
	};
	uid_t chat = uid_of("chat");
	size_t i;

	for (i = 0; i < sizeof(pidfiles) / sizeof(pidfiles[0]); i++)
		assert_not_root(pidfiles[i], chat);
}
