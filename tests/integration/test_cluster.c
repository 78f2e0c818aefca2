/*
 * test_cluster.c - the programs on a Redis Cluster (the second stack of
 * run-tests.sh, CHAT_REDIS_NODES set) while its slots move:
 *
 *   failover    while creates run through nginx into 20 chats of 5
 *               applications spread over every master, one master is
 *               killed (-9); its replica takes over (the test stack's
 *               cluster-node-timeout is 1 s).  Creates answer 202 or 503
 *               during the switch and 202 after it; every number answered
 *               202 is persisted, none twice; the applications of the
 *               other masters never got a 503 and took creates during the
 *               switch.  Once as the stack runs (appendfsync everysec),
 *               once with CHAT_REDIS_DURABLE=replica.
 *   hung master the same load while one master is stopped (SIGSTOP: its
 *               connections are taken by the kernel and never answered)
 *               for HANG_MS, its replicas told not to take over, then
 *               resumed: each process waits out CHAT_TIMEOUT_MS for it
 *               once, then the other masters' applications take creates
 *               again while its own answer 503, and 202 once it is back;
 *               meanwhile their messages are persisted, their index
 *               entries taken (the worker and its indexer go on with the
 *               shards that answer) and their message.created events
 *               reach their live streams (each shard's events are in a
 *               stream of its own), and a pipeline over every master gets
 *               the other masters' replies, in order.
 *   resharding  the slot of one application's shard moves to another
 *               master (CLUSTER SETSLOT IMPORTING / MIGRATING, MIGRATE,
 *               SETSLOT NODE) while it receives creates: 202 or a few
 *               503s, nothing lost, numbering goes on.
 *
 *   routing     the library's router on its own: a pipeline over every
 *               master comes back in order, scripts flushed from every
 *               node are loaded again, MOVED is followed.
 *
 * The count of 503s and how long they lasted are logged.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "buf.h"
#include "client.h"
#include "cluster.h"
#include "config.h"
#include "redis.h"
#include "job.h"
#include "queue.h"
#include "support_barrage.h"
#include "support_faults.h"
#include "support_live.h"
#include "xalloc.h"

#define APPS 5
#define CHATS_PER_APP 4
#define NCHATS (APPS * CHATS_PER_APP)
#define GAP_MS 10
/* The worker has this long to persist every create answered 202. */
#define PERSIST_MS 90000

struct app {
	char *token;
	uint64_t id;
	unsigned slot;
	int master;			/* port of the master serving slot */
	char *messages[CHATS_PER_APP];	/* POST path of each chat */
};

struct run {
	struct app apps[APPS];
	struct create_stream *streams[NCHATS];
	struct create_result *res[NCHATS];
	size_t nres[NCHATS];
};

/*
 * The two tests move the same cluster's slots: one at a time (Criterion
 * runs tests in parallel), through a lock held until the test's process
 * ends.
 */
static void one_at_a_time(void)
{
	char *path = var_path("run/test_cluster.lock");
	int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "open %s", path);
	cr_assert_eq(flock(fd, LOCK_EX), 0, "flock %s", path);
	free(path);
}

static void restore(void)
{
	/* The killed master comes back, as a replica. */
	stack_start();
}

TestSuite(cluster, .timeout = 300, .init = one_at_a_time);

/* An admin command on the node at `port`, not routed (hiredis format). */
static redisReply *node_cmd(int port, const char *fmt, ...)
{
	struct timeval tv = { .tv_sec = 10 };
	redisContext *c = tredis_connect_to("127.0.0.1", port);
	redisReply *r;
	va_list ap;

	redisSetTimeout(c, tv);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	cr_assert_not_null(r, "node %d %s: %s", port, fmt, c->errstr);
	redisFree(c);
	return r;
}

static void node_ok(int port, redisReply *r, const char *what)
{
	cr_assert(r->type != REDIS_REPLY_ERROR, "node %d %s: %s", port, what,
		  r->str);
	freeReplyObject(r);
}

static unsigned app_slot(uint64_t app)
{
	struct chat_buf k;
	unsigned slot;

	chat_buf_init(&k);
	chat_job_key(&k, chat_queue_shard(app), CHAT_STREAM_JOBS);
	slot = chat_cluster_key_slot(k.data, k.len);
	chat_buf_release(&k);
	return slot;
}

/* The port of the master serving `slot` in CLUSTER SLOTS reply `r`, or -1. */
static int slot_master(redisReply *r, unsigned slot)
{
	int port = -1;

	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
	     i++) {
		const redisReply *e = r->element[i];

		if (e->elements >= 3 &&
		    (unsigned)e->element[0]->integer <= slot &&
		    slot <= (unsigned)e->element[1]->integer)
			port = (int)e->element[2]->element[1]->integer;
	}
	freeReplyObject(r);
	return port;
}

/* The port of the master serving `slot` now, or -1. */
static int master_of(unsigned slot)
{
	return slot_master(tredis("CLUSTER SLOTS"), slot);
}

static int masters(int *ports, int max)
{
	redisReply *r = tredis("CLUSTER SLOTS");
	int n = 0;

	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
	     i++) {
		int port = (int)r->element[i]->element[2]->element[1]->integer;
		bool seen = false;

		for (int k = 0; k < n; k++)
			seen = seen || ports[k] == port;
		if (!seen && n < max)
			ports[n++] = port;
	}
	freeReplyObject(r);
	return n;
}

