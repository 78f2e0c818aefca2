/*
 * nchan.c - requests to nchan's publisher endpoint: HTTP/1.1 written by
 * hand on one kept Unix-socket connection, a group of requests in one
 * write and their answers read in order.  An answer is read as far as its
 * status and Content-Length; its body is skipped, never kept, so memory
 * stays bounded whatever the other end sends.
 */
#include "nchan.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "xalloc.h"

/* An answer's status line and headers (nchan's are ~150 bytes). */
#define HEAD_MAX 4096
/* Longest body skipped: more is not nchan. */
#define BODY_MAX (1 << 20)

struct chat_nchan {
	const char *socket;
	unsigned timeout_ms;
	int fd;				/* -1: not connected */
	struct chat_buf out;		/* the queued requests */
	size_t queued;
	bool is_close[CHAT_NCHAN_GROUP];
	char in[HEAD_MAX];		/* an answer's head, being read */
	size_t in_len;
	char errstr[256];
};

struct chat_nchan *chat_nchan_new(const char *socket, unsigned timeout_ms)
{
	struct chat_nchan *n = xcalloc(1, sizeof(*n));

	n->socket = socket;
	n->timeout_ms = timeout_ms;
	n->fd = -1;
	chat_buf_init(&n->out);
	return n;
}

static void disconnect(struct chat_nchan *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

void chat_nchan_free(struct chat_nchan *n)
{
	if (!n)
		return;
	disconnect(n);
	chat_buf_release(&n->out);
	free(n);
}

const char *chat_nchan_errstr(const struct chat_nchan *n)
{
	return n->errstr;
}

size_t chat_nchan_queued(const struct chat_nchan *n)
{
	return n->queued;
}

bool chat_nchan_full(const struct chat_nchan *n)
{
	return n->queued >= CHAT_NCHAN_GROUP ||
	       n->out.len >= CHAT_NCHAN_GROUP_BYTES;
}

static bool name_ok(const char *s, const char *allowed)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(allowed, *s))
			return false;
	return true;
}

static int add(struct chat_nchan *n, const char *channel, const char *event,
	       const char *data, size_t len)
{
	static const char digits[] = "0123456789/";
	static const char letters[] = "abcdefghijklmnopqrstuvwxyz.";

	if (!name_ok(channel, digits) || (event && !name_ok(event, letters))) {
		snprintf(n->errstr, sizeof(n->errstr), "bad channel or event");
		return -1;
	}
	if (n->queued == CHAT_NCHAN_GROUP) {
		snprintf(n->errstr, sizeof(n->errstr), "group full");
		return -1;
	}
	if (event) {
		chat_buf_addf(&n->out,
			      "POST /pub/%s HTTP/1.1\r\n"
			      "Host: localhost\r\n"
			      "Content-Type: application/json\r\n"
			      "X-EventSource-Event: %s\r\n"
			      "Content-Length: %zu\r\n\r\n",
			      channel, event, len);
		chat_buf_add(&n->out, data, len);
	} else {
		chat_buf_addf(&n->out,
			      "DELETE /pub/%s HTTP/1.1\r\n"
			      "Host: localhost\r\n"
			      "Content-Length: 0\r\n\r\n",
			      channel);
	}
	n->is_close[n->queued++] = !event;
	return 0;
}

int chat_nchan_add_publish(struct chat_nchan *n, const char *channel,
			   const char *event, const char *data, size_t len)
{
	return add(n, channel, event, data, len);
}

int chat_nchan_add_close(struct chat_nchan *n, const char *channel)
{
	return add(n, channel, NULL, NULL, 0);
}

/*
 * A connection that nginx has not closed meanwhile (it closes idle ones
 * after its keepalive_timeout): reuse it, else connect anew.
 */
