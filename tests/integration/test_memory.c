/*
 * test_memory.c - memory is bounded by the service, not by the client
 * (README "Memory bounds"; ../shared/API.md, "Limits protect the
 * service"): a barrage of valid but expensive requests, after which every
 * FastCGI process's peak RSS (VmHWM) is under 32 MB, every worker's
 * under 128 MB and every live relay's under 64 MB, and nothing was lost.  The peaks are reset when the test
 * starts (/proc/PID/clear_refs), so they are this barrage's, whatever
 * the tests before it made the processes do.
 *
 *  - wide JSON ({"a":[{},{},...]}, ~390 KiB), deeply nested JSON and
 *    objects of thousands of members on every route that reads a body:
 *    unknown fields, checked by a scan and ignored (no tree is built), so
 *    the answer is the route's for a body without its field; a body over
 *    the limit: 413;
 *  - messages of 65,535 bytes that are U+0001 but for one word (~384 KiB
 *    each as JSON) listed and searched at limit=1000: every page at most
 *    1 MiB of JSON, a Link while more remain, and following the Links
 *    yields every message exactly once;
 *  - a backlog of 65,535-byte messages in 16 applications (every shard
 *    of the queue), ~170 MB of jobs queued while the workers are stopped
 *    (SIGSTOP), then taken up at once: all persisted.
 *
 * Under AddressSanitizer (the suite's default build) a process's RSS also
 * holds the shadow memory, the redzones and the quarantine of freed
 * blocks (ASAN_OPTIONS quarantine_size_mb, 256 MB by default), none of
 * which the plain build has.  The ceilings are then 5 x the plain ones
 * plus the process's quarantine size (the worker, 85 MB at most in a
 * plain build, peaked at 515-711 MB under ASan over five full runs), and
 * the test says so in its log; the plain ceilings hold for a plain build
 * (SANITIZE= make test).
 */
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "support_faults.h"
#include "support_search.h"
#include "xalloc.h"

#define KIB 1024
#define MIB (1024 * 1024)
/* ../shared/API.md: "at most about 1 MiB of JSON per page". */
#define PAGE_MAX MIB
/* The largest request nginx and the programs take (400 KiB). */
#define BODY_LIMIT (400 * KIB)
#define BODY_MAX_BYTES 65535
#define FCGI_MAX_KB (32 * 1000)
#define WORKER_MAX_KB (128 * 1000)
/*
 * A live relay reads at most 512 events (lib/live.h), each at most one
 * body of 65,535 bytes as it is, and writes one event's JSON at a time.
 */
#define RELAY_MAX_KB (64 * 1000)
#define PERSIST_MS 120000
#define SEARCH_MS 30000

/* Large messages listed and searched; the backlog. */
#define LARGE 12
#define BACKLOG_APPS 16
#define BACKLOG_EACH 160

/* Signal every worker of run/worker.*.pid (SIGCONT from the fini too). */
static void signal_workers(int sig)
{
	const char *var = getenv("CHAT_VAR");
	char pattern[4096];
	glob_t g;

	if (!var)
		return;
	snprintf(pattern, sizeof(pattern), "%s/run/worker.*.pid", var);
	if (glob(pattern, 0, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		pid_t pid = pidfile_pid(g.gl_pathv[i]);

		if (pid_is(pid, "jobs/worker"))
			kill(pid, sig);
	}
	globfree(&g);
}

static void resume_workers(void)
{
	signal_workers(SIGCONT);
}

TestSuite(memory, .timeout = 900, .fini = resume_workers);

/* ------------------------------------------------------------ bodies */

/* {"a":[{},{},...]} of about `bytes`. */
static char *wide_json(size_t bytes)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, "{\"a\":[{}");
	while (b.len + 5 < bytes)
		chat_buf_adds(&b, ",{}");
	chat_buf_adds(&b, "]}");
	return chat_buf_detach(&b, NULL);
}

/* {"a":[[[...]]]} of about `bytes`: balanced, valid, deep. */
static char *deep_json(size_t bytes)
{
	size_t depth = (bytes - 8) / 2;
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, "{\"a\":");
	for (size_t i = 0; i < depth; i++)
		chat_buf_addch(&b, '[');
	for (size_t i = 0; i < depth; i++)
		chat_buf_addch(&b, ']');
	chat_buf_adds(&b, "}");
	return chat_buf_detach(&b, NULL);
}

