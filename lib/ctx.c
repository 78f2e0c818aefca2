/*
 * ctx.c - the per-process context.
 */
#include "ctx.h"

#include <stdlib.h>

#include "db.h"
#include "log.h"
#include "redis.h"

void chat_ctx_init(struct chat_ctx *ctx, const char *name)
{
	chat_log_init(name);
	chat_config_load(&ctx->cfg);
	ctx->db = chat_db_new(&ctx->cfg);
	ctx->redis = chat_redis_new(&ctx->cfg);
	ctx->es = NULL;
	ctx->es_free = NULL;
	ctx->apps = NULL;
	ctx->health = (struct chat_health){ .valid = false };
}

void chat_ctx_release(struct chat_ctx *ctx)
{
	chat_db_free(ctx->db);
	chat_redis_free(ctx->redis);
	/* Through the pointer: a reference to es.o would pull in libcurl. */
	if (ctx->es)
		ctx->es_free(ctx->es);
	free(ctx->apps);
	ctx->db = NULL;
	ctx->redis = NULL;
	ctx->es = NULL;
	ctx->es_free = NULL;
	ctx->apps = NULL;
	ctx->health = (struct chat_health){ .valid = false };
}
