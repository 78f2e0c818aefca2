/*
 * test_limits.c - the limits and timeouts of the service (README
 * "Limits and timeouts"):
 *
 *   - per-token rate limits of writes, reads and searches, each class in
 *     its own zone, and requests in progress per client address, answered
 *     429 with Retry-After and the contract's JSON.  These run against the
 *     stack's second nginx, nginx-limits (CHAT_LIMITS_HTTP_PORT, default
 *     CHAT_HTTP_PORT + 1): the same nginx/ files in front of the same
 *     programs, with the limits set low by stack.sh (2r/s, burst 5, 4
 *     requests per address) where the test stack's main nginx has them out
 *     of the way of the other tests' bursts;
 *   - a search engine that hangs (SIGSTOP for 20 s) under a mixed load:
 *     creates and reads keep answering in time, searches answer 503 in
 *     about CHAT_ES_TIMEOUT_MS, the worker keeps persisting, and all of it
 *     is searchable once the engine runs again;
 *   - Redis that hangs (SIGSTOP for REDIS_STOP_S) under creates and reads:
 *     past each process's first wait of CHAT_TIMEOUT_MS, reads answer 200
 *     in time and creates 503 at once, creates answer 202 again once it
 *     runs, and every create answered 202 is persisted;
 *   - /health answers from a per-process cache: a flood of it is not a
 *     flood of pings on Redis;
 *   - Redis refusing writes for memory (maxmemory lowered with CONFIG SET):
 *     creates are answered 503;
 *   - jobs that keep failing in MariaDB (a create and a delete-chat, made to
 *     fail by a trigger) are dead-lettered after CHAT_WORKER_TRIES tries with
 *     all their fields, and chat-replay puts them back once the cause is
 *     gone; the dead streams are capped.
 *
 * Every test holds the exclusive lock of tlock(): they change what the
 * others would see (nginx-limits' per-address count, Redis' memory limit,
 * the engine's state).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "buf.h"
#include "client.h"
#include "config.h"
#include "job.h"
#include "queue.h"
#include "rconn.h"
#include "redis.h"
#include "stream.h"
#include "support_barrage.h"
#include "support_faults.h"
#include "support_search.h"
#include "xalloc.h"

static void exclusive_lock(void)
{
	tlock(true);
}

TestSuite(limits, .init = exclusive_lock, .timeout = 300);

#define PERSIST_MS 30000

/* ------------------------------------------------------------ HTTP */

static unsigned port_of(const char *name, unsigned def)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)atoi(v) : def;
}

static unsigned main_port(void)
{
	unsigned p = port_of("CHAT_HTTP_PORT", 0);

	cr_assert_gt(p, 0, "CHAT_HTTP_PORT is not set");
	return p;
}

static unsigned limits_port(void)
{
	return port_of("CHAT_LIMITS_HTTP_PORT", main_port() + 1);
}

struct answer {
	long status;
	double ms;
	char retry_after[16];
	char content_type[64];
	struct chat_buf body;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	chat_buf_add(arg, p, size * n);
	return size * n;
}

static void copy_header(char *dst, size_t cap, const char *line, size_t len,
			const char *name)
{
	size_t nl = strlen(name);

	if (len <= nl || strncasecmp(line, name, nl) != 0)
		return;
	line += nl;
	len -= nl;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
		       line[len - 1] == ' '))
		len--;
	snprintf(dst, cap, "%.*s", (int)len, line);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;

	copy_header(a->retry_after, sizeof(a->retry_after), p, size * n,
		    "Retry-After:");
	copy_header(a->content_type, sizeof(a->content_type), p, size * n,
		    "Content-Type:");
	return size * n;
}

/*
 * One request on `curl` (a handle of the caller's thread) to nginx on
 * `port`; status 0 when the transport failed.  The caller releases
 * a->body.
 */
static void ask(CURL *curl, unsigned port, const char *method,
		const char *path, const char *body, struct answer *a)
{
	char url[2048];
	double t = mono_ms();

	memset(a, 0, sizeof(*a));
	chat_buf_init(&a->body);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a->body);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
	a->ms = mono_ms() - t;
}

/* The "error" member of a JSON body, or "" (caller frees). */
static char *error_code(const struct answer *a)
{
	struct json_object *obj = json_tokener_parse(a->body.data);
	struct json_object *e;
	char *code;

	code = xstrdup(obj && json_object_object_get_ex(obj, "error", &e) ?
		       json_object_get_string(e) : "");
	json_object_put(obj);
	return code;
}

/* A 429 of the limits: Retry-After, JSON, the contract's error. */
static void assert_limited(const struct answer *a, const char *what)
{
	char *code = error_code(a);

	cr_assert_eq(a->status, 429, "%s: %ld", what, a->status);
	cr_assert_str_eq(a->content_type, "application/json; charset=utf-8",
			 "%s: Content-Type %s", what, a->content_type);
	cr_assert_str_eq(code, "too_many_requests", "%s: %s", what,
			 a->body.data);
	cr_assert_gt(atoi(a->retry_after), 0, "%s: Retry-After '%s'", what,
		     a->retry_after);
	free(code);
}

/* A new application with one persisted chat; returns the token. */
static char *app_with_chat(const char *name)
{
	char *token = app_create(name);
	char *path = http_path("/applications/%s/chats", token);
	struct http_res *res = http_send("POST", path, NULL);
	char *chat;

	cr_assert_eq(res->status, 202, "POST %s: %ld", path, res->status);
	http_res_free(res);
	chat = http_path("/applications/%s/chats/1", token);
	cr_assert(wait_status(chat, 200, PERSIST_MS), "%s not persisted", chat);
	free(chat);
	free(path);
	return token;
}

