/*
 * test_serve.c - the programs' FastCGI request loop (lib/serve.h), spoken
 * to directly on a program's socket, as nginx does: connections kept
 * between requests when the request asks for it (FCGI_KEEP_CONN), closed
 * after the answer when it does not, and no process held by an idle kept
 * connection.
 *
 * The socket is the health program's, $CHAT_VAR/run/health.sock, served
 * by CHAT_FCGI_PROCS processes (default 4, as stack.sh).
 */
#include <unistd.h>

#include <criterion/criterion.h>

#include "serve.h"
#include "support_fcgi.h"

Test(serve, kept_connections_are_reused_and_never_hold_a_process)
{
	/* More kept connections than processes: with a loop that waits
	 * on its one connection, the later ones would never be answered. */
	int n = fcgi_procs() + 2, fds[64], extra;

	cr_assert_leq(n, 64);
	for (int i = 0; i < n; i++) {
		fds[i] = fcgi_connect_health();
		fcgi_send_health(fds[i], true);
		fcgi_expect_health(fds[i]);
	}
	/* Every one of them stays open and takes a second request. */
	for (int i = n - 1; i >= 0; i--) {
		fcgi_send_health(fds[i], true);
		fcgi_expect_health(fds[i]);
	}
	/* A new connection is answered while all of them sit idle. */
	extra = fcgi_connect_health();
	fcgi_send_health(extra, false);
	fcgi_expect_health(extra);
	close(extra);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

Test(serve, a_connection_not_kept_is_closed_after_its_answer)
{
	int fd = fcgi_connect_health();

	fcgi_send_health(fd, false);
	fcgi_expect_health(fd);
	cr_assert(fcgi_closed_by_program(fd),
		  "the program kept a connection nginx did not ask to keep");
	close(fd);
}

Test(serve, a_kept_connection_closed_by_nginx_frees_its_place)
{
	/* More connections, one after another, than all the processes
	 * may hold at once (CHAT_SERVE_CONNS each): if closing did
	 * not give each place back, the last ones would never be
	 * answered.  Then many at once. */
	int fds[60];

	for (int i = 0; i < fcgi_procs() * CHAT_SERVE_CONNS + 40; i++) {
		int fd = fcgi_connect_health();

		fcgi_send_health(fd, true);
		fcgi_expect_health(fd);
		close(fd);
	}
	for (int i = 0; i < 60; i++) {
		fds[i] = fcgi_connect_health();
		fcgi_send_health(fds[i], true);
		fcgi_expect_health(fds[i]);
	}
	for (int i = 0; i < 60; i++)
		close(fds[i]);
}

Test(serve, a_connection_with_nothing_sent_holds_nobody)
{
	/* A peer that connects and says nothing (as a client stuck
	 * between connect and write would): the process goes on serving. */
	int silent = fcgi_connect_health(), fd;

	for (int i = 0; i < fcgi_procs() * 2; i++) {
		fd = fcgi_connect_health();
		fcgi_send_health(fd, false);
		fcgi_expect_health(fd);
		close(fd);
	}
	close(silent);
}

Test(serve, a_connection_that_sends_no_fastcgi_is_closed)
{
	/* Bytes that are no FastCGI record (version 0xff), on a fresh
	 * connection and on one kept after a request: each is closed, and
	 * the program goes on answering. */
	static const char junk[16] = "\xff\xff\xff\xff\xff\xff\xff\xff"
				     "\xff\xff\xff\xff\xff\xff\xff\xff";
	int fresh = fcgi_connect_health(), kept = fcgi_connect_health(), fd;

	fcgi_send_health(kept, true);
	fcgi_expect_health(kept);
	cr_assert_eq(write(fresh, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	cr_assert_eq(write(kept, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	cr_assert(fcgi_closed_by_program(fresh), "junk kept a connection open");
	cr_assert(fcgi_closed_by_program(kept), "junk kept a connection open");
	close(fresh);
	close(kept);
	for (int i = 0; i < fcgi_procs() * 2; i++) {
		fd = fcgi_connect_health();
		fcgi_send_health(fd, true);
		fcgi_expect_health(fd);
		close(fd);
	}
}
