/*
 * chats - FastCGI program for /applications/{token}/chats and
 * /applications/{token}/chats/{chat}: create (queued), list, show, delete.
 */
#include "applications.h"
#include "chats.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "lookup.h"
#include "queue.h"

static void create(struct chat_req *req)
{
	struct json_object *obj = NULL;
	uint64_t app, number;

	/*
	 * The token first: a body is parsed only for a known application.
	 * No body, or any JSON object: there is nothing to set on a chat.
	 */
	if (chat_lookup_app(req, &app) || chat_req_json(req, &obj))
		return;
	json_object_put(obj);
	if (chat_queue_create_chat(req->ctx, app, &number)) {
		chat_res_unavailable(req, "A backing store");
		return;
	}
	chat_res_accepted(req, number);
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
	struct json_object *obj;

	if (chat_lookup_chat(req, &chat))
		return;
	obj = chat_chat_json(&chat);
	chat_res_json(req, 200, obj);
	json_object_put(obj);
}

/*
 * Mark the chat deleted in Redis first, so that no message is accepted
 * into it from now on, then drop its row: reads answer 404 at once.  The
 * queued delete job removes its messages and index entries in batches.
 */
static void delete(struct chat_req *req)
{
	struct chat_chat chat;

	if (chat_lookup_chat(req, &chat))
		return;
	if (chat_queue_delete_chat(req->ctx, chat.app, chat.number, chat.id)) {
		chat_res_unavailable(req, "A backing store");
		return;
	}
	if (chat_chats_delete_row(req->ctx->db, chat.id)) {
		chat_res_unavailable(req, "The database");
		return;
	}
	chat_res_empty(req, 204);
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
