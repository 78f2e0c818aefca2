/*
 * test_nchan.c - unit tests of lib/nchan.c, the client of nchan's
 * publisher endpoint: the requests of a group as written, the answers
 * read in order (in one piece, byte by byte, with bodies to skip), which
 * answers count as taken, a connection lost, closed while idle or closed
 * by an answer, answers it cannot read, the checks on what is queued,
 * and its timeouts.  No nginx: each test runs a scripted peer on a Unix
 * socket in a fresh directory under /tmp, on a thread of its own, that
 * records the requests it reads and writes the answers of its script.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <criterion/criterion.h>

#include "buf.h"
#include "clock.h"
#include "nchan.h"
#include "xalloc.h"

/* The peer's bound on any one wait (a connection, requests, a reader). */
#define PEER_WAIT_MS 10000
#define MAX_REQUESTS 256
/* The client's timeout where none is under test. */
#define TIMEOUT_MS 2000

/* One exchange of the peer's script, on the connection it has or accepts. */
struct step {
	size_t requests;		/* read this many, then answer */
	const char *const *answers;	/* NULL-terminated, written in order */
	bool bytewise;			/* each byte read before the next */
	bool then_close;		/* close the connection after answering */
	bool mute;			/* answer nothing, wait for the client */
};

struct request {
	char *head;		/* request line and headers, each ending \r\n */
	char *body;
	size_t body_len;
	int conn;		/* the connection it came on: 0, 1, ... */
};

static struct {
	char dir[32];
	char path[64];
	int listen_fd;
	bool running;
	pthread_t thread;
	const struct step *steps;
	size_t n_steps;
	atomic_bool stop;
	atomic_int conns;	/* connections accepted */
	atomic_int closed;	/* connections the peer closed */
	/* Written by the peer's thread; read once it is joined. */
	struct request reqs[MAX_REQUESTS];
	size_t n_reqs;
	char err[256];		/* what the peer did not get, or "" */
} peer = { .listen_fd = -1 };

/* Answers built by answer(), freed after each test. */
static char *made[128];
static size_t n_made;

__attribute__((format(printf, 1, 2)))
static void peer_fail(const char *fmt, ...)
{
	va_list ap;

	if (peer.err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(peer.err, sizeof(peer.err), fmt, ap);
	va_end(ap);
}

/* Whether fd is ready before the deadline (and no stop was asked). */
static bool peer_poll(int fd, short events, double deadline)
{
	while (!atomic_load(&peer.stop) && chat_now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = events };

		if (poll(&p, 1, 20) > 0)
			return true;
	}
	return false;
}

/* Bytes read into `in`, 0 at the end, -1 on error, timeout or stop. */
static ssize_t peer_recv(int fd, struct chat_buf *in, double deadline)
{
	char chunk[65536];
	ssize_t got;

	if (!peer_poll(fd, POLLIN, deadline))
		return -1;
	got = recv(fd, chunk, sizeof(chunk), 0);
	if (got > 0)
		chat_buf_add(in, chunk, (size_t)got);
	return got < 0 ? -1 : got;
}

/* Record and drop each whole request at the start of `in`. */
static void peer_take_requests(struct chat_buf *in, int conn)
{
	for (;;) {
		const char *end = memmem(in->data, in->len, "\r\n\r\n", 4);
		const char *cl;
		size_t head, body = 0;
		char *h;

		if (!end)
			return;
		head = (size_t)(end - in->data) + 4;
		h = xstrndup(in->data, head - 2);
		cl = strcasestr(h, "\r\nContent-Length:");
		if (cl)
			body = strtoul(cl + 17, NULL, 10);
		if (in->len < head + body) {
			free(h);
			return;
		}
		if (peer.n_reqs < MAX_REQUESTS) {
			struct request *r = &peer.reqs[peer.n_reqs++];

			r->head = h;
			r->body = xmalloc(body + 1);
			memcpy(r->body, in->data + head, body);
			r->body_len = body;
			r->conn = conn;
		} else {
			peer_fail("over %d requests", MAX_REQUESTS);
			free(h);
		}
		in->len -= head + body;
		memmove(in->data, in->data + head + body, in->len + 1);
	}
}

