/*
 * http.c - the FastCGI request loop, routing by table, and responses.
 */
#include "http.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <string.h>

#include <fastcgi.h>

#include "clock.h"
#include "ctx.h"
#include "json.h"
#include "log.h"
#include "proc.h"
#include "serve.h"
#include "text.h"
#include "token.h"
#include "xalloc.h"

#define CONTENT_TYPE "Content-Type: application/json; charset=utf-8\r\n"

static const char *const method_names[CHAT_METHOD__MAX] = {
	[CHAT_GET] = "GET",	  [CHAT_POST] = "POST",
	[CHAT_PUT] = "PUT",	  [CHAT_PATCH] = "PATCH",
	[CHAT_DELETE] = "DELETE",
};

static enum chat_method parse_method(const char *m)
{
	for (int i = 0; i < CHAT_METHOD__MAX; i++)
		if (m && strcmp(m, method_names[i]) == 0)
			return (enum chat_method)i;
	return CHAT_METHOD__MAX;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* One path segment of `len` bytes against one pattern segment. */
static bool match_segment(const char *pat, size_t plen, const char *seg,
			  size_t len, struct chat_req *req)
{
	uint64_t n;

	if (plen == 7 && memcmp(pat, "{token}", 7) == 0) {
		if (!chat_token_valid(seg, len))
			return false;
		req->token = seg;
		req->token_len = len;
		return true;
	}
	if ((plen == 6 && memcmp(pat, "{chat}", 6) == 0) ||
	    (plen == 9 && memcmp(pat, "{message}", 9) == 0)) {
		if (chat_parse_u64(seg, len, 1, UINT32_MAX, &n))
			return false;
		if (plen == 6)
			req->chat = n;
		else
			req->message = n;
		return true;
	}
	return plen == len && memcmp(pat, seg, len) == 0;
}

bool chat_route_match(const char *pattern, const char *path,
		      struct chat_req *req)
{
	const char *p = pattern, *s = path;

	for (;;) {
		if (*p != '/' || *s != '/')
			return *p == *s && *p == '\0';
		p++;
		s++;
		size_t plen = strcspn(p, "/");
		size_t slen = strcspn(s, "/");

		if (!match_segment(p, plen, s, slen, req))
			return false;
		p += plen;
		s += slen;
	}
}

void chat_res_header(struct chat_req *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chat_buf_vaddf(&req->headers, fmt, ap);
	va_end(ap);
	chat_buf_add(&req->headers, "\r\n", 2);
}

static void send_head(struct chat_req *req, int status, bool json)
{
	struct chat_buf h;

	req->status = status;
	chat_buf_init(&h);
	chat_buf_addf(&h, "Status: %d %s\r\n%s", status, reason(status),
		      json ? CONTENT_TYPE : "");
	chat_buf_add(&h, req->headers.data, req->headers.len);
	chat_buf_add(&h, "\r\n", 2);
	FCGX_PutStr(h.data, (int)h.len, req->fcgi->out);
	chat_buf_release(&h);
}

void chat_res_raw(struct chat_req *req, int status, const char *json,
		  size_t len)
{
	send_head(req, status, true);
	FCGX_PutStr(json, (int)len, req->fcgi->out);
	req->sent += len;
}

void chat_res_json(struct chat_req *req, int status, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
		obj, CHAT_JSON_TO_STRING, &len);

	chat_res_raw(req, status, s, len);
}

void chat_res_error(struct chat_req *req, int status, const char *code,
		    const char *fmt, ...)
{
	struct json_object *obj = json_object_new_object();
	struct chat_buf msg;
	va_list ap;

	chat_buf_init(&msg);
	va_start(ap, fmt);
	chat_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	json_object_object_add(obj, "error", json_object_new_string(code));
	json_object_object_add(obj, "message",
			       json_object_new_string_len(msg.data,
							  (int)msg.len));
	chat_res_json(req, status, obj);
	json_object_put(obj);
	chat_buf_release(&msg);
}

void chat_res_empty(struct chat_req *req, int status)
{
	send_head(req, status, false);
}

void chat_res_accepted(struct chat_req *req, uint64_t number)
{
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "number",
			       json_object_new_int64((int64_t)number));
	chat_res_header(req, "Location: %s/%llu", req->path,
			(unsigned long long)number);
	chat_res_json(req, 202, obj);
	json_object_put(obj);
}

void chat_res_page(struct chat_req *req, const struct chat_buf *page,
		   uint64_t last, bool more, unsigned limit)
{
	if (more)
		chat_res_header(req, "Link: <%s?after=%llu&limit=%u>; "
			        "rel=\"next\"", req->path,
			        (unsigned long long)last, limit);
	chat_res_raw(req, 200, page->data, page->len);
}

