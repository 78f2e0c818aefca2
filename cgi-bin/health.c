/*
 * health - FastCGI program for /health: pings MariaDB, Redis and the
 * search engine and names whichever is down.
 */
#include "ctx.h"
#include "db.h"
#include "es.h"
#include "http.h"
#include "redis.h"

static void health(struct chat_req *req)
{
	struct chat_ctx *ctx = req->ctx;
	bool mysql = chat_db_ping(ctx->db) == 0;
	bool redis = chat_redis_ping(ctx->redis);
	bool es = chat_es_healthy(ctx->es);
	struct json_object *obj = json_object_new_object();
	bool ok = mysql && redis && es;

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