/* 0, or -1 when the client has gone (which it may, on a bad answer). */
static int peer_send(int fd, const char *p, size_t len, double deadline)
{
	while (len) {
		ssize_t w;

		if (!peer_poll(fd, POLLOUT, deadline))
			return -1;
		w = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Until the client has read all that was written to it. */
static void peer_drained(int fd, double deadline)
{
	struct timespec pause = { .tv_nsec = 20000 };
	int left;

	while (ioctl(fd, SIOCOUTQ, &left) == 0 && left > 0 &&
	       !atomic_load(&peer.stop) && chat_now_ms() < deadline)
		nanosleep(&pause, NULL);
}

static void peer_answer(int fd, const struct step *st, double deadline)
{
	struct chat_buf out;

	chat_buf_init(&out);
	for (const char *const *a = st->answers; a && *a; a++)
		chat_buf_adds(&out, *a);
	if (!st->bytewise) {
		peer_send(fd, out.data, out.len, deadline);
	} else {
		for (size_t i = 0; i < out.len; i++) {
			if (peer_send(fd, out.data + i, 1, deadline))
				break;
			peer_drained(fd, deadline);
		}
	}
	chat_buf_release(&out);
}

static void *peer_run(void *unused)
{
	struct chat_buf in;
	int fd = -1, conn = -1;
	size_t want = 0;
	double deadline;

	(void)unused;
	chat_buf_init(&in);
	for (size_t s = 0; s < peer.n_steps; s++) {
		const struct step *st = &peer.steps[s];

		deadline = chat_now_ms() + PEER_WAIT_MS;
		if (fd < 0) {
			if (!peer_poll(peer.listen_fd, POLLIN, deadline)) {
				peer_fail("step %zu: no connection", s);
				goto out;
			}
			fd = accept4(peer.listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				peer_fail("accept: %s", strerror(errno));
				goto out;
			}
			conn = atomic_fetch_add(&peer.conns, 1);
			chat_buf_reset(&in);
		}
		want += st->requests;
		while (peer.n_reqs < want) {
			if (peer_recv(fd, &in, deadline) <= 0) {
				peer_fail("step %zu: %zu of %zu requests", s,
					  peer.n_reqs, want);
				goto out;
			}
			peer_take_requests(&in, conn);
		}
		if (st->mute)
			break;
		peer_answer(fd, st, deadline);
		if (st->then_close) {
			close(fd);
			fd = -1;
			atomic_fetch_add(&peer.closed, 1);
		}
	}
	/* Until the client leaves; whatever more it sends is recorded. */
	deadline = chat_now_ms() + PEER_WAIT_MS;
	while (fd >= 0 && peer_recv(fd, &in, deadline) > 0)
		peer_take_requests(&in, conn);
out:
	if (fd >= 0)
		close(fd);
	chat_buf_release(&in);
	return NULL;
}

/* A fresh directory for the socket; nothing listens yet. */
static void peer_open(void)
{
	snprintf(peer.dir, sizeof(peer.dir), "/tmp/test_nchan.XXXXXX");
	cr_assert_not_null(mkdtemp(peer.dir), "mkdtemp: %s", strerror(errno));
	snprintf(peer.path, sizeof(peer.path), "%s/pub.sock", peer.dir);
}

static void peer_start(const struct step *steps, size_t n_steps)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	peer_open();
	memcpy(sa.sun_path, peer.path, strlen(peer.path) + 1);
	peer.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(peer.listen_fd, 0);
	cr_assert_eq(bind(peer.listen_fd, (struct sockaddr *)&sa, sizeof(sa)),
		     0, "bind %s: %s", peer.path, strerror(errno));
	cr_assert_eq(listen(peer.listen_fd, 16), 0);
	peer.steps = steps;
	peer.n_steps = n_steps;
	cr_assert_eq(pthread_create(&peer.thread, NULL, peer_run, NULL), 0);
	peer.running = true;
}

/* Stop the peer and remove its socket; its records stay.  Idempotent. */
static void peer_stop(void)
{
	if (peer.running) {
		atomic_store(&peer.stop, true);
		pthread_join(peer.thread, NULL);
		peer.running = false;
	}
	if (peer.listen_fd >= 0)
		close(peer.listen_fd);
	peer.listen_fd = -1;
	if (peer.dir[0]) {
		unlink(peer.path);
		rmdir(peer.dir);
		peer.dir[0] = '\0';
	}
}

static void peer_cleanup(void)
{
	peer_stop();
	for (size_t i = 0; i < peer.n_reqs; i++) {
		free(peer.reqs[i].head);
		free(peer.reqs[i].body);
	}
	peer.n_reqs = 0;
	while (n_made)
		free(made[--n_made]);
}

/* Stop the peer, and check that it got all its script asked for. */
static void peer_done(void)
{
	peer_stop();
	cr_assert(!peer.err[0], "peer: %s", peer.err);
}

/* Wait (boundedly) until the peer has closed `count` connections. */
static void peer_wait_closed(int count)
{
	double deadline = chat_now_ms() + PEER_WAIT_MS;

	while (atomic_load(&peer.closed) < count && chat_now_ms() < deadline)
		chat_sleep_ms(1);
	cr_assert_geq(atomic_load(&peer.closed), count);
}

/* The peer on its script, and a client of it. */
static struct chat_nchan *started(const struct step *steps, size_t n_steps)
{
	peer_start(steps, n_steps);
	return chat_nchan_new(peer.path, TIMEOUT_MS);
}

static void error_has(struct chat_nchan *n, const char *part)
{
	cr_assert(strstr(chat_nchan_errstr(n), part), "%s",
		  chat_nchan_errstr(n));
}

TestSuite(nchan, .timeout = 30, .fini = peer_cleanup);

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 404: return "Not Found";
	case 507: return "Insufficient Storage";
	default: return "Whatever";
	}
}

