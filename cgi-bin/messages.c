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
#include "live.h"
#include "log.h"
#include "lookup.h"
#include "messages.h"
#include "queue.h"
#include "redis.h"
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

	if (chat_req_json(req, body_field.name, json))
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
	struct chat_idempotency idem = { 0 };
	struct json_object *json = NULL;
	const char *body;
	size_t len;
	uint64_t app, number;

	/* The token first: a body is parsed only for a known application. */
	if (chat_req_idempotency_key(req, &idem.key, &idem.key_len) ||
	    chat_lookup_app(req, &app) ||
	    read_body_field(req, true, &json, &body, &len))
		return;
	idem.request = req->body.data;
	idem.request_len = req->body.len;
	switch (chat_queue_create_message(req->ctx, app, req->chat, body, len,
					  idem.key ? &idem : NULL, &number)) {
	case 0:
		chat_res_accepted(req, number);
		break;
	case CHAT_QUEUE_NO_CHAT:
		chat_res_not_found(req, "The chat");
		break;
	case CHAT_QUEUE_CONFLICT:
		chat_res_idempotency_conflict(req);
		break;
	default:
		chat_res_unavailable(req, "A backing store");
	}
	json_object_put(json);
}

/*
 * A page in one SQL statement; only a page without a row asks again
 * whether the chat exists (404) or is empty, or has nothing after `after`.
 */
static void list(struct chat_req *req)
{
	struct chat_buf page;
	struct chat_chat chat;
	uint64_t app, after, last;
	unsigned limit;
	bool more;

	if (chat_req_page(req, CHAT_PAGE_DEFAULT, &limit, &after) ||
	    chat_lookup_app(req, &app))
		return;
	chat_buf_init(&page);
	if (chat_messages_list(req->ctx->db, app, req->chat, after, limit,
			       &page, &last, &more))
		chat_res_unavailable(req, "The database");
	else if (last || more || chat_lookup_chat_of(req, app, &chat) == 0)
		chat_res_page(req, &page, last, more, limit);
	chat_buf_release(&page);
}

/*
 * Answer with `m`, the result of a lookup that returned `found`; a GET
 * whose If-None-Match names its ETag gets 304.
 */
