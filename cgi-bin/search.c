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
#include "search_words.h"
#include "text.h"

/* Unicode's White_Space: what a blank q holds. */
static bool is_white_space(uint32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 ||
	       cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
	       cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
	       cp == 0x3000;
}

static bool blank(const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len;) {
		uint32_t cp;

		i += chat_utf8_next(s + i, len - i, &cp);
		if (!is_white_space(cp))
			return false;
	}
	return true;
}

/*
 * More distinct words than a search uses (lib/search.c takes the first
 * CHAT_SEARCH_MAX_WORDS): refused, since every word must match.
 */
static bool too_many_words(const char *q)
{
	struct chat_search_word words[CHAT_SEARCH_MAX_WORDS + 1];

	return chat_search_words(q, strlen(q), words,
				 CHAT_SEARCH_MAX_WORDS + 1) >
	       CHAT_SEARCH_MAX_WORDS;
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
	if (too_many_words(q)) {
		chat_res_error(req, 400, "bad_request",
			       "Query parameter 'q' has more than %d distinct "
			       "words.", CHAT_SEARCH_MAX_WORDS);
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