/* An answer with `headers` (each ending \r\n) and `body`. */
static const char *answer(int status, const char *headers, const char *body)
{
	struct chat_buf b;

	cr_assert_lt(n_made, sizeof(made) / sizeof(made[0]));
	chat_buf_init(&b);
	chat_buf_addf(&b, "HTTP/1.1 %d %s\r\nServer: nginx/1.26.0\r\n"
		      "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n%s"
		      "Content-Length: %zu\r\n\r\n%s", status, reason(status),
		      headers, strlen(body), body);
	made[n_made] = chat_buf_detach(&b, NULL);
	return made[n_made++];
}

/* As nchan answers a publish, with the channel's statistics. */
#define QUEUED "queued messages: 1\r\nlast requested: 0 sec. ago\r\n" \
	       "active subscribers: 0\r\nlast message id: 1704067200:0\r\n"

static const char *accepted(void)
{
	return answer(202, "Content-Type: text/plain\r\n"
		      "Connection: keep-alive\r\n", QUEUED);
}

static const char *status_only(int status)
{
	return answer(status, "", "");
}

/* Whether the request has the header line `line` ("Name: value"). */
static bool has_header(const struct request *r, const char *line)
{
	struct chat_buf want;
	bool found;

	chat_buf_init(&want);
	chat_buf_addf(&want, "\r\n%s\r\n", line);
	found = strstr(r->head, want.data) != NULL;
	chat_buf_release(&want);
	return found;
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool all_ok(const bool *ok, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!ok[i])
			return false;
	return true;
}

static void add_publishes(struct chat_nchan *n, size_t count)
{
	for (size_t i = 0; i < count; i++)
		cr_assert_eq(chat_nchan_add_publish(n, "1/2", "message.new",
						    "{}", 2), 0);
}

/* Bytes of request i's body: sizes vary, and some hold what looks like
 * the end of a head, or a NUL, which only Content-Length delimits. */
static void make_data(struct chat_buf *b, size_t i)
{
	chat_buf_init(b);
	if (i == 1)
		return;		/* empty */
	chat_buf_addf(b, "{\"number\":%zu,\"body\":\"", i);
	for (size_t k = 0; k < i * 37 % 500; k++)
		chat_buf_addch(b, (char)('a' + k % 26));
	if (i % 5 == 0)
		chat_buf_adds(b, "\r\n\r\nHTTP/1.1 200 OK\r\n\r\n");
	if (i % 7 == 0)
		chat_buf_add(b, "\0", 1);
	chat_buf_adds(b, "\"}");
}

