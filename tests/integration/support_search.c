/*
 * support_search.c - helpers of the search tests (see support_search.h).
 */
#include "support_search.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "es.h"
#include "xalloc.h"

extern char **environ;

static void pause_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Chats and messages ----------------------------------------------------- */

static bool chat_persisted(void *arg)
{
	struct http_res *res = http_get(arg);
	bool ok = res->status == 200;

	http_res_free(res);
	return ok;
}

void tchat_new(struct tchat *c, const char *token, const char *name)
{
	struct http_res *res;
	char *path;
	int64_t n = 0;

	c->token = token ? xstrdup(token) : app_create(name);
	path = http_path("/applications/%s/chats", c->token);
	res = http_send("POST", path, NULL);
	cr_assert_eq(res->status, 202, "POST %s: %ld %.300s", path,
		     res->status, res->body);
	http_assert_contract(res);
	cr_assert(http_json_int(res, "number", &n) && n > 0, "%.300s",
		  res->body);
	http_res_free(res);
	free(path);
	c->number = (uint64_t)n;
	path = http_path("/applications/%s/chats/%llu", c->token,
			 (unsigned long long)c->number);
	cr_assert(wait_until(chat_persisted, path, 10000),
		  "chat %s not persisted within 10 s (is the worker up?)",
		  path);
	c->messages = http_path("%s/messages", path);
	free(path);
}

void tchat_free(struct tchat *c)
{
	free(c->token);
	free(c->messages);
	memset(c, 0, sizeof(*c));
}

uint64_t tchat_post(const struct tchat *c, const char *body)
{
	struct json_object *obj = json_object_new_object();
	struct http_res *res;
	int64_t n = 0;

	json_object_object_add(obj, "body", json_object_new_string(body));
	res = http_send("POST", c->messages,
			json_object_to_json_string_ext(obj,
						       JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
	cr_assert_eq(res->status, 202, "POST %s: %ld %.300s", c->messages,
		     res->status, res->body);
	http_assert_contract(res);
	cr_assert(http_json_int(res, "number", &n) && n > 0, "%.300s",
		  res->body);
	http_res_free(res);
	return (uint64_t)n;
}

void tchat_post_all(const struct tchat *c, const char *const *bodies,
		    uint64_t *out)
{
	for (size_t i = 0; bodies[i]; i++)
		out[i] = tchat_post(c, bodies[i]);
}

char *tchat_message_path(const struct tchat *c, uint64_t number)
{
	return http_path("%s/%llu", c->messages, (unsigned long long)number);
}

char *turl_encode(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	struct chat_buf b;

	chat_buf_init(&b);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			chat_buf_addch(&b, (char)ch);
		} else {
			chat_buf_addch(&b, '%');
			chat_buf_addch(&b, hex[ch >> 4]);
			chat_buf_addch(&b, hex[ch & 15]);
		}
	}
	return chat_buf_detach(&b, NULL);
}

/* Searches ------------------------------------------------------------- */

struct http_res *tsearch_raw(const struct tchat *c, const char *q_raw,
			     const char *extra)
{
	struct chat_buf path;
	struct http_res *res;

	chat_buf_init(&path);
	chat_buf_addf(&path, "%s/search", c->messages);
	if (q_raw)
		chat_buf_addf(&path, "?q=%s", q_raw);
	if (extra)
		chat_buf_addf(&path, "%c%s", q_raw ? '&' : '?', extra);
	res = http_get(path.data);
	chat_buf_release(&path);
	return res;
}

struct http_res *tsearch(const struct tchat *c, const char *q,
			 const char *extra)
{
	char *enc = q ? turl_encode(q, strlen(q)) : NULL;
	struct http_res *res = tsearch_raw(c, enc, extra);

	free(enc);
	return res;
}