/*
 * Send `method path` up to 20 times in a row to nginx-limits: the first
 * `at_least` pass, then a 429 that follows the contract comes (while the
 * rate, 2 a second, is below the pace of the requests).  Returns how many
 * passed.
 */
static int exhaust(CURL *curl, const char *method, const char *path,
		   const char *body, long ok, int at_least)
{
	struct answer a;
	int passed = 0, i;
	double t = mono_ms();

	for (i = 0; i < 20; i++) {
		ask(curl, limits_port(), method, path, body, &a);
		if (a.status == 429) {
			assert_limited(&a, path);
			chat_buf_release(&a.body);
			break;
		}
		cr_assert_eq(a.status, ok, "%s %s: %ld %s", method, path,
			     a.status, a.body.data);
		chat_buf_release(&a.body);
		passed++;
	}
	cr_assert_lt(i, 20, "%s %s: no 429 in 20 requests (%.0f ms)", method,
		     path, mono_ms() - t);
	cr_assert_geq(passed, at_least, "%s %s: 429 after %d", method, path,
		      passed);
	/* Burst 5 + 1, and what the rate let in meanwhile. */
	cr_assert_leq(passed, 6 + 2 * (int)((mono_ms() - t) / 1000 + 1),
		      "%s %s: %d passed", method, path, passed);
	return passed;
}

static void assert_passes(CURL *curl, const char *method, const char *path,
			  const char *body, long ok)
{
	struct answer a;

	ask(curl, limits_port(), method, path, body, &a);
	cr_assert_eq(a.status, ok, "%s %s: %ld %s (another token or class "
		     "must not be limited)", method, path, a.status,
		     a.body.data);
	chat_buf_release(&a.body);
}

Test(limits, per_token_and_class)
{
	char *a = app_with_chat("limits a"), *b = app_with_chat("limits b");
	char *read_a = http_path("/applications/%s/chats/1", a);
	char *read_b = http_path("/applications/%s/chats/1", b);
	char *write_a = http_path("/applications/%s/chats/1/messages", a);
	char *write_b = http_path("/applications/%s/chats/1/messages", b);
	char *search_a = http_path("/applications/%s/chats/1/messages/search"
				   "?q=x", a);
	char *search_b = http_path("/applications/%s/chats/1/messages/search"
				   "?q=x", b);
	const char *msg = "{\"body\":\"limits\"}";
	CURL *curl = curl_easy_init();

	/* Reads of token a run out; its writes and searches do not. */
	exhaust(curl, "GET", read_a, NULL, 200, 6);
	assert_passes(curl, "GET", read_b, NULL, 200);
	assert_passes(curl, "POST", write_a, msg, 202);
	assert_passes(curl, "GET", search_a, NULL, 200);
	/* Writes: one was used above. */
	exhaust(curl, "POST", write_a, msg, 202, 5);
	assert_passes(curl, "POST", write_b, msg, 202);
	/* Searches: one was used above. */
	exhaust(curl, "GET", search_a, NULL, 200, 5);
	assert_passes(curl, "GET", search_b, NULL, 200);
	curl_easy_cleanup(curl);
	free(read_a);
	free(read_b);
	free(write_a);
	free(write_b);
	free(search_a);
	free(search_b);
	free(a);
	free(b);
}

static int connect_limits(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 10 };

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	sa.sin_port = htons((uint16_t)limits_port());
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "connect: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/*
 * A connection to nginx-limits with a request whose body never comes,
 * from `from` (X-Forwarded-For, which nginx-limits trusts from
 * 127.0.0.1; NULL: from 127.0.0.1 itself).
 */
static int hold_request(const char *path, const char *from)
{
	struct chat_buf req;
	int fd = connect_limits();

	chat_buf_init(&req);
	chat_buf_addf(&req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		      "Content-Type: application/json\r\n", path);
	if (from)
		chat_buf_addf(&req, "X-Forwarded-For: %s\r\n", from);
	chat_buf_adds(&req, "Content-Length: 100\r\n\r\n{");
	cr_assert_eq(send(fd, req.data, req.len, MSG_NOSIGNAL),
		     (ssize_t)req.len);
	chat_buf_release(&req);
	return fd;
}

/* The status of GET /health on nginx-limits sent from `from`. */
static int health_from(const char *from)
{
	char req[256], resp[64] = "";
	int fd = connect_limits(), status = 0;
	ssize_t n;

	snprintf(req, sizeof(req), "GET /health HTTP/1.1\r\nHost: 127.0.0.1"
		 "\r\nX-Forwarded-For: %s\r\nConnection: close\r\n\r\n",
		 from);
	cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL),
		     (ssize_t)strlen(req));
	n = recv(fd, resp, sizeof(resp) - 1, 0);
	if (n > 0 && sscanf(resp, "HTTP/1.1 %d", &status) != 1)
		status = 0;
	close(fd);
	return status;
}

static bool health_200_on_limits(void *arg)
{
	struct answer a;
	long status;

	ask(arg, limits_port(), "GET", "/health", NULL, &a);
	status = a.status;
	chat_buf_release(&a.body);
	return status == 200;
}

