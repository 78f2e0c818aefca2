/*
 * http.h - one FastCGI request: its method, path, query and body; the
 * route table that dispatches it; and the contract's responses.
 *
 * A program declares `struct chat_route` rows (method x path pattern ->
 * handler) and calls chat_http_serve(), which runs the request loop (serve.h),
 * caps and reads the body, matches the path, answers 404 or 405 (with
 * Allow) itself, logs one line per request, and calls the handler.
 */
#ifndef CHAT_HTTP_H
#define CHAT_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#include "buf.h"

/*
 * Bytes; a larger body is a 413.  The largest valid request is a message
 * body of 65,535 bytes each written as a six-byte escape ("\u0001"):
 * 393,221 bytes with its {"body":""}; the rest is room for whitespace.
 * nginx's client_max_body_size (nginx/chat-api.conf) says the same.
 */
#define CHAT_BODY_MAX_KIB 400
#define CHAT_BODY_MAX (CHAT_BODY_MAX_KIB * 1024)

enum chat_method {
	CHAT_GET,
	CHAT_POST,
	CHAT_PUT,
	CHAT_PATCH,
	CHAT_DELETE,
	CHAT_METHOD__MAX
};

struct chat_ctx;

struct chat_req {
	FCGX_Request *fcgi;
	struct chat_ctx *ctx;
	enum chat_method method;	/* CHAT_METHOD__MAX when unknown */
	const char *path;		/* raw path, without the query */
	const char *query;		/* raw query string, never NULL */
	struct chat_buf body;
	/* Captured by the route pattern: {token}, {chat}, {message}. */
	const char *token;
	size_t token_len;
	uint64_t chat;
	uint64_t message;
	/* The response under way. */
	struct chat_buf headers;	/* extra header lines, CRLF-ended */
	int status;
	size_t sent;			/* body bytes answered */
};

typedef void chat_handler_fn(struct chat_req *req);

/*
 * A row of a route table.  `pattern` is a path whose segments are literal
 * or one of {token} (a valid token), {chat} or {message} (a positive
 * integer that fits in 32 bits unsigned).  A segment that fails its
 * capture makes the path unknown (404).
 */
struct chat_route {
	enum chat_method method;
	const char *pattern;
	chat_handler_fn *handler;
};

/*
 * Serve FastCGI requests on the listening socket that spawn-fcgi passed
 * as fd 0 until SIGTERM.  Returns the process exit status.
 */
int chat_http_serve(struct chat_ctx *ctx, const struct chat_route *routes,
		    size_t nroutes);

/*
 * Serve one request that is already accepted: read its parameters
 * (REQUEST_METHOD, REQUEST_URI or DOCUMENT_URI, QUERY_STRING,
 * CONTENT_LENGTH) from fcgi->envp and its body from fcgi->in, dispatch it,
 * answer on fcgi->out and log it.  Any parameters and any body are safe
 * (tests/fuzz/fuzz_fcgi_params.c).  chat_http_serve calls it for each
 * request.  Returns the larger of the request's and the answer's body
 * sizes, in bytes.
 */
size_t chat_http_handle(FCGX_Request *fcgi, struct chat_ctx *ctx,
		      const struct chat_route *routes, size_t nroutes);
/* Match `path` against `pattern`, filling the captures of `req`. */
bool chat_route_match(const char *pattern, const char *path,
		      struct chat_req *req);

/* Add a response header line ("Name: value"). */
__attribute__((format(printf, 2, 3)))
void chat_res_header(struct chat_req *req, const char *fmt, ...);
/* Send `obj` as the JSON body with `status`.  Does not take `obj`. */
void chat_res_json(struct chat_req *req, int status, struct json_object *obj);
/* Send an already serialised JSON body. */
void chat_res_raw(struct chat_req *req, int status, const char *json,
		  size_t len);
/* Send the contract's error body: {"error": code, "message": ...}. */
__attribute__((format(printf, 4, 5)))
void chat_res_error(struct chat_req *req, int status, const char *code,
		    const char *fmt, ...);
/* Send a status with no body (204, 304). */
void chat_res_empty(struct chat_req *req, int status);

/*
 * Answer a queued create: 202 {"number": n} with a Location of the
 * request path followed by "/n".
 */
