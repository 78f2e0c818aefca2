/*
 * client.c - HTTP, MariaDB and Redis helpers of the integration tests
 * (see client.h).  Failures of the environment fail the running test.
 */
#include "client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include <criterion/criterion.h>
#include <criterion/options.h>
#include <curl/curl.h>
#include <mysql.h>

#include "buf.h"
#include "config.h"
#include "redis.h"
#include "xalloc.h"

#define RETRY_429_MS 60000

static CURL *curl;
static char base_url[64];
static MYSQL *mysql;
static redisContext *redis;

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static void http_init(void)
{
	const char *port = getenv("CHAT_HTTP_PORT");

	if (curl)
		return;
	if (!port || !*port)
		cr_assert_fail("CHAT_HTTP_PORT is not set: run the integration "
			       "tests through tests/harness/run-tests.sh");
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%s", port);
	srand((unsigned)getpid());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	cr_assert_not_null(curl, "curl_easy_init failed");
}

/* Header values are kept with surrounding whitespace removed. */
static char *header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	const char *v, *end = line + len;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	v = line + n + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
			   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return xstrndup(v, (size_t)(end - v));
}

static void set_header(char **slot, char *value)
{
	if (!value)
		return;
	free(*slot);
	*slot = value;
}

static void forget_headers(struct http_res *res)
{
	free(res->content_type);
	free(res->location);
	free(res->allow);
	free(res->link);
	free(res->retry_after);
	free(res->cache_control);
	free(res->etag);
	res->content_type = res->location = res->allow = res->link =
		res->retry_after = res->cache_control = res->etag = NULL;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct http_res *res = arg;
	size_t len = size * n;

	/* A new status line (after a 100 Continue) starts over. */
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
		forget_headers(res);
	set_header(&res->content_type, header_value(line, len, "Content-Type"));
	set_header(&res->location, header_value(line, len, "Location"));
	set_header(&res->allow, header_value(line, len, "Allow"));
	set_header(&res->link, header_value(line, len, "Link"));
	set_header(&res->retry_after, header_value(line, len, "Retry-After"));
	set_header(&res->cache_control,
		   header_value(line, len, "Cache-Control"));
	set_header(&res->etag, header_value(line, len, "ETag"));
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	chat_buf_add(arg, data, size * n);
	return size * n;
}

static struct json_object *parse_body(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj;

	if (len == 0 || len > (size_t)INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	obj = json_tokener_parse_ex(tok, s, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != len) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/*
 * Every token the tests see goes into the file named by CHAT_TEST_TOKENS
 * (run-tests.sh sets it), one a line, so that the run can check afterwards
 * that no log of the stack holds any of them.  Criterion runs tests in
 * parallel processes: each line is one write(2) to an O_APPEND file.
 */
void tokens_record(const char *token, size_t len)
{
	static char recent[8][65];
	static unsigned next;
	const char *file = getenv("CHAT_TEST_TOKENS");
	char line[66];
	int fd;

	if (!file || !*file || len < 22 || len > 64 ||
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789_-") < len)
		return;
	for (size_t i = 0; i < 8; i++)
		if (strlen(recent[i]) == len && memcmp(recent[i], token, len) == 0)
			return;
	memcpy(recent[next % 8], token, len);
	recent[next++ % 8][len] = '\0';
	memcpy(line, token, len);
	line[len] = '\n';
	fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "cannot open %s (CHAT_TEST_TOKENS)", file);
	cr_assert_eq(write(fd, line, len + 1), (ssize_t)len + 1,
		     "cannot write to %s", file);
	close(fd);
}

/* The tokens of a request's path (when it names an application that
 * exists) and of its answer. */
static void record_tokens(const char *path, const struct http_res *res)
{
	static const char prefix[] = "/applications/";
	const char *token = http_json_str(res, "token");

	if (token)
		tokens_record(token, strlen(token));
	if (res->status != 404 &&
	    strncmp(path, prefix, sizeof(prefix) - 1) == 0) {
		const char *seg = path + sizeof(prefix) - 1;

		tokens_record(seg, strcspn(seg, "/?#"));
	}
}

struct http_res *http_do_once(const char *method, const char *path,
			      const char *body, size_t len,
			      const char *const *headers)
{
	struct http_res *res = xcalloc(1, sizeof(*res));
	struct curl_slist *hl = NULL;
	struct chat_buf b, url;
	CURLcode rc;

	http_init();
	chat_buf_init(&b);
	chat_buf_init(&url);
	chat_buf_addf(&url, "%s%s", base_url, path);
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url.data);
	/* Send the path exactly as given, "/../" and all. */
	curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, res);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	/* No "Expect: 100-continue" pause, and no default Content-Type. */
	hl = curl_slist_append(hl, "Expect:");
	hl = curl_slist_append(hl, "Content-Type:");
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);

	if (strcmp(method, "GET") == 0 && !body) {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else {
		if (body || strcmp(method, "POST") == 0 ||
		    strcmp(method, "PUT") == 0 ||
		    strcmp(method, "PATCH") == 0) {
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
					 body ? body : "");
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(body ? len : 0));
		}
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	}

	rc = curl_easy_perform(curl);
	curl_slist_free_all(hl);
	if (rc == CURLE_COULDNT_CONNECT)
		cr_assert_fail("%s %.200s: nothing listens on %s (is the stack "
			       "up?)", method, path, base_url);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		cr_assert_fail("%s %.200s: no answer within 30 s", method, path);
	if (rc != CURLE_OK)
		cr_assert_fail("%s %.200s: %s", method, path,
			       curl_easy_strerror(rc));
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
	res->what = http_path("%s %.200s", method, path);
	res->body = chat_buf_detach(&b, &res->len);
	res->json = parse_body(res->body, res->len);
	record_tokens(path, res);
	chat_buf_release(&url);
	return res;
}

