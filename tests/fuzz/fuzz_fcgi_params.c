/*
 * fuzz_fcgi_params.c - libFuzzer target for the handling of a FastCGI
 * request's parameters and body, chat_http_handle (lib/http.h): the
 * method, REQUEST_URI / DOCUMENT_URI, QUERY_STRING and CONTENT_LENGTH as
 * nginx passes them (from whatever the client sent), the body read up to
 * CONTENT_LENGTH, the route table, and the handlers' readers of the body
 * (chat_req_json), of the page parameters (chat_req_page) and of q
 * (chat_query_get).  libfcgi's own decoding of FastCGI records is not
 * ours and not fuzzed here.
 *
 * Input: parameter lines "NAME=value\n" up to an empty line, then the
 * body that the request's input stream holds.  The request is served
 * with in-memory streams, as the programs serve one from nginx.
 *
 * Checked: the answer starts with "Status: NNN " and a status the
 * handlers here can give (200, 201, 204 or a 4xx: nothing here touches a
 * store, so a 5xx is a bug), a body is read only by a route that matched,
 * and nothing reads past the input (ASan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CHECK reports on stderr as it was before LLVMFuzzerInitialize. */
#define FUZZ_REPORT report
#include "fuzz.h"
#include "http.h"
#include "text.h"
#include "xalloc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static FILE *report;

#define MAX_PARAMS 32

/* The answer: its first OUT_KEEP bytes, and how many in all. */
#define OUT_KEEP 4096
static unsigned char out_buf[OUT_KEEP];
static unsigned char sink[512];
static size_t out_total;
static int handled;

static void in_fill(FCGX_Stream *s)
{
	s->isClosed = 1;	/* the input holds nothing more */
}

static void out_empty(FCGX_Stream *s, int doClose)
{
	(void)doClose;
	if (s->stop == out_buf + OUT_KEEP)
		out_total += OUT_KEEP;
	else
		out_total += (size_t)(s->wrNext - sink);
	/* Past the kept head, the rest goes through a scratch buffer. */
	s->wrNext = sink;
	s->stop = sink + sizeof(sink);
	s->rdNext = s->stop;
}

static void h_body(struct chat_req *req)
{
	struct json_object *obj = NULL;

	handled = 1;
	if (chat_req_json(req, "name", &obj))
		return;
	if (obj) {
		chat_res_json(req, 201, obj);
		json_object_put(obj);
	} else {
		chat_res_empty(req, 204);
	}
}

static void h_page(struct chat_req *req)
{
	unsigned limit;
	uint64_t after;

	handled = 1;
	if (chat_req_page(req, 100, &limit, &after))
		return;
	CHECK(limit >= 1 && limit <= 1000);
	chat_res_raw(req, 200, "[]", 2);
}

static void h_search(struct chat_req *req)
{
	char *q = NULL;
	int rc = chat_query_get(req->query, "q", &q);

	handled = 1;
	if (rc < 0 || !q) {
		chat_res_error(req, 400, "bad_request", "bad q");
	} else {
		CHECK(strlen(q) <= strlen(req->query));
		chat_res_raw(req, 200, "[]", 2);
	}
	free(q);
}

static void h_empty(struct chat_req *req)
{
	handled = 1;
	CHECK(req->token == NULL || req->token_len > 0);
	chat_res_empty(req, 204);
}

#define APP "/applications/{token}"
#define CHAT APP "/chats/{chat}"
#define MSG CHAT "/messages"

static const struct chat_route routes[] = {
	{ CHAT_POST, "/applications", h_body },
	{ CHAT_GET, "/applications", h_page },
	{ CHAT_PUT, APP, h_body },
	{ CHAT_DELETE, APP, h_empty },
	{ CHAT_POST, APP "/chats", h_body },
	{ CHAT_GET, APP "/chats", h_page },
	{ CHAT_GET, CHAT, h_empty },
	{ CHAT_POST, MSG, h_body },
	{ CHAT_GET, MSG, h_page },
	{ CHAT_GET, MSG "/search", h_search },
	{ CHAT_PATCH, MSG "/{message}", h_body },
	{ CHAT_DELETE, MSG "/{message}", h_empty },
	{ CHAT_GET, "/health", h_empty },
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The programs' log lines (one per request) go nowhere; the checks'
	 * reports, the sanitizers' and libFuzzer's still reach stderr. */
	report = stderr;
	stderr = fopen("/dev/null", "w");
	if (!stderr)
		stderr = report;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *params[MAX_PARAMS + 1];
	size_t n = 0, pos = 0;
	unsigned char *body;
	size_t body_len;
	FCGX_Stream in, out, err;
	FCGX_Request fcgi;
	int status;

	/* Parameter lines, up to an empty one. */
	while (pos < size && n < MAX_PARAMS) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;

		if (len == 0) {
			pos++;
			break;
		}
		params[n++] = xstrndup((const char *)data + pos, len);
		pos += len + (nl ? 1 : 0);
	}
	params[n] = NULL;
	body_len = size - pos;
	/* A copy of its own, so that ASan sees a read past it. */
	body = xmalloc(body_len ? body_len : 1);
	memcpy(body, data + pos, body_len);

	memset(&in, 0, sizeof(in));
	in.isReader = 1;
	in.rdNext = in.stopUnget = body;
	in.stop = in.wrNext = body + body_len;
	in.fillBuffProc = in_fill;
	memset(&out, 0, sizeof(out));
	out.wrNext = out_buf;
	out.stop = out.rdNext = out_buf + OUT_KEEP;
	out.emptyBuffProc = out_empty;
	err = out;
	memset(&fcgi, 0, sizeof(fcgi));
	fcgi.in = &in;
	fcgi.out = &out;
	fcgi.err = &err;
	fcgi.envp = params;
	fcgi.ipcFd = -1;
	out_total = 0;
	handled = 0;

	chat_http_handle(&fcgi, NULL, routes, sizeof(routes) / sizeof(routes[0]));

	/* The answer's head is in out_buf unless 4 KiB of it were flushed. */
	CHECK(out.wrNext != out_buf);
	if (out.stop == out_buf + OUT_KEEP) {
		size_t len = (size_t)(out.wrNext - out_buf);
		char head[16];

		CHECK(len >= 12);
		memcpy(head, out_buf, 12);
		head[12] = '\0';
		CHECK(strncmp(head, "Status: ", 8) == 0);
		status = atoi(head + 8);
		CHECK(head[11] == ' ');
		CHECK(status == 200 || status == 201 || status == 204 ||
		      (status >= 400 && status < 500));
		/* 404 and 405 are the router's own: no handler ran. */
		if (status == 404 || status == 405)
			CHECK(!handled);
	}
	free(body);
	for (size_t i = 0; i < n; i++)
		free(params[i]);
	return 0;
}
