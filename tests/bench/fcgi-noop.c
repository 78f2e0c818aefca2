/*
 * fcgi-noop - the floor of the architecture for make bench: a FastCGI
 * program that answers every request with a fixed JSON body and does
 * nothing else, with either of two request loops:
 *
 *   fcgi-noop        libfcgi's loop as the programs ran it before
 *                    lib/serve.c: FCGX_Accept_r, FCGX_Detach,
 *                    FCGX_Finish_r, one connection per request
 *                    (GET /bench/fcgi): the floor the targets are
 *                    ratios to;
 *   fcgi-noop serve  the programs' loop today, chat_serve (lib/serve.h):
 *                    every connection nginx holds watched at once, kept
 *                    between requests (fastcgi_keep_conn,
 *                    GET /bench/fcgi-keep).
 *
 * The difference between its rate behind nginx and nginx's own
 * (GET /bench/ceiling) is what nginx <-> FastCGI costs, and the
 * difference between it and an API path is what the program's own work
 * costs.
 *
 * Built by tests/bench/bench.sh with lib/serve.c, clock.c and proc.c, and
 * run under spawn-fcgi on $CHAT_VAR/run/bench-noop.sock and
 * bench-noop-keep.sock.
 */
#include <fcgiapp.h>
#include <fastcgi.h>
#include <string.h>

#include "proc.h"
#include "serve.h"

static const char answer[] =
	"Status: 200 OK\r\n"
	"Content-Type: application/json; charset=utf-8\r\n"
	"\r\n"
	"{\"status\":\"ok\"}";

static void answer_one(FCGX_Request *req, void *arg)
{
	(void)arg;
	FCGX_PutStr(answer, (int)sizeof(answer) - 1, req->out);
}

int main(int argc, char **argv)
{
	FCGX_Request req;

	chat_proc_init(0);
	if (FCGX_Init() != 0)
		return 1;
	if (argc > 1 && strcmp(argv[1], "serve") == 0)
		return chat_serve(FCGI_LISTENSOCK_FILENO, answer_one, NULL,
				  chat_proc_stopping) < 0;
	FCGX_InitRequest(&req, 0, FCGI_FAIL_ACCEPT_ON_INTR);
	while (!chat_proc_stopping() && FCGX_Accept_r(&req) >= 0) {
		answer_one(&req, NULL);
		FCGX_Detach(&req);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	return 0;
}
