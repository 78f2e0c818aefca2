/*
 * nchan.h - a client of nchan's publisher endpoint (nginx's pub/sub
 * module), which the host's nginx serves on a Unix socket only the
 * service can reach (nginx/chat-live-http.conf): POST /pub/<channel>
 * publishes one message, DELETE /pub/<channel> ends the channel's
 * subscriptions and drops its messages.  One libcurl handle, whose
 * connection is kept between requests.  The relay (jobs/live-relay) is
 * its only user.
 */
#ifndef CHAT_NCHAN_H
#define CHAT_NCHAN_H

#include <stddef.h>

struct chat_nchan;

/*
 * A client of the endpoint at Unix socket `socket` (borrowed; must
 * outlive it), each request given at most `timeout_ms`.  Connects to
 * nothing yet.  Never NULL (out of memory aborts).
 */
struct chat_nchan *chat_nchan_new(const char *socket, unsigned timeout_ms);
/* Accepts NULL. */
void chat_nchan_free(struct chat_nchan *n);

/*
 * Publish data[0..len) on `channel` (digits, '/'), as the Server-Sent
 * Event named `event` ([a-z.] only).  Returns 0 once nchan took it (201,
 * 202), or -1 with the reason in chat_nchan_errstr.
 */
int chat_nchan_publish(struct chat_nchan *n, const char *channel,
		       const char *event, const char *data, size_t len);
/*
 * End `channel`: its subscribers are disconnected.  Returns 0 (also when
 * nchan never had the channel), or -1 (chat_nchan_errstr).
 */
int chat_nchan_close(struct chat_nchan *n, const char *channel);

/* Why the last request failed. */
const char *chat_nchan_errstr(const struct chat_nchan *n);

#endif
