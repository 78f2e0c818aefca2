/*
 * support_faults.c - checks of queued creates, parallel creates, and the
 * faults of the reliability tests (see support_faults.h).
 */
#include "support_faults.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "buf.h"
#include "client.h"
#include "xalloc.h"

#define SHARDS 16

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static char *base_url(void)
{
	const char *port = getenv("CHAT_HTTP_PORT");

	cr_assert(port && *port, "CHAT_HTTP_PORT is not set: run the "
		  "integration tests through tests/harness/run-tests.sh");
	return http_path("http://127.0.0.1:%s", port);
}

/* Queued creates ----------------------------------------------------- */

int64_t assert_accepted(const struct http_res *res, const char *path)
{
	int64_t n = -1;
	char *want;

	cr_assert_eq(res->status, 202, "%s: expected 202, got %ld: %.300s",
		     res->what, res->status, res->body);
	http_assert_contract(res);
	cr_assert(json_object_is_type(res->json, json_type_object) &&
			  json_object_object_length(res->json) == 1 &&
			  http_json_int(res, "number", &n),
		  "%s: the body is not {\"number\": n}: %.300s", res->what,
		  res->body);
	cr_assert_gt(n, 0, "%s: number %lld", res->what, (long long)n);
	want = http_path("%s/%lld", path, (long long)n);
	cr_assert_not_null(res->location, "%s: 202 without Location",
			   res->what);
	cr_assert_str_eq(res->location, want, "%s: Location", res->what);
	free(want);
	return n;
}

struct get_wait {
	const char *path;
	long status;
};

static bool answers(void *arg)
{
	struct get_wait *w = arg;
	struct http_res *res = http_get(w->path);
	bool yes = res->status == w->status;

	http_res_free(res);
	return yes;
}

bool wait_status(const char *path, long status, unsigned timeout_ms)
{
	struct get_wait w = { path, status };

	return wait_until(answers, &w, timeout_ms);
}

/* HTTP on a private handle, safe to use from any thread ---------------- */

struct curl_call {
	CURL *curl;
	char *url;		/* base + path */
	const char *path;
	const char *body;
	size_t len;
	struct curl_slist *headers;
	struct chat_buf out;
	char *location;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	chat_buf_add(arg, data, size * n);
	return size * n;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct curl_call *c = arg;
	size_t len = size * n, end = len;

	if (len > 9 && strncasecmp(line, "Location:", 9) == 0) {
		size_t start = 9;

		while (start < len && line[start] == ' ')
			start++;
		while (end > start && (line[end - 1] == '\r' ||
				       line[end - 1] == '\n' ||
				       line[end - 1] == ' '))
			end--;
		free(c->location);
		c->location = xstrndup(line + start, end - start);
	}
	return len;
}

static void call_init(struct curl_call *c, const char *base, const char *path,
		      const char *body, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->curl = curl_easy_init();
	c->url = http_path("%s%s", base, path);
	c->path = path;
	c->body = body;
	c->len = len;
	c->headers = curl_slist_append(NULL, "Expect:");
	c->headers = curl_slist_append(c->headers, "Content-Type:");
	chat_buf_init(&c->out);
}

static void call_release(struct curl_call *c)
{
	curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	chat_buf_release(&c->out);
	free(c->location);
	free(c->url);
}

/* One POST on the call's handle (its connection is kept for the next). */
static void call_post(struct curl_call *c, struct create_result *r)
{
	struct json_object *obj, *num;
	long status = 0;

	chat_buf_reset(&c->out);
	free(c->location);
	c->location = NULL;
	curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, c->body ? c->body : "");
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)(c->body ? c->len : 0));
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->out);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, c);
	r->status = 0;
	r->number = -1;
	r->location_ok = false;
	if (curl_easy_perform(c->curl) != CURLE_OK)
		return;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	obj = json_tokener_parse(c->out.data);
	if (obj && json_object_object_get_ex(obj, "number", &num) &&
	    json_object_is_type(num, json_type_int))
		r->number = json_object_get_int64(num);
	json_object_put(obj);
	if (r->number > 0 && c->location) {
		char *want = http_path("%s/%lld", c->path,
				       (long long)r->number);

		r->location_ok = strcmp(want, c->location) == 0;
		free(want);
	}
}

/* burst_create ------------------------------------------------------- */

struct burst {
	const char *base, *path, *body;
	size_t len;
	unsigned total;
	unsigned next;		/* guarded by lock */
	pthread_mutex_t lock;
	struct create_result *results;
};

