/*
 * queue.c - the create scripts and the other writes to the job streams.
 */
#include "queue.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "chats.h"
#include "ctx.h"
#include "job.h"
#include "log.h"
#include "messages.h"
#include "redis.h"

/*
 * Seeding, shared by both scripts: a missing chat counter starts at the
 * larger of MariaDB's highest chat number (passed in by the caller) and
 * the highest deleted chat, so no number is handed out twice.
 */
#define SEED_CHATS \
	"local function seed_chats(key, del, seed)\n" \
	"  local v = redis.call('GET', key)\n" \
	"  if v then return tonumber(v) end\n" \
	"  if seed == '' then return nil end\n" \
	"  local s = tonumber(seed)\n" \
	"  local top = redis.call('ZREVRANGE', del, 0, 0, 'WITHSCORES')\n" \
	"  if top[2] and tonumber(top[2]) > s then s = tonumber(top[2]) end\n" \
	"  redis.call('SET', key, s)\n" \
	"  return s\n" \
	"end\n"

/*
 * Idempotency, shared by both scripts: `key` (nil without an
 * Idempotency-Key) holds "<sha1 of the request>:<number>", the request
 * being its route and raw body joined by ':' (the arguments after key;
 * read only when there is a key).  Returns the
 * number of an earlier create with the same request, -3 when the key was
 * used with another request, or nil (go on) and the request's digest,
 * which the script stores with the new number.  Looked up before the
 * parent check: a retry answers what the first request answered even if
 * the chat was deleted since.
 */
/* A name of job.h as a Lua string literal. */
#define Q(name) "'" name "'"

#define IDEMPOTENCY \
	"local function idem_seen(key, ...)\n" \
	"  if not key then return nil, nil end\n" \
	"  local digest = redis.sha1hex(table.concat({...}, ':'))\n" \
	"  local prev = redis.call('GET', key)\n" \
	"  if not prev then return nil, digest end\n" \
	"  if string.sub(prev, 1, 40) ~= digest then return -3, digest end\n" \
	"  return tonumber(string.sub(prev, 42)), digest\n" \
	"end\n" \
	"local function idem_store(key, digest, n, ttl)\n" \
	"  if key then\n" \
	"    redis.call('SET', key, digest .. ':' .. n, 'EX', ttl)\n" \
	"  end\n" \
	"end\n"

/*
 * KEYS: chat counter, deleted set, stream[, idempotency key].
 * ARGV: seed, app, ts, key's TTL, raw request body.
 * The new chat's message counter starts at 0 here, so that its first
 * messages need no seed from MariaDB (which may be down).  That key is
 * not in KEYS, since its name holds the number made here; it shares the
 * application's hash tag, hence its slot, so this is fine on a Cluster.
 */
static struct chat_script create_chat_script = {
	.name = "create_chat",
	.body = SEED_CHATS IDEMPOTENCY
		"local seen, digest = idem_seen(KEYS[4], " Q(CHAT_JOB_CHAT_TEXT)
		", ARGV[5])\n"
		"if seen then return seen end\n"
		"if not seed_chats(KEYS[1], KEYS[2], ARGV[1]) then\n"
		"  return -1\n"
		"end\n"
		"local n = redis.call('INCR', KEYS[1])\n"
		"redis.call('SET', string.sub(KEYS[1], 1, -1 - #"
		Q(CHAT_KEY_COUNTER) ") .. " Q(CHAT_KEY_CHAT) " .. n .. "
		Q(CHAT_KEY_COUNTER) ", 0, 'NX')\n"
		"redis.call('XADD', KEYS[3], '*', " Q(CHAT_JOB_F_TYPE) ", "
		Q(CHAT_JOB_CHAT_TEXT) ", " Q(CHAT_JOB_F_APP) ", ARGV[2], "
		Q(CHAT_JOB_F_CHAT) ", n, " Q(CHAT_JOB_F_TS) ", ARGV[3])\n"
		"idem_store(KEYS[4], digest, n, ARGV[4])\n"
		"return n\n",
};

/*
 * KEYS: chat counter, deleted set, message counter, stream, highest
 * deleted message[, idempotency key].  ARGV: chat, chat seed, message
 * seed, app, ts, key's TTL, raw request body, body.
 * Returns the number, 0 for an unknown or deleted chat, -1 or -2 when
 * the chat or message counter needs a seed from MariaDB, -3 for a key
 * used with another request.  A missing
 * message counter starts at the larger of MariaDB's highest message and
 * the highest deleted one, so no number is handed out twice.
 */