/*
 * APPS applications whose shards are served by every master, each with
 * CHATS_PER_APP persisted chats.
 */
static void pick_apps(struct run *run)
{
	int ports[16], nm = masters(ports, 16), chosen = 0;
	struct app cand[64];
	int ncand = 0;
	bool used[64] = { false };

	cr_assert_geq(nm, 3, "the cluster has %d masters", nm);
	while (ncand < 64) {
		struct app *a = &cand[ncand++];
		int covered = 0;

		a->token = app_create("cluster");
		a->id = app_id_of(a->token);
		a->slot = app_slot(a->id);
		a->master = master_of(a->slot);
		for (int m = 0; m < nm; m++)
			for (int i = 0; i < ncand; i++)
				if (cand[i].master == ports[m]) {
					covered++;
					break;
				}
		if (covered == nm && ncand >= APPS)
			break;
	}
	/* One per master first, then the rest in order. */
	for (int m = 0; m < nm && chosen < APPS; m++)
		for (int i = 0; i < ncand; i++)
			if (!used[i] && cand[i].master == ports[m]) {
				used[i] = true;
				run->apps[chosen++] = cand[i];
				break;
			}
	for (int i = 0; i < ncand && chosen < APPS; i++)
		if (!used[i]) {
			used[i] = true;
			run->apps[chosen++] = cand[i];
		}
	cr_assert_eq(chosen, APPS);
	for (int i = 0; i < ncand; i++)
		if (!used[i])
			free(cand[i].token);
	for (int a = 0; a < APPS; a++) {
		struct app *app = &run->apps[a];

		for (int c = 0; c < CHATS_PER_APP; c++) {
			char *chats = http_path("/applications/%s/chats",
						app->token);
			struct http_res *res = http_do("POST", chats, NULL, 0);
			int64_t n = assert_accepted(res, chats);
			char *chat = http_path("%s/%lld", chats, (long long)n);

			cr_assert(wait_status(chat, 200, 20000),
				  "%s not persisted", chat);
			app->messages[c] = http_path("%s/messages", chat);
			http_res_free(res);
			free(chat);
			free(chats);
		}
	}
}

static void load_start(struct run *run)
{
	for (int i = 0; i < NCHATS; i++)
		run->streams[i] = stream_start(
			run->apps[i / CHATS_PER_APP].messages[i % CHATS_PER_APP],
			"{\"body\":\"cluster load\"}", GAP_MS);
}