static void *burst_thread(void *arg)
{
	struct burst *b = arg;
	struct curl_call c;

	call_init(&c, b->base, b->path, b->body, b->len);
	for (;;) {
		unsigned i;

		pthread_mutex_lock(&b->lock);
		i = b->next < b->total ? b->next++ : UINT_MAX;
		pthread_mutex_unlock(&b->lock);
		if (i == UINT_MAX)
			break;
		call_post(&c, &b->results[i]);
	}
	call_release(&c);
	return NULL;
}

void burst_create(const char *path, const char *body, size_t len,
		  unsigned total, unsigned conns,
		  struct create_result *results)
{
	pthread_t *threads = xcalloc(conns, sizeof(*threads));
	struct burst b = {
		.path = path, .body = body, .len = len, .total = total,
		.results = results,
	};
	char *base = base_url();

	b.base = base;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&b.lock, NULL);
	for (unsigned i = 0; i < conns; i++)
		cr_assert_eq(pthread_create(&threads[i], NULL, burst_thread,
					    &b), 0, "pthread_create");
	for (unsigned i = 0; i < conns; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&b.lock);
	free(threads);
	free(base);
}

/* create_stream ------------------------------------------------------ */

struct create_stream {
	pthread_t thread;
	char *base, *path, *body;
	unsigned gap_ms;
	pthread_mutex_t lock;
	bool stop;			/* guarded by lock */
	struct create_result *results;	/* guarded by lock */
	size_t n, cap;
};

static void *stream_thread(void *arg)
{
	struct create_stream *s = arg;
	struct curl_call c;

	call_init(&c, s->base, s->path, s->body,
		  s->body ? strlen(s->body) : 0);
	for (;;) {
		struct create_result r;
		bool stop;

		pthread_mutex_lock(&s->lock);
		stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
		call_post(&c, &r);
		r.at_ms = now_ms();
		pthread_mutex_lock(&s->lock);
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 256;
			s->results = xrealloc(s->results,
					      s->cap * sizeof(*s->results));
		}
		s->results[s->n++] = r;
		pthread_mutex_unlock(&s->lock);
		if (s->gap_ms)
			sleep_ms(s->gap_ms);
	}
	call_release(&c);
	return NULL;
}

struct create_stream *stream_start(const char *path, const char *body,
				   unsigned gap_ms)
{
	struct create_stream *s = xcalloc(1, sizeof(*s));

	s->base = base_url();
	s->path = xstrdup(path);
	s->body = body ? xstrdup(body) : NULL;
	s->gap_ms = gap_ms;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&s->lock, NULL);
	cr_assert_eq(pthread_create(&s->thread, NULL, stream_thread, s), 0,
		     "pthread_create");
	return s;
}

size_t stream_count(struct create_stream *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void stream_stop(struct create_stream *s, struct create_result **results,
		 size_t *n)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	*results = s->results;
	*n = s->n;
	free(s->base);
	free(s->path);
	free(s->body);
	free(s);
}

/* Processes of the stack --------------------------------------------- */

char *var_path(const char *rel)
{
	const char *var = getenv("CHAT_VAR");

	cr_assert(var && *var, "CHAT_VAR is not set: run the integration "
		  "tests through tests/harness/run-tests.sh");
	return http_path("%s/%s", var, rel);
}

pid_t pidfile_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0)
		pid = -1;
	fclose(f);
	return (pid_t)pid;
}

unsigned pidfile_count(const char *path, const char *what)
{
	FILE *f = fopen(path, "r");
	unsigned n = 0;
	long pid;

	if (!f)
		return 0;
	while (fscanf(f, "%ld", &pid) == 1)
		if (pid_is((pid_t)pid, what))
			n++;
	fclose(f);
	return n;
}

bool pid_is(pid_t pid, const char *what)
{
	char path[64], cmd[4096];
	size_t n;
	FILE *f;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	cmd[n] = '\0';
	/* A zombie has an empty command line: it is gone. */
	return n > 0 && strstr(cmd, what) != NULL;
}

/* Wait up to `ms` for `pid` to stop being `what`. */
static bool wait_gone(pid_t pid, const char *what, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;

	while (pid_is(pid, what)) {
		if (now_ms() >= deadline)
			return false;
		sleep_ms(20);
	}
	return true;
}

bool worker_alive(void)
{
	char *f = var_path("run/worker.1.pid");
	bool yes = pid_is(pidfile_pid(f), "jobs/worker");

	free(f);
	return yes;
}

