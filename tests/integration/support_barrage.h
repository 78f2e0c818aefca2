/*
 * support_barrage.h - what test_barrage.c and test_faults.c need beyond
 * client.h: an HTTP/1.1 client over a raw TCP socket, for requests that
 * libcurl would normalise or refuse to send (wrong Content-Length,
 * truncated or chunked bodies, odd methods, headers and request lines),
 * and a handle on the processes of the stack that
 * tests/harness/stack.sh started (pid files under $CHAT_VAR).
 *
 * Unlike client.c, nothing here keeps state between calls or fails the
 * running test by itself: every function is safe to call from several
 * threads at once (test_faults.c runs a load thread), and reports
 * trouble in its return value for the caller to assert on.
 */
#ifndef CHAT_TEST_SUPPORT_BARRAGE_H
#define CHAT_TEST_SUPPORT_BARRAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "buf.h"

/* One exchange over a raw socket. */
struct raw_res {
	int status;		/* of the final response; 0 when none came */
	char *head;		/* status line and headers of the final
				 * response, NUL-terminated; NULL if none */
	char *body;		/* de-chunked body, NUL-terminated */
	size_t len;
	struct json_object *json;	/* body parsed as JSON, or NULL */
	bool closed_silently;	/* the server closed without sending a byte */
	bool timed_out;		/* no complete answer within the timeout */
	bool garbled;		/* bytes came, but not a well-formed response */
	int sys_errno;		/* connect/send/recv failure, or 0 */
	double ms;		/* from connect to the end of the response */
};

/* Flags of raw_exchange. */
#define RAW_HALF_CLOSE 1u	/* shutdown(SHUT_WR) once the request is out */
#define RAW_HEAD 2u		/* the request is a HEAD: no body follows */

/*
 * Connect to nginx on 127.0.0.1:$CHAT_HTTP_PORT, send req[0..len)
 * exactly, and read one response (interim 1xx responses are skipped),
 * giving up after `timeout_ms` in total.  A send that fails after the
 * connection is up (the server answered early and closed) is not an
 * error: the answer is still read.  Returns 0 when a complete response
 * was read, -1 otherwise (res says why).  The caller releases `res`.
 */
int raw_exchange(const char *req, size_t len, unsigned flags,
		 unsigned timeout_ms, struct raw_res *res);
void raw_res_release(struct raw_res *res);

/*
 * Append an HTTP/1.1 request to `out`: request line, "Host: 127.0.0.1",
 * "Connection: close", Content-Length when `body` is not NULL, the
 * CRLF-separated `extra` header lines (NULL for none; without the final
 * CRLF), the empty line, and body[0..len).
 */
void raw_build(struct chat_buf *out, const char *method, const char *target,
	       const char *body, size_t len, const char *extra);

/* raw_build followed by raw_exchange with a 10 s timeout. */
int raw_request(const char *method, const char *target, const char *body,
		size_t len, struct raw_res *res);

/*
 * Value of the first header `name` (case-insensitive) of the response,
 * without surrounding blanks, as a fresh string; NULL when absent.
 */
char *raw_header(const struct raw_res *res, const char *name);
/* How many header lines the response has with this name. */
int raw_header_count(const struct raw_res *res, const char *name);

/*
 * The stack's processes.  stack_file("run/redis.pid") is
 * "$CHAT_VAR/run/redis.pid" (caller frees).  stack_pids reads the pids
 * of a pid file (one a line, as spawn-fcgi -F writes them) into
 * pids[0..max) and returns how many; -1 when the file cannot be read.
 */
char *stack_file(const char *rel);
int stack_pids(const char *rel, pid_t *pids, int max);
/* Alive and not a zombie. */
bool pid_alive(pid_t pid);
/* Wait up to `ms` for `pid` to be gone; true when it is. */
bool pid_wait_gone(pid_t pid, unsigned ms);

/*
 * Run "tests/harness/<script> <args>" from the top of the repository
 * (found from this executable's path), with the environment of the test
 * and `env` (NULL or "VAR=value ..." prefixed to the command), output
 * appended to $CHAT_VAR/log/<log>, and no descriptor of this process
 * but 0-2 (what it starts may outlive the test).  Returns the exit
 * status, -1 when the command could not be run or was killed.
 */
int harness_run(const char *env, const char *script, const char *args,
		const char *log);

/* Sleep for `ms` milliseconds. */
void msleep(unsigned ms);
/* Milliseconds on the monotonic clock, as a double. */
double mono_ms(void);

#endif
