/*
 * support_fcgi.c - a FastCGI client as small as the tests need: GET
 * /health on a program's socket, as nginx sends it (support_fcgi.h).
 */
#include "support_fcgi.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <fastcgi.h>

int fcgi_procs(void)
{
	const char *v = getenv("CHAT_FCGI_PROCS");
	int n = v && *v ? atoi(v) : 4;

	return n > 0 ? n : 4;
}

int fcgi_connect_health(void)
{
	const char *var = getenv("CHAT_VAR");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	cr_assert(var && *var, "CHAT_VAR is not set");
	cr_assert_lt((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path),
				      "%s/run/health.sock", var),
		     sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "connect %s: %s", sa.sun_path, strerror(errno));
	return fd;
}

static void put_header(unsigned char *p, int type, size_t len)
{
	FCGI_Header *h = (FCGI_Header *)p;

	memset(h, 0, sizeof(*h));
	h->version = FCGI_VERSION_1;
	h->type = (unsigned char)type;
	h->requestIdB0 = 1;
	h->contentLengthB1 = (unsigned char)(len >> 8);
	h->contentLengthB0 = (unsigned char)len;
}

static size_t put_param(unsigned char *p, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);

	p[0] = (unsigned char)n;
	p[1] = (unsigned char)v;
	memcpy(p + 2, name, n);
	memcpy(p + 2 + n, value, v);
	return 2 + n + v;
}

/* Send GET /health on fd as one FastCGI request, keeping or not. */
void fcgi_send_health(int fd, bool keep)
{
	unsigned char msg[512], *p = msg;
	FCGI_BeginRequestBody *begin;
	size_t plen;

	put_header(p, FCGI_BEGIN_REQUEST, sizeof(*begin));
	begin = (FCGI_BeginRequestBody *)(p + FCGI_HEADER_LEN);
	memset(begin, 0, sizeof(*begin));
	begin->roleB0 = FCGI_RESPONDER;
	begin->flags = keep ? FCGI_KEEP_CONN : 0;
	p += FCGI_HEADER_LEN + sizeof(*begin);

	plen = put_param(p + FCGI_HEADER_LEN, "REQUEST_METHOD", "GET");
	plen += put_param(p + FCGI_HEADER_LEN + plen, "REQUEST_URI", "/health");
	plen += put_param(p + FCGI_HEADER_LEN + plen, "QUERY_STRING", "");
	put_header(p, FCGI_PARAMS, plen);
	p += FCGI_HEADER_LEN + plen;
	put_header(p, FCGI_PARAMS, 0);
	p += FCGI_HEADER_LEN;
	put_header(p, FCGI_STDIN, 0);
	p += FCGI_HEADER_LEN;
	cr_assert_eq(write(fd, msg, (size_t)(p - msg)), p - msg,
		     "write: %s", strerror(errno));
}

/* Read len bytes within ANSWER_MS; false at the end of the connection. */
static bool read_full(int fd, unsigned char *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		cr_assert_eq(poll(&pfd, 1, ANSWER_MS), 1,
			     "no answer within %d ms: a process is held",
			     ANSWER_MS);
		n = read(fd, buf + got, len - got);
		if (n == 0)
			return false;
		cr_assert_gt(n, 0, "read: %s", strerror(errno));
		got += (size_t)n;
	}
	return true;
}

/*
 * Read one answer up to its FCGI_END_REQUEST; assert it is a 200 whose
 * body says the stack is up.
 */
void fcgi_expect_health(int fd)
{
	char out[4096] = "";
	size_t olen = 0;

	for (;;) {
		unsigned char h[FCGI_HEADER_LEN], body[65536 + 256];
		size_t len;

		cr_assert(read_full(fd, h, sizeof(h)),
			  "the connection ended before the answer did");
		len = ((size_t)h[4] << 8 | h[5]) + h[6];
		cr_assert(len == 0 || read_full(fd, body, len),
			  "the connection ended inside a record");
		if (h[1] == FCGI_END_REQUEST)
			break;
		if (h[1] == FCGI_STDOUT && olen + len < sizeof(out)) {
			memcpy(out + olen, body, len - h[6]);
			olen += len - h[6];
			out[olen] = '\0';
		}
	}
	cr_assert(strstr(out, "Status: 200") || !strstr(out, "Status:"),
		  "not a 200: %s", out);
	cr_assert(strstr(out, "\"status\":\"ok\""), "unexpected answer: %s",
		  out);
}

/* Whether the program closed fd (within ANSWER_MS). */
bool fcgi_closed_by_program(int fd)
{
	unsigned char c;

	return !read_full(fd, &c, 1);
}
