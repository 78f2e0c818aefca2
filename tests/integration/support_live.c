/*
 * support_live.c - the tests' SSE and WebSocket client (support_live.h).
 */
#include "support_live.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "client.h"
#include "xalloc.h"

#define HEAD_MS 5000

struct live_conn {
	enum live_kind kind;
	int fd;
	long status;
	struct chat_buf head;	/* the response head, NUL-separated lines */
	struct chat_buf in;	/* bytes read and not yet used */
	size_t used;		/* of `in` */
	bool chunked, closed;
	size_t chunk_left;	/* of the current chunk */
	struct chat_buf body;	/* the body of a refusal, or dechunked SSE */
	size_t body_used;
	char *body_text;
};

unsigned live_port(void)
{
	const char *p = getenv("CHAT_HTTP_PORT");

	cr_assert(p && *p, "CHAT_HTTP_PORT is not set");
	return (unsigned)strtoul(p, NULL, 10);
}

/* ---------------------------------------------------------- SHA-1 */

/* Only for checking Sec-WebSocket-Accept (RFC 6455 asks for SHA-1). */
static uint32_t rol(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
			  0xC3D2E1F0 };
	size_t total = ((len + 8) / 64 + 1) * 64;
	unsigned char *m = xcalloc(total, 1);
	uint64_t bits = (uint64_t)len * 8;

	memcpy(m, msg, len);
	m[len] = 0x80;
	for (int i = 0; i < 8; i++)
		m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
	for (size_t off = 0; off < total; off += 64) {
		uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3],
				e = h[4];

		for (int i = 0; i < 16; i++)
			w[i] = (uint32_t)m[off + 4 * i] << 24 |
			       (uint32_t)m[off + 4 * i + 1] << 16 |
			       (uint32_t)m[off + 4 * i + 2] << 8 |
			       m[off + 4 * i + 3];
		for (int i = 16; i < 80; i++)
			w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
		for (int i = 0; i < 80; i++) {
			uint32_t f, k, t;

			if (i < 20) {
				f = (b & c) | (~b & d);
				k = 0x5A827999;
			} else if (i < 40) {
				f = b ^ c ^ d;
				k = 0x6ED9EBA1;
			} else if (i < 60) {
				f = (b & c) | (b & d) | (c & d);
				k = 0x8F1BBCDC;
			} else {
				f = b ^ c ^ d;
				k = 0xCA62C1D6;
			}
			t = rol(a, 5) + f + e + k + w[i];
			e = d;
			d = c;
			c = rol(b, 30);
			b = a;
			a = t;
		}
		h[0] += a;
		h[1] += b;
		h[2] += c;
		h[3] += d;
		h[4] += e;
	}
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
	free(m);
}

static void base64(const unsigned char *in, size_t len, struct chat_buf *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		chat_buf_addch(out, tab[(v >> 18) & 63]);
		chat_buf_addch(out, tab[(v >> 12) & 63]);
		chat_buf_addch(out, i + 1 < len ? tab[(v >> 6) & 63] : '=');
		chat_buf_addch(out, i + 2 < len ? tab[v & 63] : '=');
	}
}

/* ---------------------------------------------------------- I/O */

