/*
 * lookup.h - the parents named by a request path, found or answered:
 * each function either fills its result and returns 0, or sends the
 * contract's 404 (unknown) or 503 (store down) and returns -1.
 */
#ifndef CHAT_LOOKUP_H
#define CHAT_LOOKUP_H

#include <stdint.h>

struct chat_chat;
struct chat_req;

/* The application of the path's {token}: its internal id. */
int chat_lookup_app(struct chat_req *req, uint64_t *app);
/* The persisted chat of the path's {token} and {chat}. */
int chat_lookup_chat(struct chat_req *req, struct chat_chat *chat);
/* The same, for the application `app` already looked up. */
int chat_lookup_chat_of(struct chat_req *req, uint64_t app,
			struct chat_chat *chat);

#endif
