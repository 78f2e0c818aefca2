/*
 * applications - FastCGI program for /applications and
 * /applications/{token}: create, show, rename.
 */
#include <string.h>

#include "applications.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "redis.h"
#include "xalloc.h"

static const struct chat_field name_field = {
	.name = "name",
	.max = CHAT_NAME_MAX_CHARS,
	.max_in_chars = true,
};

/* Parse the body and read `name`; answers and returns -1 on bad input. */
static int read_name(struct chat_req *req, bool required, const char **name,
		     size_t *len, int *present)
{
	struct json_object *obj = NULL;
	struct chat_buf msg;
	int rc = -1;

	chat_buf_init(&msg);
	if (chat_req_json(req, name_field.name, &obj))
		goto out;
	*present = chat_json_string(obj, &name_field, required, name, len,
				    &msg);
	if (*present < 0) {
		chat_res_error(req, 422, "validation_failed", "%s", msg.data);
		goto out;
	}
	/* The name points into obj: keep a copy beyond its lifetime. */
	if (*present)
		*name = xstrndup(*name, *len);
	rc = 0;
out:
	json_object_put(obj);
	chat_buf_release(&msg);
	return rc;
}

static void answer_app(struct chat_req *req, int status,
		       const struct chat_app *app)
{
	struct json_object *obj = chat_app_json(app);
	struct chat_buf etag;

	/* The body holds the token, a credential: no cache may keep it. */
	chat_res_header(req, "Cache-Control: no-store");
	chat_buf_init(&etag);
	chat_app_etag(app, &etag);
	chat_res_header(req, "ETag: %s", etag.data);
	chat_res_json(req, status, obj);
	json_object_put(obj);
	chat_buf_release(&etag);
}

static void create(struct chat_req *req)
{
	struct chat_app app;
	const char *name = NULL;
	size_t len = 0;
	int present;

	if (read_name(req, true, &name, &len, &present))
		return;
	if (chat_app_create(req->ctx->db, name, len, &app)) {
		chat_res_unavailable(req, "The database");
		goto out;
	}
	if (chat_queue_init_app(req->ctx, app.id))
		chat_log_warn("chat counter not started: %s",
			      req->ctx->redis->errstr);
	chat_res_header(req, "Location: /applications/%s", app.token);
	answer_app(req, 201, &app);
out:
	free((char *)name);
}

static void show(struct chat_req *req)
{
	struct chat_buf etag;
	struct chat_app app;

	chat_buf_init(&etag);
	switch (chat_app_get(req->ctx->db, req->token, req->token_len, &app)) {
	case CHAT_FOUND:
		chat_res_header(req, "Cache-Control: no-store");
		chat_app_etag(&app, &etag);
		if (!chat_req_conditional_get(req, etag.data)) {
			struct json_object *obj = chat_app_json(&app);

			chat_res_json(req, 200, obj);
			json_object_put(obj);
		}
		break;
	case CHAT_ABSENT:
		chat_res_not_found(req, "The application");
		break;
	default:
		chat_res_unavailable(req, "The database");
	}
	chat_buf_release(&etag);
}

/*
 * PUT replaces (name required); PATCH changes what is given.  With an
 * If-Match naming the version read here, the UPDATE itself checks that
 * it is still current: of two racing updates with the same If-Match,
 * one renames and the other gets 412.
 */
static void update(struct chat_req *req)
{
	struct chat_buf etag;
	struct chat_app app;
	const char *name = NULL;
	size_t len = 0;
	bool conditional;
	int present, rc;

	chat_buf_init(&etag);
	/* The token first: a body is parsed only for a known application. */
	rc = chat_app_get(req->ctx->db, req->token, req->token_len, &app);
	if (rc == 0) {
		chat_res_not_found(req, "The application");
		goto out;
	}
	if (rc < 0) {
		chat_res_unavailable(req, "The database");
		goto out;
	}
	if (read_name(req, req->method == CHAT_PUT, &name, &len, &present))
		goto out;
	chat_app_etag(&app, &etag);
	if (chat_req_precondition(req, etag.data, &conditional))
		goto out;
	if (present) {
		rc = chat_app_rename(req->ctx->db, &app, name, len,
				     conditional);
		if (rc == 0) {
			if (conditional)
				chat_res_precondition_failed(req);
			else
				chat_res_not_found(req, "The application");
			goto out;
		}
		if (rc < 0 || chat_app_get(req->ctx->db, req->token,
					   req->token_len, &app) != 1) {
			chat_res_unavailable(req, "The database");
			goto out;
		}
	}
	answer_app(req, 200, &app);
out:
	free((char *)name);
	chat_buf_release(&etag);
}

static const struct chat_route routes[] = {
	{ CHAT_POST, "/applications", create },
	{ CHAT_GET, "/applications/{token}", show },
	{ CHAT_PATCH, "/applications/{token}", update },
	{ CHAT_PUT, "/applications/{token}", update },
};

int main(void)
{
	struct chat_ctx ctx;
	int rc;

	chat_ctx_init(&ctx, "applications");
	rc = chat_http_serve(&ctx, routes, sizeof(routes) / sizeof(routes[0]));
	chat_ctx_release(&ctx);
	return rc;
}