/* Percent-encode `s` as a query value: only unreserved bytes stay. */
static void add_query_value(struct chat_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			chat_buf_addch(b, (char)c);
		} else {
			chat_buf_addch(b, '%');
			chat_buf_addch(b, hex[c >> 4]);
			chat_buf_addch(b, hex[c & 15]);
		}
	}
}

void chat_res_search_page(struct chat_req *req, struct json_object *results,
			  const char *q, unsigned next, unsigned limit)
{
	if (next) {
		struct chat_buf link;

		chat_buf_init(&link);
		add_query_value(&link, q);
		chat_res_header(req, "Link: <%s?q=%s&limit=%u&offset=%u>; "
				"rel=\"next\"", req->path, link.data, limit,
				next);
		chat_buf_release(&link);
	}
	chat_res_json(req, 200, results);
}

void chat_res_not_found(struct chat_req *req, const char *what)
{
	chat_res_error(req, 404, "not_found", "%s was not found.", what);
}

void chat_res_unavailable(struct chat_req *req, const char *what)
{
	chat_res_error(req, 503, "service_unavailable",
		       "%s is unavailable; retry later.", what);
}

const char *chat_req_header(struct chat_req *req, const char *param)
{
	return FCGX_GetParam(param, req->fcgi->envp);
}

static const char *skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/*
 * RFC 9110: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc being
 * 0x21, 0x23-0x7E or obs-text; a list separates them with commas and
 * optional white space, and its empty elements are skipped (5.6.1.2).
 */
bool chat_etag_match(const char *list, const char *etag, bool weak)
{
	const char *p = skip_ows(list);
	size_t elen = strlen(etag);
	bool hit = false;

	if (*p == '*')
		return *skip_ows(p + 1) == '\0';
	while (*p) {
		bool is_weak = false;
		const char *tag;

		if (*p == ',') {
			p = skip_ows(p + 1);
			continue;
		}
		if (p[0] == 'W' && p[1] == '/') {
			is_weak = true;
			p += 2;
		}
		if (*p != '"')
			return false;
		tag = p++;
		while (*p && *p != '"') {
			unsigned char c = (unsigned char)*p;

			if (c < 0x21 || c == 0x7f)
				return false;
			p++;
		}
		if (*p != '"')
			return false;
		p++;
		if ((size_t)(p - tag) == elen && memcmp(tag, etag, elen) == 0 &&
		    (weak || !is_weak))
			hit = true;
		p = skip_ows(p);
		if (*p && *p != ',')
			return false;
	}
	return hit;
}

/* If-Match `im` absent, "*" or naming `etag` (strong comparison). */
static bool if_match_holds(const char *im, const char *etag)
{
	return !im || chat_etag_match(im, etag, false);
}

/* If-None-Match present and naming `etag` (weak comparison) or "*". */
static bool if_none_match_fails(struct chat_req *req, const char *etag)
{
	const char *inm = chat_req_header(req, "HTTP_IF_NONE_MATCH");

	return inm && chat_etag_match(inm, etag, true);
}

static void if_none_match_failed(struct chat_req *req)
{
	chat_res_error(req, 412, "precondition_failed",
		       "If-None-Match names the current version.");
}

bool chat_req_conditional_get(struct chat_req *req, const char *etag)
{
	chat_res_header(req, "ETag: %s", etag);
	if (!if_match_holds(chat_req_header(req, "HTTP_IF_MATCH"), etag)) {
		chat_res_precondition_failed(req);
		return true;
	}
	if (!if_none_match_fails(req, etag))
		return false;
	/* No body; the contract's Content-Type all the same. */
	send_head(req, 304, true);
	return true;
}

void chat_res_precondition_failed(struct chat_req *req)
{
	chat_res_error(req, 412, "precondition_failed",
		       "If-Match does not name the current version.");
}

void chat_res_idempotency_conflict(struct chat_req *req)
{
	chat_res_error(req, 409, "conflict",
		       "This Idempotency-Key was used with a different "
		       "request.");
}

bool chat_req_has_preconditions(struct chat_req *req)
{
	return chat_req_header(req, "HTTP_IF_MATCH") ||
	       chat_req_header(req, "HTTP_IF_NONE_MATCH");
}

int chat_req_precondition(struct chat_req *req, const char *etag,
			  bool *given)
{
	const char *im = chat_req_header(req, "HTTP_IF_MATCH");

	*given = false;
	if (!if_match_holds(im, etag)) {
		chat_res_precondition_failed(req);
		return -1;
	}
	if (if_none_match_fails(req, etag)) {
		if_none_match_failed(req);
		return -1;
	}
	*given = im && *skip_ows(im) != '*';
	return 0;
}

#define IDEMPOTENCY_KEY_MAX 255