static struct chat_script create_message_script = {
	.name = "create_message",
	.body = SEED_CHATS IDEMPOTENCY
		"local seen, digest = idem_seen(KEYS[6], "
		Q(CHAT_JOB_MESSAGE_TEXT) ", ARGV[1], ARGV[7])\n"
		"if seen then return seen end\n"
		"local chats = seed_chats(KEYS[1], KEYS[2], ARGV[2])\n"
		"if not chats then return -1 end\n"
		"if tonumber(ARGV[1]) > chats or\n"
		"   redis.call('ZSCORE', KEYS[2], ARGV[1]) then\n"
		"  return 0\n"
		"end\n"
		"if not redis.call('GET', KEYS[3]) then\n"
		"  if ARGV[3] == '' then return -2 end\n"
		"  local s = tonumber(ARGV[3])\n"
		"  local d = tonumber(redis.call('GET', KEYS[5]) or '0')\n"
		"  if d > s then s = d end\n"
		"  redis.call('SET', KEYS[3], s)\n"
		"end\n"
		"local n = redis.call('INCR', KEYS[3])\n"
		"redis.call('XADD', KEYS[4], '*', " Q(CHAT_JOB_F_TYPE) ", "
		Q(CHAT_JOB_MESSAGE_TEXT) ", " Q(CHAT_JOB_F_APP) ", ARGV[4], "
		Q(CHAT_JOB_F_CHAT) ", ARGV[1], " Q(CHAT_JOB_F_NUMBER) ", n, "
		Q(CHAT_JOB_F_TS) ", ARGV[5], " Q(CHAT_JOB_F_BODY) ", ARGV[8])\n"
		"idem_store(KEYS[6], digest, n, ARGV[6])\n"
		"return n\n",
};

/* KEYS: highest deleted message of a chat.  ARGV: its number. */
static struct chat_script message_deleted_script = {
	.name = "message_deleted",
	.body = "local v = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
		"if tonumber(ARGV[1]) > v then\n"
		"  redis.call('SET', KEYS[1], ARGV[1])\n"
		"end\n"
		"return 1\n",
};

/* KEYS: deleted set, stream.  ARGV: chat, app, ts, chat id. */
static struct chat_script delete_chat_script = {
	.name = "delete_chat",
	.body = "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])\n"
		"redis.call('XADD', KEYS[2], '*', " Q(CHAT_JOB_F_TYPE) ", "
		Q(CHAT_JOB_DELETE_CHAT_TEXT) ", " Q(CHAT_JOB_F_APP) ", ARGV[2], "
		Q(CHAT_JOB_F_CHAT) ", ARGV[1], " Q(CHAT_JOB_F_TS) ", ARGV[3], "
		Q(CHAT_JOB_F_CHAT_ID) ", ARGV[4])\n"
		"return 1\n",
};

unsigned chat_queue_shard(uint64_t app)
{
	return (unsigned)(app % CHAT_SHARDS);
}

/* Keys and arguments of one script call, kept as NUL-separated strings. */
struct call {
	struct chat_buf text;
	size_t offs[16];
	size_t lens[16];
	int argc;
};

static void call_init(struct call *c)
{
	chat_buf_init(&c->text);
	c->argc = 0;
}

/* An argument is written into c->text between these two. */
static void arg_start(struct call *c)
{
	c->offs[c->argc] = c->text.len;
}

static void arg_end(struct call *c)
{
	c->lens[c->argc] = c->text.len - c->offs[c->argc];
	chat_buf_addch(&c->text, '\0');
	c->argc++;
}

__attribute__((format(printf, 2, 3)))
static void call_addf(struct call *c, const char *fmt, ...)
{
	va_list ap;

	arg_start(c);
	va_start(ap, fmt);
	chat_buf_vaddf(&c->text, fmt, ap);
	va_end(ap);
	arg_end(c);
}

/* A binary argument (copied). */
static void call_addb(struct call *c, const char *data, size_t len)
{
	arg_start(c);
	chat_buf_add(&c->text, data, len);
	arg_end(c);
}

/* The keys the scripts take (job.h names them). */
enum key {
	KEY_CHATS,		/* the chat counter */
	KEY_DELETED_CHATS,
	KEY_MESSAGES,		/* chat's message counter */
	KEY_DELETED_MAX,	/* chat's highest deleted message */
	KEY_JOBS,		/* the job stream */
};

