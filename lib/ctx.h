/*
 * ctx.h - the per-process context built in main(): configuration and the
 * handles of every backing store.  Handles connect lazily and reconnect
 * by themselves, so a store that is down at start-up is no reason to die.
 */
#ifndef CHAT_CTX_H
#define CHAT_CTX_H

#include "config.h"

struct chat_ctx {
	struct chat_config cfg;
	struct chat_db *db;
	struct chat_redis *redis;
	struct chat_es *es;
	struct chat_app_cache *apps;	/* token -> application id */
};

/* Load the configuration and create (unconnected) handles. */
void chat_ctx_init(struct chat_ctx *ctx, const char *name);
void chat_ctx_release(struct chat_ctx *ctx);

#endif