struct http_res *http_do_h(const char *method, const char *path,
			   const char *body, size_t len,
			   const char *const *headers)
{
	uint64_t deadline = now_ms() + RETRY_429_MS;

	for (;;) {
		struct http_res *res = http_do_once(method, path, body, len,
						    headers);
		unsigned wait = 1000;

		if (res->status != 429 || now_ms() >= deadline)
			return res;
		if (res->retry_after) {
			unsigned s = (unsigned)atoi(res->retry_after);

			if (s > 0 && s < 60)
				wait = s * 1000;
		}
		http_res_free(res);
		/* Spread the parallel tests' retries a little. */
		sleep_ms(wait + (unsigned)(rand() % 250));
	}
}

struct http_res *http_do(const char *method, const char *path,
			 const char *body, size_t len)
{
	return http_do_h(method, path, body, len, NULL);
}

struct http_res *http_send(const char *method, const char *path,
			   const char *body)
{
	return http_do(method, path, body, body ? strlen(body) : 0);
}

struct http_res *http_get(const char *path)
{
	return http_do("GET", path, NULL, 0);
}

char *http_path(const char *fmt, ...)
{
	struct chat_buf b;
	va_list ap;

	chat_buf_init(&b);
	va_start(ap, fmt);
	chat_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return chat_buf_detach(&b, NULL);
}

void http_res_free(struct http_res *res)
{
	if (!res)
		return;
	forget_headers(res);
	free(res->what);
	json_object_put(res->json);
	free(res->body);
	free(res);
}

const char *json_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!obj || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool json_int(struct json_object *obj, const char *key, int64_t *out)
{
	struct json_object *v;

	if (!obj || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

const char *http_json_str(const struct http_res *res, const char *key)
{
	return json_str(res->json, key);
}

bool http_json_int(const struct http_res *res, const char *key, int64_t *out)
{
	return json_int(res->json, key, out);
}

bool json_has_key_deep(struct json_object *v, const char *key)
{
	if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);

		for (size_t i = 0; i < n; i++)
			if (json_has_key_deep(json_object_array_get_idx(v, i),
					      key))
				return true;
	} else if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, child) {
			if (strcmp(k, key) == 0 ||
			    json_has_key_deep(child, key))
				return true;
		}
	}
	return false;
}