static void load_stop(struct run *run)
{
	for (int i = 0; i < NCHATS; i++)
		stream_stop(run->streams[i], &run->res[i], &run->nres[i]);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct verdict {
	size_t accepted, unavailable, lost;
	uint64_t first_503, last_503;
};

/*
 * Every answer 202 or 503; no number answered 202 twice in a chat; each
 * persisted within `within_ms` for all chats (waits for the worker);
 * 503s only in chats of `only_app` (-1: any).  Returns the counts.
 */
static struct verdict verify(struct run *run, int only_app,
			     unsigned within_ms)
{
	struct verdict v = { 0, 0, 0, 0, 0 };
	uint64_t deadline = now_ms() + within_ms;

	for (int i = 0; i < NCHATS; i++) {
		struct app *app = &run->apps[i / CHATS_PER_APP];
		const char *path = app->messages[i % CHATS_PER_APP];
		int64_t *nums = xcalloc(run->nres[i] + 1, sizeof(*nums));
		size_t k = 0;
		int64_t chat = 0, found;
		struct chat_buf in;

		sscanf(strstr(path, "/chats/") + 7, "%lld", (long long *)&chat);
		for (size_t j = 0; j < run->nres[i]; j++) {
			const struct create_result *r = &run->res[i][j];

			cr_assert(r->status == 202 || r->status == 503,
				  "%s answered %ld", path, r->status);
			if (r->status == 202) {
				nums[k++] = r->number;
				continue;
			}
			cr_assert(only_app < 0 ||
				  i / CHATS_PER_APP == only_app,
				  "%s (another master's) answered 503", path);
			v.unavailable++;
			if (!v.first_503 || r->at_ms < v.first_503)
				v.first_503 = r->at_ms;
			if (r->at_ms > v.last_503)
				v.last_503 = r->at_ms;
		}
		qsort(nums, k, sizeof(*nums), cmp_i64);
		for (size_t j = 1; j < k; j++)
			cr_assert_neq(nums[j], nums[j - 1], "%s: number %lld "
				      "answered 202 twice", path,
				      (long long)nums[j]);
		v.accepted += k;
		if (!k) {
			free(nums);
			continue;
		}
		chat_buf_init(&in);
		for (size_t j = 0; j < k; j++)
			chat_buf_addf(&in, "%s%lld", j ? "," : "",
				      (long long)nums[j]);
		{
			char *sql = http_path(
				"SELECT COUNT(*) FROM messages m JOIN chats c "
				"ON c.id = m.chat_id WHERE c.application_id = "
				"%llu AND c.number = %lld AND m.number IN (%s)",
				(unsigned long long)app->id, (long long)chat,
				in.data);

			uint64_t left = deadline > now_ms() ?
						deadline - now_ms() : 0;

			found = wait_db_count((unsigned)left + 100,
					      (int64_t)k, sql, NULL);
			free(sql);
		}
		v.lost += k - (size_t)found;
		chat_buf_release(&in);
		free(nums);
	}
	return v;
}

static void run_free(struct run *run)
{
	for (int a = 0; a < APPS; a++) {
		free(run->apps[a].token);
		for (int c = 0; c < CHATS_PER_APP; c++)
			free(run->apps[a].messages[c]);
	}
	for (int i = 0; i < NCHATS; i++)
		free(run->res[i]);
}

/* Answers to the chats of app `a` in [from, to) that were 202. */
static size_t accepted_between(struct run *run, int a, uint64_t from,
			       uint64_t to)
{
	size_t n = 0;

	for (int c = 0; c < CHATS_PER_APP; c++) {
		int i = a * CHATS_PER_APP + c;

		for (size_t j = 0; j < run->nres[i]; j++)
			n += run->res[i][j].status == 202 &&
			     run->res[i][j].at_ms >= from &&
			     run->res[i][j].at_ms < to;
	}
	return n;
}

static void require_cluster(void)
{
	cr_assert(tredis_is_cluster(), "CHAT_REDIS_NODES is not set: "
		  "run-tests.sh runs this test on its cluster stack");
}

/*
 * Until the master at `port` has a replica in sync, within 30 s: a
 * replica that has not synced with it yet (the master an earlier test
 * killed comes back as a replica, and its first full sync waits for
 * repl-diskless-sync-delay) is not allowed to take over its slots.
 */
static void wait_replica_online(int port)
{
	bool online = false;

	for (int i = 0; i < 300 && !online; i++) {
		redisReply *r = node_cmd(port, "INFO replication");

		online = r->str && strstr(r->str, ",state=online,");
		freeReplyObject(r);
		if (!online)
			msleep(100);
	}
	cr_assert(online, "master %d has no replica in sync after 30 s",
		  port);
}

/* Kill -9 the master of the first application's shard under load. */
static void failover(const char *mode)
{
	struct run run;
	int victim, promoted = -1;
	char *pidfile;
	pid_t pid;
	uint64_t failed_at, switched_at, stop_at;
	struct verdict v;
	size_t fewest = SIZE_MAX;

	require_cluster();
	memset(&run, 0, sizeof(run));
	pick_apps(&run);
	victim = run.apps[0].master;
	wait_replica_online(victim);
	load_start(&run);
	msleep(1500);

	{
		char *rel = http_path("run/redis-%d.pid", victim);

		pidfile = var_path(rel);
		free(rel);
	}
	pid = pidfile_pid(pidfile);
	cr_assert_gt(pid, 0, "no pid in %s", pidfile);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	failed_at = now_ms();
	for (int i = 0; i < 300; i++) {
		promoted = master_of(run.apps[0].slot);
		if (promoted > 0 && promoted != victim)
			break;
		msleep(100);
	}
	switched_at = now_ms();
	cr_assert(promoted > 0 && promoted != victim, "no replica took over "
		  "slot %u of master %d within 30 s", run.apps[0].slot,
		  victim);
	msleep(3000);
	stop_at = now_ms();
	load_stop(&run);

	v = verify(&run, -1, PERSIST_MS);
	for (int a = 0; a < APPS; a++)
		if (run.apps[a].master != victim) {
			size_t n = accepted_between(&run, a, failed_at,
						    switched_at);

			fewest = n < fewest ? n : fewest;
		}
	cr_log_info("cluster failover (%s): master %d killed, replica %d serves "
		    "its slots after %llu ms; %zu creates answered 202, %zu "
		    "answered 503 over %llu ms, %zu answered creates lost; "
		    "during the switch each other master's application took "
		    "%zu creates or more",
		    mode, victim, promoted,
		    (unsigned long long)(switched_at - failed_at), v.accepted,
		    v.unavailable,
		    (unsigned long long)(v.unavailable ?
				v.last_503 - v.first_503 : 0), v.lost, fewest);
	cr_assert_eq(v.lost, 0, "%zu creates answered 202 were lost", v.lost);
	for (int a = 0; a < APPS; a++) {
		/* After the switch (and a second to notice it), only 202s. */
		for (int c = 0; c < CHATS_PER_APP; c++) {
			int i = a * CHATS_PER_APP + c;

			for (size_t j = 0; j < run.nres[i]; j++)
				cr_assert(run.res[i][j].status == 202 ||
					  run.res[i][j].at_ms <
						  switched_at + 1000,
					  "%s answered 503 %llu ms after the "
					  "switch", run.apps[a].messages[c],
					  (unsigned long long)(run.res[i][j].at_ms -
							       switched_at));
		}
		cr_assert_gt(accepted_between(&run, a, switched_at + 1000,
					      stop_at), 0,
			     "application %d took no create after the switch",
			     a);
		if (run.apps[a].master == victim)
			continue;
		/* The other masters' shards went on during the switch. */
		cr_assert_gt(accepted_between(&run, a, failed_at, switched_at),
			     0, "application %d (master %d) took no create "
			     "during the switch", a, run.apps[a].master);
	}
	run_free(&run);
	free(pidfile);
}

Test(cluster, failover_under_load, .fini = restore)
{
	failover("appendfsync everysec");
}

/* The FastCGI programs that create, started again with `setting`. */
static void restart_creators(const char *setting)
{
	static const char *const names[] = { "chats", "messages" };

	if (setting)
		putenv((char *)setting);
	else
		unsetenv("CHAT_REDIS_DURABLE");
	for (size_t i = 0; i < 2; i++) {
		pid_t pids[64];
		char rel[64];
		int n;

		snprintf(rel, sizeof(rel), "run/%s.pid", names[i]);
		n = stack_pids(rel, pids, 64);
		for (int k = 0; k < n; k++)
			kill(pids[k], SIGTERM);
	}
	msleep(500);
	stack_start();
}

static void restore_durable(void)
{
	restart_creators(NULL);
}

Test(cluster, failover_with_replica_durability, .fini = restore_durable)
{
	restart_creators("CHAT_REDIS_DURABLE=replica");
	failover("CHAT_REDIS_DURABLE=replica");
	/* The killed master back (as a replica) before the next test. */
	stack_start();
}

/* What hung_master_under_load changed, for its fini. */
#define HANG_MS 10000
/* Keys of the pipeline it runs while the master hangs. */
#define HUNG_KEYS 48
static pid_t hung_pid;
static int hung_replicas[8], hung_nreplicas;

/* The ports of the replicas of the master serving `slot`. */
static int replicas_of(unsigned slot, int *ports, int max)
{
	redisReply *r = tredis("CLUSTER SLOTS");
	int n = 0;

	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements;
	     i++) {
		const redisReply *e = r->element[i];

		if (e->elements < 3 ||
		    (unsigned)e->element[0]->integer > slot ||
		    slot > (unsigned)e->element[1]->integer)
			continue;
		for (size_t k = 3; k < e->elements && n < max; k++)
			ports[n++] = (int)e->element[k]->element[1]->integer;
	}
	freeReplyObject(r);
	return n;
}