/* {"m0":0,"m1":0,...} of about `bytes`: one flat object, many members. */
static char *many_members(size_t bytes)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, "{\"m0\":0");
	for (unsigned i = 1; b.len + 16 < bytes; i++)
		chat_buf_addf(&b, ",\"m%u\":0", i);
	chat_buf_adds(&b, "}");
	return chat_buf_detach(&b, NULL);
}

/* {"body":"memword \u0001\u0001..."}: a 65,535-byte body, 6 bytes a byte. */
static char *escape_heavy(void)
{
	static const char word[] = "memword ";
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, "{\"body\":\"");
	chat_buf_adds(&b, word);
	for (size_t i = strlen(word); i < BODY_MAX_BYTES; i++)
		chat_buf_adds(&b, "\\u0001");
	chat_buf_adds(&b, "\"}");
	return chat_buf_detach(&b, NULL);
}

/* {"body":"xxx..."}: a 65,535-byte plain body. */
static char *plain_max(void)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, "{\"body\":\"");
	for (size_t i = 0; i < BODY_MAX_BYTES; i++)
		chat_buf_addch(&b, 'x');
	chat_buf_adds(&b, "\"}");
	return chat_buf_detach(&b, NULL);
}

/* --------------------------------------------------------- the stack */

/* POST path with body; assert a 202 and return its number. */
static int64_t post_create(const char *path, const char *body, size_t len)
{
	struct http_res *res = http_do("POST", path, body, len);
	int64_t n = assert_accepted(res, path);

	http_res_free(res);
	return n;
}

/* A new application with one persisted chat; *chats is its messages path. */
static char *app_with_chat(const char *name, char **token)
{
	char *path, *chat, *messages;
	int64_t n;

	*token = app_create(name);
	path = http_path("/applications/%s/chats", *token);
	n = post_create(path, NULL, 0);
	chat = http_path("%s/%lld", path, (long long)n);
	cr_assert(wait_status(chat, 200, PERSIST_MS), "%s never persisted",
		  chat);
	messages = http_path("%s/messages", chat);
	free(chat);
	free(path);
	return messages;
}

/* ------------------------------------------------------- the barrage */

struct route {
	const char *method;
	char *path;
	long status;	/* for a body of unknown fields only */
};

static void expect(const char *method, const char *path, const char *body,
		   size_t len, long status, const char *code, double *slowest)
{
	uint64_t start = now_ms();
	struct http_res *res = http_do(method, path, body, len);
	double ms = (double)(now_ms() - start);

	if (ms > *slowest)
		*slowest = ms;
	if (code)
		http_assert_error(res, status, code);
	else
		cr_assert_eq(res->status, status, "%s %s: %ld %.200s", method,
			     path, res->status, res->body);
	http_res_free(res);
}

/* Every route that reads a body, with wide, deep and many-member JSON. */
static void barrage(const char *token, const char *messages, int64_t msg)
{
	char *wide = wide_json(BODY_LIMIT - 10 * KIB);
	char *deep = deep_json(BODY_LIMIT - 10 * KIB);
	char *members = many_members(BODY_LIMIT - 10 * KIB);
	char *over = wide_json(BODY_LIMIT + 2 * KIB);
	const char *bodies[] = { wide, deep, members };
	struct route routes[] = {
		{ "POST", http_path("/applications"), 422 },
		{ "PATCH", http_path("/applications/%s", token), 200 },
		{ "PUT", http_path("/applications/%s", token), 422 },
		{ "POST", http_path("/applications/%s/chats", token), 202 },
		{ "POST", http_path("%s", messages), 422 },
		{ "PATCH", http_path("%s/%lld", messages, (long long)msg), 200 },
		{ "PUT", http_path("%s/%lld", messages, (long long)msg), 422 },
	};
	size_t nroutes = sizeof(routes) / sizeof(routes[0]);
	double slowest = 0;

	/* Rounds enough for every process of a program to get some. */
	for (int round = 0; round < 4; round++) {
		for (size_t r = 0; r < nroutes; r++) {
			for (size_t i = 0; i < 3; i++)
				expect(routes[r].method, routes[r].path,
				       bodies[i], strlen(bodies[i]),
				       routes[r].status,
				       routes[r].status == 422 ?
					       "validation_failed" : NULL,
				       &slowest);
			expect(routes[r].method, routes[r].path, over,
			       strlen(over), 413, "payload_too_large",
			       &slowest);
		}
	}
	fprintf(stderr, "test_memory: barrage of %zu requests of ~390 KiB, "
		"slowest answer %.0f ms\n", nroutes * 4 * 4, slowest);
	for (size_t r = 0; r < nroutes; r++)
		free(routes[r].path);
	free(wide);
	free(deep);
	free(members);
	free(over);
}

