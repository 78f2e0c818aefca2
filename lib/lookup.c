/*
 * lookup.c - resolve the token and chat number of a request path.
 */
#include "lookup.h"

#include "applications.h"
#include "chats.h"
#include "ctx.h"
#include "http.h"

int chat_lookup_app(struct chat_req *req, uint64_t *app)
{
	switch (chat_app_lookup_and_cache(req->ctx, req->token, req->token_len,
					  app)) {
	case CHAT_FOUND:
		return 0;
	case CHAT_ABSENT:
		chat_res_not_found(req, "The application");
		return -1;
	default:
		chat_res_unavailable(req, "The database");
		return -1;
	}
}

int chat_lookup_chat(struct chat_req *req, struct chat_chat *chat)
{
	uint64_t app;

	if (chat_lookup_app(req, &app))
		return -1;
	return chat_lookup_chat_of(req, app, chat);
}

int chat_lookup_chat_of(struct chat_req *req, uint64_t app,
			struct chat_chat *chat)
{
	switch (chat_chats_get(req->ctx->db, app, req->chat, chat)) {
	case CHAT_FOUND:
		return 0;
	case CHAT_ABSENT:
		chat_res_not_found(req, "The chat");
		return -1;
	default:
		chat_res_unavailable(req, "The database");
		return -1;
	}
}
