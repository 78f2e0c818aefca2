/*
 * support_search.h - helpers of the search tests (test_search.c), on top
 * of client.h: chats with messages created through the API, searches and
 * polling for their results, a look behind the API at the search engine,
 * stopping and restarting the engine of the private stack, running
 * jobs/reindex, and a lock that keeps the fault tests away from the rest.
 *
 * Like client.h, everything here fails the running Criterion test when
 * the environment is broken, instead of returning an error.
 *
 * Settings: CHAT_VAR (the stack's directory: the engine's pid file is
 * $CHAT_VAR/es/search.pid), CHAT_ES_URL and CHAT_ES_INDEX (as for the
 * programs), CHAT_JOBS_DIR (default jobs/) and tests/harness/stack.sh,
 * relative to the repository root the tests run from.
 */
#ifndef CHAT_TEST_SUPPORT_SEARCH_H
#define CHAT_TEST_SUPPORT_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"

/* A persisted chat and the path of its messages. */
struct tchat {
	char *token;
	uint64_t number;
	char *messages;		/* "/applications/<token>/chats/<n>/messages" */
};

/*
 * A new application named `name` with one chat (token NULL), or a new
 * chat in the application `token`; returns once the worker persisted it
 * (GET answers 200), since search answers 404 for a chat still queued.
 */
void tchat_new(struct tchat *c, const char *token, const char *name);
void tchat_free(struct tchat *c);

/* POST a message; asserts the 202 and returns its number. */
uint64_t tchat_post(const struct tchat *c, const char *body);
/* POST every body of the NULL-terminated list; numbers into out[]. */
void tchat_post_all(const struct tchat *c, const char *const *bodies,
		    uint64_t *out);
/* The message's path; caller frees. */
char *tchat_message_path(const struct tchat *c, uint64_t number);

/* Percent-encode s[0..len) (all but unreserved characters); caller frees. */
char *turl_encode(const char *s, size_t len);

/*
 * GET .../messages/search with q = s (encoded here; NULL: no q at all)
 * and `extra` appended to the query string as is (NULL: nothing).
 */
struct http_res *tsearch(const struct tchat *c, const char *q,
			 const char *extra);
/* The same with q already percent-encoded (or raw, for bad encodings). */
struct http_res *tsearch_raw(const struct tchat *c, const char *q_raw,
			     const char *extra);

/*
 * Assert a 200 search answer: the contract's headers, an array of
 * Message objects (exactly number, body, created_at, updated_at).
 * Returns how many; stores up to `max` numbers in out[] (may be NULL).
 */
size_t tsearch_numbers(const struct http_res *res, uint64_t *out,
		       size_t max);
/* Search q and return its numbers (asserting a 200) into out[max]. */
size_t tsearch_q(const struct tchat *c, const char *q, uint64_t *out,
		 size_t max);
/* True when the numbers of a search for q are exactly want[0..n), in order. */
bool tsearch_is(const struct tchat *c, const char *q, const uint64_t *want,
		size_t n);
/*
 * Poll the search for q every 25 ms until its numbers are exactly
 * want[0..n) in any order.  Returns the milliseconds it took, or -1 when
 * `timeout_ms` passed first.
 */
long tsearch_wait(const struct tchat *c, const char *q, const uint64_t *want,
		  size_t n, unsigned timeout_ms);

/* Behind the API ------------------------------------------------------ */

/* The application's internal id (MariaDB). */
uint64_t tapp_id(const char *token);
/*
 * Documents of chat (app id, number) in the index behind `alias` (NULL:
 * CHAT_ES_INDEX), refreshed first so that the count is current.
 */
long tes_count(const char *alias, uint64_t app, uint64_t chat);
/*
 * Whether document <app>-<chat>-<number> is there (a real-time GET); not
 * while the index is still being created.
 */
bool tes_has_doc(const char *alias, uint64_t app, uint64_t chat,
		 uint64_t number);
/* The one index behind alias (NULL: CHAT_ES_INDEX), or NULL; caller frees. */
char *tes_alias_index(const char *alias);
/* Whether index `name` exists. */
bool tes_index_exists(const char *name);
/* `method` path (from '/') with a JSON body or NULL; returns the status. */
long tes_request(const char *method, const char *path, const char *body);
/* Whether the engine answers a cluster health of green or yellow. */
bool tes_healthy(void);

/* The stack ------------------------------------------------------------ */

/* The search engine's (node 1's) pid from its pid file (0 when not running). */
pid_t tes_pid(void);
/*
 * TERM the engine by its pid file and wait until the process is gone;
 * every node of a cluster (CHAT_ES_NODES, pid files $CHAT_VAR/es<n>/).
 */
void tes_stop(void);
/*
 * Run tests/harness/stack.sh start (which starts only what is down);
 * returns its exit status with everything it printed in *out (caller
 * frees).
 */
int tstack_start(char **out);
/*
 * The contents of a pid file of the stack, path relative to $CHAT_VAR,
 * or NULL when it is missing; caller frees.
 */
char *tstack_pidfile(const char *rel);

/* Programs -------------------------------------------------------------- */

struct tproc {
	pid_t pid;
	int out_fd, err_fd;
	int status;		/* after tproc_wait: exit status or 128+sig */
	char *out, *err;	/* after tproc_wait; caller frees */
};

/* Start $CHAT_JOBS_DIR/reindex (default jobs/) with NULL-ended args. */
void treindex_start(struct tproc *p, const char *const *args);
/* Wait for it and collect its output. */
void tproc_wait(struct tproc *p);
/* Whether it has exited already (without collecting it). */
bool tproc_exited(struct tproc *p);
void tproc_release(struct tproc *p);

/*
 * A lock across the test processes of this binary: the tests that stop
 * the engine or move the alias hold it exclusively, every other test
 * shared, so that none of them sees the other's disturbance.  Held until
 * the process exits (Criterion runs each test in a process of its own).
 */
void tlock(bool exclusive);

#endif