/* ------------------------------------------------------------- pages */

/* The path of a Link header's rel="next" (caller frees), or NULL. */
static char *next_link(const struct http_res *res)
{
	const char *l = res->link, *end;

	if (!l)
		return NULL;
	end = strchr(l, '>');
	cr_assert(l[0] == '<' && end && strstr(end, "rel=\"next\""),
		  "Link is not <path>; rel=\"next\": %s", l);
	return xstrndup(l + 1, (size_t)(end - l - 1));
}

/*
 * Follow the pages from `first`; assert each is at most PAGE_MAX bytes
 * (unless it holds one message), carries a Link exactly while numbers are
 * still missing, and that they hold `n` distinct numbers 1..n in all.
 * Returns how many pages there were.
 */
static unsigned walk_pages(const char *first, int64_t n, bool ascending)
{
	bool *seen = xcalloc((size_t)n + 1, sizeof(*seen));
	char *path = xstrdup(first);
	int64_t total = 0, prev = 0;
	unsigned pages = 0;

	while (path) {
		struct http_res *res = http_get(path);
		size_t len;

		cr_assert_eq(res->status, 200, "%s: %ld", path, res->status);
		http_assert_contract(res);
		cr_assert(json_object_is_type(res->json, json_type_array),
			  "%s: not an array", path);
		len = json_object_array_length(res->json);
		cr_assert_gt(len, 0, "%s: an empty page", path);
		cr_assert(len == 1 || res->len <= PAGE_MAX, "%s: %zu objects "
			  "in %zu bytes, over the page cap", path, len,
			  res->len);
		for (size_t i = 0; i < len; i++) {
			struct json_object *m =
				json_object_array_get_idx(res->json, i);
			int64_t num = -1;

			cr_assert(json_int(m, "number", &num) && num >= 1 &&
				  num <= n, "%s: bad number %lld", path,
				  (long long)num);
			cr_assert(!seen[num], "%s: message %lld twice", path,
				  (long long)num);
			if (ascending)
				cr_assert_gt(num, prev, "%s: out of order",
					     path);
			seen[num] = true;
			prev = num;
			total++;
		}
		free(path);
		path = next_link(res);
		cr_assert(path || total == n, "%s: no Link with %lld of %lld "
			  "messages seen", res->what, (long long)total,
			  (long long)n);
		http_res_free(res);
		pages++;
		cr_assert_leq(pages, (unsigned)n, "more pages than messages");
	}
	cr_assert_eq(total, n);
	free(seen);
	return pages;
}

struct search_wait {
	const char *path;
};

/* Every large message is found (the first page holds the best ones). */
static bool all_found(void *arg)
{
	struct search_wait *w = arg;
	char *path = xstrdup(w->path);
	int64_t total = 0;
	unsigned pages = 0;

	while (path && pages++ < 2 * LARGE) {
		struct http_res *res = http_get(path);

		if (res->status != 200 ||
		    !json_object_is_type(res->json, json_type_array)) {
			http_res_free(res);
			break;
		}
		total += (int64_t)json_object_array_length(res->json);
		free(path);
		path = res->link ? next_link(res) : NULL;
		http_res_free(res);
	}
	free(path);
	return total == LARGE;
}

/* True when no shard's job or index stream holds an entry. */
static bool queues_empty(void *arg)
{
	static const char *const streams[] = { "jobs", "index" };

	(void)arg;
	for (unsigned s = 0; s < 16; s++) {
		for (size_t i = 0; i < 2; i++) {
			redisReply *r = tredis("XLEN chat:{s%u}:%s", s,
					       streams[i]);
			bool empty = r->type == REDIS_REPLY_INTEGER &&
				     r->integer == 0;

			freeReplyObject(r);
			if (!empty)
				return false;
		}
	}
	return true;
}