static void no_failover(bool on)
{
	for (int i = 0; i < hung_nreplicas; i++)
		node_ok(hung_replicas[i],
			node_cmd(hung_replicas[i], "CONFIG SET "
				 "cluster-replica-no-failover %s",
				 on ? "yes" : "no"),
			"CONFIG SET cluster-replica-no-failover");
}

static void resume_hung(void)
{
	if (hung_pid > 0)
		kill(hung_pid, SIGCONT);
	hung_pid = 0;
	no_failover(false);
	hung_nreplicas = 0;
}

/*
 * While master `victim` hangs: one pipeline through the library's handle
 * `r` sets and reads back HUNG_KEYS keys spread over every master
 * (master[i] serves key i).  The victim's commands fail; every other
 * command answers, in order, past the failed ones.
 */
static void pipeline_past_hung(struct chat_redis *r, const int *master,
			       int victim)
{
	size_t ok = 0, failed = 0;

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < HUNG_KEYS; i++) {
			char key[32], val[32];
			const char *set[] = { "SET", key, val };
			const char *get[] = { "GET", key };

			snprintf(key, sizeof(key), "test:hung:%d", i);
			snprintf(val, sizeof(val), "h%d", i * 3);
			cr_assert_eq(chat_redis_append(r, round ? 2 : 3,
						       round ? get : set,
						       NULL), 0);
		}
		for (int i = 0; i < HUNG_KEYS; i++) {
			redisReply *rep = chat_redis_reply(r);
			char want[32];

			snprintf(want, sizeof(want), "h%d", i * 3);
			if (master[i] == victim) {
				cr_assert_null(rep, "key %d of the hung master "
					       "answered", i);
				failed++;
				continue;
			}
			cr_assert_not_null(rep, "key %d (master %d) failed "
					   "behind the hung master's: %s", i,
					   master[i], r->errstr);
			if (round)
				cr_assert(rep->type == REDIS_REPLY_STRING &&
					  strcmp(rep->str, want) == 0,
					  "reply %d out of order", i);
			else
				cr_assert_eq(rep->type, REDIS_REPLY_STATUS);
			freeReplyObject(rep);
			ok++;
		}
	}
	cr_log_info("cluster hung master: a pipeline of %d commands got %zu "
		    "replies and %zu failures", 2 * HUNG_KEYS, ok, failed);
	cr_assert_gt(failed, 0);
	cr_assert_gt(ok, 0);
}

/* Whether a search of chat `path` for `word` finds message `number`. */
static bool search_finds(const char *path, const char *word, int64_t number)
{
	char *search = http_path("%s/search?q=%s", path, word);
	char *want = http_path("\"number\":%lld,", (long long)number);
	struct http_res *res = http_do("GET", search, NULL, 0);
	bool found = res->status == 200 && strstr(res->body, want);

	http_res_free(res);
	free(search);
	free(want);
	return found;
}

/*
 * The id of the oldest entry of app's index stream, which the indexer
 * deletes once it applied it: false when the stream is empty.
 */
