/*
 * fcgi-noop - the floor of the architecture for make bench: a FastCGI
 * program that answers every request with a fixed JSON body and does
 * nothing else.  Its request loop is that of lib/http.c
 * (FCGX_Accept_r, FCGX_Finish_r, one connection per request), so the
 * difference between its rate behind nginx (GET /bench/fcgi) and nginx's
 * own (GET /bench/ceiling) is what nginx <-> FastCGI costs, and the
 * difference between it and an API path is what the program's own work
 * costs.
 *
 * Run by tests/bench/bench.sh under spawn-fcgi on
 * $CHAT_VAR/run/bench-noop.sock.
 */
#include <fcgiapp.h>
#include <signal.h>
#include <stddef.h>

static volatile sig_atomic_t stop_requested;

static void on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int main(void)
{
	static const char answer[] =
		"Status: 200 OK\r\n"
		"Content-Type: application/json; charset=utf-8\r\n"
		"\r\n"
		"{\"status\":\"ok\"}";
	struct sigaction sa = { .sa_handler = on_term };
	FCGX_Request req;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0)
		return 1;
	FCGX_InitRequest(&req, 0, FCGI_FAIL_ACCEPT_ON_INTR);
	while (!stop_requested && FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(answer, (int)sizeof(answer) - 1, req.out);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	return 0;
}