Test(nchan, group_written_as_queued_and_all_taken)
{
	const char *answers[CHAT_NCHAN_GROUP + 1] = { NULL };
	struct step steps[] = { { .requests = CHAT_NCHAN_GROUP,
				  .answers = answers } };
	struct chat_buf data[CHAT_NCHAN_GROUP - 1];
	bool ok[CHAT_NCHAN_GROUP] = { false };
	struct chat_nchan *n;
	char channel[32], line[128];

	/* A full group: 63 publishes and a close. */
	for (size_t i = 0; i < CHAT_NCHAN_GROUP - 1; i++)
		answers[i] = i % 2 ? accepted() : status_only(201);
	answers[CHAT_NCHAN_GROUP - 1] = status_only(200);
	n = started(steps, 1);
	for (size_t i = 0; i < CHAT_NCHAN_GROUP - 1; i++) {
		make_data(&data[i], i);
		snprintf(channel, sizeof(channel), "%zu/%zu", i % 3 + 1,
			 1000 + i);
		cr_assert_eq(chat_nchan_add_publish(n, channel, i % 2 ?
						    "message.new" : "typing",
						    i == 1 ? NULL : data[i].data,
						    data[i].len), 0);
	}
	cr_assert_eq(chat_nchan_add_close(n, "7/1000"), 0);
	cr_assert_eq(chat_nchan_queued(n), CHAT_NCHAN_GROUP);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(all_ok(ok, CHAT_NCHAN_GROUP));
	cr_assert_eq(chat_nchan_queued(n), 0);
	chat_nchan_free(n);
	peer_done();

	cr_assert_eq(peer.n_reqs, CHAT_NCHAN_GROUP, "got %zu", peer.n_reqs);
	cr_assert_eq(atomic_load(&peer.conns), 1);
	for (size_t i = 0; i < CHAT_NCHAN_GROUP - 1; i++) {
		const struct request *r = &peer.reqs[i];

		snprintf(line, sizeof(line), "POST /pub/%zu/%zu HTTP/1.1\r\n",
			 i % 3 + 1, 1000 + i);
		cr_assert(starts(r->head, line), "request %zu: %s", i, r->head);
		cr_assert(strcasestr(r->head, "\r\nHost: "), "%s", r->head);
		cr_assert(has_header(r, "Content-Type: application/json"));
		snprintf(line, sizeof(line), "X-EventSource-Event: %s",
			 i % 2 ? "message.new" : "typing");
		cr_assert(has_header(r, line), "request %zu: %s", i, r->head);
		snprintf(line, sizeof(line), "Content-Length: %zu",
			 data[i].len);
		cr_assert(has_header(r, line), "request %zu: %s", i, r->head);
		cr_assert_eq(r->body_len, data[i].len, "request %zu", i);
		cr_assert(!memcmp(r->body, data[i].data, data[i].len),
			  "request %zu", i);
		chat_buf_release(&data[i]);
	}
	cr_assert(starts(peer.reqs[CHAT_NCHAN_GROUP - 1].head,
			 "DELETE /pub/7/1000 HTTP/1.1\r\n"));
	cr_assert_eq(peer.reqs[CHAT_NCHAN_GROUP - 1].body_len, 0);
	cr_assert_null(strcasestr(peer.reqs[CHAT_NCHAN_GROUP - 1].head,
				  "X-EventSource-Event"));
}

Test(nchan, connection_kept_between_groups)
{
	const char *a1[] = { accepted(), accepted(), NULL };
	const char *a2[] = { status_only(200), NULL };
	struct step steps[] = { { .requests = 2, .answers = a1 },
				{ .requests = 1, .answers = a2 } };
	struct chat_nchan *n;
	bool ok[2] = { false };

	n = started(steps, 2);
	add_publishes(n, 2);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(all_ok(ok, 2));
	cr_assert_eq(chat_nchan_add_close(n, "1/2"), 0);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(ok[0]);
	/* Nothing queued: nothing sent, nothing read. */
	cr_assert_eq(chat_nchan_send(n, ok), 0);
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(atomic_load(&peer.conns), 1, "one connection for both");
	cr_assert_eq(peer.n_reqs, 3);
}

Test(nchan, answers_read_one_byte_at_a_time)
{
	const char *answers[] = {
		accepted(),
		answer(201, "Content-Type: text/plain\r\n", QUEUED),
		"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok",
		"HTTP/1.1 202 Accepted\r\nContent-Length:7\r\n\r\n\r\n\r\n\r\n\r",
		accepted(),
		status_only(202),
		accepted(),
		answer(200, "Content-Type: text/plain\r\n", QUEUED),
		NULL
	};
	struct step steps[] = { { .requests = 8, .answers = answers,
				  .bytewise = true } };
	struct chat_nchan *n;
	bool ok[8] = { false };

	n = started(steps, 1);
	add_publishes(n, 7);
	cr_assert_eq(chat_nchan_add_close(n, "3"), 0);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(all_ok(ok, 8));
	chat_nchan_free(n);
	peer_done();
}