void chat_res_accepted(struct chat_req *req, uint64_t number);

/*
 * Answer 200 with a list page: `page` is a JSON array of objects with a
 * "number", the last of them `last`.  When `more` remain, a Link header
 * points at the next page of the same path.
 */
void chat_res_page(struct chat_req *req, const struct chat_buf *page,
		   uint64_t last, bool more, unsigned limit);

/*
 * Answer 200 with a search page `results` (a JSON array; not taken).
 * When `next` is not 0, a Link header points at the page from that
 * offset of the same query `q` and `limit`.
 */
void chat_res_search_page(struct chat_req *req, struct json_object *results,
			  const char *q, unsigned next, unsigned limit);

/* The common failures, worded once. */
void chat_res_not_found(struct chat_req *req, const char *what);
void chat_res_unavailable(struct chat_req *req, const char *what);

/*
 * A request header as nginx passes it (HTTP_IF_MATCH for If-Match), or
 * NULL when absent.  The string belongs to the request.
 */
const char *chat_req_header(struct chat_req *req, const char *param);

/*
 * Does the If-Match or If-None-Match value `list` (a comma-separated list
 * of entity tags, or "*") name `etag` (quoted, as sent)?  With `weak`
 * false (If-Match) a W/ tag never matches; with `weak` true
 * (If-None-Match) the W/ prefix is ignored.  A value that is not a valid
 * list matches nothing.
 */
bool chat_etag_match(const char *list, const char *etag, bool weak);

/*
 * Conditional requests on one object whose current entity tag is `etag`,
 * evaluated in RFC 9110's order (13.2.2): If-Match first, then
 * If-None-Match.
 * chat_req_conditional_get (GET): adds the ETag header to the response;
 * answers 412 when If-Match does not name `etag`, or 304 with no body
 * when If-None-Match names it (or is "*"), and then returns true.
 * chat_req_precondition (PATCH, PUT, DELETE): returns 0 with *given
 * false when If-Match is absent or "*" (which any existing object
 * matches), 0 with *given true when it names `etag` (the caller then
 * makes its write conditional on the version read, so that a change
 * since is caught in the same SQL statement), or answers 412 and
 * returns -1: If-Match does not name `etag`, or If-None-Match names it
 * or is "*" (the object exists).
 */
bool chat_req_conditional_get(struct chat_req *req, const char *etag);
/* Whether the request has If-Match or If-None-Match (a write reads first). */
bool chat_req_has_preconditions(struct chat_req *req);
int chat_req_precondition(struct chat_req *req, const char *etag,
			  bool *given);
/* Answer 412 precondition_failed. */
void chat_res_precondition_failed(struct chat_req *req);
/* Answer 409 conflict: an Idempotency-Key used with another request. */
void chat_res_idempotency_conflict(struct chat_req *req);

/*
 * Read the Idempotency-Key header.  Returns 0 with *key NULL when absent,
 * 0 with *key and *len set when it is 1-255 visible ASCII characters, or
 * answers 400 and returns -1.
 */
int chat_req_idempotency_key(struct chat_req *req, const char **key,
			     size_t *len);

/*
 * Parse the request body as a JSON object of which the handler reads the
 * field `keep` (NULL: none; chat_json_parse).  On success returns 0 and
 * sets *obj (NULL for no body; caller puts it).  Otherwise answers 400
 * and returns -1.
 */
int chat_req_json(struct chat_req *req, const char *keep,
		  struct json_object **obj);

/* Rows in a page (`limit`): the contract's defaults and largest. */
#define CHAT_PAGE_DEFAULT 50
#define CHAT_SEARCH_PAGE_DEFAULT 20
#define CHAT_PAGE_MAX 1000

/*
 * Read the query parameters `limit` (1..CHAT_PAGE_MAX, default `def`) and `after`
 * (>= 0, default 0).  Answers 400 and returns -1 when either is bad.
 */
int chat_req_page(struct chat_req *req, unsigned def, unsigned *limit,
		  uint64_t *after);

/*
 * Read the query parameter `offset` of a search page (0..max, default 0).
 * Answers 400 and returns -1 when it is bad.
 */
int chat_req_offset(struct chat_req *req, unsigned max, unsigned *offset);

#endif