int chat_req_idempotency_key(struct chat_req *req, const char **key,
			     size_t *len)
{
	const char *k = chat_req_header(req, "HTTP_IDEMPOTENCY_KEY");
	size_t n = 0;

	*key = NULL;
	*len = 0;
	if (!k)
		return 0;
	while (k[n] && n <= IDEMPOTENCY_KEY_MAX &&
	       (unsigned char)k[n] >= 0x21 && (unsigned char)k[n] <= 0x7e)
		n++;
	if (n == 0 || n > IDEMPOTENCY_KEY_MAX || k[n]) {
		chat_res_error(req, 400, "bad_request",
			       "Idempotency-Key must be 1 to 255 visible "
			       "ASCII characters.");
		return -1;
	}
	*key = k;
	*len = n;
	return 0;
}

int chat_req_json(struct chat_req *req, const char *keep,
		  struct json_object **obj)
{
	switch (chat_json_parse(req->body.data, req->body.len, keep, obj)) {
	case CHAT_JSON_OK:
	case CHAT_JSON_EMPTY:
		return 0;
	case CHAT_JSON_NOT_OBJECT:
		chat_res_error(req, 400, "bad_request",
			       "The request body must be a JSON object.");
		return -1;
	case CHAT_JSON_INVALID:
	default:
		chat_res_error(req, 400, "bad_request",
			       "The request body is not valid JSON.");
		return -1;
	}
}

static int query_u64(struct chat_req *req, const char *name, uint64_t min,
		     uint64_t max, uint64_t *out)
{
	char *v = NULL;
	int rc = chat_query_get(req->query, name, &v);

	if (rc == 0)
		return 0;
	if (rc < 0 || chat_parse_u64(v, strlen(v), min, max, out)) {
		chat_res_error(req, 400, "bad_request",
			       "Query parameter '%s' must be an integer from "
			       "%llu to %llu.", name, (unsigned long long)min,
			       (unsigned long long)max);
		free(v);
		return -1;
	}
	free(v);
	return 0;
}

/*
 * `after`: a plain non-negative decimal of any size (the contract's "a
 * non-negative integer"); one past every number there can be (they fit
 * in 32 bits) reads as the largest, which lists nothing.
 */
static int query_after(struct chat_req *req, uint64_t *out)
{
	char *v = NULL;
	int rc = chat_query_get(req->query, "after", &v);
	size_t len = rc > 0 ? strlen(v) : 0;

	if (rc == 0)
		return 0;
	if (rc < 0 || len == 0 || strspn(v, "0123456789") != len ||
	    (len > 1 && v[0] == '0')) {
		chat_res_error(req, 400, "bad_request",
			       "Query parameter 'after' must be a "
			       "non-negative integer.");
		free(v);
		return -1;
	}
	if (chat_parse_u64(v, len, 0, UINT32_MAX, out))
		*out = UINT32_MAX;
	free(v);
	return 0;
}

int chat_req_page(struct chat_req *req, unsigned def, unsigned *limit,
		  uint64_t *after)
{
	uint64_t l = def, a = 0;

	if (query_u64(req, "limit", 1, CHAT_PAGE_MAX, &l) ||
	    query_after(req, &a))
		return -1;
	*limit = (unsigned)l;
	*after = a;
	return 0;
}

int chat_req_offset(struct chat_req *req, unsigned max, unsigned *offset)
{
	uint64_t o = 0;

	if (query_u64(req, "offset", 0, max, &o))
		return -1;
	*offset = (unsigned)o;
	return 0;
}

/* Read CONTENT_LENGTH bytes of body; answers and returns -1 on trouble. */
static int read_body(struct chat_req *req)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", req->fcgi->envp);
	uint64_t want = 0;

	if (cl && *cl && chat_parse_u64(cl, strlen(cl), 0, UINT64_MAX, &want)) {
		chat_res_error(req, 400, "bad_request",
			       "Content-Length is not a valid length.");
		return -1;
	}
	if (want > CHAT_BODY_MAX) {
		chat_res_error(req, 413, "payload_too_large",
			       "The request body is larger than %d KiB.",
			       CHAT_BODY_MAX_KIB);
		return -1;
	}
	chat_buf_grow(&req->body, (size_t)want);
	while (req->body.len < want) {
		int n = FCGX_GetStr(req->body.data + req->body.len,
				    (int)(want - req->body.len), req->fcgi->in);

		if (n <= 0)
			break;
		req->body.len += (size_t)n;
	}
	req->body.data[req->body.len] = '\0';
	if (req->body.len != want) {
		chat_res_error(req, 400, "bad_request",
			       "The request body is shorter than its "
			       "Content-Length.");
		return -1;
	}
	return 0;
}

