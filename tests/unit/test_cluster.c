/*
 * test_cluster.c - unit tests of lib/cluster.c (slots of keys and of
 * formatted commands) and of the key builders of lib/queue.c: every key
 * of one application is in one slot, so each script runs on one node.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "buf.h"
#include "cluster.h"
#include "job.h"
#include "queue.h"

static unsigned slot(const char *key)
{
	return chat_cluster_key_slot(key, strlen(key));
}

Test(cluster, crc16_reference)
{
	/* The check value of CRC-16/XMODEM, as in Redis's cluster spec. */
	cr_assert_eq(chat_cluster_crc16("123456789", 9), 0x31C3);
	cr_assert_eq(chat_cluster_crc16("", 0), 0);
	cr_assert_eq(slot("123456789"), 0x31C3 & 16383);
}

Test(cluster, hash_tags)
{
	unsigned tag = chat_cluster_crc16("user1000", 8) & 16383;

	cr_assert_eq(slot("{user1000}.following"), tag);
	cr_assert_eq(slot("{user1000}.followers"), tag);
	cr_assert_eq(slot("{user1000}.following"),
		     slot("{user1000}.followers"));
	/* Only the first tag counts. */
	cr_assert_eq(slot("foo{bar}{zap}"), slot("bar"));
	/* "{bar" is the tag here: between the first { and the next }. */
	cr_assert_eq(slot("foo{{bar}}zap"), slot("{bar"));
	/* An empty tag means the whole key is hashed. */
	cr_assert_eq(slot("foo{}{bar}"),
		     chat_cluster_crc16("foo{}{bar}", 10) & 16383);
	cr_assert_neq(slot("foo{}{bar}"), slot("bar"));
	cr_assert_eq(slot("{}"), chat_cluster_crc16("{}", 2) & 16383);
	/* No closing brace: the whole key. */
	cr_assert_eq(slot("foo{bar"), chat_cluster_crc16("foo{bar", 7) & 16383);
	/* Binary-safe: the length counts, not a NUL. */
	cr_assert_eq(chat_cluster_key_slot("a\0{x}", 5), slot("x"));
	for (unsigned i = 0; i < 1000; i++) {
		char k[32];

		snprintf(k, sizeof(k), "key:%u", i);
		cr_assert_lt(slot(k), 16384);
	}
}

/* The slot of a command formatted as hiredis sends it. */
static int cmd_slot(int argc, const char **argv)
{
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
	int s;

	cr_assert_geq(len, 0);
	s = chat_cluster_command_slot(cmd, (size_t)len);
	redisFreeCommand(cmd);
	return s;
}

Test(cluster, command_keys)
{
	const char *get[] = { "GET", "{a}x" };
	const char *eval[] = { "EVALSHA", "abc", "2", "{s3}k", "{s3}j", "v" };
	const char *eval0[] = { "EVAL", "return 1", "0" };
	const char *xread[] = { "XREADGROUP", "GROUP", "g", "c", "COUNT",
				"10", "STREAMS", "chat:{s5}:jobs", ">" };
	const char *xgroup[] = { "XGROUP", "CREATE", "chat:{s7}:jobs", "g",
				 "0", "MKSTREAM" };
	const char *ping[] = { "PING" };
	const char *wait[] = { "WAIT", "1", "100" };
	const char *script[] = { "SCRIPT", "LOAD", "return 1" };

	cr_assert_eq(cmd_slot(2, get), (int)slot("a"));
	cr_assert_eq(cmd_slot(6, eval), (int)slot("s3"));
	cr_assert_eq(cmd_slot(3, eval0), -1);
	cr_assert_eq(cmd_slot(9, xread), (int)slot("s5"));
	cr_assert_eq(cmd_slot(6, xgroup), (int)slot("s7"));
	cr_assert_eq(cmd_slot(1, ping), -1);
	cr_assert_eq(cmd_slot(3, wait), -1);
	cr_assert_eq(cmd_slot(3, script), -1);
	/* Lower case names are the same commands. */
	get[0] = "get";
	cr_assert_eq(cmd_slot(2, get), (int)slot("a"));
}