static int ensure_connected(struct chat_nchan *n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = n->timeout_ms / 1000,
			      .tv_usec = n->timeout_ms % 1000 * 1000 };
	char c;

	if (n->fd >= 0) {
		if (recv(n->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		disconnect(n);	/* closed, failed, or sent what no one asked */
	}
	if (strlen(n->socket) >= sizeof(sa.sun_path)) {
		snprintf(n->errstr, sizeof(n->errstr), "socket path too long");
		return -1;
	}
	memcpy(sa.sun_path, n->socket, strlen(n->socket) + 1);
	n->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0)
		goto fail;
	/* Bounds a connect to a socket whose backlog is full. */
	setsockopt(n->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(n->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	return 0;
fail:
	snprintf(n->errstr, sizeof(n->errstr), "connect %s: %s", n->socket,
		 strerror(errno));
	disconnect(n);
	return -1;
}

/* Parse a decimal Content-Length value; -1 when it is not one. */
static long parse_length(const char *p, const char *end)
{
	long v = 0;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end)
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > BODY_MAX)
			return -1;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end ? v : -1;
}

static bool header_is(const char *line, const char *end, const char *name,
		      const char **value)
{
	size_t len = strlen(name);

	if ((size_t)(end - line) <= len || line[len] != ':' ||
	    strncasecmp(line, name, len) != 0)
		return false;
	*value = line + len + 1;
	return true;
}

/*
 * An answer's head in n->in[0..head_len): its status, body length and
 * whether the server closes after it.  0, or -1 when it is not HTTP/1.1
 * that this client can follow (no Content-Length, or chunked).
 */
static int parse_head(struct chat_nchan *n, size_t head_len, int *status,
		      long *body, bool *closes)
{
	const char *p = n->in, *end = n->in + head_len, *eol, *v;

	*body = -1;
	*closes = false;
	if (head_len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' ||
	    p[11] < '0' || p[11] > '9')
		return -1;
	*status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	for (p = (const char *)memchr(p, '\n', head_len) + 1; p < end;
	     p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		if (header_is(p, eol, "Content-Length", &v))
			*body = parse_length(v, eol[-1] == '\r' ? eol - 1 : eol);
		else if (header_is(p, eol, "Transfer-Encoding", &v))
			return -1;
		else if (header_is(p, eol, "Connection", &v))
			*closes = memmem(v, (size_t)(eol - v), "close", 5) ||
				  memmem(v, (size_t)(eol - v), "Close", 5);
	}
	if (*status == 204 || *status == 304)
		*body = 0;
	return *body < 0 ? -1 : 0;
}

/* Where the head in n->in ends (past its blank line), or 0. */
static size_t head_end(const struct chat_nchan *n)
{
	for (size_t i = 3; i < n->in_len; i++)
		if (n->in[i] == '\n' && n->in[i - 1] == '\r' &&
		    n->in[i - 2] == '\n' && n->in[i - 3] == '\r')
			return i + 1;
	return 0;
}

static void refused(struct chat_nchan *n, bool *first, size_t i, int status)
{
	if (*first)
		snprintf(n->errstr, sizeof(n->errstr), "nchan answered %d "
			 "(request %zu of %zu)", status, i + 1, n->queued);
	*first = false;
}

/*
 * Write n->out while reading the answers (both at once, so that neither
 * side's buffer can fill and stall the other).  Sets ok[] for the
 * answered ones; returns how many were answered.
 */
