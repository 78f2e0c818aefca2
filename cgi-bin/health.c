/*
 * health - FastCGI program for /health: pings MariaDB, Redis and the
 * search engine and names whichever is down.  The answer is kept for
 * CACHE_MS in the context (ctx->health, lib/ctx.h), so that a flood of
 * /health is not a flood on the stores: at most one round of pings per
 * context per CACHE_MS.
 */
#include "clock.h"
#include "ctx.h"
#include "db.h"
#include "es.h"
#include "http.h"
#include "redis.h"

#define CACHE_MS 1000.0

static void health(struct chat_req *req)
{
	struct chat_ctx *ctx = req->ctx;
	struct chat_health *last = &ctx->health;
	double now = chat_now_ms();
	struct json_object *obj;
	bool mysql, redis, es, ok;

	if (!last->valid || now - last->at >= CACHE_MS) {
		last->mysql = chat_db_ping(ctx->db) == 0;
		last->redis = chat_redis_ping(ctx->redis);
		last->es = chat_es_healthy(ctx->es);
		last->at = now;
		last->valid = true;
	}
	mysql = last->mysql;
	redis = last->redis;
	es = last->es;
	ok = mysql && redis && es;
	obj = json_object_new_object();

	json_object_object_add(obj, "status",
			       json_object_new_string(ok ? "ok" : "down"));
	json_object_object_add(obj, "mysql",
			       json_object_new_string(mysql ? "ok" : "down"));
	json_object_object_add(obj, "redis",
			       json_object_new_string(redis ? "ok" : "down"));
	json_object_object_add(obj, "elasticsearch",
			       json_object_new_string(es ? "ok" : "down"));
	chat_res_json(req, ok ? 200 : 503, obj);
	json_object_put(obj);
}

static const struct chat_route routes[] = {
	{ CHAT_GET, "/health", health },
};

int main(void)
{
	struct chat_ctx ctx;
	int rc;

	chat_ctx_init(&ctx, "health");
	chat_ctx_use_search(&ctx);
	rc = chat_http_serve(&ctx, routes, sizeof(routes) / sizeof(routes[0]));
	chat_ctx_release(&ctx);
	return rc;
}
