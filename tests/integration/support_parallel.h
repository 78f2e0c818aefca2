/*
 * support_parallel.h - the same request sent by many threads at once,
 * each over its own connection, for the races of the idempotency and
 * optimistic concurrency tests.  Like client.h, a broken environment
 * fails the running Criterion test.
 */
#ifndef CHAT_TEST_SUPPORT_PARALLEL_H
#define CHAT_TEST_SUPPORT_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

/* One answer as a client saw it. */
struct par_result {
	long status;		/* 0: the transport failed */
	char *body;		/* NUL-terminated, or NULL */
	char *location;		/* or NULL */
	int64_t number;		/* "number" of a JSON body, or -1 */
};

/*
 * Send `method` to `path` with body (NUL-terminated, NULL: none) and the
 * NULL-terminated `headers` from `n` threads (n <= 256) that start
 * together; out[0..n) gets each answer.  Free with par_results_release.
 */
void par_send(const char *method, const char *path, const char *body,
	      const char *const *headers, unsigned n, struct par_result *out);
void par_results_release(struct par_result *r, unsigned n);

#endif