Test(nchan, a_refused_request_fails_only_itself)
{
	const char *answers[] = {
		accepted(), accepted(),
		answer(507, "Content-Type: text/html\r\n",
		       "<html>\r\n<head><title>507 Insufficient Storage"
		       "</title></head>\r\n</html>\r\n"),
		accepted(), accepted(), NULL
	};
	struct step steps[] = { { .requests = 5, .answers = answers } };
	struct chat_nchan *n;
	bool ok[5] = { false };

	n = started(steps, 1);
	add_publishes(n, 5);
	cr_assert_eq(chat_nchan_send(n, ok), -1);
	cr_assert(ok[0] && ok[1] && !ok[2] && ok[3] && ok[4]);
	error_has(n, "507");
	chat_nchan_free(n);
	peer_done();
}

Test(nchan, what_counts_as_taken)
{
	const char *answers[] = {
		status_only(404),	/* close: no such channel, fine */
		status_only(404),	/* publish: not taken */
		status_only(200),	/* close */
		status_only(201),	/* publish */
		status_only(200),	/* publish: not what nchan says */
		status_only(202),	/* close: nor this */
		NULL
	};
	struct step steps[] = { { .requests = 6, .answers = answers } };
	struct chat_nchan *n;
	bool ok[6] = { false };

	n = started(steps, 1);
	cr_assert_eq(chat_nchan_add_close(n, "1"), 0);
	add_publishes(n, 1);
	cr_assert_eq(chat_nchan_add_close(n, "1"), 0);
	add_publishes(n, 2);
	cr_assert_eq(chat_nchan_add_close(n, "1"), 0);
	cr_assert_eq(chat_nchan_send(n, ok), -1);
	cr_assert(ok[0], "a close answered 404 is taken");
	cr_assert_not(ok[1], "a publish answered 404 is not");
	cr_assert(ok[2] && ok[3]);
	cr_assert_not(ok[4]);
	cr_assert_not(ok[5]);
	error_has(n, "404");
	chat_nchan_free(n);
	peer_done();
}

Test(nchan, one_request_as_a_group_of_its_own)
{
	const char *a1[] = { accepted(), NULL };
	const char *a2[] = { status_only(404), NULL };
	const char *a3[] = { status_only(404), NULL };
	struct step steps[] = { { .requests = 1, .answers = a1 },
				{ .requests = 1, .answers = a2 },
				{ .requests = 1, .answers = a3 } };
	struct chat_nchan *n;

	n = started(steps, 3);
	cr_assert_eq(chat_nchan_publish(n, "5", "message", "[]", 2), 0,
		     "%s", chat_nchan_errstr(n));
	cr_assert_eq(chat_nchan_close(n, "5"), 0, "%s", chat_nchan_errstr(n));
	cr_assert_eq(chat_nchan_publish(n, "5", "message", "[]", 2), -1);
	/* Not while a group is queued: the group is left as it was. */
	add_publishes(n, 1);
	cr_assert_eq(chat_nchan_close(n, "5"), -1);
	cr_assert_eq(chat_nchan_queued(n), 1);
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(peer.n_reqs, 3);
	cr_assert(starts(peer.reqs[1].head, "DELETE /pub/5 HTTP/1.1\r\n"));
}

Test(nchan, connection_lost_midway_then_made_again)
{
	const char *a1[] = { accepted(), accepted(), accepted(), NULL };
	const char *a2[] = { accepted(), accepted(), NULL };
	struct step steps[] = { { .requests = 5, .answers = a1,
				  .then_close = true },
				{ .requests = 2, .answers = a2 } };
	struct chat_nchan *n;
	bool ok[5] = { false };

	n = started(steps, 2);
	add_publishes(n, 5);
	cr_assert_eq(chat_nchan_send(n, ok), -1);
	cr_assert(ok[0] && ok[1] && ok[2]);
	cr_assert(!ok[3] && !ok[4]);
	error_has(n, "3 of 5");
	cr_assert_eq(chat_nchan_queued(n), 0);
	add_publishes(n, 2);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(ok[0] && ok[1]);
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(atomic_load(&peer.conns), 2);
	cr_assert_eq(peer.n_reqs, 7);
	cr_assert_eq(peer.reqs[6].conn, 1);
}

