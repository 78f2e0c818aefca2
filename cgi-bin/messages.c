/*
 * messages - FastCGI program for /applications/{token}/chats/{chat}/
 * messages and below: create (queued), list, show, update, delete.
 * Search is the program cgi-bin/search, a pool of its own, so that a
 * search engine that hangs holds no process that creates or reads.
 */
#include <string.h>

#include "applications.h"
#include "chats.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "indexer.h"
#include "json.h"
#include "log.h"
#include "lookup.h"
#include "messages.h"
#include "queue.h"
#include "search.h"

static const struct chat_field body_field = {
	.name = "body",
	.max = CHAT_BODY_MAX_BYTES,
	.max_in_chars = false,
};

/*
 * Parse the request body and read `body`.  On success returns 0 with
 * *json owning the string that *body points into (caller puts it).
 * Answers and returns -1 on bad input.
 */
static int read_body_field(struct chat_req *req, bool required,
			   struct json_object **json, const char **body,
			   size_t *len)
{
	struct chat_buf msg;
	int rc = 0;

	if (chat_req_json(req, json))
		return -1;
	chat_buf_init(&msg);
	if (chat_json_string(*json, &body_field, required, body, len, &msg) <
	    0) {
		chat_res_error(req, 422, "validation_failed", "%s", msg.data);
		json_object_put(*json);
		*json = NULL;
		rc = -1;
	}
	chat_buf_release(&msg);
	return rc;
}

static void create(struct chat_req *req)
{
	struct json_object *json = NULL;
	const char *body;
	size_t len;
	uint64_t app, number;

	if (read_body_field(req, true, &json, &body, &len))
		return;
	if (chat_lookup_app(req, &app))
		goto out;
	switch (chat_queue_create_message(req->ctx, app, req->chat, body, len,
					  &number)) {
	case 1:
		chat_res_accepted(req, number);
		break;
	case 0:
		chat_res_not_found(req, "The chat");
		break;
	default:
		chat_res_unavailable(req, "A backing store");
	}
out:
	json_object_put(json);
}

static void list(struct chat_req *req)
{
	struct chat_buf page;
	struct chat_chat chat;
	uint64_t after, last;
	unsigned limit;
	bool more;

	if (chat_req_page(req, CHAT_PAGE_DEFAULT, &limit, &after) || chat_lookup_chat(req, &chat))
		return;
	chat_buf_init(&page);
	if (chat_messages_list(req->ctx->db, chat.id, after, limit, &page,
			       &last, &more))
		chat_res_unavailable(req, "The database");
	else
		chat_res_page(req, &page, last, more, limit);
	chat_buf_release(&page);
}

/* Answer with `m`, the result of a lookup that returned `found`. */
static void answer_message(struct chat_req *req, int found,
			   const struct chat_message *m)
{
	struct json_object *obj;

	switch (found) {
	case 1:
		obj = chat_message_json(m);
		chat_res_json(req, 200, obj);
		json_object_put(obj);
		break;
	case 0:
		chat_res_not_found(req, "The message");
		break;
	default:
		chat_res_unavailable(req, "The database");
	}
}

static void show(struct chat_req *req)
{
	struct chat_message m;
	uint64_t app;

	if (chat_lookup_app(req, &app))
		return;
	chat_message_init(&m);
	answer_message(req, chat_messages_get(req->ctx->db, app, req->chat,
					      req->message, &m), &m);
	chat_message_release(&m);
}

/*
 * Bring the index entry in line now, so that a search right after sees
 * the change, and queue an index entry as well: the worker's indexer may
 * be applying an older state of this message at this very moment, and
 * the entry, read after this change, settles it (and redoes what failed
 * here while search was down).
 */
static void reindex(struct chat_req *req, const struct chat_chat *chat,
		    const struct chat_message *m)
{
	struct chat_search_doc doc = {
		.app = chat->app,
		.chat = chat->number,
		.number = req->message,
		.body = m ? m->body.data : NULL,
		.body_len = m ? m->body.len : 0,
		.created_at = m ? m->created_at : 0,
		.updated_at = m ? m->updated_at : 0,
	};
	bool failed = false;
	int rc;

	rc = chat_search_bulk(req->ctx->es, &doc, 1, false, &failed);
	if (chat_index_queue(req->ctx->redis, chat->app, chat->number,
			     req->message) &&
	    (rc || failed))
		chat_log_error("message index entry left stale: search and "
			       "queue both unavailable");
}

/* PUT replaces (body required); PATCH changes what is given. */
static void update(struct chat_req *req)
{
	struct json_object *json = NULL;
	struct chat_message m;
	struct chat_chat chat;
	const char *body;
	size_t len;
	int rc;

	chat_message_init(&m);
	if (read_body_field(req, req->method == CHAT_PUT, &json, &body, &len) ||
	    chat_lookup_chat(req, &chat))
		goto out;
	if (body) {
		rc = chat_messages_set_body(req->ctx->db, chat.id, req->message,
					    body, len);
		if (rc < 0) {
			chat_res_unavailable(req, "The database");
			goto out;
		}
		if (rc == 0) {
			chat_res_not_found(req, "The message");
			goto out;
		}
	}
	answer_message(req, chat_messages_get_by_chat_id(req->ctx->db, chat.id,
							 req->message, &m),
		       &m);
	if (body && req->status == 200)
		reindex(req, &chat, &m);
out:
	chat_message_release(&m);
	json_object_put(json);
}

static void delete(struct chat_req *req)
{
	struct chat_chat chat;

	if (chat_lookup_chat(req, &chat))
		return;
	switch (chat_messages_delete(req->ctx->db, chat.id, req->message)) {
	case 1:
		chat_res_empty(req, 204);
		if (chat_queue_message_deleted(req->ctx, chat.app, chat.number,
					       req->message))
			chat_log_warn("deleted message number not recorded: "
				      "a lost counter could hand it out again");
		reindex(req, &chat, NULL);
		if (chat_queue_mark_dirty(req->ctx, chat.app, chat.number))
			chat_log_warn("messages_count will be fixed only by "
				      "the next full sync");
		break;
	case 0:
		chat_res_not_found(req, "The message");
		break;
	default:
		chat_res_unavailable(req, "The database");
	}
}

#define MESSAGES "/applications/{token}/chats/{chat}/messages"

static const struct chat_route routes[] = {
	{ CHAT_GET, MESSAGES, list },
	{ CHAT_POST, MESSAGES, create },
	{ CHAT_GET, MESSAGES "/{message}", show },
	{ CHAT_PATCH, MESSAGES "/{message}", update },
	{ CHAT_PUT, MESSAGES "/{message}", update },
	{ CHAT_DELETE, MESSAGES "/{message}", delete },
};

int main(void)
{
	struct chat_ctx ctx;
	int rc;

	chat_ctx_init(&ctx, "messages");
	chat_ctx_use_search(&ctx);
	rc = chat_http_serve(&ctx, routes, sizeof(routes) / sizeof(routes[0]));
	chat_ctx_release(&ctx);
	return rc;
}
