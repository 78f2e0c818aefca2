/*
 * serve.h - the FastCGI request loop of every program: one thread that
 * serves, one request at a time, every connection nginx holds open to
 * the process.
 *
 * nginx keeps a connection open between requests when its location says
 * `fastcgi_keep_conn on` and its upstream has `keepalive` (an option,
 * chat-http.conf says how and what it costs); that saves a connect, an
 * accept and a close a request.
 * libfcgi's own loop then waits on that one connection for the next
 * request, so a process held by an idle connection serves nobody else.
 * Here the process watches the listening socket and all its open
 * connections at once (epoll) and serves whichever has a request, so an
 * idle connection never holds it; a connection nginx does not keep is
 * answered and closed as before.  Requests on one process are still
 * served in turn: a process is busy with one request at a time.
 *
 * A process holds at most CHAT_SERVE_CONNS connections: once it does, it
 * stops accepting until nginx closes one.  Every connection nginx keeps
 * idle counts against that, so nginx's `keepalive` × its workers, summed
 * over every nginx in front of one socket, must stay well below processes
 * × CHAT_SERVE_CONNS (chat-http.conf's keepalive 32 and 2 workers: 64
 * against 4 × 256).
 */
#ifndef CHAT_SERVE_H
#define CHAT_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include <fcgiapp.h>

/* Connections one process holds open at most. */
#define CHAT_SERVE_CONNS 256

/*
 * Answers one request: read what it needs from req->in and req->envp,
 * write the answer to req->out.  The loop drains the rest of the body
 * and ends the request.
 */
typedef void chat_serve_fn(FCGX_Request *req, void *arg);

/*
 * Serve requests on listen_fd (the socket spawn-fcgi hands over,
 * FCGI_LISTENSOCK_FILENO) until stopping() is true once a signal
 * interrupted the wait.  The caller set up libfcgi (FCGX_Init) and the
 * stop signals.  Sets listen_fd non-blocking: every process sharing it
 * must serve it through this loop.  Returns 0 on a stop, -1 (errno set)
 * if the socket cannot be served.
 */
int chat_serve(int listen_fd, chat_serve_fn *fn, void *arg,
	       bool (*stopping)(void));

#endif
