/*
 * cluster.c - Redis Cluster routing: slots, the slot map, redirects,
 * retries and pipelines split per node (see cluster.h).
 */
#include "cluster.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "rconn.h"
#include "xalloc.h"

#define MAX_REDIRECTS 16
#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 200
/* The map is read at most this often when it keeps looking stale. */
#define REFRESH_MIN_MS 20

struct node {
	char *host;
	int port;
	struct chat_rconn conn;		/* silent after a timeout */
	unsigned failed_in;		/* the last flush it failed in */
};

/* One queued command of a pipeline, then its reply. */
struct queued {
	char *cmd;
	size_t len;
	int slot;			/* -1: any node */
	int node;
	redisReply *reply;
	bool sent, failed;
};

struct chat_cluster {
	struct node *nodes;
	size_t nnodes, capnodes;
	size_t nseeds;			/* the first nodes are the seeds */
	short slots[CHAT_CLUSTER_SLOTS];	/* node index, -1 unknown */
	bool stale;			/* read the map before routing */
	bool unreachable;		/* the last read of the map found no
					   node answering */
	double refreshed_at;
	int last;			/* node of the last reply, or -1 */
	unsigned timeout_ms;
	const char *user, *password;	/* AUTH after connecting; borrowed */
	struct queued *q;
	size_t nq, capq, next;		/* queued; next reply to hand out */
	unsigned flushes;		/* flushes so far (node.failed_in) */
	int err;
	char errstr[128];
};

/* Slots ---------------------------------------------------------------- */

unsigned chat_cluster_crc16(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	unsigned crc = 0;

	for (size_t i = 0; i < len; i++) {
		crc ^= (unsigned)p[i] << 8;
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
		crc &= 0xffff;
	}
	return crc;
}

unsigned chat_cluster_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);

	if (open) {
		size_t start = (size_t)(open - key) + 1;
		const char *close = memchr(key + start, '}', len - start);

		/* "{}" is no tag: the whole key is hashed. */
		if (close && close > key + start)
			return chat_cluster_crc16(key + start,
						  (size_t)(close - key) -
							  start) &
			       (CHAT_CLUSTER_SLOTS - 1);
	}
	return chat_cluster_crc16(key, len) & (CHAT_CLUSTER_SLOTS - 1);
}

/* Read "<digits>\r\n" at *p (before end) into *n. */
static bool resp_number(const char **p, const char *end, size_t *n)
{
	const char *s = *p;
	size_t v = 0;

	if (s == end || *s < '0' || *s > '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		if (v > 100000000)
			return false;
		v = v * 10 + (size_t)(*s++ - '0');
	}
	if (end - s < 2 || s[0] != '\r' || s[1] != '\n')
		return false;
	*p = s + 2;
	*n = v;
	return true;
}

#define SCAN_ARGS 8

/*
 * Split formatted command `cmd` into at most SCAN_ARGS arguments, and
 * find the first stream after STREAMS (for XREAD*) on the way.  Returns
 * the number of arguments, or -1.
 */
static int parse_command(const char *cmd, size_t len, const char **av,
			 size_t *al, const char **stream, size_t *stream_len)
{
	const char *p = cmd, *end = cmd + len;
	size_t argc, keep = 0;
	bool after_streams = false;

	*stream = NULL;
	if (len < 1 || *p++ != '*' || !resp_number(&p, end, &argc))
		return -1;
	for (size_t i = 0; i < argc; i++) {
		size_t n;

		if (p == end || *p++ != '$' || !resp_number(&p, end, &n) ||
		    (size_t)(end - p) < n + 2)
			return -1;
		if (i < SCAN_ARGS) {
			av[i] = p;
			al[i] = n;
			keep = i + 1;
		}
		if (after_streams && !*stream) {
			*stream = p;
			*stream_len = n;
		}
		if (n == 7 && strncasecmp(p, "STREAMS", 7) == 0)
			after_streams = true;
		p += n + 2;
	}
	return (int)keep;
}

static bool is(const char *a, size_t al, const char *name)
{
	return al == strlen(name) && strncasecmp(a, name, al) == 0;
}

