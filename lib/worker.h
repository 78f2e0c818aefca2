/*
 * worker.h - the queue worker, run by jobs/worker.  Reads the job streams
 * through the consumer group "persist" (job.h), writes each batch to
 * MariaDB in one transaction (idempotent on parent and number), queues
 * the index entries of what it wrote (lib/indexer.h), and only then
 * acknowledges the jobs.  Jobs left pending by a dead worker are claimed;
 * a MariaDB outage keeps the jobs and retries with backoff; a job that
 * fails for good goes to the dead-letter stream.  What to write, index,
 * mark dirty or dead-letter is decided by lib/batch.c.
 *
 * A second thread, with its own connections, is the indexer: it brings
 * the search index in line with the rows through the index streams, so
 * that persisting never waits for the search engine.
 *
 * Settings (lib/config.h): CHAT_WORKER_BATCH, CHAT_WORKER_WAIT_MS,
 * CHAT_WORKER_TRIES, CHAT_WORKER_NAME (consumer name, default
 * worker-<host>), CHAT_WORKER_CLAIM_MS (idle time after which another
 * consumer's pending entries are taken over, default 30000).
 */
#ifndef CHAT_WORKER_H
#define CHAT_WORKER_H

struct chat_worker;

/* Load the settings and create the (unconnected) handles. */
struct chat_worker *chat_worker_new(void);
/*
 * Run until a stop signal (proc.h; chat_proc_init first): the indexer on
 * a thread of its own, the persisting loop on this one.  Returns 0 when
 * stopped, -1 when the indexer thread could not start (logged).
 */
int chat_worker_run(struct chat_worker *w);
/* Accepts NULL. */
void chat_worker_free(struct chat_worker *w);

#endif