Test(limits, requests_in_progress_per_address)
{
	/* POST /health: held while nginx waits for the body, no token. */
	const char *path = "/health";
	CURL *curl = curl_easy_init();
	struct answer a;
	int fds[4];

	cr_assert(wait_until(health_200_on_limits, curl, 5000),
		  "nginx-limits: GET /health is not 200 to begin with");
	/* The limit is 4: four requests waiting for their bodies... */
	for (int i = 0; i < 4; i++)
		fds[i] = hold_request(path, NULL);
	msleep(300);
	/* ...and a fifth from the same address is refused at once. */
	ask(curl, limits_port(), "GET", "/health", NULL, &a);
	assert_limited(&a, "a fifth request in progress");
	cr_assert_lt(a.ms, 1000.0, "the 429 took %.0f ms", a.ms);
	chat_buf_release(&a.body);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	cr_assert(wait_until(health_200_on_limits, curl, 5000),
		  "GET /health still refused after the requests ended");
	curl_easy_cleanup(curl);
}

/*
 * IPv6 addresses count by their /64: four requests in progress from four
 * hosts of one /64 use up its limit, while another /64, and IPv4 hosts,
 * are unaffected.
 */
Test(limits, ipv6_counts_by_64)
{
	/* POST /health: held while nginx waits for the body, no token. */
	const char *path = "/health";
	static const char *const hosts[] = {
		"2001:db8:a:b::1", "2001:db8:a:b::2", "2001:db8:a:b:1::3",
		"2001:db8:a:b:ffff:ffff:ffff:fffe",
	};
	int fds[4], status;

	for (int i = 0; i < 4; i++)
		fds[i] = hold_request(path, hosts[i]);
	msleep(300);
	status = health_from("2001:db8:a:b:8000::9");
	cr_assert_eq(status, 429, "a fifth host of the same /64: %d", status);
	status = health_from("2001:db8:a:c::1");
	cr_assert_eq(status, 200, "a host of the next /64: %d", status);
	status = health_from("192.0.2.7");
	cr_assert_eq(status, 200, "an IPv4 host: %d", status);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	/* IPv4 addresses count whole: four from one, a fifth from another. */
	for (int i = 0; i < 4; i++)
		fds[i] = hold_request(path, "192.0.2.8");
	msleep(300);
	status = health_from("192.0.2.8");
	cr_assert_eq(status, 429, "a fifth request from 192.0.2.8: %d", status);
	status = health_from("192.0.2.9");
	cr_assert_eq(status, 200, "a request from 192.0.2.9: %d", status);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

/* ------------------------------------------------------------ /health */

static long long ping_calls(void)
{
	redisReply *r = tredis("INFO commandstats");
	const char *p;
	long long n = 0;

	cr_assert_eq(r->type, REDIS_REPLY_STRING, "INFO commandstats");
	p = strstr(r->str, "cmdstat_ping:calls=");
	if (p)
		n = atoll(p + strlen("cmdstat_ping:calls="));
	freeReplyObject(r);
	return n;
}

Test(limits, health_is_cached)
{
	char *pidfile = var_path("run/health.pid");
	unsigned procs = pidfile_count(pidfile, "health");
	CURL *curl = curl_easy_init();
	long long before, after;
	double t, ms;
	int n = 40;

	cr_assert_gt(procs, 0, "no health processes per %s", pidfile);
	/* Every cached answer is stale: the first call must ping. */
	msleep(1100);
	before = ping_calls();
	t = mono_ms();
	for (int i = 0; i < n; i++) {
		struct answer a;

		ask(curl, main_port(), "GET", "/health", NULL, &a);
		cr_assert_eq(a.status, 200, "GET /health: %ld %s", a.status,
			     a.body.data);
		chat_buf_release(&a.body);
	}
	ms = mono_ms() - t;
	after = ping_calls();
	cr_log_info("health: %d calls in %.0f ms, %lld Redis PINGs, %u "
		    "processes", n, ms, after - before, procs);
	cr_assert_geq(after - before, 1, "no PING at all");
	/* Each process pings at most once per second of the run, plus one. */
	cr_assert_leq(after - before,
		      (long long)procs * (long long)(ms / 1000 + 2),
		      "%lld PINGs for %d calls in %.0f ms", after - before, n,
		      ms);
	cr_assert_lt(after - before, n, "no caching: %lld PINGs for %d calls",
		     after - before, n);
	curl_easy_cleanup(curl);
	free(pidfile);
}

/* ------------------------------------------------------------ Redis OOM */

static char saved_maxmemory[64];

static void restore_maxmemory(void)
{
	if (saved_maxmemory[0]) {
		redisReply *r = tredis("CONFIG SET maxmemory %s",
				       saved_maxmemory);

		freeReplyObject(r);
		saved_maxmemory[0] = '\0';
	}
}

Test(limits, redis_out_of_memory_is_503, .fini = restore_maxmemory)
{
	char *token = app_with_chat("limits oom");
	char *msgs = http_path("/applications/%s/chats/1/messages", token);
	char *chats = http_path("/applications/%s/chats", token);
	struct http_res *res;
	redisReply *r;

	r = tredis("CONFIG GET maxmemory");
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
	cr_assert_eq(r->elements, 2);
	snprintf(saved_maxmemory, sizeof(saved_maxmemory), "%s",
		 r->element[1]->str);
	freeReplyObject(r);
	r = tredis("CONFIG GET maxmemory-policy");
	cr_assert_str_eq(r->element[1]->str, "noeviction",
			 "the queue could be evicted: maxmemory-policy %s",
			 r->element[1]->str);
	freeReplyObject(r);

	r = tredis("CONFIG SET maxmemory 1");
	cr_assert_eq(r->type, REDIS_REPLY_STATUS);
	freeReplyObject(r);
	res = http_send("POST", msgs, "{\"body\":\"no room\"}");
	http_assert_error(res, 503, "service_unavailable");
	http_res_free(res);
	res = http_send("POST", chats, NULL);
	http_assert_error(res, 503, "service_unavailable");
	http_res_free(res);
	restore_maxmemory();

	res = http_send("POST", msgs, "{\"body\":\"room again\"}");
	cr_assert_eq(res->status, 202, "after maxmemory was restored: %ld %s",
		     res->status, res->body);
	http_res_free(res);
	free(msgs);
	free(chats);
	free(token);
}

/* ------------------------------------------------------------ dead letters */

/* The value of field `name` in a stream entry's field array, or NULL. */
static const char *field(const redisReply *f, const char *name)
{
	for (size_t i = 0; i + 1 < f->elements; i += 2)
		if (strcmp(f->element[i]->str, name) == 0)
			return f->element[i + 1]->str;
	return NULL;
}

struct dead_match {
	uint64_t app;
	const char *key, *value;	/* the job's field that tells it */
	char reason[256];
	char type[4];
	char body[128];
	bool found;
};

static bool find_dead(void *arg)
{
	struct dead_match *m = arg;
	char *key = queue_key(m->app, "dead");
	redisReply *r = tredis("XRANGE %s - +", key);
	char app[32];

	snprintf(app, sizeof(app), "%llu", (unsigned long long)m->app);
	m->found = false;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
	     i++) {
		const redisReply *f = r->element[i]->element[1];
		const char *v = field(f, m->key), *a = field(f, "a");
		const char *s = field(f, "stream");

		if (!v || !a || !s || strcmp(v, m->value) != 0 ||
		    strcmp(a, app) != 0 || strcmp(s, "jobs") != 0)
			continue;
		snprintf(m->reason, sizeof(m->reason), "%s",
			 field(f, "reason") ? field(f, "reason") : "");
		snprintf(m->type, sizeof(m->type), "%s",
			 field(f, "t") ? field(f, "t") : "");
		snprintf(m->body, sizeof(m->body), "%s",
			 field(f, "b") ? field(f, "b") : "");
		m->found = true;
	}
	freeReplyObject(r);
	free(key);
	return m->found;
}