int chat_cluster_command_slot(const char *cmd, size_t len)
{
	const char *av[SCAN_ARGS], *stream;
	size_t al[SCAN_ARGS], stream_len = 0;
	static const char *const keyless[] = {
		"PING", "INFO", "SCRIPT", "CLUSTER", "WAIT", "ASKING",
		"READONLY", "FLUSHALL", "FLUSHDB", "DBSIZE", "KEYS", "SCAN",
		"TIME", "CONFIG", "CLIENT", "COMMAND", "MULTI", "EXEC",
		"DEBUG", "SAVE", "BGSAVE", "BGREWRITEAOF", "ECHO", "AUTH",
		"HELLO", "SELECT", "FUNCTION", "MEMORY", "ROLE",
	};
	int argc = parse_command(cmd, len, av, al, &stream, &stream_len);

	if (argc < 1)
		return -1;
	for (size_t i = 0; i < sizeof(keyless) / sizeof(*keyless); i++)
		if (is(av[0], al[0], keyless[i]))
			return -1;
	if (is(av[0], al[0], "EVAL") || is(av[0], al[0], "EVALSHA") ||
	    is(av[0], al[0], "EVAL_RO") || is(av[0], al[0], "EVALSHA_RO") ||
	    is(av[0], al[0], "FCALL")) {
		if (argc < 4 || is(av[2], al[2], "0"))
			return -1;
		return (int)chat_cluster_key_slot(av[3], al[3]);
	}
	if (is(av[0], al[0], "XREAD") || is(av[0], al[0], "XREADGROUP"))
		return stream ? (int)chat_cluster_key_slot(stream, stream_len) :
				-1;
	if (is(av[0], al[0], "XGROUP") || is(av[0], al[0], "XINFO") ||
	    is(av[0], al[0], "OBJECT"))
		return argc > 2 ? (int)chat_cluster_key_slot(av[2], al[2]) : -1;
	return argc > 1 ? (int)chat_cluster_key_slot(av[1], al[1]) : -1;
}

/* Nodes and connections ------------------------------------------------ */

__attribute__((format(printf, 3, 4)))
static void set_err(struct chat_cluster *cl, int err, const char *fmt, ...)
{
	char msg[sizeof(cl->errstr)];
	va_list ap;

	/* Through a copy: the arguments may be the old errstr. */
	cl->err = err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(cl->errstr, msg, sizeof(msg));
}

static int node_find(struct chat_cluster *cl, const char *host, size_t hlen,
		     int port)
{
	struct node *n;

	for (size_t i = 0; i < cl->nnodes; i++)
		if (cl->nodes[i].port == port &&
		    strlen(cl->nodes[i].host) == hlen &&
		    memcmp(cl->nodes[i].host, host, hlen) == 0)
			return (int)i;
	if (cl->nnodes >= 32767)
		return -1;
	if (cl->nnodes == cl->capnodes) {
		cl->capnodes = cl->capnodes ? cl->capnodes * 2 : 8;
		cl->nodes = xrealloc(cl->nodes,
				     cl->capnodes * sizeof(*cl->nodes));
	}
	n = &cl->nodes[cl->nnodes];
	memset(n, 0, sizeof(*n));
	n->host = xstrndup(host, hlen);
	n->port = port;
	return (int)cl->nnodes++;
}