size_t tsearch_numbers(const struct http_res *res, uint64_t *out, size_t max)
{
	size_t n;

	cr_assert_eq(res->status, 200, "%s: expected 200, got %ld: %.300s",
		     res->what, res->status, res->body);
	http_assert_contract(res);
	cr_assert(json_object_is_type(res->json, json_type_array),
		  "%s: not an array: %.300s", res->what, res->body);
	n = json_object_array_length(res->json);
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(res->json, i);
		int64_t num = 0;

		cr_assert(json_object_is_type(m, json_type_object) &&
			  json_object_object_length(m) == 4,
			  "%s: result %zu is not a Message: %.300s", res->what,
			  i, res->body);
		cr_assert(json_int(m, "number", &num) && num > 0,
			  "%s: number: %.300s", res->what, res->body);
		cr_assert_not_null(json_str(m, "body"), "%s: body: %.300s",
				   res->what, res->body);
		cr_assert(is_timestamp(json_str(m, "created_at")) &&
			  is_timestamp(json_str(m, "updated_at")),
			  "%s: timestamps: %.300s", res->what, res->body);
		if (out && i < max)
			out[i] = (uint64_t)num;
	}
	return n;
}

size_t tsearch_q(const struct tchat *c, const char *q, uint64_t *out,
		 size_t max)
{
	struct http_res *res = tsearch(c, q, "limit=1000");
	size_t n = tsearch_numbers(res, out, max);

	http_res_free(res);
	return n;
}

bool tsearch_is(const struct tchat *c, const char *q, const uint64_t *want,
		size_t n)
{
	uint64_t got[1000];
	size_t k = tsearch_q(c, q, got, 1000);

	if (k != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			return false;
	return true;
}

static bool same_set(const uint64_t *a, size_t na, const uint64_t *b,
		     size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;

		while (j < nb && b[j] != a[i])
			j++;
		if (j == nb)
			return false;
	}
	return true;
}

long tsearch_wait(const struct tchat *c, const char *q, const uint64_t *want,
		  size_t n, unsigned timeout_ms)
{
	uint64_t start = now_ms(), got[1000];

	for (;;) {
		size_t k = tsearch_q(c, q, got, 1000);
		uint64_t now = now_ms();

		if (same_set(got, k, want, n))
			return (long)(now - start);
		if (now - start >= timeout_ms)
			return -1;
		pause_ms(25);
	}
}

/* Behind the API ------------------------------------------------------ */

uint64_t tapp_id(const char *token)
{
	int64_t id = tdb_int("SELECT id FROM applications WHERE " TDB_TOKEN_IS,
			     token, NULL);

	cr_assert_gt(id, 0, "application %s not in MariaDB", token);
	return (uint64_t)id;
}

static struct chat_config es_cfg;
static struct chat_es *es;

static struct chat_es *es_handle(void)
{
	if (!es) {
		chat_config_load(&es_cfg);
		/* A look behind the API: the jobs' timeouts, not a request's. */
		chat_config_for_jobs(&es_cfg);
		es = chat_es_new(&es_cfg);
	}
	return es;
}

/* Send a request to the engine; returns the status, the body in resp. */
static long es_do(const char *method, const char *path, const char *body,
		  struct chat_buf *resp)
{
	struct chat_es *h = es_handle();
	long status = 0;

	if (chat_es_request(h, method, path, body, body ? strlen(body) : 0,
			    &status, resp))
		cr_assert_fail("search engine %s: %s %s: %s", es_cfg.es_url,
			       method, path, h->errstr);
	return status;
}

static const char *alias_or_default(const char *alias)
{
	return alias ? alias : es_handle()->cfg->es_index;
}

