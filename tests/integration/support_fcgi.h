/*
 * support_fcgi.h - a FastCGI client as small as the tests need: they
 * speak to a program's socket directly, as nginx does
 * (tests/integration/test_serve*.c).  The program is health, on
 * $CHAT_VAR/run/health.sock; failures fail the current test.
 */
#ifndef CHAT_TEST_SUPPORT_FCGI_H
#define CHAT_TEST_SUPPORT_FCGI_H

#include <stdbool.h>

/* How long one answer may take before a test calls the program held. */
#define ANSWER_MS 10000

/* CHAT_FCGI_PROCS, the processes of each program (default 4). */
int fcgi_procs(void);
/* A new connection to the health program's socket. */
int fcgi_connect_health(void);
/* Send GET /health on fd as one request, asking to keep the connection
 * (FCGI_KEEP_CONN) or not. */
void fcgi_send_health(int fd, bool keep);
/* Read one answer up to its FCGI_END_REQUEST within ANSWER_MS; assert a
 * 200 that says the stack is up. */
void fcgi_expect_health(int fd);
/* Whether the program closed fd (within ANSWER_MS). */
bool fcgi_closed_by_program(int fd);

#endif
