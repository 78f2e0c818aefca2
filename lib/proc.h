/*
 * proc.h - what every program sets up the same way at start: the stop
 * flag that SIGTERM and SIGINT (and, for the batch programs, SIGHUP)
 * raise, and SIGPIPE ignored (a peer that goes away is an error return,
 * not a death).
 */
#ifndef CHAT_PROC_H
#define CHAT_PROC_H

#include <signal.h>
#include <stdbool.h>

/* chat_proc_init flags. */
#define CHAT_PROC_HUP 1		/* SIGHUP stops too (batch programs) */

/*
 * Install the stop handlers (they only set the flag) and ignore SIGPIPE.
 * Call once, at the top of main(), before any thread is started.
 */
void chat_proc_init(unsigned flags);

/* True once a stop signal arrived. */
bool chat_proc_stopping(void);

/*
 * Block the stop signals in the calling thread, saving the old mask in
 * `old` (restore it with pthread_sigmask(SIG_SETMASK, old, NULL)): a
 * thread started meanwhile inherits the block, so the signals go to the
 * thread that waits least long.
 */
void chat_proc_block_stop(sigset_t *old);

/*
 * Whether a process done with a burst may give its heap's free pages back
 * now (chat_proc_trim): at most once a second per `*next_at` (the
 * caller's, 0 at first; moved on when it says yes).  A worker fed at a
 * steady trickle ends a "burst" with every short batch; trimming each
 * time cost it more than its work, the pages given back being faulted in
 * again by the next batch.
 */
bool chat_proc_trim_due(double *next_at);
/* malloc_trim(0) where the C library has it and owns the heap (not
 * under AddressSanitizer). */
void chat_proc_trim(void);

#endif
