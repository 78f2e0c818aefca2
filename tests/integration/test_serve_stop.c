/*
 * test_serve_stop.c - a program told to stop (SIGTERM) first answers the
 * requests nginx has already written on its kept connections
 * (lib/serve.c, drain).  A binary of its own: it stops the health
 * program's processes, which test_serve's tests use at the same time,
 * then starts them again (stack.sh start).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "support_faults.h"
#include "support_fcgi.h"

/* Send sig to every health process; returns how many took it. */
static int signal_health(const char *pidfile, int sig)
{
	char line[32];
	int n = 0;
	FILE *f = fopen(pidfile, "r");

	cr_assert_not_null(f, "%s: %s", pidfile, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		pid_t pid = (pid_t)atoi(line);

		if (pid > 0 && pid_is(pid, "health") && kill(pid, sig) == 0)
			n++;
	}
	fclose(f);
	return n;
}

Test(serve_stop, a_stopping_process_answers_the_request_already_sent)
{
	/* A request nginx has written on a kept connection when the
	 * program is told to stop is answered before the program goes.
	 * The processes are held (SIGSTOP) while the request is written
	 * and the stop sent, so that the stop comes before they see the
	 * request. */
	char *pidfile = var_path("run/health.pid");
	int fd = fcgi_connect_health();

	fcgi_send_health(fd, true);
	fcgi_expect_health(fd);
	cr_assert_gt(signal_health(pidfile, SIGSTOP), 0,
		     "no health process in %s", pidfile);
	fcgi_send_health(fd, true);
	signal_health(pidfile, SIGTERM);
	signal_health(pidfile, SIGCONT);
	fcgi_expect_health(fd);
	cr_assert(fcgi_closed_by_program(fd),
		  "a stopping program kept its connection open");
	close(fd);
	free(pidfile);
	stack_start();
}
