/*
 * serve.c - the FastCGI request loop (serve.h).
 *
 * Each open connection sits in a slot of conns[], its own FCGX_Request
 * (ipcFd < 0: the slot is free), watched by epoll with the slot's index
 * as its tag.  libfcgi reads a request from a connection that is already
 * open when FCGX_Accept_r finds req->ipcFd set, and leaves it open after
 * FCGX_Finish_r when nginx asked for that (req->keepConnection, from the
 * request's FCGI_BEGIN_REQUEST record); the accepting is done here.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

/* The epoll tag of the listening socket; a connection's is its slot. */
#define LISTENER UINT32_MAX

/* Events taken from one epoll_wait. */
#define EVENTS_MAX 16

/* How long a stopping process goes on answering what was already sent. */
#define DRAIN_MS 1000

struct server {
	int listen_fd;
	int epfd;
	bool tcp;		/* listen_fd is a TCP socket, not a Unix one */
	bool listening;		/* listen_fd is in the epoll set */
	bool stopping;		/* no new connection is taken */
	size_t nconns;
	chat_serve_fn *fn;
	void *arg;
	FCGX_Request conns[CHAT_SERVE_CONNS];
};

/* What waits on a connection: 1 bytes, 0 its end (or an error), -1 nothing. */
static int peek(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n > 0)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return -1;
	return 0;
}

static int listen_again(struct server *s)
{
	/*
	 * Several processes wait on one socket: EPOLLEXCLUSIVE wakes one of
	 * those waiting for a new connection instead of all of them.
	 */
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLEXCLUSIVE,
		.data.u32 = LISTENER,
	};

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
		return -1;
	s->listening = true;
	return 0;
}

/* Forget the connection of `slot`, which libfcgi or the peer closed. */
static void forget(struct server *s, uint32_t slot)
{
	s->conns[slot].ipcFd = -1;
	s->nconns--;
	if (!s->listening && !s->stopping)
		listen_again(s);
}

/* Close the connection of `slot` (closing takes it out of the epoll set). */
static void drop(struct server *s, uint32_t slot)
{
	close(s->conns[slot].ipcFd);
	forget(s, slot);
}

/* Watch the connection of `slot` for its next request. */
static void watch(struct server *s, uint32_t slot)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = slot };

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->conns[slot].ipcFd, &ev) < 0)
		drop(s, slot);
}

/*
 * Serve the request waiting on the connection of `slot` (in the epoll
 * set already when `watched`), or, for a free slot, on a connection
 * libfcgi accepts itself; keep watching the connection if nginx keeps it.
 */
static void serve_request(struct server *s, uint32_t slot, bool watched)
{
	FCGX_Request *conn = &s->conns[slot];
	bool was_open = conn->ipcFd >= 0;
	char rest[4096];

	/*
	 * FCGX_Accept_r first ends the request before, closing the
	 * connection unless it is kept: there is none, so keep it.  On a
	 * connection that turns out broken it closes it and accepts
	 * another: without a listening socket it cannot, and fails.
	 */
	conn->keepConnection = 1;
	conn->listen_sock = was_open ? -1 : s->listen_fd;
	if (FCGX_Accept_r(conn) < 0) {
		/* Not a request: libfcgi closed the connection, or had
		 * none to accept. */
		if (was_open)
			forget(s, slot);
		return;
	}
	if (!was_open)
		s->nconns++;
	s->fn(conn, s->arg);
	while (FCGX_GetStr(rest, sizeof(rest), conn->in) > 0)
		;
	/*
	 * A connection nginx does not keep is closed at once, without
	 * waiting for nginx to close its end first (a millisecond a
	 * request).
	 */
	if (!conn->keepConnection)
		FCGX_Detach(conn);
	FCGX_Finish_r(conn);
	if (conn->ipcFd < 0)
		forget(s, slot);
	else if (!watched)
		watch(s, slot);
}

/* Take one new connection, and answer its request if it is there. */
static void accept_one(struct server *s)
{
	uint32_t slot = 0;
	int fd;

	if (s->nconns == CHAT_SERVE_CONNS) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
		s->listening = false;
		return;
	}
	while (s->conns[slot].ipcFd >= 0)
		slot++;
	if (s->tcp) {
		/*
		 * libfcgi accepts a TCP connection itself: it checks the
		 * peer against FCGI_WEB_SERVER_ADDRS and turns Nagle's
		 * algorithm off, then reads the request.
		 */
		serve_request(s, slot, false);
		return;
	}
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;		/* another process took it, or it went */
	s->conns[slot].ipcFd = fd;
	s->nconns++;
	/*
	 * nginx sends its request as soon as it has connected: answered
	 * now, a connection used once is never watched.
	 */
	if (peek(fd) > 0)
		serve_request(s, slot, false);
	else
		watch(s, slot);
}

/* A watched connection is readable: its next request, or its end. */
static void on_readable(struct server *s, uint32_t slot)
{
	switch (peek(s->conns[slot].ipcFd)) {
	case 1:
		serve_request(s, slot, true);
		break;
	case 0:
		drop(s, slot);
		break;
	}
}

/*
 * At a stop: take no new connection, and answer the requests nginx has
 * already sent on kept connections (for DRAIN_MS at most), so that the
 * close loses as few as it can.  A request nginx sends on an idle kept
 * connection just as it closes is still answered 502 by nginx.
 */
static void drain(struct server *s)
{
	struct epoll_event ev[EVENTS_MAX];
	double deadline = chat_now_ms() + DRAIN_MS;
	int n;

	s->stopping = true;
	if (s->listening) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
		s->listening = false;
	}
	while (chat_now_ms() < deadline &&
	       (n = epoll_wait(s->epfd, ev, EVENTS_MAX, 0)) > 0)
		for (int i = 0; i < n; i++)
			if (ev[i].data.u32 != LISTENER &&
			    s->conns[ev[i].data.u32].ipcFd >= 0)
				on_readable(s, ev[i].data.u32);
}

int chat_serve(int listen_fd, chat_serve_fn *fn, void *arg,
	       bool (*stopping)(void))
{
	struct server s = {
		.listen_fd = listen_fd, .epfd = -1, .fn = fn, .arg = arg,
	};
	struct epoll_event ev[EVENTS_MAX];
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	int flags, n, rc = -1;

	for (size_t i = 0; i < CHAT_SERVE_CONNS; i++)
		FCGX_InitRequest(&s.conns[i], -1, 0);
	if (getsockname(listen_fd, (struct sockaddr *)&sa, &salen) < 0)
		return -1;
	s.tcp = sa.ss_family != AF_UNIX;
	flags = fcntl(listen_fd, F_GETFL);
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s.epfd < 0 || listen_again(&s) < 0)
		goto out;
	while (!stopping()) {
		n = epoll_wait(s.epfd, ev, EVENTS_MAX, -1);
		if (n < 0 && errno != EINTR)
			goto out;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == LISTENER)
				accept_one(&s);
			else if (s.conns[ev[i].data.u32].ipcFd >= 0)
				on_readable(&s, ev[i].data.u32);
		}
	}
	drain(&s);
	rc = 0;
out:
	for (uint32_t i = 0; i < CHAT_SERVE_CONNS; i++)
		if (s.conns[i].ipcFd >= 0)
			close(s.conns[i].ipcFd);
	if (s.epfd >= 0)
		close(s.epfd);
	return rc;
}
