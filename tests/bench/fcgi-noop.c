/*
 * fcgi-noop - the floor of the architecture for make bench: a FastCGI
 * program that answers every request with a fixed JSON body and does
 * nothing else, with either of two request loops:
 *
 *   fcgi-noop        the programs' loop (lib/http.c): one thread,
 *                    FCGX_Accept_r, FCGX_Detach, FCGX_Finish_r, one
 *                    connection per request (GET /bench/fcgi);
 *   fcgi-noop N      the loop measured as a candidate: N threads each in
 *                    FCGX_Accept_r, the connection kept between requests
 *                    when nginx asks for it (fastcgi_keep_conn,
 *                    GET /bench/fcgi-keep).
 *
 * The difference between its rate behind nginx and nginx's own
 * (GET /bench/ceiling) is what nginx <-> FastCGI costs, and the
 * difference between it and an API path is what the program's own work
 * costs.
 *
 * Run by tests/bench/bench.sh under spawn-fcgi on
 * $CHAT_VAR/run/bench-noop.sock and bench-noop-keep.sock.
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#define THREADS_MAX 64

static const char answer[] =
	"Status: 200 OK\r\n"
	"Content-Type: application/json; charset=utf-8\r\n"
	"\r\n"
	"{\"status\":\"ok\"}";

static volatile sig_atomic_t stop_requested;

static void on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void *serve(void *arg)
{
	bool keep = arg != NULL;
	FCGX_Request req;

	FCGX_InitRequest(&req, 0, keep ? 0 : FCGI_FAIL_ACCEPT_ON_INTR);
	while (!stop_requested && FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(answer, (int)sizeof(answer) - 1, req.out);
		if (!keep || !req.keepConnection)
			FCGX_Detach(&req);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	pthread_t tid[THREADS_MAX];
	int n = argc > 1 ? atoi(argv[1]) : 0;
	sigset_t stop;
	int sig;

	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0)
		return 1;
	if (n <= 0) {
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		serve(NULL);
		return 0;
	}
	if (n > THREADS_MAX)
		n = THREADS_MAX;
	/* The threads never see SIGTERM; the process ends when it comes. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	for (int i = 0; i < n; i++)
		if (pthread_create(&tid[i], NULL, serve, &tid[i]) != 0)
			return 1;
	sigwait(&stop, &sig);
	return 0;
}
