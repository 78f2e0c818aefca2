/*
 * cluster.h - Redis Cluster routing under struct chat_redis (redis.h).
 *
 * hiredis 0.14 knows nothing of Redis Cluster, so this file does what a
 * cluster client must (https://redis.io/docs/reference/cluster-spec/):
 *
 *   - the slot of a key is CRC16 (XMODEM) of its hash tag mod 16384: the
 *     part between the first '{' and the next '}' when that part is not
 *     empty, else the whole key;
 *   - the slot map (which master serves which slots) comes from CLUSTER
 *     SLOTS, asked of any node that answers, first the seed nodes of
 *     CHAT_REDIS_NODES; it is read again after a MOVED, a connection that
 *     failed, or a slot no node was known to serve;
 *   - one connection per node, opened when first needed;
 *   - MOVED updates the slot and runs the command again on the named
 *     node; ASK sends ASKING then the command to the named node, once;
 *   - TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN and a connection found
 *     closed or reset before the command ran are retried with a growing
 *     pause (10 ms doubling to 200 ms) for at most the store timeout
 *     (CHAT_TIMEOUT_MS); then the command fails (NULL), which the
 *     programs answer as the store being down (503).  A reply that timed
 *     out is not retried: the command may have run.  A node that refuses
 *     connections while others answer (its master died, no replica has
 *     taken over yet) fails the command at once unless the map read again
 *     names another node: a process serves one request at a time, and
 *     waiting out a failover would hold it, and soon every process, from
 *     the other masters' slots.  When no node at all can be reached the
 *     command fails at once.
 *   - a node that lets a connect or a reply time out (its host cut off,
 *     its server hung) is silent for a second: nothing is sent to it, the
 *     map is read from the others, and commands for its slots fail at
 *     once as for a node that refuses; then one probe (connect, AUTH,
 *     PING within 100 ms) says whether it is back.  Each process so waits
 *     out the timeout for such a node once, not for every command.
 *   - a pipeline is split per node: the commands of each node are sent
 *     together, every node's before any reply is read, and the replies
 *     come back in the caller's order; a node that fails (as above)
 *     fails its own commands, once for the pipeline, not the others'.
 *
 * Commands are given formatted (RESP, as redisFormatCommand makes them):
 * the key is found in them by command name (argv[1] for most; the first
 * key of EVAL/EVALSHA; the first stream after STREAMS of XREAD and
 * XREADGROUP; argv[2] of XGROUP and XINFO); commands without a key go to
 * any node.  A command with keys of several slots is the caller's
 * mistake: Redis answers CROSSSLOT.
 */
#ifndef CHAT_CLUSTER_H
#define CHAT_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#define CHAT_CLUSTER_SLOTS 16384

struct chat_cluster;

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0). */
unsigned chat_cluster_crc16(const void *buf, size_t len);
/* The slot of `key` (its hash tag's, when it has one). */
unsigned chat_cluster_key_slot(const char *key, size_t len);
/*
 * The slot of formatted command `cmd`, or -1 when it has no key (or is
 * not a well-formed RESP array of bulk strings).
 */
int chat_cluster_command_slot(const char *cmd, size_t len);

/*
 * A cluster client for the seed nodes `nodes` ("host:port[,host:port…]"),
 * using `timeout_ms` for connecting, each reply, and the retry budget.
 * Connects to nothing yet.  Returns NULL when `nodes` is malformed.
 */
struct chat_cluster *chat_cluster_new(const char *nodes, unsigned timeout_ms);
/*
 * Log in to every node after connecting: AUTH [user] password, as that
 * ACL user when `user` is not NULL.  Both are borrowed and must outlive
 * the client; a NULL password (the default) sends no AUTH.
 */
void chat_cluster_set_auth(struct chat_cluster *cl, const char *user,
			   const char *password);
/* Close every connection and free; accepts NULL. */
void chat_cluster_free(struct chat_cluster *cl);

/*
 * Run formatted command `cmd` (borrowed) on the node serving its slot,
 * following redirects and retrying as above.  Returns the reply (the
 * caller frees it; it may be an error reply such as NOSCRIPT) or NULL,
 * with the reason in chat_cluster_errstr.  Replies of a pipeline not yet
 * read are dropped first.
 */
redisReply *chat_cluster_command(struct chat_cluster *cl, const char *cmd,
				 size_t len);
/* The same, on the node serving slot `slot` whatever the command. */
redisReply *chat_cluster_command_at(struct chat_cluster *cl, unsigned slot,
				    const char *cmd, size_t len);
/*
 * Run `cmd` on the node (and connection) that answered the last command,
 * with no redirect or retry: for WAIT.  NULL when there is none or it
 * failed.
 */
redisReply *chat_cluster_command_last(struct chat_cluster *cl,
				      const char *cmd, size_t len);

/*
 * Pipelining: queue formatted command `cmd` (the cluster takes it over
 * and frees it with redisFreeCommand); replies are read with
 * chat_cluster_reply, in the order of the appends.  The first read sends
 * everything queued.  A NULL reply (the command failed as above) costs
 * only that command: the replies after it are still read and handed out
 * (a node that is down fails its own slots' commands, the others answer).
 * An append after a reply was read starts a new pipeline: replies left
 * unread are dropped.
 */
void chat_cluster_append(struct chat_cluster *cl, char *cmd, size_t len);
redisReply *chat_cluster_reply(struct chat_cluster *cl);
/*
 * Send what is queued now, without reading a reply: the nodes work on it
 * while the caller does something else; chat_cluster_reply reads the
 * replies later as usual.  A node that cannot be reached now is tried
 * again (through route()) when its reply is read.
 */
void chat_cluster_send(struct chat_cluster *cl);

/* Read the slot map now.  Returns 0, or -1 when no node answered. */
int chat_cluster_refresh(struct chat_cluster *cl);

/* Error of the last failure: a hiredis REDIS_ERR_* code and its text. */
int chat_cluster_err(const struct chat_cluster *cl);
const char *chat_cluster_errstr(const struct chat_cluster *cl);

#endif
