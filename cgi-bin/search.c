/*
 * search - FastCGI program for GET /applications/{token}/chats/{chat}/
 * messages/search.  A pool of its own (nginx routes the path here), so
 * that searches waiting on a slow or hung search engine queue only behind
 * one another: the processes that create and read messages never wait on
 * the engine.  Each search waits at most CHAT_ES_TIMEOUT_MS and is then
 * answered 503.
 */
#include <string.h>

#include "chats.h"
#include "ctx.h"
#include "es.h"
#include "http.h"
#include "log.h"
#include "lookup.h"
#include "search.h"
#include "text.h"

static bool blank(const char *s)
{
	return s[strspn(s, " \t\r\n\f\v")] == '\0';
}

static void search(struct chat_req *req)
{
	struct json_object *arr = NULL;
	struct chat_chat chat;
	char *q = NULL;
	uint64_t after;
	unsigned limit, offset, next;

	if (chat_query_get(req->query, "q", &q) <= 0 || blank(q)) {
		chat_res_error(req, 400, "bad_request",
			       "Query parameter 'q' is required and must not "
			       "be blank.");
		goto out;
	}
	/* `offset` comes from the Link of a page cut short by its size. */
	if (chat_req_page(req, CHAT_SEARCH_PAGE_DEFAULT, &limit, &after) ||
	    chat_req_offset(req, CHAT_SEARCH_WINDOW - 1, &offset) ||
	    chat_lookup_chat(req, &chat))
		goto out;
	if (chat_search_page(req->ctx->es, chat.app, chat.number, q,
			     strlen(q), offset, limit, &arr, &next)) {
		chat_log_warn("search failed: %s", req->ctx->es->errstr);
		chat_res_unavailable(req, "Search");
		goto out;
	}
	chat_res_search_page(req, arr, q, next, limit);
out:
	json_object_put(arr);
	free(q);
}

static const struct chat_route routes[] = {
	{ CHAT_GET, "/applications/{token}/chats/{chat}/messages/search",
	  search },
};

int main(void)
{
	struct chat_ctx ctx;
	int rc;

	chat_ctx_init(&ctx, "search");
	chat_ctx_use_search(&ctx);
	rc = chat_http_serve(&ctx, routes, sizeof(routes) / sizeof(routes[0]));
	chat_ctx_release(&ctx);
	return rc;
}