/* ----------------------------------------------------------- backlog */

/* 65,535-byte messages into BACKLOG_APPS applications, as fast as may be. */
static void backlog(void)
{
	char *body = plain_max();
	char *tokens[BACKLOG_APPS], *paths[BACKLOG_APPS];
	struct create_result *results =
		xcalloc(BACKLOG_EACH, sizeof(*results));
	int64_t accepted[BACKLOG_APPS];
	uint64_t start;

	for (int a = 0; a < BACKLOG_APPS; a++)
		paths[a] = app_with_chat("memory backlog", &tokens[a]);
	/*
	 * A backlog for certain: the workers wake to all of it at once,
	 * 16 shards of jobs each ten times over what one read may take.
	 */
	signal_workers(SIGSTOP);
	start = now_ms();
	for (int a = 0; a < BACKLOG_APPS; a++) {
		accepted[a] = 0;
		burst_create(paths[a], body, strlen(body), BACKLOG_EACH, 4,
			     results);
		for (int i = 0; i < BACKLOG_EACH; i++)
			if (results[i].status == 202)
				accepted[a]++;
		cr_assert_eq(accepted[a], BACKLOG_EACH, "%s: %lld of %d "
			     "accepted", paths[a], (long long)accepted[a],
			     BACKLOG_EACH);
	}
	fprintf(stderr, "test_memory: %d messages of 64 KiB queued in %.1f s\n",
		BACKLOG_APPS * BACKLOG_EACH, (double)(now_ms() - start) / 1000);
	start = now_ms();
	resume_workers();
	/* Nothing lost: every number of every chat persisted, once. */
	for (int a = 0; a < BACKLOG_APPS; a++) {
		char id[32];
		int64_t got;

		snprintf(id, sizeof(id), "%llu",
			 (unsigned long long)app_id_of(tokens[a]));
		got = wait_db_count(PERSIST_MS, accepted[a],
				    "SELECT COUNT(DISTINCT m.number) FROM "
				    "messages m JOIN chats c ON c.id = "
				    "m.chat_id WHERE c.application_id = ? AND "
				    "LENGTH(m.body) = 65535", id, NULL);
		cr_assert_eq(got, accepted[a], "%s: %lld of %lld persisted",
			     paths[a], (long long)got,
			     (long long)accepted[a]);
	}
	fprintf(stderr, "test_memory: all persisted %.1f s after the workers "
		"resumed\n", (double)(now_ms() - start) / 1000);
	/*
	 * 170 MB of messages would slow every later test that reads them
	 * all (jobs/reindex): delete the chats, and wait until they are gone.
	 */
	for (int a = 0; a < BACKLOG_APPS; a++) {
		char *chat = xstrndup(paths[a], strlen(paths[a]) -
						strlen("/messages"));
		struct http_res *res;
		char app[32], *chat_id;

		/* The row goes at once, its messages with the queued job. */
		snprintf(app, sizeof(app), "%llu",
			 (unsigned long long)app_id_of(tokens[a]));
		chat_id = tdb_str("SELECT id FROM chats WHERE application_id "
				  "= ?", app, NULL);
		cr_assert(chat_id, "%s: no chat row", chat);
		res = http_do("DELETE", chat, NULL, 0);
		cr_assert_eq(res->status, 204, "DELETE %s: %ld", chat,
			     res->status);
		http_res_free(res);
		cr_assert_eq(wait_db_count(PERSIST_MS, 0, "SELECT COUNT(*) FROM "
					   "messages WHERE chat_id = ?",
					   chat_id, NULL), 0,
			     "%s: messages left after the delete", chat);
		free(chat_id);
		free(chat);
	}
	/* And the index: the next tests expect a worker that keeps up. */
	cr_assert(wait_until(queues_empty, NULL, PERSIST_MS),
		  "the job and index streams did not drain");
	/*
	 * Deleted documents still count in the engine's term statistics
	 * until their segments merge: 2,560 of them would shift the scores
	 * of later searches against those of a fresh index (the reindex
	 * test compares the two).  Merge them away.
	 */
	{
		const char *alias = getenv("CHAT_ES_INDEX");
		char *path = http_path("/%s/_forcemerge?only_expunge_deletes="
				       "true", alias && *alias ? alias
							     : "messages");
		long status = tes_request("POST", path, NULL);

		cr_assert_eq(status, 200, "POST %s: %ld", path, status);
		free(path);
	}
	for (int a = 0; a < BACKLOG_APPS; a++) {
		free(tokens[a]);
		free(paths[a]);
	}
	free(results);
	free(body);
}

