/*
 * result.h - how a function says how it went.  One convention for the
 * whole project; every header that returns an outcome includes this one.
 *
 *   - An action returns int: 0 when done, -1 when it failed.  Why it
 *     failed is in the handle it worked through (err, errstr[128], filled
 *     by that module's one set_err helper), or in the program's error
 *     buffer for jobs/; nothing else is promised on failure.
 *   - Where an action has more outcomes a caller must tell apart, they
 *     are named negative constants beside it (CHAT_QUEUE_CONFLICT),
 *     never other positive numbers: 0 stays "done", -1 stays "failed".
 *   - A look-up, or a write guarded by a condition, with three outcomes
 *     returns enum chat_found: CHAT_FOUND (found, or done), CHAT_ABSENT
 *     (not there, or the condition no longer held: nothing done) or
 *     CHAT_FAILED (a store failed).  Test it by name, or `< 0` for the
 *     failure.
 *   - A count returns long: how many, or -1 when it failed.
 *   - A predicate returns bool, true meaning what its name says; it
 *     cannot fail.
 *   - A constructor returns a pointer, or NULL only where its contract
 *     says so: running out of memory aborts (xalloc.h).
 *   - A main() returns 0 on success, 1 on failure, 2 on bad usage.
 */
#ifndef CHAT_RESULT_H
#define CHAT_RESULT_H

enum chat_found {
	CHAT_FAILED = -1,
	CHAT_ABSENT = 0,
	CHAT_FOUND = 1,
};

#endif