static bool not_dead(void *arg)
{
	return !find_dead(arg);
}

static char trigger_insert[64], trigger_delete[64];

static void drop_triggers(void)
{
	char sql[128];

	if (trigger_insert[0]) {
		snprintf(sql, sizeof(sql), "DROP TRIGGER IF EXISTS %s",
			 trigger_insert);
		tdb_schema_exec(sql);
		trigger_insert[0] = '\0';
	}
	if (trigger_delete[0]) {
		snprintf(sql, sizeof(sql), "DROP TRIGGER IF EXISTS %s",
			 trigger_delete);
		tdb_schema_exec(sql);
		trigger_delete[0] = '\0';
	}
}

/* Run jobs/replay with `args`; returns how many it says it moved. */
static long run_replay(const char *args)
{
	const char *dir = getenv("CHAT_JOBS_DIR");
	char cmd[1024], line[256] = "";
	long moved = -1;
	FILE *p;
	int status;

	snprintf(cmd, sizeof(cmd), "%s/replay %s 2>&1",
		 dir && *dir ? dir : "jobs", args);
	p = popen(cmd, "r");
	cr_assert_not_null(p, "popen %s", cmd);
	while (fgets(line, sizeof(line), p))
		if (strstr(line, "moved back"))
			moved = atol(line);
	status = pclose(p);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "%s failed: %s", cmd, line);
	return moved;
}

static uint64_t chat_row_id(uint64_t app, int number)
{
	char a[32], n[16];

	snprintf(a, sizeof(a), "%llu", (unsigned long long)app);
	snprintf(n, sizeof(n), "%d", number);
	return (uint64_t)tdb_int("SELECT id FROM chats WHERE application_id "
				 "= ? AND number = ?", a, n, NULL);
}