static bool index_oldest(uint64_t app, unsigned long long *ms,
			 unsigned long long *seq)
{
	struct chat_buf key;
	redisReply *r;
	bool any;

	chat_buf_init(&key);
	chat_job_key(&key, chat_queue_shard(app), CHAT_STREAM_INDEX);
	r = tredis("XRANGE %s - + COUNT 1", key.data);
	cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "XRANGE %s", key.data);
	any = r->elements > 0;
	if (any)
		cr_assert_eq(sscanf(r->element[0]->element[0]->str,
				    "%llu-%llu", ms, seq), 2);
	freeReplyObject(r);
	chat_buf_release(&key);
	return any;
}

/*
 * The message.created event of message `number` on live stream `c`,
 * before `deadline`: the time it was read, or 0.  The load's events of
 * the same chat come before and after it.
 */
static uint64_t created_event(struct live_conn *c, int64_t number,
			      uint64_t deadline)
{
	for (int i = 0; i < 100000; i++) {
		uint64_t now = now_ms();
		struct live_event ev;
		struct json_object *m;
		int64_t n = 0;
		bool ours;

		if (now >= deadline ||
		    live_next(c, (unsigned)(deadline - now), &ev) != 1)
			return 0;
		ours = ev.json && json_object_object_get_ex(ev.json, "message",
							     &m) &&
		       json_int(m, "number", &n) && n == number &&
		       ev.name && strcmp(ev.name, "message.created") == 0;
		live_event_release(&ev);
		if (ours)
			return now_ms();
	}
	return 0;
}

/*
 * The live streams of chat 0 of each application but the victim's, opened
 * before it hangs (subscribing asks the application's master).
 */
static void open_live(struct run *run, int victim,
		      struct live_conn *live[APPS])
{
	for (int a = 0; a < APPS; a++) {
		char *path;

		live[a] = NULL;
		if (run->apps[a].master == victim)
			continue;
		path = http_path("%s/live", run->apps[a].messages[0]);
		live[a] = live_open(LIVE_SSE, live_port(), path, NULL);
		cr_assert_eq(live_status(live[a]), 200, "SSE %s: status %ld",
			     path, live_status(live[a]));
		free(path);
	}
}

/*
 * While master `victim` hangs, a message created in a chat of each other
 * master's applications reaches the chat's live stream `live[a]` (and so
 * is persisted), and the indexer applies (and deletes) entries of their
 * shards' index streams (the worker and its indexer go on with the shards
 * of the masters that answer), before `deadline`.  All are polled in turn:
 * a program's first request whose token is cached on the hung master
 * waits out CHAT_TIMEOUT_MS once.  Whether they are searchable in that
 * time is logged, not asserted: under this load (and ASan) the indexer
 * can lag a shard by seconds, hung master or not.
 */
static void persisted_while_hung(struct run *run, int victim,
				 struct live_conn *live[APPS],
				 uint64_t deadline)
{
	char *paths[APPS] = { NULL }, *words[APPS] = { NULL };
	int64_t numbers[APPS] = { 0 };
	unsigned long long ms0[APPS], seq0[APPS];
	bool persisted[APPS] = { false }, indexing[APPS] = { false };
	bool seen[APPS] = { false };
	bool found[APPS] = { false };
	uint64_t posted_at = now_ms(), persisted_at = 0, found_at = 0;
	uint64_t event_at = 0;
	int left = 0, nfound = 0, napps = 0;

	for (int a = 0; a < APPS; a++) {
		struct http_res *res;
		char *body;

		if (run->apps[a].master == victim)
			continue;
		words[a] = http_path("hung%da%d", (int)getpid(), a);
		body = http_path("{\"body\":\"while a master hangs %s\"}",
				 words[a]);
		res = http_send("POST", run->apps[a].messages[0], body);
		numbers[a] = assert_accepted(res, run->apps[a].messages[0]);
		paths[a] = http_path("%s/%lld", run->apps[a].messages[0],
				     (long long)numbers[a]);
		http_res_free(res);
		free(body);
		left++;
		napps++;
	}
	/* Published once persisted: the events first, in turn. */
	for (int a = 0; a < APPS; a++) {
		uint64_t at;

		if (!paths[a])
			continue;
		at = created_event(live[a], numbers[a], deadline);
		cr_assert_gt(at, 0, "no message.created of %s (master %d) on "
			     "its live stream while master %d hung", paths[a],
			     run->apps[a].master, victim);
		event_at = at > event_at ? at : event_at;
	}
	for (int round = 0; round < 1000 && left; round++) {
		for (int a = 0; a < APPS; a++) {
			struct http_res *res;
			unsigned long long ms, seq;

			if (!paths[a] || found[a])
				continue;
			if (!persisted[a]) {
				res = http_do("GET", paths[a], NULL, 0);
				persisted[a] = res->status == 200;
				http_res_free(res);
				if (persisted[a])
					persisted_at = now_ms();
			}
			/*
			 * Once it is persisted, its index entry is queued:
			 * the indexer takes entries of its shard when the
			 * oldest one goes (or the stream empties).
			 */
			if (persisted[a] && !indexing[a]) {
				if (!index_oldest(run->apps[a].id, &ms, &seq))
					indexing[a] = true;
				else if (!seen[a]) {
					seen[a] = true;
					ms0[a] = ms;
					seq0[a] = seq;
				} else
					indexing[a] = ms > ms0[a] ||
						      (ms == ms0[a] &&
						       seq > seq0[a]);
			}
			if (persisted[a] && indexing[a] &&
			    search_finds(run->apps[a].messages[0], words[a],
					 numbers[a])) {
				found[a] = true;
				found_at = now_ms();
				nfound++;
				left--;
			}
		}
		if (!left || now_ms() >= deadline)
			break;
		msleep(50);
	}
	for (int a = 0; a < APPS; a++) {
		if (!paths[a])
			continue;
		cr_assert(persisted[a], "%s (master %d) not persisted while "
			  "master %d hung", paths[a], run->apps[a].master,
			  victim);
		cr_assert(indexing[a], "the indexer took no entry of %s's "
			  "shard (master %d) while master %d hung", paths[a],
			  run->apps[a].master, victim);
		free(paths[a]);
		free(words[a]);
	}
	cr_log_info("cluster hung master: the other masters' messages created "
		    "while it hung were all on their live streams %llu ms "
		    "after their creates and persisted %llu ms after; %d of %d "
		    "searchable, the last %llu ms after",
		    (unsigned long long)(event_at - posted_at),
		    (unsigned long long)(persisted_at - posted_at), nfound,
		    napps, (unsigned long long)(found_at ? found_at - posted_at :
							   0));
}