Test(nchan, idle_connection_closed_by_the_server_is_replaced)
{
	const char *a1[] = { accepted(), accepted(), NULL };
	const char *a2[] = { accepted(), status_only(200), NULL };
	struct step steps[] = { { .requests = 2, .answers = a1,
				  .then_close = true },
				{ .requests = 2, .answers = a2 } };
	struct chat_nchan *n;
	bool ok[2] = { false };

	n = started(steps, 2);
	add_publishes(n, 2);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(all_ok(ok, 2));
	/* As nginx does after keepalive_timeout, between two groups. */
	peer_wait_closed(1);
	add_publishes(n, 1);
	cr_assert_eq(chat_nchan_add_close(n, "1/2"), 0);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(all_ok(ok, 2));
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(atomic_load(&peer.conns), 2);
	cr_assert_eq(peer.n_reqs, 4);
}

Test(nchan, connection_close_answer_ends_the_group)
{
	/* The answers after it are written too: they must not be taken. */
	const char *a1[] = {
		answer(202, "Connection: close\r\n", QUEUED),
		accepted(), accepted(), NULL
	};
	const char *a2[] = { accepted(), NULL };
	struct step steps[] = { { .requests = 3, .answers = a1,
				  .then_close = true },
				{ .requests = 1, .answers = a2 } };
	struct chat_nchan *n;
	bool ok[3] = { false };

	n = started(steps, 2);
	add_publishes(n, 3);
	cr_assert_eq(chat_nchan_send(n, ok), -1);
	cr_assert(ok[0]);
	cr_assert(!ok[1] && !ok[2]);
	error_has(n, "1 of 3");
	peer_wait_closed(1);
	add_publishes(n, 1);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(atomic_load(&peer.conns), 2);
}

Test(nchan, big_body_skipped)
{
	struct chat_buf big;
	const char *a1[4] = { NULL }, *a2[] = { accepted(), NULL };
	struct step steps[] = { { .requests = 3, .answers = a1 },
				{ .requests = 1, .answers = a2 } };
	struct chat_nchan *n;
	bool ok[3] = { false };

	chat_buf_init(&big);
	for (size_t i = 0; i < 300 * 1024 / 16; i++)
		chat_buf_adds(&big, "HTTP/1.1 404 x\r\n");
	a1[0] = accepted();
	a1[1] = answer(202, "Content-Type: text/plain\r\n", big.data);
	a1[2] = status_only(201);
	n = started(steps, 2);
	add_publishes(n, 3);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(all_ok(ok, 3));
	/* Skipped to the byte: the connection is still good. */
	add_publishes(n, 1);
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(atomic_load(&peer.conns), 1);
	chat_buf_release(&big);
}

Test(nchan, answers_read_while_the_group_is_still_written)
{
	/* More than a socket's buffer, answered request by request. */
	enum { SIZE = 100 * 1024 };
	const char *a[] = { accepted(), NULL };
	struct step steps[] = { { .requests = 1, .answers = a },
				{ .requests = 1, .answers = a },
				{ .requests = 1, .answers = a } };
	char *data = xmalloc(SIZE);
	struct chat_nchan *n;
	bool ok[3] = { false };

	n = started(steps, 3);
	for (size_t i = 0; i < 3; i++) {
		memset(data, 'a' + (int)i, SIZE);
		cr_assert_eq(chat_nchan_add_publish(n, "9", "message", data,
						    SIZE), 0);
	}
	cr_assert(chat_nchan_full(n));
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(all_ok(ok, 3));
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(peer.n_reqs, 3);
	for (size_t i = 0; i < 3; i++) {
		memset(data, 'a' + (int)i, SIZE);
		cr_assert_eq(peer.reqs[i].body_len, SIZE);
		cr_assert(!memcmp(peer.reqs[i].body, data, SIZE), "body %zu",
			  i);
	}
	free(data);
}

Test(nchan, answers_before_a_failed_write_still_count)
{
	/*
	 * nchan answers the first request and goes while the group is
	 * still being written: the write fails, but the answer it left
	 * is read, so that event is not published twice.
	 */
	enum { SIZE = 200 * 1024 };
	const char *a[] = { accepted(), NULL };
	struct step steps[] = { { .requests = 1, .answers = a,
				  .then_close = true } };
	char *data = xmalloc(SIZE);
	struct chat_nchan *n;
	bool ok[3] = { false };

	memset(data, 'x', SIZE);
	n = started(steps, 1);
	cr_assert_eq(chat_nchan_add_publish(n, "9", "message", "{}", 2), 0);
	for (size_t i = 0; i < 2; i++)
		cr_assert_eq(chat_nchan_add_publish(n, "9", "message", data,
						    SIZE), 0);
	cr_assert_eq(chat_nchan_send(n, ok), -1);
	cr_assert(ok[0], "the answer read: %s", chat_nchan_errstr(n));
	cr_assert(!ok[1] && !ok[2]);
	error_has(n, "1 of 3");
	chat_nchan_free(n);
	peer_done();
	free(data);
}