/* Parse "host:port" (the last ':' separates them) into a node. */
static int node_parse(struct chat_cluster *cl, const char *s, size_t len)
{
	const char *colon = NULL;
	long port = 0;

	for (size_t i = 0; i < len; i++)
		if (s[i] == ':')
			colon = s + i;
	if (!colon || colon == s || colon + 1 == s + len ||
	    s + len - colon > 6)
		return -1;
	for (const char *p = colon + 1; p < s + len; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return -1;
	return node_find(cl, s, (size_t)(colon - s), (int)port);
}

static void node_close(struct node *n)
{
	chat_rconn_close(&n->conn);
}

/*
 * A command on node i failed without a reply: keep the connection's
 * error, close it (a timeout makes the node silent), read the map again.
 */
static void node_lost(struct chat_cluster *cl, int i, int saved_errno)
{
	struct node *n = &cl->nodes[i];

	chat_rconn_failed(&n->conn, n->host, n->port, saved_errno);
	set_err(cl, n->conn.err, "%s", n->conn.errstr);
	cl->stale = true;
}

/* Connect to node i unless connected (a silent node fails at once). */
static int node_connect(struct chat_cluster *cl, int i)
{
	struct node *n = &cl->nodes[i];

	if (chat_rconn_open(&n->conn, n->host, n->port, cl->timeout_ms,
			    cl->user, cl->password) == 0)
		return 0;
	set_err(cl, n->conn.err, "%s", n->conn.errstr);
	return -1;
}

void chat_cluster_set_auth(struct chat_cluster *cl, const char *user,
			   const char *password)
{
	cl->user = user;
	cl->password = password;
}

struct chat_cluster *chat_cluster_new(const char *nodes, unsigned timeout_ms)
{
	struct chat_cluster *cl = xcalloc(1, sizeof(*cl));
	const char *p = nodes;

	cl->timeout_ms = timeout_ms;
	cl->last = -1;
	cl->stale = true;
	for (size_t i = 0; i < CHAT_CLUSTER_SLOTS; i++)
		cl->slots[i] = -1;
	while (*p) {
		size_t len = strcspn(p, ", ");

		if (len && node_parse(cl, p, len) < 0) {
			chat_cluster_free(cl);
			return NULL;
		}
		p += len;
		p += strspn(p, ", ");
	}
	cl->nseeds = cl->nnodes;
	if (!cl->nseeds) {
		chat_cluster_free(cl);
		return NULL;
	}
	return cl;
}

static void drop_queue(struct chat_cluster *cl)
{
	for (size_t i = 0; i < cl->nq; i++) {
		redisFreeCommand(cl->q[i].cmd);
		freeReplyObject(cl->q[i].reply);
	}
	cl->nq = 0;
	cl->next = 0;
}

void chat_cluster_free(struct chat_cluster *cl)
{
	if (!cl)
		return;
	drop_queue(cl);
	for (size_t i = 0; i < cl->nnodes; i++) {
		node_close(&cl->nodes[i]);
		free(cl->nodes[i].host);
	}
	free(cl->nodes);
	free(cl->q);
	free(cl);
}

int chat_cluster_err(const struct chat_cluster *cl)
{
	return cl->err;
}

const char *chat_cluster_errstr(const struct chat_cluster *cl)
{
	return cl->errstr;
}

/* The slot map --------------------------------------------------------- */

static bool int_at(const redisReply *a, size_t i, long long *v)
{
	if (i >= a->elements || a->element[i]->type != REDIS_REPLY_INTEGER)
		return false;
	*v = a->element[i]->integer;
	return true;
}

/* Fill cl->slots from a CLUSTER SLOTS reply got from node `from`. */
static int read_slots(struct chat_cluster *cl, int from,
		      const redisReply *reply)
{
	short slots[CHAT_CLUSTER_SLOTS];

	if (reply->type != REDIS_REPLY_ARRAY)
		return -1;
	for (size_t i = 0; i < CHAT_CLUSTER_SLOTS; i++)
		slots[i] = -1;
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *r = reply->element[i], *m;
		long long lo, hi, port;
		const char *host;
		size_t hlen;
		int node;

		if (r->type != REDIS_REPLY_ARRAY || !int_at(r, 0, &lo) ||
		    !int_at(r, 1, &hi) || r->elements < 3 ||
		    r->element[2]->type != REDIS_REPLY_ARRAY)
			return -1;
		m = r->element[2];
		if (m->elements < 2 || m->element[0]->type != REDIS_REPLY_STRING ||
		    !int_at(m, 1, &port) || lo < 0 || hi < lo ||
		    hi >= CHAT_CLUSTER_SLOTS || port < 1 || port > 65535)
			return -1;
		host = m->element[0]->str;
		hlen = m->element[0]->len;
		/* An unknown address is the one we asked. */
		if (hlen == 0 || (hlen == 1 && host[0] == '?')) {
			host = cl->nodes[from].host;
			hlen = strlen(host);
		}
		node = node_find(cl, host, hlen, (int)port);
		if (node < 0)
			return -1;
		for (long long s = lo; s <= hi; s++)
			slots[s] = (short)node;
	}
	memcpy(cl->slots, slots, sizeof(slots));
	return 0;
}

