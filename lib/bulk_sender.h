/*
 * bulk_sender.h - one _bulk request at a time sent on a thread of its
 * own, over a connection of its own, while the caller goes on.
 *
 * The indexer (lib/indexer.c) keeps more than one request in flight with
 * a few of these: the engine indexes one request while it reads the next,
 * and the indexer reads rows and builds the one after.  A sender holds
 * the batch it was given until chat_bulk_sender_wait; the caller reads
 * the results (b->failed, the error text) after that, on its own thread.
 */
#ifndef CHAT_BULK_SENDER_H
#define CHAT_BULK_SENDER_H

#include <stdbool.h>

struct chat_bulk;
struct chat_config;
struct chat_es;
struct chat_bulk_sender;

/*
 * A sender with its own engine handle (chat_es_new(cfg): cfg must
 * outlive it) and its thread, idle.  Create it on a thread whose signals
 * are blocked as the new thread's should be (it inherits the mask).
 * Returns NULL when the thread cannot be started.
 */
struct chat_bulk_sender *chat_bulk_sender_new(const struct chat_config *cfg);
/* Waits for a request in flight, stops the thread.  Accepts NULL. */
void chat_bulk_sender_free(struct chat_bulk_sender *s);

/*
 * Start sending `b` (chat_bulk_send).  The sender must be idle; until
 * chat_bulk_sender_wait returns, `b` is the sender's: the caller must not
 * read or change it.
 */
void chat_bulk_sender_start(struct chat_bulk_sender *s, struct chat_bulk *b);
/* True between chat_bulk_sender_start and chat_bulk_sender_wait. */
bool chat_bulk_sender_busy(const struct chat_bulk_sender *s);
/*
 * Wait until the request started last is answered (or has failed) and
 * return chat_bulk_send's result; b->failed is set as it sets it.  The
 * sender's err and errstr are copied into `report` when the request
 * failed or an item was refused.  An idle sender returns 0 at once.
 */
int chat_bulk_sender_wait(struct chat_bulk_sender *s, struct chat_es *report);

#endif