Test(limits, dead_letters_keep_fields_and_replay, .fini = drop_triggers,
     .timeout = 240)
{
	char *token = app_with_chat("limits dead");
	uint64_t app = app_id_of(token);
	char *msgs = http_path("/applications/%s/chats/1/messages", token);
	char *chat2 = http_path("/applications/%s/chats/2", token);
	char poison[64], sql[512], number[32], id2[32];
	struct dead_match create = { .app = app, .key = "b" };
	struct dead_match del = { .app = app, .key = "c", .value = "2" };
	struct http_res *res;
	int64_t n;
	char *path;

	snprintf(poison, sizeof(poison), "poison %d %lld", (int)getpid(),
		 (long long)time(NULL));
	create.value = poison;
	snprintf(trigger_insert, sizeof(trigger_insert), "t_poison_%d",
		 (int)getpid());
	snprintf(sql, sizeof(sql),
		 "CREATE TRIGGER %s BEFORE INSERT ON messages FOR EACH ROW "
		 "IF NEW.body = '%s' THEN SIGNAL SQLSTATE '45000' SET "
		 "MESSAGE_TEXT = 'refused by test_limits'; END IF",
		 trigger_insert, poison);
	tdb_schema_exec(sql);

	/* A create that MariaDB keeps refusing. */
	res = http_send("POST", msgs, "{\"body\":\"placeholder\"}");
	cr_assert_eq(res->status, 202);
	http_res_free(res);
	{
		char body[128];

		snprintf(body, sizeof(body), "{\"body\":\"%s\"}", poison);
		res = http_send("POST", msgs, body);
	}
	n = assert_accepted(res, msgs);
	http_res_free(res);
	snprintf(number, sizeof(number), "%lld", (long long)n);
	cr_assert(wait_until(find_dead, &create, PERSIST_MS),
		  "the refused create is not dead-lettered");
	cr_assert_str_eq(create.type, "m");
	cr_assert_str_eq(create.body, poison, "the dead letter lost the body");
	cr_assert(strstr(create.reason, "refused by test_limits"),
		  "reason: %s", create.reason);

	/* A delete-chat whose database step keeps failing. */
	path = http_path("/applications/%s/chats", token);
	res = http_send("POST", path, NULL);
	cr_assert_eq(res->status, 202);
	http_res_free(res);
	free(path);
	cr_assert(wait_status(chat2, 200, PERSIST_MS), "chat 2 not persisted");
	snprintf(id2, sizeof(id2), "%llu",
		 (unsigned long long)chat_row_id(app, 2));
	/* The API deletes the row; the worker, the messages: one of them. */
	path = http_path("%s/messages", chat2);
	res = http_send("POST", path, "{\"body\":\"in chat 2\"}");
	cr_assert_eq(res->status, 202);
	http_res_free(res);
	free(path);
	cr_assert_eq(wait_db_count(PERSIST_MS, 1, "SELECT COUNT(*) FROM messages "
				   "WHERE chat_id = ?", id2, NULL), 1);
	snprintf(trigger_delete, sizeof(trigger_delete), "t_nodelete_%d",
		 (int)getpid());
	snprintf(sql, sizeof(sql),
		 "CREATE TRIGGER %s BEFORE DELETE ON messages FOR EACH ROW "
		 "IF OLD.chat_id = %s THEN SIGNAL SQLSTATE '45000' SET "
		 "MESSAGE_TEXT = 'refused by test_limits'; END IF",
		 trigger_delete, id2);
	tdb_schema_exec(sql);
	res = http_send("DELETE", chat2, NULL);
	cr_assert_eq(res->status, 204, "DELETE %s: %ld", chat2, res->status);
	http_res_free(res);
	cr_assert(wait_until(find_dead, &del, PERSIST_MS),
		  "the failing delete-chat is not dead-lettered (retried "
		  "forever?)");
	cr_assert_str_eq(del.type, "d");
	cr_assert(strstr(del.reason, "refused by test_limits"),
		  "reason: %s", del.reason);
	cr_assert_eq(tdb_int("SELECT COUNT(*) FROM messages WHERE chat_id = ?",
			     id2, NULL), 1);

	/* The worker goes on meanwhile. */
	res = http_send("POST", msgs, "{\"body\":\"after the dead letters\"}");
	n = assert_accepted(res, msgs);
	http_res_free(res);
	path = http_path("%s/%lld", msgs, (long long)n);
	cr_assert(wait_status(path, 200, PERSIST_MS), "%s not persisted", path);
	free(path);

	/* The cause is gone: replay puts both back, and they are done. */
	drop_triggers();
	cr_assert_geq(run_replay("jobs"), 2);
	cr_assert(wait_until(not_dead, &create, 5000),
		  "the create is still dead-lettered after the replay");
	cr_assert(wait_until(not_dead, &del, 5000),
		  "the delete is still dead-lettered after the replay");
	path = http_path("%s/%s", msgs, number);
	cr_assert(wait_status(path, 200, PERSIST_MS),
		  "the replayed create is not persisted");
	res = http_get(path);
	cr_assert_str_eq(http_json_str(res, "body"), poison);
	http_res_free(res);
	free(path);
	cr_assert_eq(wait_db_count(PERSIST_MS, 0, "SELECT COUNT(*) FROM "
				   "messages WHERE chat_id = ?", id2, NULL), 0,
		     "the replayed delete-chat did not delete the messages");
	free(msgs);
	free(chat2);
	free(token);
}

Test(limits, dead_streams_are_capped)
{
	struct chat_config cfg;
	struct chat_redis *r;
	const unsigned shard = 7;
	const char *fields[] = { "t", "x" };
	redisReply *f, *reply;
	struct chat_buf key;
	long long len;
	char id[32];

	chat_config_load(&cfg);
	cfg.dead_max = 100;
	r = chat_redis_new(&cfg);
	f = xcalloc(1, sizeof(*f));
	f->type = REDIS_REPLY_ARRAY;
	f->elements = 2;
	f->element = xcalloc(2, sizeof(*f->element));
	for (int i = 0; i < 2; i++) {
		f->element[i] = xcalloc(1, sizeof(**f->element));
		f->element[i]->type = REDIS_REPLY_STRING;
		f->element[i]->str = (char *)fields[i];
		f->element[i]->len = 1;
	}
	for (int i = 0; i < 500; i++) {
		struct chat_stream_entry e = { .shard = shard, .id = id,
					       .fields = f };

		snprintf(id, sizeof(id), "0-%d", i + 1);
		cr_assert_eq(chat_stream_dead_letter(r, "cap-test", &e,
						     "test_limits"), 0,
			     "dead letter %d: %s", i, r->errstr);
	}
	chat_buf_init(&key);
	chat_job_key(&key, shard, CHAT_STREAM_DEAD);
	reply = chat_redis_cmd(r, "XLEN %s", key.data);
	cr_assert_not_null(reply);
	len = reply->integer;
	freeReplyObject(reply);
	cr_log_info("dead stream after 500 dead letters with a cap of 100: "
		    "%lld entries", len);
	/* MAXLEN ~ trims whole nodes (100 entries by default): near 100. */
	cr_assert_geq(len, 100);
	cr_assert_leq(len, 250, "%lld entries kept", len);
	/* Replaying another stream's records leaves these alone... */
	cr_assert_eq(chat_stream_replay(r, shard, "jobs", 1000), 0);
	/* ...and they are removed here, not replayed into a real stream. */
	reply = chat_redis_cmd(r, "XRANGE %s - +", key.data);
	for (size_t i = 0; reply && i < reply->elements; i++) {
		const char *s = field(reply->element[i]->element[1], "stream");

		if (s && strcmp(s, "cap-test") == 0)
			freeReplyObject(chat_redis_cmd(
				r, "XDEL %s %s", key.data,
				reply->element[i]->element[0]->str));
	}
	freeReplyObject(reply);
	for (int i = 0; i < 2; i++)
		free(f->element[i]);
	free(f->element);
	free(f);
	chat_buf_release(&key);
	chat_redis_free(r);
}

