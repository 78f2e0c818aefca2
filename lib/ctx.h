/*
 * ctx.h - the per-process context built in main(): configuration and the
 * handles of every backing store.  Handles connect lazily and reconnect
 * by themselves, so a store that is down at start-up is no reason to die.
 */
#ifndef CHAT_CTX_H
#define CHAT_CTX_H

#include <stdbool.h>

#include "config.h"
#include "result.h"

struct chat_es;

/*
 * The last answer of /health (cgi-bin/health.c) and when its pings were
 * made: kept with the handles it pinged, so that each context pings the
 * stores at most once a second however often /health is asked.
 */
struct chat_health {
	double at;			/* chat_now_ms() of the pings */
	bool valid, mysql, redis, es;
};

struct chat_ctx {
	struct chat_config cfg;
	struct chat_db *db;
	struct chat_redis *redis;
	struct chat_es *es;		/* NULL until chat_ctx_use_search() */
	void (*es_free)(struct chat_es *es);	/* set with es */
	struct chat_app_cache *apps;	/* token -> application id */
	struct chat_health health;	/* /health's cached answer */
};

/* Load the configuration and create (unconnected) handles. */
void chat_ctx_init(struct chat_ctx *ctx, const char *name);
void chat_ctx_release(struct chat_ctx *ctx);

/*
 * Create the (unconnected) search engine handle ctx->es, which
 * chat_ctx_release frees.  Defined in es.c, so that only the programs
 * that call it link es.o and load libcurl (with the linker's
 * --as-needed): it costs every process several MiB of resident library
 * pages.
 */
void chat_ctx_use_search(struct chat_ctx *ctx);

#endif