void http_assert_contract(const struct http_res *res)
{
	if (res->status == 204 || res->status == 304)
		cr_assert_eq(res->len, 0, "%s: a %ld with a body: %.300s",
			     res->what, res->status, res->body);
	/* The contract's one exception (besides /api-docs). */
	if (res->status == 204)
		return;
	cr_assert_not_null(res->content_type,
			   "%s: %ld without Content-Type; body: %.300s",
			   res->what, res->status, res->body);
	cr_assert_str_eq(res->content_type, "application/json; charset=utf-8",
			 "%s: %ld has Content-Type '%s'", res->what,
			 res->status, res->content_type);
	if (res->status == 304)
		return;
	cr_assert_not_null(res->json, "%s: %ld body is not JSON: %.300s",
			   res->what, res->status, res->body);
	cr_assert(!json_has_key_deep(res->json, "id"),
		  "%s: the body holds an \"id\": %.300s", res->what,
		  res->body);
}

void http_assert_error(const struct http_res *res, long status,
		       const char *code)
{
	const char *msg;

	cr_assert_eq(res->status, status, "%s: expected %ld, got %ld: %.300s",
		     res->what, status, res->status, res->body);
	http_assert_contract(res);
	cr_assert(json_object_is_type(res->json, json_type_object),
		  "%s: error body is not an object: %.300s", res->what,
		  res->body);
	cr_assert_eq(json_object_object_length(res->json), 2,
		     "%s: error body has other keys than error and message: "
		     "%.300s", res->what, res->body);
	cr_assert_str_eq(http_json_str(res, "error") ? http_json_str(res, "error")
						      : "(none)",
			 code, "%s: error code: %.300s", res->what, res->body);
	msg = http_json_str(res, "message");
	cr_assert(msg && *msg, "%s: error message missing or empty: %.300s",
		  res->what, res->body);
}

bool is_timestamp(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm = { 0 }, back;
	time_t t;

	if (!s || strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9')
				    : s[i] != shape[i])
			return false;
	}
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	back = tm;
	t = timegm(&tm);
	/* timegm normalises 31 February; a real date survives unchanged. */
	return t != (time_t)-1 && tm.tm_year == back.tm_year &&
	       tm.tm_mon == back.tm_mon && tm.tm_mday == back.tm_mday &&
	       tm.tm_hour == back.tm_hour && tm.tm_min == back.tm_min &&
	       tm.tm_sec == back.tm_sec;
}

bool is_token(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 22 || n > 64)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789_-") == n;
}