static void call_key(struct call *c, enum key k, uint64_t app, uint64_t chat)
{
	arg_start(c);
	switch (k) {
	case KEY_CHATS:
		chat_job_key_chats(&c->text, app);
		break;
	case KEY_DELETED_CHATS:
		chat_job_key_deleted_chats(&c->text, app);
		break;
	case KEY_MESSAGES:
		chat_job_key_messages(&c->text, app, chat);
		break;
	case KEY_DELETED_MAX:
		chat_job_key_deleted_max(&c->text, app, chat);
		break;
	case KEY_JOBS:
		chat_job_key(&c->text, chat_queue_shard(app), CHAT_STREAM_JOBS);
		break;
	}
	arg_end(c);
}

/* The key of an Idempotency-Key of `app`. */
static void call_idem_key(struct call *c, uint64_t app,
			  const struct chat_idempotency *idem)
{
	arg_start(c);
	chat_job_key_idempotency(&c->text, app, idem->key, idem->key_len);
	arg_end(c);
}

/* TTL and raw request of a create: the script's last string arguments. */
static void call_idem_args(struct call *c, struct chat_ctx *ctx,
			   const struct chat_idempotency *idem)
{
	call_addf(c, "%u", ctx->cfg.idempotency_ttl);
	if (idem)
		call_addb(c, idem->request ? idem->request : "",
			  idem->request_len);
	else
		call_addf(c, "%s", "");
}

/* Run the call; `extra` is one more binary argument (a body) or NULL. */
static redisReply *call_run(struct chat_ctx *ctx, struct call *c,
			    struct chat_script *s, int nkeys,
			    const char *extra, size_t extra_len)
{
	const char *argv[17];
	size_t lens[17];
	int argc = c->argc;

	for (int i = 0; i < c->argc; i++) {
		argv[i] = c->text.data + c->offs[i];
		lens[i] = c->lens[i];
	}
	if (extra) {
		argv[argc] = extra;
		lens[argc++] = extra_len;
	}
	return chat_redis_eval(ctx->redis, s, nkeys, argc, argv, lens);
}

/*
 * CHAT_REDIS_DURABLE=replica: wait until a replica holds the create just
 * made (its number and its job) before it is answered.  When none
 * acknowledges in time the create is answered 202 all the same: its
 * number is handed out and its job queued on the master, and a 503 would
 * have the client create again (a second chat or message); it is then as
 * durable as without this setting, and a warning says so.
 */
static void wait_replica(struct chat_ctx *ctx)
{
	long long acked;

	if (!ctx->cfg.redis_durable_replica)
		return;
	acked = chat_redis_wait(ctx->redis, 1, ctx->cfg.redis_wait_ms);
	if (acked < 1)
		chat_log_warn("no replica acknowledged a create within %u ms "
			      "(%s); answered anyway", ctx->cfg.redis_wait_ms,
			      acked < 0 ? ctx->redis->errstr : "WAIT: 0");
}

static int int_reply(redisReply *reply, long long *out)
{
	if (!reply || reply->type != REDIS_REPLY_INTEGER)
		return -1;
	*out = reply->integer;
	return 0;
}

int chat_queue_init_app(struct chat_ctx *ctx, uint64_t app)
{
	struct chat_buf key;
	redisReply *reply;
	int rc;

	chat_buf_init(&key);
	chat_job_key_chats(&key, app);
	reply = chat_redis_cmd(ctx->redis, "SET %s 0 NX", key.data);
	rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
	freeReplyObject(reply);
	chat_buf_release(&key);
	return rc;
}

int chat_queue_create_chat(struct chat_ctx *ctx, uint64_t app,
			   const struct chat_idempotency *idem,
			   uint64_t *number)
{
	long long now = (long long)time(NULL), n = -1;
	uint64_t seed;
	bool seeded = false;
	int rc = -1;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct call c;
		redisReply *reply;

		call_init(&c);
		call_key(&c, KEY_CHATS, app, 0);
		call_key(&c, KEY_DELETED_CHATS, app, 0);
		call_key(&c, KEY_JOBS, app, 0);
		if (idem)
			call_idem_key(&c, app, idem);
		if (seeded)
			call_addf(&c, "%llu", (unsigned long long)seed);
		else
			call_addf(&c, "%s", "");
		call_addf(&c, "%llu", (unsigned long long)app);
		call_addf(&c, "%lld", now);
		call_idem_args(&c, ctx, idem);
		reply = call_run(ctx, &c, &create_chat_script, idem ? 4 : 3,
				 NULL, 0);
		chat_buf_release(&c.text);
		if (int_reply(reply, &n)) {
			freeReplyObject(reply);
			return -1;
		}
		freeReplyObject(reply);
		if (n > 0) {
			*number = (uint64_t)n;
			wait_replica(ctx);
			rc = 0;
			break;
		}
		if (n == -3)
			return CHAT_QUEUE_CONFLICT;
		if (chat_chats_max_number(ctx->db, app, &seed))
			return -1;
		seeded = true;
	}
	return rc;
}