/*
 * A master that takes connections and never answers (stopped, as a host
 * paused or a server stuck) and is not replaced: a process meeting it
 * waits out CHAT_TIMEOUT_MS once and then holds it as silent, so the
 * other masters' applications are served while it hangs.  Before, every
 * command for it waited the timeout (connect, then AUTH on the taken
 * connection), and with every process so held the host served nothing.
 */
Test(cluster, hung_master_under_load, .fini = resume_hung)
{
	struct chat_config cfg;
	struct run run;
	int victim;
	char *rel, *pidfile;
	uint64_t loaded_at, hung_at, settled_at, resumed_at, stop_at;
	size_t victim_503 = 0;
	int key_master[HUNG_KEYS];
	struct chat_redis *r;
	struct live_conn *live[APPS];
	double slowest = 1e9;
	unsigned persist_ms;
	struct verdict v;

	require_cluster();
	chat_config_load(&cfg);
	memset(&run, 0, sizeof(run));
	pick_apps(&run);
	victim = run.apps[0].master;
	hung_nreplicas = replicas_of(run.apps[0].slot, hung_replicas, 8);
	cr_assert_gt(hung_nreplicas, 0, "master %d has no replica", victim);
	no_failover(true);
	rel = http_path("run/redis-%d.pid", victim);
	pidfile = var_path(rel);
	hung_pid = pidfile_pid(pidfile);
	cr_assert_gt(hung_pid, 0, "no pid in %s", pidfile);
	for (int i = 0; i < HUNG_KEYS; i++) {
		char key[32];

		snprintf(key, sizeof(key), "test:hung:%d", i);
		key_master[i] = master_of(chat_cluster_key_slot(key,
								strlen(key)));
	}
	r = chat_redis_new(&cfg);
	open_live(&run, victim, live);
	load_start(&run);
	msleep(500);
	loaded_at = now_ms();
	msleep(1500);

	cr_assert_eq(kill(hung_pid, SIGSTOP), 0);
	hung_at = now_ms();
	/* Past the first wait of each process, and a second of margin. */
	settled_at = hung_at + cfg.timeout_ms + 1000;
	msleep(cfg.timeout_ms + 1000);
	persisted_while_hung(&run, victim, live, hung_at + HANG_MS - 500);
	pipeline_past_hung(r, key_master, victim);
	for (int a = 0; a < APPS; a++)
		live_close(live[a]);
	if (now_ms() < hung_at + HANG_MS)
		msleep((unsigned)(hung_at + HANG_MS - now_ms()));
	/* Asked of another master: the victim would not answer. */
	cr_assert_eq(slot_master(node_cmd(run.apps[1].master,
					  "CLUSTER SLOTS"),
				 run.apps[0].slot),
		     victim, "a replica took over although told not to");
	cr_assert_eq(kill(hung_pid, SIGCONT), 0);
	hung_pid = 0;
	resumed_at = now_ms();
	msleep(3000);
	stop_at = now_ms();
	load_stop(&run);
	no_failover(false);
	hung_nreplicas = 0;

	/*
	 * The worker redoes the jobs it read and could not finish as soon as
	 * Redis answers again, not once a claim finds them idle for
	 * CHAT_WORKER_CLAIM_MS: within half of that (10 s at least).
	 */
	persist_ms = cfg.worker_claim_ms / 2 > 10000 ?
			     cfg.worker_claim_ms / 2 : 10000;
	v = verify(&run, -1, persist_ms);
	for (int a = 0; a < APPS; a++) {
		for (int c = 0; c < CHATS_PER_APP; c++) {
			int i = a * CHATS_PER_APP + c;

			for (size_t j = 0; j < run.nres[i]; j++) {
				if (run.res[i][j].status != 503)
					continue;
				cr_assert_eq(run.apps[a].master, victim,
					     "%s (master %d) answered 503",
					     run.apps[a].messages[c],
					     run.apps[a].master);
				victim_503 += run.res[i][j].at_ms >=
						      settled_at &&
					      run.res[i][j].at_ms < resumed_at;
			}
		}
		if (run.apps[a].master == victim) {
			cr_assert_gt(accepted_between(&run, a, resumed_at,
						      stop_at), 0,
				     "application %d took no create after its "
				     "master resumed", a);
			continue;
		}
		{
			/* Creates a second, while it hung against before. */
			double during = accepted_between(&run, a, settled_at,
							 resumed_at) * 1000.0 /
					(double)(resumed_at - settled_at);
			double before = accepted_between(&run, a, loaded_at,
							 hung_at) * 1000.0 /
					(double)(hung_at - loaded_at);

			cr_assert_gt(before, 0, "application %d took no create "
				     "before the hang", a);
			slowest = during / before < slowest ? during / before :
							      slowest;
		}
	}
	cr_log_info("cluster hung master: %d stopped for %d ms; %zu creates "
		    "answered 202, %zu answered 503 (%zu of them while it hung, "
		    "after each process's first wait), %zu answered creates "
		    "not persisted in time; in that time the other masters' "
		    "applications took creates at %.2f of their rate before "
		    "it or more", victim,
		    HANG_MS, v.accepted, v.unavailable, victim_503, v.lost,
		    slowest);
	cr_assert_eq(v.lost, 0, "%zu creates answered 202 were not persisted "
		     "within %u ms", v.lost, persist_ms);
	/*
	 * Its own applications' 503s take a share of the processes, so not
	 * the whole rate; a tenth tells that from a host held by waits.
	 */
	cr_assert_geq(slowest, 0.1, "while master %d hung, an application of "
		      "another master took creates at %.3f of its rate before",
		      victim, slowest);
	cr_assert_gt(victim_503, 0, "master %d's applications got no 503 "
		     "while it hung", victim);
	for (int i = 0; i < HUNG_KEYS; i++)
		freeReplyObject(chat_redis_cmd(r, "DEL test:hung:%d", i));
	chat_redis_free(r);
	run_free(&run);
	free(pidfile);
	free(rel);
}