static size_t exchange(struct chat_nchan *n, bool *ok, bool *clean)
{
	size_t sent = 0, answered = 0;
	long skip = 0;			/* body bytes still to skip */
	bool in_body = false, closes = false;
	int send_errno = 0;		/* the write side failed: read on */
	double deadline = chat_now_ms() + n->timeout_ms;

	n->in_len = 0;
	while (answered < n->queued) {
		struct pollfd p = { .fd = n->fd, .events = POLLIN };
		double left = deadline - chat_now_ms();
		char skipbuf[4096];
		char *to = n->in + n->in_len;
		size_t room = sizeof(n->in) - n->in_len;
		ssize_t got;
		int rc;

		if (sent < n->out.len)
			p.events |= POLLOUT;
		if (left <= 0) {
			snprintf(n->errstr, sizeof(n->errstr), "timed out "
				 "after %zu of %zu answers", answered,
				 n->queued);
			break;
		}
		rc = poll(&p, 1, (int)left + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			snprintf(n->errstr, sizeof(n->errstr), "poll: %s",
				 strerror(errno));
			break;
		}
		if (p.revents & POLLOUT) {
			ssize_t w = send(n->fd, n->out.data + sent,
					 n->out.len - sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				/*
				 * The answers nchan wrote before it went are
				 * still to be read: what it took is not sent
				 * again.
				 */
				send_errno = errno;
				sent = n->out.len;
			}
			if (w > 0) {
				sent += (size_t)w;
				deadline = chat_now_ms() + n->timeout_ms;
			}
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (in_body) {
			to = skipbuf;
			room = (size_t)skip < sizeof(skipbuf) ? (size_t)skip :
								  sizeof(skipbuf);
		}
		got = recv(n->fd, to, room, MSG_DONTWAIT);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0) {
			const char *why = got ? strerror(errno) :
						"nchan closed the connection";

			if (send_errno)
				why = strerror(send_errno);
			snprintf(n->errstr, sizeof(n->errstr), "%s%s after %zu "
				 "of %zu answers", send_errno ? "send: " : "",
				 why, answered, n->queued);
			break;
		}
		deadline = chat_now_ms() + n->timeout_ms;
		if (in_body)
			skip -= got;
		else
			n->in_len += (size_t)got;
		/* Every whole answer now read. */
		for (;;) {
			size_t end;
			int status;

			if (in_body) {
				if (skip > 0)
					break;
				in_body = false;
				if (++answered == n->queued || closes)
					break;
				continue;
			}
			end = head_end(n);
			if (!end) {
				if (n->in_len == sizeof(n->in)) {
					snprintf(n->errstr, sizeof(n->errstr),
						 "answer head over %d bytes",
						 HEAD_MAX);
					goto out;
				}
				break;
			}
			if (parse_head(n, end, &status, &skip, &closes)) {
				snprintf(n->errstr, sizeof(n->errstr),
					 "an answer this client cannot read");
				goto out;
			}
			ok[answered] = n->is_close[answered] ?
					       status == 200 || status == 404 :
					       status == 201 || status == 202;
			if (!ok[answered])
				refused(n, clean, answered, status);
			/* Bytes past the head: its body, then the next answer. */
			n->in_len -= end;
			memmove(n->in, n->in + end, n->in_len);
			if ((long)n->in_len >= skip) {
				n->in_len -= (size_t)skip;
				memmove(n->in, n->in + skip, n->in_len);
				skip = 0;
			} else {
				skip -= (long)n->in_len;
				n->in_len = 0;
			}
			in_body = true;
		}
		if (closes && !in_body && answered < n->queued) {
			snprintf(n->errstr, sizeof(n->errstr), "nchan closed "
				 "the connection after %zu of %zu answers",
				 answered, n->queued);
			break;
		}
	}
out:
	/* Leftover bytes or a closing server: the connection is done. */
	if (answered < n->queued || n->in_len || closes)
		disconnect(n);
	return answered;
}

int chat_nchan_send(struct chat_nchan *n, bool *ok)
{
	bool clean = true;
	size_t answered = 0;

	for (size_t i = 0; i < n->queued; i++)
		ok[i] = false;
	n->errstr[0] = '\0';
	if (n->queued && ensure_connected(n) == 0)
		answered = exchange(n, ok, &clean);
	if (answered < n->queued)
		clean = false;
	chat_buf_reset(&n->out);
	n->queued = 0;
	return clean ? 0 : -1;
}

static int one(struct chat_nchan *n, const char *channel, const char *event,
	       const char *data, size_t len)
{
	bool ok;

	if (n->queued) {
		snprintf(n->errstr, sizeof(n->errstr), "a group is queued");
		return -1;
	}
	if (add(n, channel, event, data, len))
		return -1;
	return chat_nchan_send(n, &ok);
}

int chat_nchan_publish(struct chat_nchan *n, const char *channel,
		       const char *event, const char *data, size_t len)
{
	return one(n, channel, event, data, len);
}

int chat_nchan_close(struct chat_nchan *n, const char *channel)
{
	return one(n, channel, NULL, NULL, 0);
}