/* ------------------------------------------------------------ hung engine */

#define STOP_S 20
/* Creates and reads must answer within this while the engine hangs. */
#define QUICK_MS 1000.0
/* Searches: CHAT_ES_TIMEOUT_MS (2 s) and the time to get a process. */
#define SEARCH_MS 3500.0
#define MAX_ANSWERS 20000

struct probe {
	double start, ms;
	long status;
	unsigned seq;		/* creates: the word of the body */
};

struct load {
	char kind;		/* 'c' create, 'r' read, 's' search */
	const struct tchat *chat;
	const char *word;
	volatile bool *stop;
	unsigned gap_ms;
	unsigned seq0;
	struct probe *v;
	size_t n;
};

static void *load_loop(void *arg)
{
	struct load *l = arg;
	CURL *curl = curl_easy_init();
	char path[1024], body[128];

	for (unsigned i = 0; !*l->stop && l->n < MAX_ANSWERS; i++) {
		struct probe *p = &l->v[l->n];
		struct answer a;

		p->seq = l->seq0 + i;
		p->start = mono_ms();
		if (l->kind == 'c') {
			snprintf(body, sizeof(body),
				 "{\"body\":\"%s w%u\"}", l->word, p->seq);
			ask(curl, main_port(), "POST", l->chat->messages, body,
			    &a);
		} else if (l->kind == 'r') {
			snprintf(path, sizeof(path), "%s%s", l->chat->messages,
				 i % 2 ? "/1" : "?limit=20");
			ask(curl, main_port(), "GET", path, NULL, &a);
		} else {
			snprintf(path, sizeof(path), "%s/search?q=%s",
				 l->chat->messages, l->word);
			ask(curl, main_port(), "GET", path, NULL, &a);
		}
		p->status = a.status;
		p->ms = a.ms;
		chat_buf_release(&a.body);
		l->n++;
		msleep(l->gap_ms);
	}
	curl_easy_cleanup(curl);
	return NULL;
}

static pid_t stopped_engine;

static void resume_engine(void)
{
	if (stopped_engine > 0) {
		kill(stopped_engine, SIGCONT);
		stopped_engine = 0;
	}
}

/*
 * A child that sends SIGCONT after `s` seconds whatever happens to this
 * process (a crash skips .fini).
 */
static pid_t cont_watchdog(pid_t engine, unsigned s)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		sleep(s);
		kill(engine, SIGCONT);
		_exit(0);
	}
	return pid;
}

static bool in_window(const struct probe *p, double from, double to)
{
	return p->start >= from && p->start + p->ms <= to;
}

/*
 * Start n[0] creators, n[1] readers and n[2] searchers on `chat` (loads
 * and threads in that order), each pausing gap_ms[kind] between requests
 * until *stop.
 */
static void loads_start(struct load *loads, pthread_t *threads,
			const unsigned n[3], const unsigned gap_ms[3],
			const struct tchat *chat, const char *word,
			volatile bool *stop)
{
	static const char kinds[3] = { 'c', 'r', 's' };
	unsigned i = 0;

	for (int k = 0; k < 3; k++)
		for (unsigned j = 0; j < n[k]; j++, i++) {
			struct load *l = &loads[i];

			memset(l, 0, sizeof(*l));
			l->kind = kinds[k];
			l->chat = chat;
			l->word = word;
			l->stop = stop;
			l->gap_ms = gap_ms[k];
			l->seq0 = i * 100000;
			l->v = xcalloc(MAX_ANSWERS, sizeof(*l->v));
			cr_assert_eq(pthread_create(&threads[i], NULL,
						    load_loop, l), 0);
		}
}

/*
 * SIGSTOP `pid` for `s` seconds at most: a watchdog (returned) sends
 * SIGCONT after s + 5 s whatever happens, and *stopped names it for the
 * test's cleanup.  *t_stop is when it stopped.
 */
static pid_t hang(pid_t pid, unsigned s, pid_t *stopped, double *t_stop)
{
	pid_t watchdog = cont_watchdog(pid, s + 5);

	*stopped = pid;
	*t_stop = mono_ms();
	cr_assert_eq(kill(pid, SIGSTOP), 0, "SIGSTOP %d: %s", (int)pid,
		     strerror(errno));
	return watchdog;
}

