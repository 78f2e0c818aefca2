/*
 * support_barrage.c - raw-socket HTTP client and stack process helpers
 * for test_barrage.c and test_faults.c (see support_barrage.h).
 */
#include "support_barrage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "xalloc.h"

double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void msleep(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------ parsing */

enum parse { PARSE_MORE, PARSE_DONE, PARSE_BAD };

/* Position just after the first CRLF at or after `from`, or 0. */
static size_t line_end(const char *s, size_t len, size_t from)
{
	for (size_t i = from; i + 1 < len; i++)
		if (s[i] == '\r' && s[i + 1] == '\n')
			return i + 2;
	return 0;
}

/* Header `name` in head[0..hlen) (after the status line), or NULL. */
static const char *find_header(const char *head, size_t hlen,
			       const char *name, size_t *vlen, size_t *from)
{
	size_t n = strlen(name);
	size_t i = *from;

	while (i < hlen) {
		size_t e = line_end(head, hlen, i);
		size_t l;

		if (!e)
			e = hlen;
		l = e - i;
		if (l > n && strncasecmp(head + i, name, n) == 0 &&
		    head[i + n] == ':') {
			const char *v = head + i + n + 1;
			const char *end = head + e;

			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
					   end[-1] == ' ' || end[-1] == '\t'))
				end--;
			*vlen = (size_t)(end - v);
			*from = e;
			return v;
		}
		i = e;
	}
	return NULL;
}

/* Strip the chunked encoding of in[0..len) into `body`. */
static enum parse dechunk(const char *in, size_t len, struct chat_buf *body)
{
	size_t i = 0;

	chat_buf_reset(body);
	for (;;) {
		size_t e = line_end(in, len, i);
		unsigned long long size = 0;
		size_t k = i;
		int digits = 0;

		if (!e)
			return PARSE_MORE;
		while (k < e - 2) {
			char c = in[k];
			int d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				d = (c | 0x20) - 'a' + 10;
			else
				break;
			if (size > (ULLONG_MAX >> 4))
				return PARSE_BAD;
			size = size << 4 | (unsigned)d;
			digits++;
			k++;
		}
		if (!digits || (k < e - 2 && in[k] != ';'))
			return PARSE_BAD;
		i = e;
		if (size == 0) {
			/* Trailers, then the empty line. */
			for (;;) {
				e = line_end(in, len, i);
				if (!e)
					return PARSE_MORE;
				if (e == i + 2)
					return PARSE_DONE;
				i = e;
			}
		}
		if (size > len - i || len - i - size < 2)
			return PARSE_MORE;
		if (in[i + size] != '\r' || in[i + size + 1] != '\n')
			return PARSE_BAD;
		chat_buf_add(body, in + i, (size_t)size);
		i += (size_t)size + 2;
	}
}

/*
 * Parse in[0..len) as one final response (after any 1xx ones).  With
 * `eof`, a body without length ends here.  Fills res->status, res->head
 * and `body` when done.
 */
static enum parse parse_response(const char *in, size_t len, bool eof,
				 unsigned flags, struct raw_res *res,
				 struct chat_buf *body)
{
	size_t start = 0;

	for (;;) {
		const char *p = in + start;
		size_t avail = len - start, hend = 0, vlen, from;
		const char *v;
		int status;

		if (avail >= 5 && memcmp(p, "HTTP/", 5) != 0)
			return PARSE_BAD;
		if (avail < 5)
			return avail && eof ? PARSE_BAD : PARSE_MORE;
		for (size_t i = 0; i + 3 < avail; i++) {
			if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
				hend = i + 4;
				break;
			}
		}
		if (!hend)
			return eof ? PARSE_BAD : PARSE_MORE;
		/* "HTTP/1.1 200 OK" */
		if (hend < 13 || p[8] != ' ' || p[9] < '1' || p[9] > '5' ||
		    p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
			return PARSE_BAD;
		status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		if (status >= 100 && status < 200) {
			start += hend;
			continue;
		}
		free(res->head);
		res->head = xstrndup(p, hend);
		res->status = status;
		p += hend;
		avail -= hend;
		chat_buf_reset(body);
		if ((flags & RAW_HEAD) || status == 204 || status == 304)
			return PARSE_DONE;
		from = line_end(res->head, hend, 0);
		v = find_header(res->head, hend, "Transfer-Encoding", &vlen,
				&from);
		if (v && vlen == 7 && strncasecmp(v, "chunked", 7) == 0)
			return dechunk(p, avail, body);
		from = line_end(res->head, hend, 0);
		v = find_header(res->head, hend, "Content-Length", &vlen,
				&from);
		if (v) {
			char num[24];
			char *end;
			unsigned long long n;

			if (vlen == 0 || vlen >= sizeof(num))
				return PARSE_BAD;
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			n = strtoull(num, &end, 10);
			if (*end)
				return PARSE_BAD;
			if (avail < n)
				return eof ? PARSE_BAD : PARSE_MORE;
			chat_buf_add(body, p, (size_t)n);
			return PARSE_DONE;
		}
		if (!eof)
			return PARSE_MORE;
		chat_buf_add(body, p, avail);
		return PARSE_DONE;
	}
}

