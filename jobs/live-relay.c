/*
 * live-relay - one per API host: hands the live streams' events from the
 * shards' Redis streams the publishers write to (lib/live.h) to this
 * host's nginx, through nchan's publisher endpoint on a Unix socket
 * (CHAT_LIVE_SOCKET; lib/nchan.h).
 *
 * It reads every shard's stream without a consumer group (every host's
 * relay reads every event), each from its newest entry at start, then
 * from the last entry it handled: after a Redis outage it reconnects and
 * goes on from there.  A shard whose read failed (its Redis Cluster
 * master down) is asked again every CHAT_STREAM_REDO_MS while the others
 * go on.  It writes each event's JSON from its entry (lib/live.h); the
 * events of one read go to nchan in groups (lib/nchan.h), in order.
 * An event of a group that nchan did not take (refused, or the
 * connection lost before its answer) is sent again on its own, tried
 * TRIES times in all, then logged and skipped: a slow or restarting
 * nginx never holds the others up for long.  Such an event can reach its
 * stream after later ones of its group, and one whose answer was lost
 * can reach it twice.
 *
 * Settings: CHAT_LIVE_SOCKET (required), and the Redis ones of
 * lib/config.h.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "ctx.h"
#include "live.h"
#include "log.h"
#include "nchan.h"
#include "redis.h"
#include "stream.h"

/* Longest XREAD wait: below the store timeout, short enough to stop. */
#define BLOCK_MS 1000
/*
 * On a Redis Cluster a read does not wait (lib/live.h): the relay polls,
 * at once after a read that found events, POLL_MIN_MS after the first
 * that found none and twice as long after each one more, up to
 * POLL_MAX_MS: an idle relay asks 12 times a second, and the first event
 * after a quiet time waits 40 ms on average.
 */
#define POLL_MIN_MS 10
#define POLL_MAX_MS 80
/* One event: tries, with TRY_PAUSE_MS * try between them. */
#define TRIES 3
#define TRY_PAUSE_MS 100

static volatile sig_atomic_t stop_requested;
/* Events nchan does not take, while it is down: one line a second. */
static struct chat_log_limit unpublished;
/* Shards Redis does not answer for, while it is down: the same. */
static struct chat_log_limit unread;

static void on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static bool is_close(const struct chat_live_entry *e)
{
	return strcmp(e->event, CHAT_LIVE_CLOSE) == 0;
}

/* A group of events, in the order read. */
struct group {
	struct chat_live_entry e[CHAT_NCHAN_GROUP];
	size_t n;
	struct chat_buf json;	/* an event's JSON, as it is queued */
};

/* Queue event `e` in nchan's group: 0, or -1 (chat_nchan_errstr). */
static int add(struct chat_nchan *n, struct group *g,
	       const struct chat_live_entry *e)
{
	if (is_close(e))
		return chat_nchan_add_close(n, e->channel);
	chat_buf_reset(&g->json);
	chat_live_entry_write(e, &g->json);
	return chat_nchan_add_publish(n, e->channel, e->event, g->json.data,
				      g->json.len);
}

/* One event on its own, after its group's try: TRIES - 1 more tries. */
static void relay_one(struct chat_nchan *n, struct group *g,
		      const struct chat_live_entry *e)
{
	bool ok;

	for (unsigned t = 1; t < TRIES; t++) {
		if (t > 1)
			chat_sleep_ms(TRY_PAUSE_MS * (t - 1));
		if (add(n, g, e) == 0 && chat_nchan_send(n, &ok) == 0)
			return;
		if (stop_requested)
			break;
	}
	chat_log_warn_limited(&unpublished, "live event %s (%s) of %s not "
			      "published: %s", e->id, e->event, e->channel,
			      chat_nchan_errstr(n));
}

/* Send the group; each event nchan did not take goes again on its own. */
static void flush(struct chat_nchan *n, struct group *g)
{
	bool ok[CHAT_NCHAN_GROUP];
	size_t queued = g->n;

	if (!queued)
		return;
	g->n = 0;
	if (chat_nchan_send(n, ok))
		for (size_t i = 0; i < queued; i++)
			if (!ok[i])
				relay_one(n, g, &g->e[i]);
}

/* Queue one event, sending the group first when it is full. */
static void relay(struct chat_nchan *n, struct group *g,
		  const struct chat_live_entry *e)
{
	if (add(n, g, e)) {
		chat_log_warn_limited(&unpublished, "live event %s (%s) of "
				      "%s not published: %s", e->id, e->event,
				      e->channel, chat_nchan_errstr(n));
		return;
	}
	g->e[g->n++] = *e;
	if (chat_nchan_full(n))
		flush(n, g);
}

static void relay_loop(struct chat_ctx *ctx, struct chat_nchan *n)
{
	/* The relay's working set: about 30 KiB, off the stack. */
	static struct chat_live_read rd;
	struct chat_live_cursor cursor;
	struct chat_stream_redo held = { .shards = 0 };
	struct group g = { .n = 0 };
	unsigned block = chat_config_block_ms(&ctx->cfg, BLOCK_MS);
	unsigned poll = 0;
	bool cluster = chat_redis_is_cluster(ctx->redis);

	memset(&cursor, 0, sizeof(cursor));
	chat_buf_init(&g.json);
	while (!stop_requested) {
		double now = chat_now_ms();
		unsigned shards = CHAT_ALL_SHARDS, was_held = held.shards;

		if (!chat_stream_redo_due(&held, now))
			shards &= ~held.shards;
		if (!shards) {
			chat_sleep_ms((unsigned)(held.at - now) + 1);
			continue;
		}
		chat_live_read(ctx->redis, &cursor, shards, block, &rd);
		held.shards &= ~shards;
		chat_stream_redo_later(&held, rd.failed);
		if (rd.failed)
			chat_log_warn_limited(&unread, "live events of shards "
					      "%#x not read: %s; retrying",
					      rd.failed, ctx->redis->errstr);
		else if (was_held && !held.shards)
			chat_log_info("redis back: every shard's live events "
				      "relayed again");
		for (size_t i = 0; i < rd.n; i++) {
			const struct chat_live_entry *e = &rd.e[i];

			if (!e->malformed)
				relay(n, &g, e);
			else
				chat_log_warn("malformed live event %s of "
					      "shard %u skipped",
					      e->id ? e->id : "?", e->shard);
		}
		flush(n, &g);	/* the entries point into the replies */
		poll = cluster && rd.n == 0 ?
			       chat_backoff_next(poll, POLL_MIN_MS,
						 POLL_MAX_MS) : 0;
		if (poll)
			chat_sleep_ms(poll);
		chat_live_read_release(&rd);
	}
	chat_buf_release(&g.json);
}

int main(void)
{
	struct chat_ctx ctx;
	struct sigaction sa;
	struct chat_nchan *n;
	const char *socket = getenv("CHAT_LIVE_SOCKET");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	chat_ctx_init(&ctx, "live-relay");
	if (!socket || !*socket) {
		chat_log_error("CHAT_LIVE_SOCKET is not set: where does "
			       "nginx's nchan publisher listen?");
		chat_ctx_release(&ctx);
		return 2;
	}
	n = chat_nchan_new(socket, ctx.cfg.timeout_ms);
	chat_log_info("live-relay started (publisher %s)", socket);
	relay_loop(&ctx, n);
	chat_log_info("live-relay stopped");
	chat_nchan_free(n);
	chat_ctx_release(&ctx);
	return 0;
}