/* The node id of the node at `port`. */
static char *node_id(int port)
{
	redisReply *r = node_cmd(port, "CLUSTER MYID");
	char *id;

	cr_assert_eq(r->type, REDIS_REPLY_STRING);
	id = xstrdup(r->str);
	freeReplyObject(r);
	return id;
}

Test(cluster, resharding_under_load)
{
	struct run run;
	int ports[16], nm, from, to = -1;
	char *from_id, *to_id;
	unsigned slot;
	uint64_t moved_at, stop_at;
	size_t rounds = 0, keys = 0;
	const char *pw, *user;
	struct verdict v;

	require_cluster();
	memset(&run, 0, sizeof(run));
	pick_apps(&run);
	slot = run.apps[0].slot;
	from = run.apps[0].master;
	nm = masters(ports, 16);
	for (int i = 0; i < nm && to < 0; i++)
		if (ports[i] != from)
			to = ports[i];
	from_id = node_id(from);
	to_id = node_id(to);
	load_start(&run);
	msleep(1500);

	node_ok(to, node_cmd(to, "CLUSTER SETSLOT %u IMPORTING %s", slot,
			     from_id), "IMPORTING");
	node_ok(from, node_cmd(from, "CLUSTER SETSLOT %u MIGRATING %s", slot,
			       to_id), "MIGRATING");
	/* Creates go on adding keys until every one has moved. */
	pw = getenv("CHAT_REDIS_PASSWORD");
	user = getenv("CHAT_REDIS_USER");
	for (; rounds < 2000; rounds++) {
		redisReply *r = node_cmd(from, "CLUSTER GETKEYSINSLOT %u 100",
					 slot);

		cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
		if (r->elements == 0) {
			freeReplyObject(r);
			break;
		}
		for (size_t i = 0; i < r->elements; i++) {
			const char *key = r->element[i]->str;
			size_t len = r->element[i]->len;
			redisReply *m;

			/* The target node requires the stack's password too. */
			if (pw && *pw && user && *user)
				m = node_cmd(from, "MIGRATE 127.0.0.1 %d %b 0 "
					     "10000 AUTH2 %s %s", to, key, len,
					     user, pw);
			else if (pw && *pw)
				m = node_cmd(from, "MIGRATE 127.0.0.1 %d %b 0 "
					     "10000 AUTH %s", to, key, len, pw);
			else
				m = node_cmd(from, "MIGRATE 127.0.0.1 %d %b 0 "
					     "10000", to, key, len);

			/* NOKEY: deleted or moved meanwhile. */
			cr_assert(m->type != REDIS_REPLY_ERROR, "MIGRATE: %s",
				  m->str);
			keys++;
			freeReplyObject(m);
		}
		freeReplyObject(r);
	}
	cr_assert_lt(rounds, 2000, "slot %u never emptied", slot);
	node_ok(to, node_cmd(to, "CLUSTER SETSLOT %u NODE %s", slot, to_id),
		"SETSLOT NODE");
	node_ok(from, node_cmd(from, "CLUSTER SETSLOT %u NODE %s", slot,
			       to_id), "SETSLOT NODE");
	for (int i = 0; i < nm; i++)
		if (ports[i] != from && ports[i] != to)
			node_ok(ports[i], node_cmd(ports[i], "CLUSTER SETSLOT "
						   "%u NODE %s", slot, to_id),
				"SETSLOT NODE");
	moved_at = now_ms();
	msleep(2000);
	stop_at = now_ms();
	load_stop(&run);
	cr_assert_eq(master_of(slot), to, "slot %u is not served by %d",
		     slot, to);

	v = verify(&run, 0, PERSIST_MS);
	cr_log_info("cluster resharding: slot %u moved from %d to %d (%zu "
		    "keys); %zu creates answered 202, %zu answered 503 over "
		    "%llu ms, %zu answered creates lost", slot, from, to, keys,
		    v.accepted, v.unavailable,
		    (unsigned long long)(v.unavailable ?
				v.last_503 - v.first_503 : 0), v.lost);
	cr_assert_eq(v.lost, 0, "%zu creates answered 202 were lost", v.lost);
	/* Numbering goes on where the moved keys left it. */
	cr_assert_gt(accepted_between(&run, 0, moved_at, stop_at), 0,
		     "no create into the moved shard after the move");
	free(from_id);
	free(to_id);
	run_free(&run);
}

