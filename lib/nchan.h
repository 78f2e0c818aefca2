/*
 * nchan.h - a client of nchan's publisher endpoint (nginx's pub/sub
 * module), which the host's nginx serves on a Unix socket only the
 * service can reach (nginx/chat-live-http.conf): POST /pub/<channel>
 * publishes one message, DELETE /pub/<channel> ends the channel's
 * subscriptions and drops its messages.
 *
 * Requests go out in groups on one kept connection: up to
 * CHAT_NCHAN_GROUP of them are queued, then written at once and their
 * answers read in order (HTTP/1.1 pipelining, which nginx serves one
 * request after the other).  A group of events costs the relay and nginx
 * one wake-up instead of one per event.  The relay (jobs/live-relay) is
 * its only user.
 */
#ifndef CHAT_NCHAN_H
#define CHAT_NCHAN_H

#include <stdbool.h>
#include <stddef.h>

/* Requests per group, and the bytes a group is sent at. */
#define CHAT_NCHAN_GROUP 64
#define CHAT_NCHAN_GROUP_BYTES (256 * 1024)

struct chat_nchan;

/*
 * A client of the endpoint at Unix socket `socket` (borrowed; must
 * outlive it), each group given at most `timeout_ms` without progress.
 * Connects to nothing yet.  Never NULL (out of memory aborts).
 */
struct chat_nchan *chat_nchan_new(const char *socket, unsigned timeout_ms);
/* Accepts NULL. */
void chat_nchan_free(struct chat_nchan *n);

/*
 * Queue the publishing of data[0..len) on `channel` (digits, '/'), as the
 * Server-Sent Event named `event` ([a-z.] only); or the end of `channel`
 * (its subscribers are disconnected).  Returns 0, or -1 for a bad channel
 * or event name or a full group (chat_nchan_errstr), nothing queued.
 */
int chat_nchan_add_publish(struct chat_nchan *n, const char *channel,
			   const char *event, const char *data, size_t len);
int chat_nchan_add_close(struct chat_nchan *n, const char *channel);
/* The group holds CHAT_NCHAN_GROUP requests or CHAT_NCHAN_GROUP_BYTES. */
bool chat_nchan_full(const struct chat_nchan *n);
/* Requests queued. */
size_t chat_nchan_queued(const struct chat_nchan *n);

/*
 * Send the queued group and read the answers.  ok[i] (the caller's array
 * of chat_nchan_queued() entries) tells whether nchan took request i: a
 * publish answered 201 or 202, a close 200 or 404 (no such channel).
 * Returns 0 when all were taken, or -1 with a reason in
 * chat_nchan_errstr: a request refused, or the connection lost or timed
 * out (those without an answer are not ok; nchan may have taken them).
 * The queue is empty afterwards either way.
 */
int chat_nchan_send(struct chat_nchan *n, bool *ok);

/* One request as a group of its own: add, then send.  0 or -1. */
int chat_nchan_publish(struct chat_nchan *n, const char *channel,
		       const char *event, const char *data, size_t len);
int chat_nchan_close(struct chat_nchan *n, const char *channel);

/* Why the last request failed. */
const char *chat_nchan_errstr(const struct chat_nchan *n);

#endif