Test(cluster, malformed_commands)
{
	static const char *const bad[] = {
		"", "*", "*1\r\n", "*1\r\n$3\r\nGE", "*2\r\n$3\r\nGET\r\n$9\r\nab\r\n",
		"+OK\r\n", "*99999999999\r\n", "*1\r\n$-1\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_assert_eq(chat_cluster_command_slot(bad[i], strlen(bad[i])),
			     -1, "%zu", i);
}

Test(cluster, seeds)
{
	struct chat_cluster *cl = chat_cluster_new("127.0.0.1:7000,"
						   "localhost:7001", 100);

	cr_assert_not_null(cl);
	chat_cluster_free(cl);
	cr_assert_null(chat_cluster_new("", 100));
	cr_assert_null(chat_cluster_new("127.0.0.1", 100));
	cr_assert_null(chat_cluster_new("127.0.0.1:", 100));
	cr_assert_null(chat_cluster_new("127.0.0.1:70000", 100));
	cr_assert_null(chat_cluster_new("127.0.0.1:7000,x:y", 100));
	chat_cluster_free(NULL);
}

/* No node answers: a bounded wait, then NULL and a reason. */
Test(cluster, nothing_answers)
{
	/* Port 1 on loopback: connections are refused. */
	struct chat_cluster *cl = chat_cluster_new("127.0.0.1:1", 300);
	char *cmd = NULL;
	int len = redisFormatCommand(&cmd, "GET %s", "k");

	cr_assert_null(chat_cluster_command(cl, cmd, (size_t)len));
	cr_assert_neq(chat_cluster_errstr(cl)[0], '\0');
	chat_cluster_append(cl, cmd, (size_t)len);
	cr_assert_null(chat_cluster_reply(cl));
	chat_cluster_free(cl);
}

/* Every key the service builds for one application has that shard's slot. */
Test(cluster, one_slot_per_application)
{
	static const char *const shard_keys[] = {
		CHAT_STREAM_JOBS, CHAT_STREAM_INDEX, CHAT_STREAM_DEAD,
		CHAT_KEY_DIRTY, CHAT_KEY_DIRTY_TAKEN,
	};
	struct chat_buf k;
	bool seen[16384] = { false };
	unsigned distinct = 0;

	chat_buf_init(&k);
	for (unsigned long long app = 1; app <= 200; app++) {
		unsigned shard = chat_queue_shard(app);
		unsigned want;

		chat_buf_reset(&k);
		chat_job_key_chats(&k, app);
		want = chat_cluster_key_slot(k.data, k.len);
		for (int i = 0; i < 6; i++) {
			chat_buf_reset(&k);
			switch (i) {
			case 0: chat_job_key_deleted_chats(&k, app); break;
			case 1: chat_job_key_messages(&k, app, 1); break;
			case 2: chat_job_key_deleted_max(&k, app, 42); break;
			case 3: chat_job_key_messages(&k, app, UINT64_MAX); break;
			case 4: chat_job_key_idempotency(&k, app, "k}{", 3); break;
			default: chat_job_key_chats(&k, app); break;
			}
			cr_assert_eq(chat_cluster_key_slot(k.data, k.len), want,
				     "%s", k.data);
		}
		for (size_t i = 0;
		     i < sizeof(shard_keys) / sizeof(*shard_keys); i++) {
			chat_buf_reset(&k);
			chat_job_key(&k, shard, shard_keys[i]);
			cr_assert_eq(chat_cluster_key_slot(k.data, k.len), want,
				     "%s", k.data);
		}
		if (!seen[want]) {
			seen[want] = true;
			distinct++;
		}
	}
	/* The shards spread over 16 slots, not one. */
	cr_assert_eq(distinct, CHAT_SHARDS);
	chat_buf_release(&k);
}