/* Read what is there within `timeout_ms` into c->in: 1, 0 timeout, -1 EOF. */
static int fill(struct live_conn *c, unsigned timeout_ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	char buf[16384];
	ssize_t n;
	int rc;

	if (c->closed)
		return -1;
	do
		rc = poll(&p, 1, (int)timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return 0;
	cr_assert(rc > 0, "poll: %s", strerror(errno));
	n = read(c->fd, buf, sizeof(buf));
	if (n <= 0) {
		c->closed = true;
		return -1;
	}
	chat_buf_add(&c->in, buf, (size_t)n);
	return 1;
}

static uint64_t deadline_left(uint64_t until)
{
	uint64_t now = now_ms();

	return now >= until ? 0 : until - now;
}

static void send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		cr_assert(n > 0, "write to nginx: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* The first "\r\n" of p[0..n), or NULL. */
static const char *find_crlf(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			return p + i;
	return NULL;
}

/* Move the raw body bytes of c->in into c->body, dechunking if needed. */
static void take_body(struct live_conn *c)
{
	while (c->used < c->in.len) {
		size_t avail = c->in.len - c->used;
		const char *p = c->in.data + c->used;

		if (!c->chunked) {
			chat_buf_add(&c->body, p, avail);
			c->used += avail;
			break;
		}
		if (c->chunk_left) {
			size_t k = avail < c->chunk_left ? avail : c->chunk_left;

			chat_buf_add(&c->body, p, k);
			c->used += k;
			c->chunk_left -= k;
			continue;
		}
		/* "\r\n" after a chunk, then "size\r\n". */
		const char *eol = find_crlf(p, avail);

		if (!eol)
			break;
		if (eol == p) {
			c->used += 2;
			continue;
		}
		c->chunk_left = strtoul(p, NULL, 16);
		c->used += (size_t)(eol - p) + 2;
		if (!c->chunk_left) {
			c->closed = true;
			break;
		}
	}
	/* Compact. */
	if (c->used == c->in.len) {
		chat_buf_reset(&c->in);
		c->used = 0;
	}
}

static const char *header_in(const struct chat_buf *head, const char *name)
{
	size_t nlen = strlen(name);

	for (const char *l = head->data; l < head->data + head->len;
	     l += strlen(l) + 1)
		if (strncasecmp(l, name, nlen) == 0 && l[nlen] == ':')
			return l + nlen + 1 + strspn(l + nlen + 1, " \t");
	return NULL;
}

const char *live_header(const struct live_conn *c, const char *name)
{
	return header_in(&c->head, name);
}

long live_status(const struct live_conn *c)
{
	return c->status;
}

/* Read the response head (up to HEAD_MS) and split it into c->head. */
static void read_head(struct live_conn *c)
{
	uint64_t until = now_ms() + HEAD_MS;
	const char *end;
	const char *te;

	while (!(end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4))) {
		int rc = fill(c, (unsigned)deadline_left(until));

		cr_assert(rc > 0, "no response head from nginx within %d ms",
			  HEAD_MS);
	}
	for (const char *l = c->in.data; l < end + 2;) {
		const char *eol = strstr(l, "\r\n");

		chat_buf_add(&c->head, l, (size_t)(eol - l));
		chat_buf_addch(&c->head, '\0');
		l = eol + 2;
	}
	cr_assert(sscanf(c->head.data, "HTTP/1.1 %ld", &c->status) == 1,
		  "bad status line: %s", c->head.data);
	c->used = (size_t)(end + 4 - c->in.data);
	te = live_header(c, "Transfer-Encoding");
	c->chunked = te && strcasecmp(te, "chunked") == 0;
	take_body(c);
}

struct live_conn *live_open(enum live_kind kind, unsigned port,
			    const char *path, const char *last_id)
{
	struct live_conn *c = xcalloc(1, sizeof(*c));
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	struct chat_buf req, key, want;
	unsigned char nonce[16], digest[20];

	c->kind = kind;
	chat_buf_init(&c->head);
	chat_buf_init(&c->in);
	chat_buf_init(&c->body);
	chat_buf_init(&req);
	chat_buf_init(&key);
	chat_buf_init(&want);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(c->fd >= 0);
	cr_assert(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		  "connect to 127.0.0.1:%u: %s", port, strerror(errno));
	chat_buf_addf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n", path,
		      port);
	if (kind == LIVE_SSE) {
		chat_buf_adds(&req, "Accept: text/event-stream\r\n");
	} else {
		for (size_t i = 0; i < sizeof(nonce); i++)
			nonce[i] = (unsigned char)rand();
		base64(nonce, sizeof(nonce), &key);
		chat_buf_addf(&req, "Upgrade: websocket\r\nConnection: Upgrade"
			      "\r\nSec-WebSocket-Version: 13\r\n"
			      "Sec-WebSocket-Key: %s\r\n", key.data);
	}
	if (last_id)
		chat_buf_addf(&req, "Last-Event-ID: %s\r\n", last_id);
	chat_buf_adds(&req, "\r\n");
	send_all(c->fd, req.data, req.len);
	read_head(c);
	if (kind == LIVE_WS && c->status == 101) {
		const char *got = live_header(c, "Sec-WebSocket-Accept");

		chat_buf_addf(&key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
		sha1((const unsigned char *)key.data, key.len, digest);
		base64(digest, sizeof(digest), &want);
		cr_assert(got && strcmp(got, want.data) == 0,
			  "Sec-WebSocket-Accept is %s, not %s", got ? got : "-",
			  want.data);
		/* Frames are not chunked: what follows the head is a frame. */
		chat_buf_add(&c->body, c->in.data + c->used,
			     c->in.len - c->used);
		chat_buf_reset(&c->in);
		c->used = 0;
	}
	chat_buf_release(&req);
	chat_buf_release(&key);
	chat_buf_release(&want);
	return c;
}

const char *live_body(struct live_conn *c)
{
	const char *cl = live_header(c, "Content-Length");
	size_t want = cl ? strtoul(cl, NULL, 10) : 0;
	uint64_t until = now_ms() + HEAD_MS;

	while ((cl ? c->body.len < want : !c->closed) &&
	       deadline_left(until) > 0) {
		if (fill(c, (unsigned)deadline_left(until)) < 0)
			break;
		take_body(c);
	}
	free(c->body_text);
	c->body_text = xstrndup(c->body.data, c->body.len);
	return c->body_text;
}

void live_close(struct live_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	chat_buf_release(&c->head);
	chat_buf_release(&c->in);
	chat_buf_release(&c->body);
	free(c->body_text);
	free(c);
}

void live_event_release(struct live_event *ev)
{
	free(ev->name);
	free(ev->id);
	free(ev->data);
	json_object_put(ev->json);
	memset(ev, 0, sizeof(*ev));
}

/* More stream bytes into c->body, up to `until`: 1, 0 timeout, -1 end. */
static int more(struct live_conn *c, uint64_t until)
{
	int rc;

	if (c->closed && c->used >= c->in.len)
		return -1;
	rc = fill(c, (unsigned)deadline_left(until));
	if (rc <= 0)
		return rc;
	if (c->kind == LIVE_SSE) {
		take_body(c);
	} else {
		chat_buf_add(&c->body, c->in.data, c->in.len);
		chat_buf_reset(&c->in);
	}
	return 1;
}

static void finish_event(struct live_event *ev, struct chat_buf *data)
{
	ev->data = chat_buf_detach(data, NULL);
	ev->json = json_tokener_parse(ev->data);
	ev->at_ms = now_ms();
}

/* One SSE event from c->body, if a whole one is there: true. */
static bool sse_event(struct live_conn *c, struct live_event *ev)
{
	const char *start = c->body.data + c->body_used;
	const char *end = strstr(start, "\n\n");
	struct chat_buf data;
	bool have_data = false;

	if (!end)
		return false;
	chat_buf_init(&data);
	for (const char *l = start; l < end + 1;) {
		const char *eol = strchr(l, '\n');
		size_t len = (size_t)(eol - l);

		if (len >= 6 && strncmp(l, "event:", 6) == 0) {
			free(ev->name);
			ev->name = xstrndup(l + 6 + (l[6] == ' '),
					    len - 6 - (l[6] == ' '));
		} else if (len >= 3 && strncmp(l, "id:", 3) == 0) {
			free(ev->id);
			ev->id = xstrndup(l + 3 + (l[3] == ' '),
					  len - 3 - (l[3] == ' '));
		} else if (len >= 5 && strncmp(l, "data:", 5) == 0) {
			if (have_data)
				chat_buf_addch(&data, '\n');
			chat_buf_add(&data, l + 5 + (l[5] == ' '),
				     len - 5 - (l[5] == ' '));
			have_data = true;
		}
		l = eol + 1;
	}
	c->body_used = (size_t)(end + 2 - c->body.data);
	if (!have_data) {	/* a comment or a ping */
		chat_buf_release(&data);
		free(ev->name);
		free(ev->id);
		ev->name = ev->id = NULL;
		return sse_event(c, ev);
	}
	finish_event(ev, &data);
	return true;
}

/*
 * One WebSocket frame from c->body, if a whole one is there: 1 a text
 * frame (*ev filled), 0 none yet, -1 a close frame; pings are answered.
 */
static int ws_frame(struct live_conn *c, struct live_event *ev)
{
	for (;;) {
		const unsigned char *p =
			(const unsigned char *)c->body.data + c->body_used;
		size_t avail = c->body.len - c->body_used, hdr = 2;
		uint64_t len;
		unsigned op;

		if (avail < 2)
			return 0;
		op = p[0] & 0x0f;
		cr_assert(!(p[1] & 0x80), "the server masked a frame");
		len = p[1] & 0x7f;
		if (len == 126) {
			if (avail < 4)
				return 0;
			len = (uint64_t)p[2] << 8 | p[3];
			hdr = 4;
		} else if (len == 127) {
			if (avail < 10)
				return 0;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			hdr = 10;
		}
		if (avail < hdr + len)
			return 0;
		c->body_used += hdr + len;
		if (op == 0x8)
			return -1;
		if (op == 0x9) {	/* ping: a masked pong, mask 0 */
			unsigned char pong[6 + 125] = { 0x8a, 0x80 };

			cr_assert(len <= 125);
			pong[1] |= (unsigned char)len;
			memcpy(pong + 6, p + hdr, len);
			send_all(c->fd, (const char *)pong, 6 + len);
			continue;
		}
		cr_assert(p[0] & 0x80, "fragmented frames are not expected");
		if (op != 0x1)
			continue;
		struct chat_buf data;

		chat_buf_init(&data);
		chat_buf_add(&data, p + hdr, len);
		finish_event(ev, &data);
		return 1;
	}
}

int live_next(struct live_conn *c, unsigned timeout_ms,
	      struct live_event *ev)
{
	uint64_t until = now_ms() + timeout_ms;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		int rc;

		if (c->kind == LIVE_SSE) {
			if (sse_event(c, ev))
				return 1;
		} else {
			rc = ws_frame(c, ev);
			if (rc)
				return rc;
		}
		rc = more(c, until);
		if (rc < 0) {
			/* What is left may still hold a last event. */
			if (c->kind == LIVE_SSE ? sse_event(c, ev) :
						  ws_frame(c, ev) == 1)
				return 1;
			return -1;
		}
		if (rc == 0)
			return 0;
	}
}
