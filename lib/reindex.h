/*
 * reindex.h - rebuild the message search index from MariaDB, with no
 * downtime and without losing what is written meanwhile (run by
 * jobs/reindex).
 *
 * Clients read and write through the alias CHAT_ES_INDEX only (see
 * lib/search.h).  A rebuild fills a NEW concrete index and then moves the
 * alias to it in one atomic request:
 *
 *  1. Note MariaDB's clock T0 and highest message id M0, and which index
 *     holds the alias now (the old one; none on a fresh system).
 *  2. Create the new index from lib/search-index.json with the write
 *     alias "<alias>-rebuild", through which this program writes.  Only
 *     one index can hold it as write alias, so it is also the lock: a
 *     second rebuild fails at once instead of racing the first.
 *  3. Copy: walk messages JOIN chats by id (keyset, --batch rows per
 *     statement, ids <= M0) and _bulk-index them.  The id and document
 *     key of every row copied go to a temporary file, in id order.
 *  4. Reconcile, while the worker and the API still write to the old
 *     index: walk the ids again, keys only, merged with that file.  A row
 *     the file lacks (created since, or committed late) is indexed; a row
 *     edited since T0 (updated_at, 2 s of slack) is re-indexed; a key in
 *     the file whose row is gone (message or whole chat deleted since) is
 *     deleted.  Bodies are read only for the rows that need them.  The
 *     merge writes the new key file.
 *  5. Refresh the new index, then POST /_aliases {remove old, add new}:
 *     from here on every write goes to the new index.  If the old index
 *     lost the alias meanwhile, nothing changes and the run fails.
 *  6. Reconcile again, against the key file of step 4 and the clock read
 *     before it: this picks up what was written to the old index only,
 *     between step 4 and the swap (a short window: step 4 reads keys).
 *  7. Drop the "-rebuild" alias and delete the old index.
 *
 * What is left is the race every writer already has with itself (a row
 * read a moment before a concurrent delete is written after it): no
 * window as long as the rebuild.  A failure before the swap deletes the
 * new index and leaves the old one serving; after the swap the new index
 * serves and the old one is left for deletion by hand.  A document the
 * engine keeps refusing is left out and counted, as the worker
 * dead-letters it; it does not stop the rebuild.
 *
 * Running it is also how a change of lib/search-index.json reaches an
 * existing deployment: the new index is made from the current definition.
 *
 * Output: on a terminal (stderr) a progress line; always one summary line
 * on stdout (and a warning on stderr if writes were refused); on failure
 * a message on stderr.
 */
#ifndef CHAT_REINDEX_H
#define CHAT_REINDEX_H

#define CHAT_REINDEX_BATCH_DEFAULT 1000
#define CHAT_REINDEX_BATCH_MAX 10000
#define CHAT_REINDEX_PAUSE_MAX_MS 600000

struct chat_reindex;

/*
 * Load the settings and create the (unconnected) handles, for batches of
 * `batch` rows (1..CHAT_REINDEX_BATCH_MAX) and a pause of `pause_ms`
 * after each batch of the copy.
 */
struct chat_reindex *chat_reindex_new(unsigned batch, unsigned pause_ms);
/*
 * Rebuild (steps 1 to 7 above), then print the summary line on stdout,
 * or what failed, and what state the alias is left in, on stderr.
 * Returns 0, or -1 on failure (also when the summary cannot be written).
 * A stop signal (proc.h) interrupts it.
 */
int chat_reindex_run(struct chat_reindex *r);
/* Accepts NULL. */
void chat_reindex_free(struct chat_reindex *r);

#endif