Test(nchan, unreadable_answers_fail_without_hanging)
{
	struct chat_buf long_head;
	struct {
		const char *answer;
		const char *why;
	} bad[] = {
		{ NULL, "over 4096" },	/* the long head, below */
		{ "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n"
		  "5\r\nhello\r\n0\r\n\r\n", "cannot read" },
		{ "HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\n\r\n",
		  "cannot read" },
		{ "HTTP/1.1 202 Accepted\r\nContent-Length: 2000000\r\n\r\n",
		  "cannot read" },
		{ "HTTP/1.1 202 Accepted\r\nContent-Length: 2x\r\n\r\nxx",
		  "cannot read" },
		{ "SSH-2.0-OpenSSH_9.6\r\n\r\n", "cannot read" },
	};
	enum { N_BAD = sizeof(bad) / sizeof(bad[0]) };
	const char *answers[N_BAD][3];
	struct step steps[N_BAD];
	struct chat_nchan *n;

	chat_buf_init(&long_head);
	chat_buf_adds(&long_head, "HTTP/1.1 202 Accepted\r\nX-Pad: ");
	for (size_t i = 0; i < 5000; i++)
		chat_buf_addch(&long_head, 'a');
	chat_buf_adds(&long_head, "\r\nContent-Length: 0\r\n\r\n");
	bad[0].answer = long_head.data;
	for (size_t i = 0; i < N_BAD; i++) {
		answers[i][0] = bad[i].answer;
		answers[i][1] = accepted();
		answers[i][2] = NULL;
		steps[i] = (struct step){ .requests = 2, .answers = answers[i],
					  .then_close = true };
	}
	n = started(steps, N_BAD);
	for (size_t i = 0; i < N_BAD; i++) {
		bool ok[2] = { true, true };
		double t0 = chat_now_ms();

		add_publishes(n, 2);
		cr_assert_eq(chat_nchan_send(n, ok), -1, "answer %zu", i);
		cr_assert(!ok[0] && !ok[1], "answer %zu", i);
		cr_assert(strstr(chat_nchan_errstr(n), bad[i].why),
			  "answer %zu: %s", i, chat_nchan_errstr(n));
		cr_assert_lt(chat_now_ms() - t0, TIMEOUT_MS / 2,
			     "answer %zu: failed at once, not on the timeout",
			     i);
		peer_wait_closed((int)i + 1);
	}
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(atomic_load(&peer.conns), N_BAD);
	chat_buf_release(&long_head);
}

Test(nchan, bad_names_queue_nothing)
{
	const char *answers[] = { accepted(), status_only(200), NULL };
	struct step steps[] = { { .requests = 2, .answers = answers } };
	static const char *const channels[] = { "1/a", "", "-1", "1 2",
						"1\r\n2", "../1" };
	static const char *const events[] = { "Message", "", "new-message",
					      "message\r\nX: y", "m1" };
	struct chat_nchan *n;
	bool ok[2] = { false };

	n = started(steps, 1);
	for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++) {
		cr_assert_eq(chat_nchan_add_publish(n, channels[i], "message",
						    "{}", 2), -1, "%s",
			     channels[i]);
		cr_assert_eq(chat_nchan_add_close(n, channels[i]), -1, "%s",
			     channels[i]);
		cr_assert_neq(chat_nchan_errstr(n)[0], '\0');
	}
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		cr_assert_eq(chat_nchan_add_publish(n, "1/2", events[i], "{}",
						    2), -1, "%s", events[i]);
	cr_assert_eq(chat_nchan_queued(n), 0);
	cr_assert_eq(chat_nchan_add_publish(n, "12/345", "chat.updated",
					    "{}", 2), 0);
	cr_assert_eq(chat_nchan_add_publish(n, "1/a", "message", "{}", 2), -1);
	cr_assert_eq(chat_nchan_add_close(n, "12/345"), 0);
	cr_assert_eq(chat_nchan_queued(n), 2);
	/* The refused ones left no bytes between the two. */
	cr_assert_eq(chat_nchan_send(n, ok), 0, "%s", chat_nchan_errstr(n));
	cr_assert(all_ok(ok, 2));
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(peer.n_reqs, 2);
	cr_assert(starts(peer.reqs[0].head, "POST /pub/12/345 HTTP/1.1\r\n"));
	cr_assert(has_header(&peer.reqs[0],
			     "X-EventSource-Event: chat.updated"));
	cr_assert(starts(peer.reqs[1].head, "DELETE /pub/12/345 HTTP/1.1\r\n"));
}