static void answer_message(struct chat_req *req, enum chat_found found,
			   const struct chat_message *m)
{
	struct chat_buf etag, text;

	chat_buf_init(&etag);
	chat_buf_init(&text);
	switch (found) {
	case CHAT_FOUND:
		chat_messages_etag(m, &etag);
		if (req->method == CHAT_GET) {
			if (chat_req_conditional_get(req, etag.data))
				break;
		} else {
			chat_res_header(req, "ETag: %s", etag.data);
		}
		chat_messages_json_write(m, &text);
		chat_res_raw(req, 200, text.data, text.len);
		break;
	case CHAT_ABSENT:
		chat_res_not_found(req, "The message");
		break;
	default:
		chat_res_unavailable(req, "The database");
	}
	chat_buf_release(&etag);
	chat_buf_release(&text);
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
 * If-Match and If-None-Match of a PATCH, PUT or DELETE of the path's
 * message in `chat` (read only when one is there): returns 1 with
 * *version set when the write must be conditional on it (If-Match named
 * the current ETag), 0 when it need not be, or answers (404, 412, 503)
 * and returns -1.
 */
static int message_precondition(struct chat_req *req,
				const struct chat_chat *chat,
				uint64_t *version)
{
	struct chat_message m;
	struct chat_buf etag;
	bool conditional = false;
	int rc = -1;

	if (!chat_req_has_preconditions(req))
		return 0;
	chat_message_init(&m);
	chat_buf_init(&etag);
	switch (chat_messages_get_by_chat_id(req->ctx->db, chat->id,
					     req->message, &m)) {
	case CHAT_FOUND:
		chat_messages_etag(&m, &etag);
		if (chat_req_precondition(req, etag.data, &conditional) == 0) {
			*version = m.version;
			rc = conditional ? 1 : 0;
		}
		break;
	case CHAT_ABSENT:
		chat_res_not_found(req, "The message");
		break;
	default:
		chat_res_unavailable(req, "The database");
	}
	chat_message_release(&m);
	chat_buf_release(&etag);
	return rc;
}

/* A conditional write touched no row: the message is gone, or changed. */
static void missed(struct chat_req *req, const struct chat_chat *chat,
		   bool conditional)
{
	struct chat_message m;

	chat_message_init(&m);
	if (conditional && chat_messages_get_by_chat_id(req->ctx->db, chat->id,
							req->message, &m) == 1)
		chat_res_precondition_failed(req);
	else
		chat_res_not_found(req, "The message");
	chat_message_release(&m);
}

/*
 * Bring the index entry in line now, so that a search right after sees
 * the change, and queue an index entry as well: the worker's indexer may
 * be applying an older state of this message at this very moment, and
 * the entry, read after this change, settles it (and redoes what failed
 * here while search was down).
 */
static void index_now_and_queue(struct chat_req *req,
				const struct chat_chat *chat,
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

/* message.updated on the chat's live streams; a failure is only logged. */
static void publish_updated(struct chat_req *req, const struct chat_chat *chat,
			    const struct chat_message *m)
{
	if (chat_live_publish(req->ctx->redis, chat->app, chat->number,
			      "message.updated", m, 0))
		chat_log_warn("live event message.updated not published: %s",
			      req->ctx->redis->errstr);
}

/* PUT replaces (body required); PATCH changes what is given. */
static void update(struct chat_req *req)
{
	struct json_object *json = NULL;
	struct chat_message m;
	struct chat_chat chat;
	const char *body;
	size_t len;
	uint64_t version = 0;
	int rc, cond;

	chat_message_init(&m);
	if (chat_lookup_chat(req, &chat) ||
	    read_body_field(req, req->method == CHAT_PUT, &json, &body, &len))
		goto out;
	cond = message_precondition(req, &chat, &version);
	if (cond < 0)
		goto out;
	if (body) {
		rc = chat_messages_set_body(req->ctx->db, chat.id, req->message,
					    body, len, cond ? &version : NULL);
		if (rc < 0) {
			chat_res_unavailable(req, "The database");
			goto out;
		}
		if (rc == 0) {
			missed(req, &chat, cond);
			goto out;
		}
	}
	answer_message(req, chat_messages_get_by_chat_id(req->ctx->db, chat.id,
							 req->message, &m),
		       &m);
	if (body && req->status == 200) {
		index_now_and_queue(req, &chat, &m);
		publish_updated(req, &chat, &m);
	}
out:
	chat_message_release(&m);
	json_object_put(json);
}

static void delete(struct chat_req *req)
{
	struct chat_chat chat;
	uint64_t version = 0;
	int cond;

	if (chat_lookup_chat(req, &chat))
		return;
	cond = message_precondition(req, &chat, &version);
	if (cond < 0)
		return;
	switch (chat_messages_delete(req->ctx->db, chat.id, req->message,
				     cond ? &version : NULL)) {
	case CHAT_FOUND:
		chat_res_empty(req, 204);
		if (chat_live_publish(req->ctx->redis, chat.app, chat.number,
				      "message.deleted", NULL, req->message))
			chat_log_warn("live event message.deleted not "
				      "published: %s", req->ctx->redis->errstr);
		if (chat_queue_message_deleted(req->ctx, chat.app, chat.number,
					       req->message))
			chat_log_warn("deleted message number not recorded: "
				      "a lost counter could hand it out again");
		index_now_and_queue(req, &chat, NULL);
		if (chat_queue_mark_dirty(req->ctx, chat.app, chat.number))
			chat_log_warn("messages_count will be fixed only by "
				      "the next full sync");
		break;
	case CHAT_ABSENT:
		missed(req, &chat, cond);
		break;
	default:
		chat_res_unavailable(req, "The database");
	}
}

/*
 * GET .../messages/live: who may have a chat's live stream is decided
 * here.  For an existing, persisted, not deleted chat, nginx is told to
 * hand the request (a Server-Sent Events or WebSocket one) to its nchan
 * subscriber location for the chat's internal channel (X-Accel-Redirect,
 * nginx/chat-live.conf): the client never sees nor chooses the channel.
 * Otherwise the contract's 404, or a 400 for a request that is neither.
 */
static void live(struct chat_req *req)
{
	struct chat_live_ask ask = {
		.accept = chat_req_header(req, "HTTP_ACCEPT"),
		.upgrade = chat_req_header(req, "HTTP_UPGRADE"),
		.connection = chat_req_header(req, "HTTP_CONNECTION"),
		.ws_version = chat_req_header(req,
					      "HTTP_SEC_WEBSOCKET_VERSION"),
		.ws_key = chat_req_header(req, "HTTP_SEC_WEBSOCKET_KEY"),
	};
	struct chat_chat chat;
	struct chat_buf to;
	const char *why;

	if (chat_lookup_chat(req, &chat))
		return;
	why = chat_live_refusal(&ask);
	if (why) {
		/* RFC 6455 4.4: the version this server speaks. */
		if (ask.upgrade)
			chat_res_header(req, "Sec-WebSocket-Version: 13");
		chat_res_error(req, 400, "bad_request", "%s", why);
		return;
	}
	chat_buf_init(&to);
	chat_live_redirect(&to, chat.app, chat.number, req->query);
	chat_res_header(req, "X-Accel-Redirect: %s", to.data);
	chat_res_header(req, "X-Accel-Buffering: no");
	chat_res_empty(req, 200);
	chat_buf_release(&to);
}

#define MESSAGES "/applications/{token}/chats/{chat}/messages"

static const struct chat_route routes[] = {
	{ CHAT_GET, MESSAGES, list },
	{ CHAT_POST, MESSAGES, create },
	{ CHAT_GET, MESSAGES "/live", live },
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
