/*
 * chats - FastCGI program for /applications/{token}/chats and
 * /applications/{token}/chats/{chat}: create (queued), list, show, delete.
 */
#include "applications.h"
#include "chats.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "live.h"
#include "log.h"
#include "lookup.h"
#include "queue.h"
#include "redis.h"

static void create(struct chat_req *req)
{
	struct chat_idempotency idem = { 0 };
	struct json_object *obj = NULL;
	uint64_t app, number;

	if (chat_req_idempotency_key(req, &idem.key, &idem.key_len))
		return;
	/*
	 * The token first: a body is parsed only for a known application.
	 * No body, or any JSON object: there is nothing to set on a chat.
	 */
	if (chat_lookup_app(req, &app) || chat_req_json(req, NULL, &obj))
		return;
	json_object_put(obj);
	idem.request = req->body.data;
	idem.request_len = req->body.len;
	switch (chat_queue_create_chat(req->ctx, app, idem.key ? &idem : NULL,
				       &number)) {
	case 0:
		chat_res_accepted(req, number);
		break;
	case CHAT_QUEUE_CONFLICT:
		chat_res_idempotency_conflict(req);
		break;
	default:
		chat_res_unavailable(req, "A backing store");
	}
}

static void list(struct chat_req *req)
{
	struct chat_buf page;
	uint64_t app, after, last;
	unsigned limit;
	bool more;

	if (chat_req_page(req, CHAT_PAGE_DEFAULT, &limit, &after) || chat_lookup_app(req, &app))
		return;
	chat_buf_init(&page);
	if (chat_chats_list(req->ctx->db, app, after, limit, &page, &last,
			    &more))
		chat_res_unavailable(req, "The database");
	else
		chat_res_page(req, &page, last, more, limit);
	chat_buf_release(&page);
}

static void show(struct chat_req *req)
{
	struct chat_chat chat;
	struct chat_buf etag;

	if (chat_lookup_chat(req, &chat))
		return;
	chat_buf_init(&etag);
	chat_chats_etag(&chat, &etag);
	if (!chat_req_conditional_get(req, etag.data)) {
		struct json_object *obj = chat_chats_json(&chat);

		chat_res_json(req, 200, obj);
		json_object_put(obj);
	}
	chat_buf_release(&etag);
}

/*
 * One transaction: delete the row (with If-Match, only if the chat is
 * still as read: the DELETE checks it), mark the chat deleted in Redis
 * so that no message is accepted into it from now on, and only then
 * commit, so that reads answer 404 from the moment the mark is there.
 * When Redis cannot take the mark the row stays.  The queued delete job
 * removes its messages and index entries in batches, and the row too,
 * should the COMMIT itself be lost.  The chat's live streams then get
 * chat.deleted and end.
 */
static void delete(struct chat_req *req)
{
	struct chat_chat chat;
	struct chat_buf etag;
	bool conditional;
	int rc;

	if (chat_lookup_chat(req, &chat))
		return;
	chat_buf_init(&etag);
	chat_chats_etag(&chat, &etag);
	if (chat_req_precondition(req, etag.data, &conditional))
		goto out;
	if (chat_db_simple(req->ctx->db, "BEGIN")) {
		chat_res_unavailable(req, "The database");
		goto out;
	}
	rc = chat_chats_delete_if(req->ctx->db, &chat, conditional);
	if (rc <= 0) {
		chat_db_simple(req->ctx->db, "ROLLBACK");
		if (rc < 0)
			chat_res_unavailable(req, "The database");
		else if (conditional)
			chat_res_precondition_failed(req);
		else
			chat_res_not_found(req, "The chat");
		goto out;
	}
	if (chat_queue_delete_chat(req->ctx, chat.app, chat.number, chat.id)) {
		chat_db_simple(req->ctx->db, "ROLLBACK");
		chat_res_unavailable(req, "A backing store");
		goto out;
	}
	if (chat_db_simple(req->ctx->db, "COMMIT"))
		chat_log_warn("chat delete not committed; the queued delete "
			      "job removes the row");
	chat_res_empty(req, 204);
	if (chat_live_chat_deleted(req->ctx->redis, chat.app, chat.number))
		chat_log_warn("live event chat.deleted not published: %s",
			      req->ctx->redis->errstr);
out:
	chat_buf_release(&etag);
}

static const struct chat_route routes[] = {
	{ CHAT_GET, "/applications/{token}/chats", list },
	{ CHAT_POST, "/applications/{token}/chats", create },
	{ CHAT_GET, "/applications/{token}/chats/{chat}", show },
	{ CHAT_DELETE, "/applications/{token}/chats/{chat}", delete },
};

int main(void)
{
	struct chat_ctx ctx;
	int rc;

	chat_ctx_init(&ctx, "chats");
	rc = chat_http_serve(&ctx, routes, sizeof(routes) / sizeof(routes[0]));
	chat_ctx_release(&ctx);
	return rc;
}