char *app_create(const char *name)
{
	struct json_object *obj = json_object_new_object();
	struct http_res *res;
	const char *token;
	char *copy;

	json_object_object_add(obj, "name", json_object_new_string(name));
	res = http_send("POST", "/applications",
			json_object_to_json_string_ext(obj,
						       JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
	cr_assert_eq(res->status, 201, "POST /applications: %ld %.300s",
		     res->status, res->body);
	http_assert_contract(res);
	token = http_json_str(res, "token");
	cr_assert(is_token(token), "bad token in %.300s", res->body);
	copy = xstrdup(token);
	http_res_free(res);
	return copy;
}

/* MariaDB ------------------------------------------------------------ */

static void db_init(void)
{
	const char *port = env_or("CHAT_MYSQL_PORT", "3307");
	unsigned timeout = 5;

	if (mysql)
		return;
	mysql = mysql_init(NULL);
	cr_assert_not_null(mysql, "mysql_init failed");
	mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(mysql, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	if (!mysql_real_connect(mysql, env_or("CHAT_MYSQL_HOST", "127.0.0.1"),
				env_or("CHAT_MYSQL_USER", "chat"),
				env_or("CHAT_MYSQL_PASSWORD", "chat"),
				env_or("CHAT_MYSQL_DATABASE", "chat"),
				(unsigned)atoi(port),
				getenv("CHAT_MYSQL_SOCKET"), 0))
		cr_assert_fail("MariaDB on port %s: %s", port,
			       mysql_error(mysql));
}

void tdb_schema_exec(const char *sql)
{
	static MYSQL *schema;
	const char *port = env_or("CHAT_MYSQL_PORT", "3307");
	unsigned timeout = 5;

	if (!schema) {
		schema = mysql_init(NULL);
		cr_assert_not_null(schema, "mysql_init failed");
		mysql_options(schema, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
		if (!mysql_real_connect(schema,
					env_or("CHAT_MYSQL_HOST", "127.0.0.1"),
					env_or("CHAT_MIGRATE_USER", "chat_migrate"),
					env_or("CHAT_MIGRATE_PASSWORD",
					       "chat_migrate"),
					env_or("CHAT_MYSQL_DATABASE", "chat"),
					(unsigned)atoi(port),
					getenv("CHAT_MYSQL_SOCKET"), 0))
			cr_assert_fail("MariaDB on port %s as the migrations' "
				       "account: %s", port, mysql_error(schema));
	}
	if (mysql_query(schema, sql))
		cr_assert_fail("%s: %s", sql, mysql_error(schema));
}

/* Prepare and execute `sql` with the NULL-terminated string arguments. */
static MYSQL_STMT *db_run(const char *sql, va_list ap)
{
	MYSQL_BIND params[16];
	unsigned long lens[16];
	MYSQL_STMT *st;
	unsigned n = 0;
	const char *arg;

	db_init();
	memset(params, 0, sizeof(params));
	while ((arg = va_arg(ap, const char *)) != NULL) {
		cr_assert_lt(n, 16, "too many SQL arguments");
		lens[n] = strlen(arg);
		params[n].buffer_type = MYSQL_TYPE_STRING;
		params[n].buffer = (void *)arg;
		params[n].buffer_length = lens[n];
		params[n].length = &lens[n];
		n++;
	}
	st = mysql_stmt_init(mysql);
	cr_assert_not_null(st, "mysql_stmt_init: %s", mysql_error(mysql));
	if (mysql_stmt_prepare(st, sql, strlen(sql)) ||
	    mysql_stmt_param_count(st) != n ||
	    (n && mysql_stmt_bind_param(st, params)) ||
	    mysql_stmt_execute(st))
		cr_assert_fail("%s: %s (%u arguments)", sql,
			       mysql_stmt_error(st), n);
	return st;
}

/* The first column of the first row as a heap string; *found says if any. */
static char *db_first(MYSQL_STMT *st, bool *found)
{
	MYSQL_RES *meta = mysql_stmt_result_metadata(st);
	unsigned nf = meta ? mysql_num_fields(meta) : 0;
	MYSQL_BIND *cols = NULL;
	unsigned long *lens = NULL, len;
	my_bool is_null = 0;
	char *out = NULL;
	int rc;

	*found = false;
	cr_assert_gt(nf, 0, "the statement returns no columns");
	/* No buffers: the fetch only measures, fetch_column copies. */
	cols = xcalloc(nf, sizeof(*cols));
	lens = xcalloc(nf, sizeof(*lens));
	for (unsigned i = 0; i < nf; i++) {
		cols[i].buffer_type = MYSQL_TYPE_STRING;
		cols[i].length = &lens[i];
	}
	cols[0].is_null = &is_null;
	if (mysql_stmt_bind_result(st, cols) || mysql_stmt_store_result(st))
		cr_assert_fail("fetch: %s", mysql_stmt_error(st));
	rc = mysql_stmt_fetch(st);
	if (rc == 0 || rc == MYSQL_DATA_TRUNCATED) {
		*found = true;
		len = lens[0];
		if (!is_null) {
			MYSQL_BIND col;

			out = xmalloc(len + 1);
			memset(&col, 0, sizeof(col));
			col.buffer_type = MYSQL_TYPE_STRING;
			col.buffer = out;
			col.buffer_length = len + 1;
			if (len && mysql_stmt_fetch_column(st, &col, 0, 0))
				cr_assert_fail("fetch column: %s",
					       mysql_stmt_error(st));
			out[len] = '\0';
		}
	} else if (rc != MYSQL_NO_DATA) {
		cr_assert_fail("fetch: %s", mysql_stmt_error(st));
	}
	free(cols);
	free(lens);
	mysql_free_result(meta);
	return out;
}

char *tdb_str(const char *sql, ...)
{
	MYSQL_STMT *st;
	va_list ap;
	bool found;
	char *s;

	va_start(ap, sql);
	st = db_run(sql, ap);
	va_end(ap);
	s = db_first(st, &found);
	mysql_stmt_close(st);
	return s;
}

int64_t tdb_int(const char *sql, ...)
{
	MYSQL_STMT *st;
	va_list ap;
	bool found;
	char *s;
	int64_t v;

	va_start(ap, sql);
	st = db_run(sql, ap);
	va_end(ap);
	s = db_first(st, &found);
	mysql_stmt_close(st);
	if (!found)
		return -1;
	v = s ? strtoll(s, NULL, 10) : 0;
	free(s);
	return v;
}

int64_t tdb_exec(const char *sql, ...)
{
	MYSQL_STMT *st;
	va_list ap;
	int64_t n;

	va_start(ap, sql);
	st = db_run(sql, ap);
	va_end(ap);
	n = (int64_t)mysql_stmt_affected_rows(st);
	mysql_stmt_close(st);
	return n;
}

/* Redis -------------------------------------------------------------- */

/* On a Redis Cluster (CHAT_REDIS_NODES) through the library's router. */
static struct chat_config redis_cfg;
static struct chat_redis *cluster;

redisContext *tredis_connect(void)
{
	return tredis_connect_to(env_or("CHAT_REDIS_HOST", "127.0.0.1"),
				 atoi(env_or("CHAT_REDIS_PORT", "6380")));
}

redisContext *tredis_connect_to(const char *host, int port)
{
	const char *user = getenv("CHAT_REDIS_USER");
	const char *password = getenv("CHAT_REDIS_PASSWORD");
	struct timeval tv = { .tv_sec = 5 };
	redisContext *c;

	c = redisConnectWithTimeout(host, port, tv);
	if (!c || c->err)
		cr_assert_fail("Redis on port %d: %s", port,
			       c ? c->errstr : "out of memory");
	redisSetTimeout(c, tv);
	if (password && *password) {
		const char *argv[3] = { "AUTH" };
		int argc = 1;
		redisReply *r;

		if (user && *user)
			argv[argc++] = user;
		argv[argc++] = password;
		r = redisCommandArgv(c, argc, argv, NULL);
		cr_assert(r && r->type == REDIS_REPLY_STATUS,
			  "Redis on port %d: AUTH (CHAT_REDIS_USER, "
			  "CHAT_REDIS_PASSWORD) failed: %s", port,
			  r ? r->str : c->errstr);
		freeReplyObject(r);
	}
	return c;
}

/*
 * On a cluster stack through chat_redis, which logs in to every node
 * with CHAT_REDIS_PASSWORD (and CHAT_REDIS_USER) as the programs do.
 */
static void redis_init(void)
{
	if (redis || cluster)
		return;
	if (getenv("CHAT_REDIS_NODES") && *getenv("CHAT_REDIS_NODES")) {
		chat_config_load(&redis_cfg);
		redis_cfg.timeout_ms = 5000;
		cluster = chat_redis_new(&redis_cfg);
		return;
	}
	redis = tredis_connect();
}

redisReply *tredis(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	redis_init();
	va_start(ap, fmt);
	r = cluster ? chat_redis_vcmd(cluster, fmt, ap) :
		      redisvCommand(redis, fmt, ap);
	va_end(ap);
	if (!r)
		cr_assert_fail("Redis %s: %s", fmt,
			       cluster ? cluster->errstr : redis->errstr);
	return r;
}

redisReply *tredis_argv(int argc, const char **argv, const size_t *lens)
{
	redisReply *r;

	redis_init();
	r = cluster ? chat_redis_argv(cluster, argc, argv, lens) :
		      redisCommandArgv(redis, argc, argv, lens);
	if (!r)
		cr_assert_fail("Redis %s: %s", argv[0],
			       cluster ? cluster->errstr : redis->errstr);
	return r;
}

bool tredis_is_cluster(void)
{
	redis_init();
	return cluster != NULL;
}

long long tredis_del(const char *key)
{
	redisReply *r = tredis("DEL %s", key);
	long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

	freeReplyObject(r);
	return n;
}

bool tredis_exists(const char *key)
{
	redisReply *r = tredis("EXISTS %s", key);
	bool yes = r->type == REDIS_REPLY_INTEGER && r->integer > 0;

	freeReplyObject(r);
	return yes;
}

bool wait_until(bool (*cond)(void *arg), void *arg, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (now_ms() >= deadline)
			return false;
		sleep_ms(20);
	}
}

int trun_one_at_a_time(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	int rc = 0;

	if (criterion_handle_args(argc, argv, true)) {
		criterion_options.jobs = 1;
		rc = !criterion_run_all_tests(tests);
	}
	criterion_finalize(tests);
	return rc;
}