Test(limits, hung_search_engine_holds_nothing, .fini = resume_engine,
     .timeout = 300)
{
	enum { CREATORS = 2, READERS = 2, SEARCHERS = 6 };
	struct load loads[CREATORS + READERS + SEARCHERS];
	pthread_t threads[CREATORS + READERS + SEARCHERS];
	volatile bool stop = false;
	struct tchat chat;
	char word[32];
	uint64_t first;
	pid_t engine, watchdog;
	double t_stop, t_cont;
	size_t creates = 0, quick_creates = 0, reads = 0, searches = 0,
	       searches_503 = 0, early_creates = 0;
	double worst_create = 0, worst_read = 0, worst_search = 0;
	int64_t rows;
	char app[32], num[32];

	tchat_new(&chat, NULL, "limits hung engine");
	snprintf(word, sizeof(word), "hung%d", (int)getpid());
	{
		char body[64];

		snprintf(body, sizeof(body), "%s first", word);
		first = tchat_post(&chat, body);
	}
	cr_assert_geq(tsearch_wait(&chat, word, &first, 1, 60000), 0,
		      "the first message is not searchable");
	engine = tes_pid();
	cr_assert_gt(engine, 0, "no search engine pid");

	loads_start(loads, threads,
		    (const unsigned[3]){ CREATORS, READERS, SEARCHERS },
		    (const unsigned[3]){ 50, 20, 100 }, &chat, word, &stop);
	msleep(1000);
	watchdog = hang(engine, STOP_S, &stopped_engine, &t_stop);
	/* The worker persists while the engine hangs. */
	msleep(STOP_S * 1000 / 2);
	for (int i = 0; i < CREATORS; i++)
		for (size_t k = 0; k < loads[i].n; k++)
			early_creates += loads[i].v[k].status == 202;
	snprintf(app, sizeof(app), "%llu",
		 (unsigned long long)tapp_id(chat.token));
	snprintf(num, sizeof(num), "%llu", (unsigned long long)chat.number);
	rows = wait_db_count(STOP_S * 1000 / 2 - 1000,
			     (int64_t)early_creates + 1,
			     "SELECT COUNT(*) FROM messages m JOIN chats c ON "
			     "c.id = m.chat_id WHERE c.application_id = ? AND "
			     "c.number = ? AND m.number > 0", app, num, NULL);
	cr_assert_geq(rows, (int64_t)early_creates + 1,
		      "the worker did not persist while the engine hung: %lld "
		      "rows for %zu creates", (long long)rows, early_creates);
	while (mono_ms() < t_stop + STOP_S * 1000.0)
		msleep(100);
	t_cont = mono_ms();
	resume_engine();
	msleep(1000);
	stop = true;
	for (int i = 0; i < CREATORS + READERS + SEARCHERS; i++)
		pthread_join(threads[i], NULL);
	waitpid(watchdog, NULL, 0);

	for (int i = 0; i < CREATORS + READERS + SEARCHERS; i++) {
		struct load *l = &loads[i];

		for (size_t k = 0; k < l->n; k++) {
			const struct probe *p = &l->v[k];

			if (l->kind == 'c' && p->status == 202)
				creates++;
			if (!in_window(p, t_stop, t_cont))
				continue;
			if (l->kind == 'c') {
				cr_assert_eq(p->status, 202, "a create while the "
					     "engine hung: %ld", p->status);
				quick_creates += p->ms < QUICK_MS;
				if (p->ms > worst_create)
					worst_create = p->ms;
			} else if (l->kind == 'r') {
				cr_assert_eq(p->status, 200, "a read while the "
					     "engine hung: %ld", p->status);
				reads++;
				if (p->ms > worst_read)
					worst_read = p->ms;
			} else {
				cr_assert(p->status == 503 || p->status == 200,
					  "a search while the engine hung: %ld",
					  p->status);
				searches++;
				searches_503 += p->status == 503;
				if (p->ms > worst_search)
					worst_search = p->ms;
			}
		}
	}
	cr_log_info("engine stopped %d s: %zu creates (slowest %.0f ms), %zu "
		    "reads (slowest %.0f ms), %zu searches (%zu of them 503, "
		    "slowest %.0f ms)", STOP_S, quick_creates, worst_create,
		    reads, worst_read, searches, searches_503, worst_search);
	cr_assert_gt(quick_creates, 20, "too few creates while the engine hung");
	cr_assert_gt(reads, 20, "too few reads while the engine hung");
	cr_assert_gt(searches_503, 0, "no search answered 503: did the "
		     "engine really hang?");
	cr_assert_lt(worst_create, QUICK_MS, "a create took %.0f ms",
		     worst_create);
	cr_assert_lt(worst_read, QUICK_MS, "a read took %.0f ms", worst_read);
	cr_assert_lt(worst_search, SEARCH_MS, "a search took %.0f ms",
		     worst_search);

	/* Everything created is persisted and, the engine back, searchable. */
	rows = wait_db_count(PERSIST_MS, (int64_t)creates + 1,
			     "SELECT COUNT(*) FROM messages m JOIN chats c ON "
			     "c.id = m.chat_id WHERE c.application_id = ? AND "
			     "c.number = ? AND m.number > 0", app, num, NULL);
	cr_assert_eq(rows, (int64_t)creates + 1, "%lld rows for %zu creates",
		     (long long)rows, creates + 1);
	{
		uint64_t a = tapp_id(chat.token);
		uint64_t until = now_ms() + 120000;
		long docs;

		while ((docs = tes_count(NULL, a, chat.number)) !=
			       (long)creates + 1 &&
		       now_ms() < until)
			msleep(500);
		cr_assert_eq(docs, (long)creates + 1, "%ld documents indexed "
			     "for %zu messages", docs, creates + 1);
	}
	/* And one of the creates of the stop found by its own word. */
	for (size_t k = loads[0].n; k-- > 0;) {
		const struct probe *p = &loads[0].v[k];
		char w[64];
		uint64_t got[2];

		if (!in_window(p, t_stop, t_cont) || p->status != 202)
			continue;
		snprintf(w, sizeof(w), "w%u", p->seq);
		cr_assert_eq(tsearch_q(&chat, w, got, 2), 1,
			     "the message \"%s %s\" is not found", word, w);
		break;
	}
	for (int i = 0; i < CREATORS + READERS + SEARCHERS; i++)
		free(loads[i].v);
	tchat_free(&chat);
}

/* ------------------------------------------------------------ hung Redis */

#define REDIS_STOP_S 6

