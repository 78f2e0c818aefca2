/*
 * support_live.h - a client of the live streams for the integration tests
 * (test_live.c): Server-Sent Events and WebSocket over a plain TCP socket
 * to nginx, every read bounded by a timeout, so that a stream that stays
 * silent fails a test instead of hanging it.
 *
 * The WebSocket side is the least a client needs: the handshake (checking
 * the 101 and Sec-WebSocket-Accept) and reading the server's unmasked
 * frames (text, ping answered with a masked pong, close).
 */
#ifndef CHAT_TEST_SUPPORT_LIVE_H
#define CHAT_TEST_SUPPORT_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

enum live_kind { LIVE_SSE, LIVE_WS };

struct live_conn;

/* One event: for WebSocket only `data` is set (and `json`). */
struct live_event {
	char *name;			/* SSE event: */
	char *id;			/* SSE id: */
	char *data;
	struct json_object *json;	/* data parsed, or NULL */
	uint64_t at_ms;			/* now_ms() when it was read */
};

/*
 * Open `path` on 127.0.0.1:`port` as a stream of `kind`, with
 * Last-Event-ID `last_id` when not NULL.  Waits up to 5 s for the response
 * head.  Returns the connection (also on a refusal: see live_status and
 * live_body); a connection failure fails the test.
 */
struct live_conn *live_open(enum live_kind kind, unsigned port,
			    const char *path, const char *last_id);
void live_close(struct live_conn *c);

/* The response's status (200 for SSE, 101 for WebSocket when accepted). */
long live_status(const struct live_conn *c);
/* A response header's value (case-insensitive name), or NULL. */
const char *live_header(const struct live_conn *c, const char *name);
/* For a refusal: the body, read to its Content-Length (up to 5 s). */
const char *live_body(struct live_conn *c);

/*
 * Wait up to `timeout_ms` for the next event (SSE comments and pings are
 * skipped).  Returns 1 with *ev filled (release it with live_event_release),
 * 0 on timeout, -1 when the server ended the stream.
 */
int live_next(struct live_conn *c, unsigned timeout_ms,
	      struct live_event *ev);
void live_event_release(struct live_event *ev);

/* The port of the stack's nginx (CHAT_HTTP_PORT). */
unsigned live_port(void);

#endif