long tes_count(const char *alias, uint64_t app, uint64_t chat)
{
	struct chat_buf path, resp;
	struct json_object *q, *obj;
	long status, count = -1;
	char body[256];

	chat_buf_init(&path);
	chat_buf_init(&resp);
	alias = alias_or_default(alias);
	chat_buf_addf(&path, "/%s/_refresh", alias);
	status = es_do("POST", path.data, NULL, &resp);
	cr_assert_eq(status, 200, "POST %s: %ld %.300s", path.data, status,
		     resp.data);
	snprintf(body, sizeof(body),
		 "{\"query\":{\"bool\":{\"filter\":[{\"term\":{\"app\":%llu}},"
		 "{\"term\":{\"chat\":%llu}}]}}}", (unsigned long long)app,
		 (unsigned long long)chat);
	chat_buf_reset(&path);
	chat_buf_addf(&path, "/%s/_count", alias);
	status = es_do("POST", path.data, body, &resp);
	obj = json_tokener_parse(resp.data);
	cr_assert(status == 200 && json_object_object_get_ex(obj, "count", &q),
		  "POST %s: %ld %.300s", path.data, status, resp.data);
	count = (long)json_object_get_int64(q);
	json_object_put(obj);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return count;
}

bool tes_has_doc(const char *alias, uint64_t app, uint64_t chat,
		 uint64_t number)
{
	struct chat_buf path, resp;
	long status;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	chat_buf_addf(&path, "/%s/_doc/%llu-%llu-%llu",
		      alias_or_default(alias), (unsigned long long)app,
		      (unsigned long long)chat, (unsigned long long)number);
	status = es_do("GET", path.data, NULL, &resp);
	/* 503: the index behind the alias is still being created. */
	cr_assert(status == 200 || status == 404 || status == 503,
		  "GET %s: %ld %.300s", path.data, status, resp.data);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return status == 200;
}

char *tes_alias_index(const char *alias)
{
	struct chat_buf path, resp;
	struct json_object *obj;
	char *name = NULL;
	long status;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	chat_buf_addf(&path, "/_alias/%s", alias_or_default(alias));
	status = es_do("GET", path.data, NULL, &resp);
	obj = json_tokener_parse(resp.data);
	if (status == 200) {
		cr_assert(json_object_is_type(obj, json_type_object) &&
			  json_object_object_length(obj) == 1,
			  "GET %s: %.300s", path.data, resp.data);
		json_object_object_foreach(obj, key, val) {
			(void)val;
			name = xstrdup(key);
		}
	} else {
		cr_assert_eq(status, 404, "GET %s: %ld %.300s", path.data,
			     status, resp.data);
	}
	json_object_put(obj);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return name;
}

bool tes_index_exists(const char *name)
{
	struct chat_buf path, resp;
	long status;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	chat_buf_addf(&path, "/%s", name);
	status = es_do("GET", path.data, NULL, &resp);
	cr_assert(status == 200 || status == 404, "GET %s: %ld", path.data,
		  status);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return status == 200;
}

long tes_request(const char *method, const char *path, const char *body)
{
	struct chat_buf resp;
	long status;

	chat_buf_init(&resp);
	status = es_do(method, path, body, &resp);
	chat_buf_release(&resp);
	return status;
}

bool tes_healthy(void)
{
	return chat_es_healthy(es_handle());
}

/* The stack ------------------------------------------------------------ */

static const char *var_dir(void)
{
	const char *v = getenv("CHAT_VAR");

	cr_assert(v && *v, "CHAT_VAR is not set: run the integration tests "
			   "through tests/harness/run-tests.sh");
	return v;
}