static struct json_object *parse_json(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj;

	if (len == 0 || len > (size_t)INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	obj = json_tokener_parse_ex(tok, s, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != len) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/* ------------------------------------------------------------ exchange */

static int http_port(void)
{
	const char *p = getenv("CHAT_HTTP_PORT");

	return p && *p ? atoi(p) : 0;
}

static int open_socket(struct raw_res *res)
{
	struct sockaddr_in sa;
	int fd, one = 1, port = http_port();

	if (port <= 0 || port > 65535) {
		res->sys_errno = EINVAL;
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		res->sys_errno = errno;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		res->sys_errno = errno;
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

int raw_exchange(const char *req, size_t len, unsigned flags,
		 unsigned timeout_ms, struct raw_res *res)
{
	struct chat_buf in, body;
	double start = mono_ms(), deadline = start + timeout_ms;
	size_t sent = 0;
	bool sending = true, eof = false;
	enum parse st = PARSE_MORE;
	int fd;

	memset(res, 0, sizeof(*res));
	chat_buf_init(&in);
	chat_buf_init(&body);
	fd = open_socket(res);
	if (fd < 0)
		goto out;
	if (len == 0) {
		sending = false;
		if (flags & RAW_HALF_CLOSE)
			shutdown(fd, SHUT_WR);
	}
	while (st == PARSE_MORE && !eof) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double left = deadline - mono_ms();
		int n;

		if (left <= 0) {
			res->timed_out = true;
			break;
		}
		if (sending)
			pfd.events |= POLLOUT;
		n = poll(&pfd, 1, (int)left + 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			res->sys_errno = errno;
			break;
		}
		if (n == 0)
			continue;
		if (sending && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = send(fd, req + sent, len - sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0) {
				sent += (size_t)w;
			} else if (w < 0 && errno != EAGAIN &&
				   errno != EWOULDBLOCK && errno != EINTR) {
				/* The server answered early and stopped
				 * reading: what it said is still there. */
				sending = false;
			}
			if (sent == len) {
				sending = false;
				if (flags & RAW_HALF_CLOSE)
					shutdown(fd, SHUT_WR);
			}
		}
		if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
			ssize_t r;

			chat_buf_grow(&in, 65536);
			r = recv(fd, in.data + in.len, 65536, MSG_DONTWAIT);
			if (r > 0) {
				in.len += (size_t)r;
				in.data[in.len] = '\0';
			} else if (r == 0) {
				eof = true;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
				   errno != EINTR) {
				res->sys_errno = errno;
				eof = true;
			}
			st = parse_response(in.data, in.len, eof, flags, res,
					    &body);
		}
	}
	if (st == PARSE_MORE && eof && !res->timed_out)
		st = parse_response(in.data, in.len, true, flags, res, &body);
	if (st == PARSE_DONE) {
		res->sys_errno = 0;
	} else {
		res->status = 0;
		if (in.len == 0 && eof)
			res->closed_silently = true;
		else if (in.len && !res->timed_out)
			res->garbled = true;
	}
	close(fd);
out:
	res->ms = mono_ms() - start;
	res->body = chat_buf_detach(&body, &res->len);
	if (st == PARSE_DONE)
		res->json = parse_json(res->body, res->len);
	chat_buf_release(&in);
	return st == PARSE_DONE ? 0 : -1;
}

void raw_res_release(struct raw_res *res)
{
	free(res->head);
	free(res->body);
	json_object_put(res->json);
	memset(res, 0, sizeof(*res));
}

void raw_build(struct chat_buf *out, const char *method, const char *target,
	       const char *body, size_t len, const char *extra)
{
	chat_buf_addf(out, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		      "Connection: close\r\n", method, target);
	if (body)
		chat_buf_addf(out, "Content-Length: %zu\r\n", len);
	if (extra && *extra)
		chat_buf_addf(out, "%s\r\n", extra);
	chat_buf_adds(out, "\r\n");
	if (body)
		chat_buf_add(out, body, len);
}

int raw_request(const char *method, const char *target, const char *body,
		size_t len, struct raw_res *res)
{
	struct chat_buf req;
	int rc;

	chat_buf_init(&req);
	raw_build(&req, method, target, body, len, NULL);
	rc = raw_exchange(req.data, req.len,
			  strcmp(method, "HEAD") == 0 ? RAW_HEAD : 0, 10000,
			  res);
	chat_buf_release(&req);
	return rc;
}

char *raw_header(const struct raw_res *res, const char *name)
{
	size_t hlen, from, vlen;
	const char *v;

	if (!res->head)
		return NULL;
	hlen = strlen(res->head);
	from = line_end(res->head, hlen, 0);
	v = find_header(res->head, hlen, name, &vlen, &from);
	return v ? xstrndup(v, vlen) : NULL;
}

int raw_header_count(const struct raw_res *res, const char *name)
{
	size_t hlen, from, vlen;
	int n = 0;

	if (!res->head)
		return 0;
	hlen = strlen(res->head);
	from = line_end(res->head, hlen, 0);
	while (find_header(res->head, hlen, name, &vlen, &from))
		n++;
	return n;
}

/* ------------------------------------------------------------ processes */

char *stack_file(const char *rel)
{
	const char *var = getenv("CHAT_VAR");
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_addf(&b, "%s/%s", var && *var ? var : "var", rel);
	return chat_buf_detach(&b, NULL);
}

int stack_pids(const char *rel, pid_t *pids, int max)
{
	char *path = stack_file(rel);
	FILE *f = fopen(path, "r");
	char line[64];
	int n = 0;

	free(path);
	if (!f)
		return -1;
	while (n < max && fgets(line, sizeof(line), f)) {
		long v = strtol(line, NULL, 10);

		if (v > 0)
			pids[n++] = (pid_t)v;
	}
	fclose(f);
	return n;
}

bool pid_alive(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;
	bool alive = false;

	if (pid <= 0 || kill(pid, 0) != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	/* "pid (comm) S ...": the state follows the last ')'. */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] &&
	    p[2])
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}

bool pid_wait_gone(pid_t pid, unsigned ms)
{
	double deadline = mono_ms() + ms;

	while (pid_alive(pid)) {
		if (mono_ms() >= deadline)
			return false;
		msleep(50);
	}
	return true;
}

/* The top of the repository: this executable is tests/<dir>/<name>. */
static char *repo_root(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct chat_buf path;
	struct stat st;
	bool ok;

	if (n <= 0)
		return xstrdup(".");
	exe[n] = '\0';
	for (int up = 0; up < 3; up++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return xstrdup(".");
		*slash = '\0';
	}
	chat_buf_init(&path);
	chat_buf_addf(&path, "%s/tests/harness", exe);
	ok = stat(path.data, &st) == 0 && S_ISDIR(st.st_mode);
	chat_buf_release(&path);
	return xstrdup(ok ? exe : ".");
}

int harness_run(const char *env, const char *script, const char *args,
		const char *log)
{
	char *root = repo_root();
	char *logdir = stack_file("log");
	struct chat_buf cmd;
	char *argv[4];
	int status = 0, rc = -1;
	pid_t pid;

	chat_buf_init(&cmd);
	chat_buf_addf(&cmd, "cd '%s' && %s bash tests/harness/%s %s "
		      "</dev/null >>'%s/%s' 2>&1", root, env ? env : "",
		      script, args, logdir, log);
	argv[0] = (char *)"sh";
	argv[1] = (char *)"-c";
	argv[2] = cmd.data;
	argv[3] = NULL;
	/*
	 * Not system(): the services started here live on after the test,
	 * and must not inherit its descriptors (Criterion's sockets and
	 * shared memory, the test's HTTP connections).  Only async-signal-
	 * safe calls between fork and exec: a load thread may be running.
	 */
	pid = fork();
	if (pid == 0) {
		close_range(3, ~0U, 0);
		execv("/bin/sh", argv);
		_exit(127);
	}
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status))
			rc = WEXITSTATUS(status);
	}
	chat_buf_release(&cmd);
	free(root);
	free(logdir);
	return rc;
}