int chat_cluster_refresh(struct chat_cluster *cl)
{
	size_t n = cl->nnodes;

	cl->refreshed_at = chat_now_ms();
	cl->unreachable = true;
	/* The nodes already connected first, then the others in order. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n && i < cl->nnodes; i++) {
			redisReply *reply;
			int ok;

			if ((pass == 0) != (cl->nodes[i].conn.c != NULL))
				continue;
			if (node_connect(cl, (int)i))
				continue;
			reply = redisCommand(cl->nodes[i].conn.c,
					     "CLUSTER SLOTS");
			if (!reply) {
				node_lost(cl, (int)i, errno);
				continue;
			}
			cl->unreachable = false;
			ok = read_slots(cl, (int)i, reply) == 0;
			if (!ok)
				set_err(cl, REDIS_ERR_OTHER,
					"CLUSTER SLOTS from %s:%d: %s",
					cl->nodes[i].host, cl->nodes[i].port,
					reply->type == REDIS_REPLY_ERROR ?
						reply->str :
						"unexpected reply");
			freeReplyObject(reply);
			if (ok) {
				cl->stale = false;
				return 0;
			}
		}
	}
	return -1;
}

/* The node for slot `slot` (-1: any), reading the map when needed. */
static int node_for(struct chat_cluster *cl, int slot)
{
	if ((cl->stale || (slot >= 0 && cl->slots[slot] < 0)) &&
	    chat_now_ms() - cl->refreshed_at >= REFRESH_MIN_MS)
		chat_cluster_refresh(cl);
	if (slot >= 0) {
		if (cl->slots[slot] < 0)
			set_err(cl, REDIS_ERR_OTHER,
				"no node serves slot %d (%s)", slot,
				cl->errstr[0] ? cl->errstr : "no map");
		return cl->slots[slot];
	}
	for (size_t i = 0; i < cl->nnodes; i++)
		if (cl->nodes[i].conn.c)
			return (int)i;
	for (size_t i = 0; i < CHAT_CLUSTER_SLOTS; i++)
		if (cl->slots[i] >= 0)
			return cl->slots[i];
	return 0;
}

/* Commands ------------------------------------------------------------- */

enum outcome {
	DONE,		/* a reply to give back */
	REDIRECT,	/* MOVED or ASK: go where it says, now */
	TRANSIENT,	/* wait a little and try again */
	DOWN,		/* never sent: the node is down, the map read again */
	FAILED,		/* give up: the command may have run */
};

/*
 * Classify a reply or a missing one.  On MOVED and ASK, *to is the node
 * named and *ask says which it was.
 */
static enum outcome classify(struct chat_cluster *cl, const redisReply *r,
			     int *to, bool *ask)
{
	static const char *const transient[] = {
		"TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN",
	};
	const char *s;

	if (r->type != REDIS_REPLY_ERROR)
		return DONE;
	s = r->str;
	*ask = strncmp(s, "ASK ", 4) == 0;
	if (*ask || strncmp(s, "MOVED ", 6) == 0) {
		/* "MOVED <slot> <host>:<port>" */
		const char *addr = strchr(s + (*ask ? 4 : 6), ' ');
		long slot = strtol(s + (*ask ? 4 : 6), NULL, 10);

		if (!addr || slot < 0 || slot >= CHAT_CLUSTER_SLOTS)
			return DONE;
		*to = node_parse(cl, addr + 1, strlen(addr + 1));
		if (*to < 0)
			return DONE;
		if (!*ask) {
			cl->slots[slot] = (short)*to;
			cl->stale = true;	/* more slots may have moved */
		}
		set_err(cl, REDIS_ERR_OTHER, "%s", s);
		return REDIRECT;
	}
	for (size_t i = 0; i < sizeof(transient) / sizeof(*transient); i++)
		if (strncmp(s, transient[i], strlen(transient[i])) == 0) {
			set_err(cl, REDIS_ERR_OTHER, "%s", s);
			cl->stale = true;
			return TRANSIENT;
		}
	return DONE;
}

/*
 * A command failed without a reply: the connection is closed.  Only a
 * connection found closed or reset means the command never ran (the
 * server went away before); after a timeout it may have.
 */
static enum outcome lost(struct chat_cluster *cl, int node, int saved_errno,
			 bool was_connected, bool *reset_retried)
{
	bool closed = chat_rconn_was_reset(cl->nodes[node].conn.c->err,
					   saved_errno);

	node_lost(cl, node, saved_errno);
	if (closed && was_connected && !*reset_retried) {
		*reset_retried = true;
		return TRANSIENT;
	}
	return FAILED;
}

/* Send `cmd` to `node` (after ASKING when `asking`) and read the reply. */
static redisReply *send_to(struct chat_cluster *cl, int node, bool asking,
			   const char *cmd, size_t len, enum outcome *out,
			   bool *reset_retried)
{
	bool was_connected = cl->nodes[node].conn.c != NULL;
	redisContext *c;
	void *reply = NULL;

	if (node_connect(cl, node)) {
		/*
		 * Never sent.  The map is read again from a node that answers
		 * (route decides whether another node now serves the slot);
		 * with none answering, the whole cluster is down.
		 */
		char why[sizeof(cl->errstr)];

		memcpy(why, cl->errstr, sizeof(why));
		*out = chat_cluster_refresh(cl) == 0 ? DOWN : FAILED;
		memcpy(cl->errstr, why, sizeof(why));
		return NULL;
	}
	c = cl->nodes[node].conn.c;
	if ((asking && redisAppendCommand(c, "ASKING") != REDIS_OK) ||
	    redisAppendFormattedCommand(c, cmd, len) != REDIS_OK)
		xdie("redisAppend: out of memory");
	if (asking) {
		if (redisGetReply(c, &reply) != REDIS_OK) {
			*out = lost(cl, node, errno, was_connected,
				    reset_retried);
			return NULL;
		}
		freeReplyObject(reply);
		reply = NULL;
	}
	if (redisGetReply(c, &reply) != REDIS_OK) {
		*out = lost(cl, node, errno, was_connected, reset_retried);
		return NULL;
	}
	*out = DONE;
	return reply;
}

static redisReply *route(struct chat_cluster *cl, int slot, const char *cmd,
			 size_t len)
{
	double deadline = chat_now_ms() + cl->timeout_ms;
	unsigned backoff = BACKOFF_FIRST_MS;
	int ask = -1, redirects = 0;
	bool reset_retried = false;

	for (;;) {
		int node = ask >= 0 ? ask : node_for(cl, slot);
		enum outcome out = TRANSIENT;
		redisReply *reply = NULL;

		if (node >= 0)
			reply = send_to(cl, node, ask >= 0, cmd, len, &out,
					&reset_retried);
		else if (cl->unreachable)
			return NULL;	/* no node answers at all */
		ask = -1;
		if (reply) {
			int to = -1;
			bool asked = false;

			out = classify(cl, reply, &to, &asked);
			if (out == DONE) {
				cl->last = node;
				return reply;
			}
			freeReplyObject(reply);
			if (out == REDIRECT) {
				if (++redirects > MAX_REDIRECTS) {
					set_err(cl, REDIS_ERR_OTHER,
						"too many redirects (%s)",
						cl->errstr);
					return NULL;
				}
				if (asked)
					ask = to;
				continue;
			}
		}
		if (out == FAILED)
			return NULL;
		/*
		 * A node that refuses connections while the others answer: its
		 * slots stay unserved until a replica takes over (seconds).
		 * Waiting for that would hold this process, which serves one
		 * request at a time, and soon every process of the host, from
		 * the requests of the other nodes' slots: unless the map read
		 * just now names another node, give up at once (a 503 to
		 * retry).
		 */
		if (out == DOWN) {
			if (node_for(cl, slot) != node &&
			    chat_now_ms() < deadline)
				continue;
			set_err(cl, cl->err ? cl->err : REDIS_ERR_OTHER,
				"%s (not taken over yet)", cl->errstr);
			return NULL;
		}
		if (chat_now_ms() + backoff > deadline) {
			set_err(cl, cl->err ? cl->err : REDIS_ERR_OTHER,
				"cluster unavailable for %u ms: %s",
				cl->timeout_ms, cl->errstr);
			return NULL;
		}
		chat_sleep_ms(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
							 backoff * 2;
	}
}

redisReply *chat_cluster_command(struct chat_cluster *cl, const char *cmd,
				 size_t len)
{
	drop_queue(cl);
	return route(cl, chat_cluster_command_slot(cmd, len), cmd, len);
}

redisReply *chat_cluster_command_at(struct chat_cluster *cl, unsigned slot,
				    const char *cmd, size_t len)
{
	drop_queue(cl);
	return route(cl, (int)(slot & (CHAT_CLUSTER_SLOTS - 1)), cmd, len);
}

redisReply *chat_cluster_command_last(struct chat_cluster *cl,
				      const char *cmd, size_t len)
{
	bool reset_retried = true;	/* no retry at all */
	enum outcome out;

	drop_queue(cl);
	if (cl->last < 0 || !cl->nodes[cl->last].conn.c) {
		set_err(cl, REDIS_ERR_OTHER, "no connection to wait on");
		return NULL;
	}
	return send_to(cl, cl->last, false, cmd, len, &out, &reset_retried);
}

/* Pipelines ------------------------------------------------------------ */

void chat_cluster_append(struct chat_cluster *cl, char *cmd, size_t len)
{
	struct queued *q;

	/*
	 * A reply handed out: this starts a new batch (replies the caller
	 * left unread are dropped, never handed to the new one).
	 */
	if (cl->next)
		drop_queue(cl);
	if (cl->nq == cl->capq) {
		cl->capq = cl->capq ? cl->capq * 2 : 16;
		cl->q = xrealloc(cl->q, cl->capq * sizeof(*cl->q));
	}
	q = &cl->q[cl->nq++];
	memset(q, 0, sizeof(*q));
	q->cmd = cmd;
	q->len = len;
	q->slot = chat_cluster_command_slot(cmd, len);
	q->node = -1;
}

/* Write a node's queued commands out completely. */
static int write_all(redisContext *c)
{
	int done = 0;

	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK)
			return -1;
	return 0;
}

/*
 * Send the queued commands from cl->next on that are not sent yet: each
 * node's together, all nodes' before any reply is read.
 */
static void send_queued(struct chat_cluster *cl)
{
	for (size_t i = cl->next; i < cl->nq; i++) {
		struct queued *q = &cl->q[i];

		if (q->sent || q->reply)
			continue;
		q->node = node_for(cl, q->slot);
		if (q->node < 0 || node_connect(cl, q->node))
			continue;
		if (redisAppendFormattedCommand(cl->nodes[q->node].conn.c,
						q->cmd, q->len) != REDIS_OK)
			xdie("redisAppend: out of memory");
		q->sent = true;
	}
	for (size_t i = 0; i < cl->nnodes; i++)
		if (cl->nodes[i].conn.c && write_all(cl->nodes[i].conn.c))
			node_lost(cl, (int)i, errno);
}

void chat_cluster_send(struct chat_cluster *cl)
{
	send_queued(cl);
}

/*
 * Send what is queued and not sent yet, then read each node's replies.
 * Whatever did not get a plain reply (a redirect, a transient error, a
 * connection lost) runs again alone through route().  A command that
 * still fails leaves the others their replies: a node that is down
 * costs the commands of its own slots, not the whole pipeline.
 */
static void flush(struct chat_cluster *cl)
{
	size_t from = cl->next;

	cl->flushes++;
	send_queued(cl);
	for (size_t i = from; i < cl->nq; i++) {
		struct queued *q = &cl->q[i];
		redisContext *c;
		void *reply = NULL;

		if (!q->sent)
			continue;
		q->sent = false;
		c = cl->nodes[q->node].conn.c;
		if (!c || redisGetReply(c, &reply) != REDIS_OK) {
			/* The rest of this node's replies are lost too. */
			if (c)
				node_lost(cl, q->node, errno);
			continue;
		}
		q->reply = reply;
	}
	for (size_t i = from; i < cl->nq; i++) {
		struct queued *q = &cl->q[i];
		int to, node;
		bool asked;

		if (q->reply && classify(cl, q->reply, &to, &asked) == DONE)
			continue;
		freeReplyObject(q->reply);
		q->reply = NULL;
		/*
		 * Its node failed a command of this flush already and the map
		 * still names it: fail this one too without waiting again.
		 */
		node = q->slot >= 0 ? cl->slots[q->slot] : -1;
		if (node >= 0 && cl->nodes[node].failed_in == cl->flushes) {
			q->failed = true;
			continue;
		}
		q->reply = route(cl, q->slot, q->cmd, q->len);
		q->failed = !q->reply;
		if (q->failed && node >= 0)
			cl->nodes[node].failed_in = cl->flushes;
	}
}

redisReply *chat_cluster_reply(struct chat_cluster *cl)
{
	struct queued *q;
	redisReply *reply;

	if (cl->next >= cl->nq) {
		set_err(cl, REDIS_ERR_OTHER, "no command queued");
		return NULL;
	}
	q = &cl->q[cl->next];
	if (!q->reply && !q->failed)
		flush(cl);
	reply = q->reply;	/* NULL when it failed: cl->errstr says why */
	q->reply = NULL;
	cl->next++;
	if (cl->next == cl->nq)
		drop_queue(cl);
	return reply;
}