static pid_t stopped_redis;

static void resume_redis(void)
{
	if (stopped_redis > 0) {
		kill(stopped_redis, SIGCONT);
		stopped_redis = 0;
	}
}

/*
 * A Redis that takes connections and answers nothing (a hung server):
 * each process waits out CHAT_TIMEOUT_MS for it once, then holds it as
 * silent (lib/rconn.c), so the reads, which need MariaDB only, are
 * served in time instead of waiting behind creates that each wait the
 * timeout.
 */
Test(limits, hung_redis_leaves_reads_served, .fini = resume_redis,
     .timeout = 300)
{
	/* More creators than a program's processes (CHAT_FCGI_PROCS, 4). */
	enum { CREATORS = 6, READERS = 4 };
	struct load loads[CREATORS + READERS];
	pthread_t threads[CREATORS + READERS];
	volatile bool stop = false;
	struct chat_config cfg;
	struct tchat chat;
	char *pidfile = var_path("run/redis.pid");
	pid_t redis, watchdog;
	double t_stop, t_settled, t_cont, t_back;
	size_t creates = 0, reads = 0, refused = 0, back = 0;
	double worst_read = 0, worst_refusal = 0;
	char app[32], num[32];
	struct chat_buf sql;
	int64_t rows;

	chat_config_load(&cfg);
	redis = pidfile_pid(pidfile);
	cr_assert_gt(redis, 0, "no pid in %s", pidfile);
	tchat_new(&chat, NULL, "limits hung redis");
	tchat_post(&chat, "hung redis first");
	loads_start(loads, threads,
		    (const unsigned[3]){ CREATORS, READERS, 0 },
		    (const unsigned[3]){ 20, 10, 0 }, &chat, "hungredis",
		    &stop);
	msleep(1000);
	watchdog = hang(redis, REDIS_STOP_S, &stopped_redis, &t_stop);
	msleep(REDIS_STOP_S * 1000);
	t_cont = mono_ms();
	resume_redis();
	msleep(3000);
	stop = true;
	for (int i = 0; i < CREATORS + READERS; i++)
		pthread_join(threads[i], NULL);
	waitpid(watchdog, NULL, 0);

	/* Past the first wait of each process, and a second of margin. */
	t_settled = t_stop + cfg.timeout_ms + 1000;
	/* Past the hold and the probe after it. */
	t_back = t_cont + CHAT_RCONN_HOLD_MS + 1000;
	for (int i = 0; i < CREATORS + READERS; i++) {
		const struct load *l = &loads[i];

		for (size_t k = 0; k < l->n; k++) {
			const struct probe *p = &l->v[k];

			creates += l->kind == 'c' && p->status == 202;
			if (l->kind == 'c' && p->start >= t_back) {
				cr_assert_eq(p->status, 202, "a create after "
					     "Redis ran again: %ld", p->status);
				back++;
			}
			if (!in_window(p, t_settled, t_cont))
				continue;
			if (l->kind == 'r') {
				cr_assert_eq(p->status, 200, "a read while "
					     "Redis hung: %ld", p->status);
				reads++;
				worst_read = p->ms > worst_read ? p->ms :
								  worst_read;
			} else {
				cr_assert(p->status == 503 || p->status == 202,
					  "a create while Redis hung: %ld",
					  p->status);
				refused += p->status == 503;
				worst_refusal = p->ms > worst_refusal ?
							p->ms : worst_refusal;
			}
		}
	}
	cr_log_info("Redis stopped %d s: after each process's first wait, "
		    "%zu reads (slowest %.0f ms), %zu creates answered 503 "
		    "(slowest %.0f ms); %zu creates answered 202 once it ran "
		    "again", REDIS_STOP_S, reads, worst_read, refused,
		    worst_refusal, back);
	cr_assert_gt(reads, 20, "too few reads while Redis hung");
	cr_assert_gt(refused, 0, "no create answered 503: did Redis hang?");
	cr_assert_lt(worst_read, QUICK_MS, "a read took %.0f ms", worst_read);
	cr_assert_lt(worst_refusal, QUICK_MS, "a create took %.0f ms to "
		     "answer 503", worst_refusal);
	cr_assert_gt(back, 0, "no create after Redis ran again");

	/*
	 * Every create answered 202 is persisted, found by its body.  (A
	 * create answered 503 after its timeout may be persisted too: Redis
	 * runs it when it runs again, as the contract allows.)
	 */
	snprintf(app, sizeof(app), "%llu",
		 (unsigned long long)tapp_id(chat.token));
	snprintf(num, sizeof(num), "%llu", (unsigned long long)chat.number);
	chat_buf_init(&sql);
	chat_buf_adds(&sql, "SELECT COUNT(*) FROM messages m JOIN chats c ON "
		      "c.id = m.chat_id WHERE c.application_id = ? AND "
		      "c.number = ? AND m.body IN ('-'");
	for (int i = 0; i < CREATORS; i++)
		for (size_t k = 0; k < loads[i].n; k++)
			if (loads[i].v[k].status == 202)
				chat_buf_addf(&sql, ",'hungredis w%u'",
					      loads[i].v[k].seq);
	chat_buf_addch(&sql, ')');
	rows = wait_db_count(PERSIST_MS, (int64_t)creates, sql.data, app, num,
			     NULL);
	cr_assert_eq(rows, (int64_t)creates, "%lld of the %zu creates "
		     "answered 202 are persisted", (long long)rows, creates);
	chat_buf_release(&sql);
	for (int i = 0; i < CREATORS + READERS; i++)
		free(loads[i].v);
	tchat_free(&chat);
	free(pidfile);
}