/*
 * The router itself, through the library's handle: a pipeline over keys
 * of every master comes back in order; a script forgotten by every node
 * (SCRIPT FLUSH) is loaded again where it runs; a MOVED is followed.
 */
Test(cluster, routing)
{
	struct chat_config cfg;
	struct chat_redis *r;
	int ports[16], nm;
	enum { N = 200 };

	require_cluster();
	chat_config_load(&cfg);
	r = chat_redis_new(&cfg);
	cr_assert(chat_redis_is_cluster(r));

	/* Pipeline: SET then GET of N keys in N different slots. */
	for (int i = 0; i < N; i++) {
		char key[32], val[32];
		const char *set[] = { "SET", key, val };

		snprintf(key, sizeof(key), "test:route:%d", i);
		snprintf(val, sizeof(val), "v%d", i * 7);
		cr_assert_eq(chat_redis_append(r, 3, set, NULL), 0);
	}
	for (int i = 0; i < N; i++) {
		char key[32];
		const char *get[] = { "GET", key };

		snprintf(key, sizeof(key), "test:route:%d", i);
		cr_assert_eq(chat_redis_append(r, 2, get, NULL), 0);
	}
	cr_assert_eq(chat_redis_replies(r, N, REDIS_REPLY_STATUS), 0, "%s",
		     r->errstr);
	for (int i = 0; i < N; i++) {
		redisReply *rep = chat_redis_reply(r);
		char want[32];

		snprintf(want, sizeof(want), "v%d", i * 7);
		cr_assert_not_null(rep, "%s", r->errstr);
		cr_assert_eq(rep->type, REDIS_REPLY_STRING);
		cr_assert_str_eq(rep->str, want, "reply %d out of order", i);
		freeReplyObject(rep);
	}

	/* NOSCRIPT on every master: creates load the scripts again. */
	nm = masters(ports, 16);
	for (int i = 0; i < nm; i++)
		node_ok(ports[i], node_cmd(ports[i], "SCRIPT FLUSH"),
			"SCRIPT FLUSH");
	{
		char *token = app_create("routing");
		char *chats = http_path("/applications/%s/chats", token);
		char *msgs = http_path("%s/1/messages", chats);

		for (int i = 0; i < 3; i++) {
			struct http_res *res = http_do("POST", chats, NULL, 0);

			cr_assert_eq(res->status, 202, "after SCRIPT FLUSH: %ld",
				     res->status);
			http_res_free(res);
		}
		char *chat1 = http_path("%s/1", chats);

		cr_assert(wait_status(chat1, 200, 20000));
		free(chat1);
		for (int i = 0; i < 3; i++) {
			struct http_res *res = http_send(
				"POST", msgs, "{\"body\":\"after a flush\"}");

			cr_assert_eq(res->status, 202, "after SCRIPT FLUSH: %ld",
				     res->status);
			http_res_free(res);
		}
		free(msgs);
		free(chats);
		free(token);
	}

	/* A key asked of a node that does not serve it: MOVED, followed. */
	{
		const char *get[] = { "GET", "test:route:0" };
		unsigned slot = chat_cluster_key_slot("test:route:0", 12);
		int owner = master_of(slot), other = -1;
		redisReply *rep = NULL;

		for (int i = 0; i < nm && other < 0; i++)
			if (ports[i] != owner)
				other = ports[i];
		rep = node_cmd(other, "GET test:route:0");
		cr_assert(rep->type == REDIS_REPLY_ERROR &&
			  strncmp(rep->str, "MOVED ", 6) == 0,
			  "node %d served a key it does not own", other);
		freeReplyObject(rep);
		rep = chat_redis_argv(r, 2, get, NULL);
		cr_assert(rep && rep->type == REDIS_REPLY_STRING &&
			  strcmp(rep->str, "v0") == 0);
		freeReplyObject(rep);
	}
	for (int i = 0; i < N; i++) {
		char key[32];

		snprintf(key, sizeof(key), "test:route:%d", i);
		freeReplyObject(chat_redis_cmd(r, "DEL %s", key));
	}
	chat_redis_free(r);
}