int chat_queue_create_message(struct chat_ctx *ctx, uint64_t app,
			      uint64_t chat, const char *body, size_t len,
			      const struct chat_idempotency *idem,
			      uint64_t *number)
{
	long long now = (long long)time(NULL), n = -1;
	uint64_t chat_seed = 0, msg_seed = 0;
	bool have_chat_seed = false, have_msg_seed = false;

	for (int attempt = 0; attempt < 3; attempt++) {
		struct call c;
		redisReply *reply;

		call_init(&c);
		call_key(&c, KEY_CHATS, app, 0);
		call_key(&c, KEY_DELETED_CHATS, app, 0);
		call_key(&c, KEY_MESSAGES, app, chat);
		call_key(&c, KEY_JOBS, app, 0);
		call_key(&c, KEY_DELETED_MAX, app, chat);
		if (idem)
			call_idem_key(&c, app, idem);
		call_addf(&c, "%llu", (unsigned long long)chat);
		if (have_chat_seed)
			call_addf(&c, "%llu", (unsigned long long)chat_seed);
		else
			call_addf(&c, "%s", "");
		if (have_msg_seed)
			call_addf(&c, "%llu", (unsigned long long)msg_seed);
		else
			call_addf(&c, "%s", "");
		call_addf(&c, "%llu", (unsigned long long)app);
		call_addf(&c, "%lld", now);
		call_idem_args(&c, ctx, idem);
		reply = call_run(ctx, &c, &create_message_script, idem ? 6 : 5,
				 body, len);
		chat_buf_release(&c.text);
		if (int_reply(reply, &n)) {
			freeReplyObject(reply);
			return -1;
		}
		freeReplyObject(reply);
		if (n == 0)
			return CHAT_QUEUE_NO_CHAT;
		if (n > 0) {
			*number = (uint64_t)n;
			wait_replica(ctx);
			return 0;
		}
		if (n == -3)
			return CHAT_QUEUE_CONFLICT;
		if (n == -1) {
			if (chat_chats_max_number(ctx->db, app, &chat_seed))
				return -1;
			have_chat_seed = true;
		} else {
			if (chat_messages_max_number(ctx->db, app, chat,
						     &msg_seed))
				return -1;
			have_msg_seed = true;
		}
	}
	return -1;
}

int chat_queue_delete_chat(struct chat_ctx *ctx, uint64_t app, uint64_t chat,
			   uint64_t chat_id)
{
	struct call c;
	redisReply *reply;
	long long n = 0;
	int rc;

	call_init(&c);
	call_key(&c, KEY_DELETED_CHATS, app, 0);
	call_key(&c, KEY_JOBS, app, 0);
	call_addf(&c, "%llu", (unsigned long long)chat);
	call_addf(&c, "%llu", (unsigned long long)app);
	call_addf(&c, "%lld", (long long)time(NULL));
	call_addf(&c, "%llu", (unsigned long long)chat_id);
	reply = call_run(ctx, &c, &delete_chat_script, 2, NULL, 0);
	chat_buf_release(&c.text);
	rc = int_reply(reply, &n);
	freeReplyObject(reply);
	return rc;
}

int chat_queue_message_deleted(struct chat_ctx *ctx, uint64_t app,
			       uint64_t chat, uint64_t number)
{
	struct call c;
	redisReply *reply;
	long long n = 0;
	int rc;

	call_init(&c);
	call_key(&c, KEY_DELETED_MAX, app, chat);
	call_addf(&c, "%llu", (unsigned long long)number);
	reply = call_run(ctx, &c, &message_deleted_script, 1, NULL, 0);
	chat_buf_release(&c.text);
	rc = int_reply(reply, &n);
	freeReplyObject(reply);
	return rc;
}

int chat_queue_mark_dirty(struct chat_ctx *ctx, uint64_t app, uint64_t chat)
{
	struct chat_buf key;
	redisReply *reply;
	int rc;

	chat_buf_init(&key);
	chat_job_key(&key, chat_queue_shard(app), CHAT_KEY_DIRTY);
	if (chat)
		reply = chat_redis_cmd(ctx->redis, "SADD %s %llu %llu:%llu",
				       key.data, (unsigned long long)app,
				       (unsigned long long)app,
				       (unsigned long long)chat);
	else
		reply = chat_redis_cmd(ctx->redis, "SADD %s %llu", key.data,
				       (unsigned long long)app);
	rc = reply && reply->type == REDIS_REPLY_INTEGER ? 0 : -1;
	freeReplyObject(reply);
	chat_buf_release(&key);
	return rc;
}