Test(nchan, group_limits)
{
	struct chat_nchan *n = chat_nchan_new("/nonexistent/nchan.sock",
					      TIMEOUT_MS);
	char *data = xcalloc(1, CHAT_NCHAN_GROUP_BYTES);
	bool ok[1];

	for (size_t i = 0; i < CHAT_NCHAN_GROUP; i++) {
		cr_assert_not(chat_nchan_full(n), "at %zu", i);
		cr_assert_eq(chat_nchan_add_close(n, "1"), 0, "at %zu", i);
	}
	cr_assert(chat_nchan_full(n));
	cr_assert_eq(chat_nchan_add_close(n, "1"), -1);
	cr_assert_eq(chat_nchan_add_publish(n, "1", "message", "{}", 2), -1);
	error_has(n, "full");
	cr_assert_eq(chat_nchan_queued(n), CHAT_NCHAN_GROUP);
	chat_nchan_free(n);

	/* Full by bytes, with only two requests. */
	n = chat_nchan_new("/nonexistent/nchan.sock", TIMEOUT_MS);
	memset(data, 'x', CHAT_NCHAN_GROUP_BYTES);
	cr_assert_eq(chat_nchan_add_publish(n, "1", "message", data,
					    CHAT_NCHAN_GROUP_BYTES - 4096), 0);
	cr_assert_not(chat_nchan_full(n));
	cr_assert_eq(chat_nchan_add_publish(n, "1", "message", data, 4096), 0);
	cr_assert(chat_nchan_full(n));
	cr_assert_eq(chat_nchan_queued(n), 2);
	chat_nchan_free(n);

	/* Nothing queued: nothing to connect to, and nothing wrong. */
	n = chat_nchan_new("/nonexistent/nchan.sock", TIMEOUT_MS);
	cr_assert_eq(chat_nchan_send(n, ok), 0);
	chat_nchan_free(n);
	free(data);
	chat_nchan_free(NULL);
}

Test(nchan, nothing_listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct chat_nchan *n;
	bool ok[2] = { true, true };
	double t0;
	int fd;

	peer_open();
	n = chat_nchan_new(peer.path, TIMEOUT_MS);
	/* No socket at the path. */
	t0 = chat_now_ms();
	add_publishes(n, 2);
	cr_assert_eq(chat_nchan_send(n, ok), -1);
	cr_assert(!ok[0] && !ok[1]);
	error_has(n, "connect");
	cr_assert_eq(chat_nchan_queued(n), 0);
	cr_assert_lt(chat_now_ms() - t0, TIMEOUT_MS / 2);
	/* A socket there, but no one listening (a stopped nginx's). */
	memcpy(sa.sun_path, peer.path, strlen(peer.path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	t0 = chat_now_ms();
	ok[0] = true;
	add_publishes(n, 1);
	cr_assert_eq(chat_nchan_send(n, ok), -1);
	cr_assert_not(ok[0]);
	error_has(n, "connect");
	cr_assert_lt(chat_now_ms() - t0, TIMEOUT_MS / 2);
	close(fd);
	chat_nchan_free(n);
	peer_stop();
}

Test(nchan, silent_server_times_out)
{
	struct step steps[] = { { .requests = 2, .mute = true } };
	struct chat_nchan *n;
	bool ok[2] = { true, true };
	double t0, took;

	peer_start(steps, 1);
	n = chat_nchan_new(peer.path, 300);
	add_publishes(n, 2);
	t0 = chat_now_ms();
	cr_assert_eq(chat_nchan_send(n, ok), -1);
	took = chat_now_ms() - t0;
	cr_assert(!ok[0] && !ok[1]);
	error_has(n, "timed out");
	cr_assert_geq(took, 290, "took %.0f ms", took);
	cr_assert_lt(took, 1500, "took %.0f ms", took);
	chat_nchan_free(n);
	peer_done();
	cr_assert_eq(peer.n_reqs, 2);
}
