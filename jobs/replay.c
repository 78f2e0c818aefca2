/*
 * replay - move dead-lettered entries back onto their stream.
 *
 *   chat-replay [jobs|index] [--max N]
 *
 * The worker and its indexer give up on an entry after CHAT_WORKER_TRIES
 * failures (or at once when it is malformed) and append it, with all its
 * fields and the reason, to the dead-letter stream chat:{sK}:dead of its
 * shard (lib/stream.h).  Once the cause is fixed (a full disk, a broken
 * mapping), this puts them back: each record, oldest first, is appended
 * to its stream with its original fields and removed from the dead stream
 * in one MULTI/EXEC, and the worker then does it as if it were new (jobs
 * are idempotent).  With "jobs" or "index" only that stream's records are
 * moved; --max bounds how many in all (default: every one).  Prints how
 * many were moved; exit status 1 when Redis failed.
 */
#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "job.h"
#include "log.h"
#include "queue.h"
#include "redis.h"
#include "stream.h"
#include "text.h"

static int usage(void)
{
	fprintf(stderr, "usage: chat-replay [jobs|index] [--max N]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct chat_ctx ctx;
	const char *name = NULL;
	uint64_t max = UINT32_MAX;
	unsigned long total = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--max") == 0 && i + 1 < argc) {
			i++;
			if (chat_parse_u64(argv[i], strlen(argv[i]), 1,
					   UINT32_MAX, &max))
				return usage();
		} else if (!name &&
			   (strcmp(argv[i], CHAT_STREAM_JOBS) == 0 ||
			    strcmp(argv[i], CHAT_STREAM_INDEX) == 0)) {
			name = argv[i];
		} else {
			return usage();
		}
	}
	chat_ctx_init(&ctx, "replay");
	for (unsigned s = 0; s < CHAT_SHARDS && total < max; s++) {
		long n = chat_stream_replay(ctx.redis, s, name,
					    (unsigned)(max - total));

		if (n < 0) {
			fprintf(stderr, "chat-replay: shard %u: Redis: %s\n", s,
				ctx.redis->errstr);
			rc = 1;
			break;
		}
		total += (unsigned long)n;
	}
	printf("%lu dead-lettered entries moved back\n", total);
	chat_ctx_release(&ctx);
	return rc;
}