static void dispatch(struct chat_req *req, const struct chat_route *routes,
		     size_t nroutes)
{
	struct chat_buf allow;
	const struct chat_route *hit = NULL;

	chat_buf_init(&allow);
	for (size_t i = 0; i < nroutes; i++) {
		if (!chat_route_match(routes[i].pattern, req->path, req))
			continue;
		if (routes[i].method == req->method) {
			hit = &routes[i];
			break;
		}
		chat_buf_addf(&allow, "%s%s", allow.len ? ", " : "",
			      method_names[routes[i].method]);
	}
	if (hit) {
		if (read_body(req) == 0)
			hit->handler(req);
	} else if (allow.len) {
		chat_res_header(req, "Allow: %s", allow.data);
		chat_res_error(req, 405, "method_not_allowed",
			       "Method not allowed here; use %s.", allow.data);
	} else {
		chat_res_not_found(req, "The requested resource");
	}
	chat_buf_release(&allow);
}

/*
 * The log line of a request that answered 5xx or took CHAT_LOG_SLOW_MS or
 * longer (every request when it is 0): nginx's access log has them all,
 * and a line per request costs a quarter of a quick request's own CPU.
 * A token is a credential, so any run of token characters long enough to
 * be one is written '*', wherever it is in the path (and the method),
 * whatever shape the client gave the path.
 */
static void log_request(const struct chat_req *req, const char *method,
			double ms)
{
	unsigned slow_ms = req->ctx ? req->ctx->cfg.log_slow_ms : 0;
	struct chat_buf m, p;

	if (req->status < 500 && ms < slow_ms)
		return;
	chat_buf_init(&m);
	chat_buf_init(&p);
	chat_token_mask(method, &m);
	chat_token_mask(req->path, &p);
	chat_log_info("%s %s %d %.1fms", m.data, p.data, req->status, ms);
	chat_buf_release(&m);
	chat_buf_release(&p);
}

size_t chat_http_handle(FCGX_Request *fcgi, struct chat_ctx *ctx,
		      const struct chat_route *routes, size_t nroutes)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", fcgi->envp);
	const char *uri = FCGX_GetParam("REQUEST_URI", fcgi->envp);
	const char *qs = FCGX_GetParam("QUERY_STRING", fcgi->envp);
	struct chat_req req = { .fcgi = fcgi, .ctx = ctx };
	double start = chat_now_ms();
	size_t held;
	char *path;

	if (!uri || !*uri)
		uri = FCGX_GetParam("DOCUMENT_URI", fcgi->envp);
	if (!uri)
		uri = "";
	path = xstrndup(uri, strcspn(uri, "?"));
	req.path = path;
	req.query = qs ? qs : "";
	req.method = parse_method(method);
	chat_buf_init(&req.body);
	chat_buf_init(&req.headers);

	dispatch(&req, routes, nroutes);

	log_request(&req, method ? method : "-", chat_now_ms() - start);
	held = req.body.len > req.sent ? req.body.len : req.sent;
	chat_buf_release(&req.body);
	chat_buf_release(&req.headers);
	free(path);
	return held;
}

/* A request or answer this large leaves the heap trimmed after it. */
#define TRIM_AFTER_BYTES (32 * 1024)

struct program {
	struct chat_ctx *ctx;
	const struct chat_route *routes;
	size_t nroutes;
};

static void answer(FCGX_Request *fcgi, void *arg)
{
	struct program *p = arg;

	/* The smaller blocks of a large request are freed inside the heap:
	 * their pages go back (a few µs for a heap this size). */
	if (chat_http_handle(fcgi, p->ctx, p->routes, p->nroutes) >=
	    TRIM_AFTER_BYTES)
		chat_proc_trim();
}

int chat_http_serve(struct chat_ctx *ctx, const struct chat_route *routes,
		    size_t nroutes)
{
	struct program p = { ctx, routes, nroutes };

	chat_proc_init(0);
	/*
	 * A process lives for many requests, and its memory is what it kept
	 * from the largest.  glibc's threshold for giving a large block its
	 * own mapping rises to the size of each such block freed, after which
	 * a page of 1 MiB stays in the heap for good: fixed here, a block of
	 * 128 KiB or more is unmapped when freed, and a heap top of 256 KiB
	 * free is given back.
	 */
	mallopt(M_MMAP_THRESHOLD, TRIM_AFTER_BYTES * 4);
	mallopt(M_TRIM_THRESHOLD, TRIM_AFTER_BYTES * 8);

	if (FCGX_Init() != 0) {
		chat_log_error("FCGX_Init failed");
		return 1;
	}
	if (chat_serve(FCGI_LISTENSOCK_FILENO, answer, &p,
		       chat_proc_stopping) < 0) {
		chat_log_error("cannot serve the FastCGI socket: %s",
			       strerror(errno));
		return 1;
	}
	return 0;
}