char *tstack_pidfile(const char *rel)
{
	char path[1024], buf[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", var_dir(), rel);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return xstrdup(buf);
}

/* Is pid alive and the search engine's launcher (not a recycled pid)? */
static bool is_engine(pid_t pid)
{
	char path[64], cmd[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	cmd[n] = '\0';
	return strstr(cmd, "ChatSearchLauncher") != NULL;
}


/* Node n's pid (1: $CHAT_VAR/es, n: es<n>), or 0 when it is not running. */
static pid_t node_pid(unsigned n)
{
	char rel[32], *s;
	pid_t pid;

	if (n == 1)
		snprintf(rel, sizeof(rel), "es/search.pid");
	else
		snprintf(rel, sizeof(rel), "es%u/search.pid", n);
	s = tstack_pidfile(rel);
	pid = s ? (pid_t)atoi(s) : 0;
	free(s);
	return pid > 0 && is_engine(pid) ? pid : 0;
}

pid_t tes_pid(void)
{
	return node_pid(1);
}

void tes_stop(void)
{
	const char *nodes = getenv("CHAT_ES_NODES");
	unsigned count = nodes && atoi(nodes) > 1 ? (unsigned)atoi(nodes) : 1;
	uint64_t deadline = now_ms() + 60000;
	pid_t pids[16] = { 0 };

	cr_assert_leq(count, 16, "CHAT_ES_NODES=%s", nodes);
	/* Every node of a cluster: with one left, searches go on. */
	for (unsigned n = 1; n <= count; n++) {
		pids[n - 1] = node_pid(n);
		cr_assert_gt(pids[n - 1], 0, "search node %u is not running "
			     "(per its search.pid under %s)", n, var_dir());
		cr_assert_eq(kill(pids[n - 1], SIGTERM), 0, "kill %d: %s",
			     (int)pids[n - 1], strerror(errno));
	}
	for (unsigned n = 1; n <= count; n++)
		while (is_engine(pids[n - 1])) {
			cr_assert_lt(now_ms(), deadline, "search node %u (pid "
				     "%d) still runs 60 s after TERM", n,
				     (int)pids[n - 1]);
			pause_ms(100);
		}
}

static int temp_fd(void)
{
	char path[] = "/tmp/test_search.XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	return fd;
}

static char *slurp(int fd)
{
	struct chat_buf b;
	char chunk[4096];
	ssize_t n;

	chat_buf_init(&b);
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		chat_buf_add(&b, chunk, (size_t)n);
	close(fd);
	return chat_buf_detach(&b, NULL);
}

int tstack_start(char **out)
{
	static const char script[] = "tests/harness/stack.sh";
	int fd = temp_fd(), st = 0;
	pid_t pid;

	cr_assert_eq(access(script, X_OK), 0, "%s: %s (run from the repo "
		     "root)", script, strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		/*
		 * Only stdio: the daemons started from here must not hold
		 * Criterion's descriptors (or the test lock) open.
		 */
		dup2(in, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close_range(3, ~0U, 0);
		execl(script, script, "start", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	*out = slurp(fd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Programs -------------------------------------------------------------- */

void treindex_start(struct tproc *p, const char *const *args)
{
	static char path[512];
	const char *dir = getenv("CHAT_JOBS_DIR");
	posix_spawn_file_actions_t fa;
	char *argv[16];
	size_t n = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(path, sizeof(path), "%s/reindex", dir && *dir ? dir : "jobs");
	cr_assert_eq(access(path, X_OK), 0,
		     "%s: %s (build it with make, run from the repo root)",
		     path, strerror(errno));
	argv[n++] = path;
	for (size_t i = 0; args && args[i] && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	p->out_fd = temp_fd();
	p->err_fd = temp_fd();
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p->out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, p->err_fd, 2);
	rc = posix_spawn(&p->pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(rc, 0, "posix_spawn %s: %s", path, strerror(rc));
}

static void collect(struct tproc *p, int st)
{
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	p->out = slurp(p->out_fd);
	p->err = slurp(p->err_fd);
	p->pid = 0;
}

void tproc_wait(struct tproc *p)
{
	int st = 0;

	if (!p->pid)
		return;
	while (waitpid(p->pid, &st, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	collect(p, st);
}

bool tproc_exited(struct tproc *p)
{
	int st = 0;

	if (!p->pid)
		return true;
	if (waitpid(p->pid, &st, WNOHANG) != p->pid)
		return false;
	collect(p, st);
	return true;
}

void tproc_release(struct tproc *p)
{
	free(p->out);
	free(p->err);
	p->out = p->err = NULL;
}

/* The lock ------------------------------------------------------------- */

void tlock(bool exclusive)
{
	char path[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/run/test_search.lock", var_dir());
	/* CLOEXEC: a daemon started by a test must not inherit the lock. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
		cr_assert_eq(errno, EINTR, "flock %s: %s", path,
			     strerror(errno));
	/* Kept open: released when the test's process exits. */
}