/* ------------------------------------------------------------ memory */

/* VmHWM of `pid` in kB, or -1 when it cannot be read. */
static long vm_hwm_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* True when the file at `path` holds `needle` (an ELF's NEEDED names). */
static bool file_holds(const char *path, const char *needle)
{
	size_t nlen = strlen(needle), n, keep = 0;
	char buf[65536];
	bool found = false;
	FILE *f = fopen(path, "rb");

	if (!f)
		return false;
	while (!found && (n = fread(buf + keep, 1, sizeof(buf) - keep, f))) {
		n += keep;
		found = memmem(buf, n, needle, nlen) != NULL;
		keep = n < nlen ? n : nlen - 1;
		memmove(buf, buf + n - keep, keep);
	}
	fclose(f);
	return found;
}

/*
 * True when `pid` runs with AddressSanitizer's runtime: mapped in it, or,
 * when its maps cannot be read (another user's process without ptrace
 * rights), named as a NEEDED library by the program it runs (its
 * command line, world-readable, names the file).
 */
static bool asan_in(pid_t pid)
{
	char path[64], line[4096];
	bool found = false;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	f = fopen(path, "r");
	if (f) {
		while (!found && fgets(line, sizeof(line), f))
			found = strstr(line, "libasan") != NULL;
		fclose(f);
		return found;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';	/* the program is the first NUL-ended word */
	return n && file_holds(line, "libasan.so");
}

/* quarantine_size_mb of the process's ASAN_OPTIONS (ASan's default 256). */
static long asan_quarantine_kb(pid_t pid)
{
	char path[64], env[16384];
	long mb = 256;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return mb * 1024;
	n = fread(env, 1, sizeof(env) - 1, f);
	fclose(f);
	env[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
		const char *q;

		if (strncmp(env + i, "ASAN_OPTIONS=", 13) == 0 &&
		    (q = strstr(env + i, "quarantine_size_mb=")))
			mb = strtol(q + 19, NULL, 10);
	}
	return mb * 1024;
}

/* Assert the peak RSS of every live pid in `pidfile` running `what`. */
/* Check the peak RSS of one process against its ceiling. */
static void check_peak(pid_t pid, const char *what, long plain_kb)
{
	long kb = vm_hwm_kb(pid), ceiling = plain_kb;
	bool asan;

	cr_assert_gt(kb, 0, "%s %ld: no VmHWM", what, (long)pid);
	asan = asan_in(pid);
	if (asan)
		ceiling = 5 * plain_kb + asan_quarantine_kb(pid);
	fprintf(stderr, "test_memory: %s pid %ld peak RSS %ld kB "
		"(ceiling %ld kB%s)\n", what, (long)pid, kb, ceiling,
		asan ? ", AddressSanitizer build: 5 x plain + "
		       "quarantine" : "");
	cr_expect_leq(kb, ceiling, "%s pid %ld: peak RSS %ld kB over "
		      "%ld kB", what, (long)pid, kb, ceiling);
}

/*
 * Bring the peak RSS of one process down to what it holds now
 * (/proc/PID/clear_refs, "5"), so that the peak checked at the end is
 * this test's load and not what earlier tests left.  Without the right
 * (not root), the peak stays the process's whole life's.
 */
static void reset_peak(pid_t pid, const char *what, long plain_kb)
{
	char path[64];
	FILE *f;
	bool ok;

	(void)plain_kb;
	snprintf(path, sizeof(path), "/proc/%ld/clear_refs", (long)pid);
	f = fopen(path, "w");
	ok = f && fputs("5", f) != EOF;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok)
		fprintf(stderr, "test_memory: %s pid %ld: peak RSS not reset "
			"(%s), its whole life's is checked\n", what,
			(long)pid, path);
}

typedef void visit_fn(pid_t pid, const char *what, long plain_kb);

/* Visit every process of `pidfile` that runs `what`; returns how many. */
static unsigned visit_pids(const char *pidfile, const char *what,
			   long plain_kb, visit_fn *visit)
{
	char *f = var_path(pidfile);
	FILE *in = fopen(f, "r");
	unsigned visited = 0;
	long pid;

	cr_assert(in, "%s: no pid file", f);
	while (fscanf(in, "%ld", &pid) == 1) {
		if (!pid_is((pid_t)pid, what))
			continue;
		visit((pid_t)pid, what, plain_kb);
		visited++;
	}
	fclose(in);
	free(f);
	return visited;
}

/* Visit the processes of every pid file matching `pattern` (under var). */
static unsigned visit_glob(const char *pattern, const char *what,
			   long plain_kb, visit_fn *visit)
{
	char *abs = var_path(pattern);
	unsigned visited = 0;
	glob_t g;

	cr_assert_eq(glob(abs, 0, NULL, &g), 0, "no %s", abs);
	for (size_t i = 0; i < g.gl_pathc; i++)
		visited += visit_pids(strstr(g.gl_pathv[i], "run/"), what,
				      plain_kb, visit);
	globfree(&g);
	free(abs);
	return visited;
}

/* Visit every FastCGI process, every worker and every live relay. */
static void visit_all(visit_fn *visit)
{
	static const char *const progs[] = {
		"applications", "chats", "messages", "health",
	};
	unsigned fcgi = 0, workers, relays;

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		char pidfile[64], what[64];

		snprintf(pidfile, sizeof(pidfile), "run/%s.pid", progs[i]);
		snprintf(what, sizeof(what), "cgi-bin/%s", progs[i]);
		fcgi += visit_pids(pidfile, what, FCGI_MAX_KB, visit);
	}
	cr_assert_gt(fcgi, 0, "no FastCGI process found");
	workers = visit_glob("run/worker.*.pid", "jobs/worker", WORKER_MAX_KB,
			     visit);
	cr_assert_gt(workers, 0, "no worker found");
	relays = visit_glob("run/live-relay.*.pid", "jobs/live-relay",
			    RELAY_MAX_KB, visit);
	cr_assert_gt(relays, 0, "no live relay found");
}