pid_t worker_pid(void)
{
	char *f = var_path("run/worker.1.pid");
	pid_t pid = pidfile_pid(f);

	cr_assert(pid_is(pid, "jobs/worker"),
		  "worker 1 is not running (pid file %s: %ld)", f, (long)pid);
	free(f);
	return pid;
}

void worker_pause(void)
{
	cr_assert_eq(kill(worker_pid(), SIGSTOP), 0, "SIGSTOP worker: %s",
		     strerror(errno));
}

void worker_resume(void)
{
	char *f = var_path("run/worker.1.pid");
	pid_t pid = pidfile_pid(f);

	/* Also from a fini: never fail here, just let the worker go on. */
	if (pid_is(pid, "jobs/worker"))
		kill(pid, SIGCONT);
	free(f);
}

void worker_kill9(void)
{
	pid_t pid = worker_pid();

	cr_assert_eq(kill(pid, SIGKILL), 0, "SIGKILL worker: %s",
		     strerror(errno));
	cr_assert(wait_gone(pid, "jobs/worker", 10000),
		  "worker %ld still there 10 s after SIGKILL", (long)pid);
}

void mysql_stop(void)
{
	char *f = var_path("mysql/mysqld.pid");
	pid_t pid = pidfile_pid(f);

	cr_assert(pid_is(pid, "mariadbd"),
		  "mariadbd is not running (pid file %s: %ld)", f, (long)pid);
	cr_assert_eq(kill(pid, SIGTERM), 0, "SIGTERM mariadbd: %s",
		     strerror(errno));
	cr_assert(wait_gone(pid, "mariadbd", 60000),
		  "mariadbd %ld still there 60 s after SIGTERM", (long)pid);
	free(f);
}

/* The repository: this binary is <repo>/tests/integration/test_*. */
static char *repo_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	cr_assert_gt(n, 0, "readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	for (int up = 0; up < 3; up++) {
		char *slash = strrchr(exe, '/');

		cr_assert_not_null(slash, "odd binary path %s", exe);
		*slash = '\0';
	}
	return xstrdup(exe);
}

bool health_ok(void)
{
	char *base = base_url();
	char *url = http_path("%s/health", base);
	CURL *curl = curl_easy_init();
	struct chat_buf out;
	long status = 0;

	chat_buf_init(&out);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	chat_buf_release(&out);
	free(url);
	free(base);
	return status == 200;
}

void stack_start(void)
{
	char *repo = repo_dir();
	char *log = var_path("log/test-restarts.log");
	char *cmd = http_path("'%s/tests/harness/stack.sh' start >>'%s' 2>&1",
			      repo, log);
	int rc = system(cmd);

	cr_assert(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
		  "%s failed (status %d); see %s", cmd, rc, log);
	cr_assert(health_ok(), "GET /health is not 200 after stack.sh start");
	free(cmd);
	free(log);
	free(repo);
}

/* Behind the API ----------------------------------------------------- */

redisReply *redis_argv(int argc, const char **argv, const size_t *lens)
{
	return tredis_argv(argc, argv, lens);
}

uint64_t app_id_of(const char *token)
{
	int64_t id = tdb_int("SELECT id FROM applications WHERE " TDB_TOKEN_IS,
			     token, NULL);

	cr_assert_gt(id, 0, "no application row for token %s", token);
	return (uint64_t)id;
}

char *queue_key(uint64_t app, const char *fmt, ...)
{
	struct chat_buf b;
	va_list ap;

	chat_buf_init(&b);
	chat_buf_addf(&b, "chat:{s%u}:", (unsigned)(app % SHARDS));
	va_start(ap, fmt);
	chat_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return chat_buf_detach(&b, NULL);
}

int64_t wait_db_count(unsigned timeout_ms, int64_t want, const char *sql,
		      ...)
{
	const char *args[4] = { NULL, NULL, NULL, NULL };
	uint64_t deadline = now_ms() + timeout_ms;
	va_list ap;
	int64_t n;

	va_start(ap, sql);
	for (int i = 0; i < 3; i++) {
		args[i] = va_arg(ap, const char *);
		if (!args[i])
			break;
	}
	va_end(ap);
	for (;;) {
		n = tdb_int(sql, args[0], args[1], args[2], NULL);
		if (n == want || now_ms() >= deadline)
			return n;
		sleep_ms(50);
	}
}