/* -------------------------------------------------------------- test */

Test(memory, bounded_whatever_the_input)
{
	char *token, *messages = app_with_chat("memory", &token);
	char *large = escape_heavy(), *path;
	struct search_wait sw;
	int64_t last = 0;
	unsigned pages;

	cr_assert_lt(strlen(large), BODY_LIMIT, "the largest valid request "
		     "must pass the body limit");
	visit_all(reset_peak);
	for (int i = 0; i < LARGE; i++)
		last = post_create(messages, large, strlen(large));
	path = http_path("%s/%lld", messages, (long long)last);
	cr_assert(wait_status(path, 200, PERSIST_MS), "%s never persisted",
		  path);
	free(path);

	barrage(token, messages, last);

	/* Lists at limit=1000: ~384 KiB a message, two a page. */
	path = http_path("%s?limit=1000", messages);
	pages = walk_pages(path, LARGE, true);
	cr_assert_geq(pages, LARGE / 3, "%u pages for %d messages of ~384 "
		      "KiB", pages, LARGE);
	fprintf(stderr, "test_memory: list of %d large messages in %u pages\n",
		LARGE, pages);
	free(path);

	/* The same through search, once the index has them all. */
	path = http_path("%s/search?q=memword&limit=1000", messages);
	sw.path = path;
	cr_assert(wait_until(all_found, &sw, SEARCH_MS),
		  "search never found the %d large messages", LARGE);
	pages = walk_pages(path, LARGE, false);
	cr_assert_geq(pages, LARGE / 3, "%u search pages for %d messages of "
		      "~384 KiB", pages, LARGE);
	fprintf(stderr, "test_memory: search of %d large messages in %u "
		"pages\n", LARGE, pages);
	free(path);

	backlog();
	visit_all(check_peak);
	free(large);
	free(messages);
	free(token);
}
