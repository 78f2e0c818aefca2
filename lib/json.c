/*
 * json.c - strict, bounded parsing of request bodies and field checks.
 */
#include "json.h"

#include <string.h>

#include "text.h"
#include "xalloc.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * json-c accepts more than RFC 8259 even in strict mode (single-quoted
 * keys, NaN and -Infinity, "-01", "1.", raw control characters inside
 * strings) and turns a lone surrogate escape into U+FFFD.  So the text is
 * first checked against the RFC's grammar here, and json-c only builds
 * the tree of what a handler reads.  UTF-8 is left to chat_json_string,
 * which answers 422 for it.
 */
/* What json-c builds: {"field": [] } at most, a scalar inside. */
#define KEPT_DEPTH 3

struct scan {
	const char *s;
	size_t i, len;
	size_t lone;	/* lone surrogate escapes seen */
};

static int peek(const struct scan *sc)
{
	return sc->i < sc->len ? (unsigned char)sc->s[sc->i] : -1;
}

static void skip_ws(struct scan *sc)
{
	while (sc->i < sc->len && is_space(sc->s[sc->i]))
		sc->i++;
}

static bool scan_digits(struct scan *sc)
{
	size_t start = sc->i;

	while (sc->i < sc->len && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9')
		sc->i++;
	return sc->i > start;
}

static bool scan_number(struct scan *sc)
{
	if (peek(sc) == '-')
		sc->i++;
	if (peek(sc) == '0')
		sc->i++;
	else if (!scan_digits(sc))
		return false;
	if (peek(sc) == '.') {
		sc->i++;
		if (!scan_digits(sc))
			return false;
	}
	if (peek(sc) == 'e' || peek(sc) == 'E') {
		sc->i++;
		if (peek(sc) == '+' || peek(sc) == '-')
			sc->i++;
		if (!scan_digits(sc))
			return false;
	}
	return true;
}

/* The four hex digits after "\u". */
static bool scan_hex4(struct scan *sc, unsigned *cp)
{
	*cp = 0;
	for (int k = 0; k < 4; k++) {
		int c = peek(sc), d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		*cp = *cp << 4 | (unsigned)d;
		sc->i++;
	}
	return true;
}

static bool scan_string(struct scan *sc)
{
	if (peek(sc) != '"')
		return false;
	sc->i++;
	for (;;) {
		int c = peek(sc);
		unsigned cp, lo;

		if (c < 0x20)	/* end of input or a raw control character */
			return false;
		sc->i++;
		if (c == '"')
			return true;
		if (c != '\\')
			continue;
		c = peek(sc);
		sc->i++;
		if (c > 0 && strchr("\"\\/bfnrt", c))
			continue;
		if (c != 'u' || !scan_hex4(sc, &cp))
			return false;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			size_t at = sc->i;

			if (sc->len - at >= 6 && sc->s[at] == '\\' &&
			    sc->s[at + 1] == 'u') {
				sc->i += 2;
				if (!scan_hex4(sc, &lo))
					return false;
				if (lo >= 0xdc00 && lo <= 0xdfff)
					continue;	/* a pair */
				sc->i = at;
			}
			sc->lone++;
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			sc->lone++;
		}
	}
}

static bool scan_literal(struct scan *sc, const char *lit)
{
	size_t n = strlen(lit);

	if (sc->len - sc->i < n || memcmp(sc->s + sc->i, lit, n) != 0)
		return false;
	sc->i += n;
	return true;
}

/* A string, number or literal. */
static bool scan_scalar(struct scan *sc)
{
	switch (peek(sc)) {
	case '"':
		return scan_string(sc);
	case 't':
		return scan_literal(sc, "true");
	case 'f':
		return scan_literal(sc, "false");
	case 'n':
		return scan_literal(sc, "null");
	default:
		return scan_number(sc);
	}
}

/* A member's name and the colon after it. */
static bool scan_key(struct scan *sc)
{
	skip_ws(sc);
	if (!scan_string(sc))
		return false;
	skip_ws(sc);
	if (peek(sc) != ':')
		return false;
	sc->i++;
	return true;
}

/*
 * One value of any size and depth, with the white space after it.
 * Iterative: `open` holds the closing bracket of each container still
 * open, a byte each, so that no nesting costs stack (a body of 400 KiB
 * can open 400,000 containers) and memory stays within the body's size.
 */
static bool scan_value(struct scan *sc)
{
	struct chat_buf open;
	bool ok = false;

	chat_buf_init(&open);
	for (;;) {
		int c;

		skip_ws(sc);
		c = peek(sc);
		if (c == '{' || c == '[') {
			char close = c == '{' ? '}' : ']';

			sc->i++;
			skip_ws(sc);
			if (peek(sc) != close) {
				chat_buf_addch(&open, close);
				if (close == '}' && !scan_key(sc))
					goto out;
				continue;	/* its first value */
			}
			sc->i++;
		} else if (!scan_scalar(sc)) {
			goto out;
		}
		/* A value ended: close what it ends, or on to the next. */
		for (;;) {
			char close;

			skip_ws(sc);
			if (open.len == 0) {
				ok = true;
				goto out;
			}
			close = open.data[open.len - 1];
			if (peek(sc) == close) {
				sc->i++;
				open.len--;
				continue;
			}
			if (peek(sc) != ',')
				goto out;
			sc->i++;
			if (close == '}' && !scan_key(sc))
				goto out;
			break;
		}
	}
out:
	chat_buf_release(&open);
	return ok;
}

/*
 * Whether the member name that starts at q (its opening quote; valid, as
 * scanned) is `name` (ASCII) once its escapes are read: "n\u0061me" is
 * "name".
 */
static bool key_is(const char *q, const char *name)
{
	size_t n = 0;

	for (size_t i = 1; q[i] != '"'; i++) {
		unsigned c = (unsigned char)q[i];

		if (c == '\\') {
			c = (unsigned char)q[++i];
			if (c == 'u') {
				struct scan sc = { .s = q, .i = i + 1,
						   .len = i + 5 };

				if (!scan_hex4(&sc, &c) || c >= 0x80)
					return false;
				i += 4;
			} else if (c != '"' && c != '\\' && c != '/') {
				return false;	/* a control character */
			}
		}
		if (name[n] == '\0' || (unsigned char)name[n] != c)
			return false;
		n++;
	}
	return name[n] == '\0';
}

/* The value of the member a handler reads, in the text. */
struct member {
	size_t at, len;		/* len 0: no such member */
	size_t lone;		/* its lone surrogate escapes */
};

/*
 * The members of an object, after its '{' to its '}' included; the value
 * of the last one named `keep` (when not NULL) into *m.
 */
static bool scan_members(struct scan *sc, const char *keep, struct member *m)
{
	skip_ws(sc);
	if (peek(sc) == '}') {
		sc->i++;
		return true;
	}
	for (;;) {
		size_t k, v, lone;

		skip_ws(sc);
		k = sc->i;
		if (!scan_key(sc))
			return false;
		skip_ws(sc);
		v = sc->i;
		lone = sc->lone;
		if (!scan_value(sc))
			return false;
		if (keep && key_is(sc->s + k, keep))
			*m = (struct member){ v, sc->i - v, sc->lone - lone };
		if (peek(sc) == '}') {
			sc->i++;
			return true;
		}
		if (peek(sc) != ',')
			return false;
		sc->i++;
	}
}

/*
 * Check text s[0..len) (no white space around it) and, when it is an
 * object, copy into `kept` the object json-c is to build: the last
 * member named `keep` (none when NULL), a container value there written
 * as an empty one of its kind (a field read is a string: the handler's
 * check needs only the type to refuse it); *lone counts its lone
 * surrogate escapes.  The other members are checked and left out,
 * whatever their size or depth: the contract ignores unknown fields.
 */
static enum chat_json_result scan_body(const char *s, size_t len,
				       const char *keep, struct chat_buf *kept,
				       size_t *lone)
{
	struct scan sc = { .s = s, .i = 0, .len = len };
	struct member m = { 0 };

	if (s[0] != '{')
		return scan_value(&sc) && sc.i == len ? CHAT_JSON_NOT_OBJECT
						      : CHAT_JSON_INVALID;
	sc.i++;
	if (!scan_members(&sc, keep, &m) || sc.i != len)
		return CHAT_JSON_INVALID;	/* or trailing junk */
	chat_buf_addch(kept, '{');
	if (m.len) {
		/* The name as `keep` spells it: what its escapes read. */
		chat_buf_addf(kept, "\"%s\":", keep);
		if (s[m.at] == '{')
			chat_buf_adds(kept, "{}");
		else if (s[m.at] == '[')
			chat_buf_adds(kept, "[]");
		else
			chat_buf_add(kept, s + m.at, m.len);
	}
	chat_buf_addch(kept, '}');
	*lone = m.lone;
	return CHAT_JSON_OK;
}

static unsigned hex4(const char *s)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++)
		v = v << 4 | (unsigned)(s[k] <= '9' ? s[k] - '0' :
					(s[k] | 0x20) - 'a' + 10);
	return v;
}

/*
 * A lone surrogate escape is valid JSON syntax but names no character,
 * and json-c would quietly turn it into U+FFFD.  Copy valid text `s` with
 * each one written instead as the three bytes a surrogate would take in
 * UTF-8, which chat_json_string rejects as invalid UTF-8 (a 422).  Escapes
 * only occur inside strings, so no string tracking is needed.
 */
static char *mark_lone_surrogates(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		unsigned cp;

		if (s[i] != '\\' || s[i + 1] != 'u') {
			size_t n = s[i] == '\\' ? 2 : 1;

			memcpy(out + o, s + i, n);
			o += n;
			i += n;
			continue;
		}
		cp = hex4(s + i + 2);
		if (cp >= 0xd800 && cp <= 0xdbff && len - i >= 12 &&
		    s[i + 6] == '\\' && s[i + 7] == 'u' &&
		    hex4(s + i + 8) >= 0xdc00 && hex4(s + i + 8) <= 0xdfff) {
			memcpy(out + o, s + i, 12);
			o += 12;
			i += 12;
		} else if (cp >= 0xd800 && cp <= 0xdfff) {
			out[o++] = (char)(0xe0 | cp >> 12);
			out[o++] = (char)(0x80 | (cp >> 6 & 0x3f));
			out[o++] = (char)(0x80 | (cp & 0x3f));
			i += 6;
		} else {
			memcpy(out + o, s + i, 6);
			o += 6;
			i += 6;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

enum chat_json_result chat_json_parse(const char *s, size_t len,
				      const char *keep,
				      struct json_object **out)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	enum chat_json_result res;
	struct chat_buf kept;
	size_t start = 0, end = len, tlen, lone = 0;
	const char *text;
	char *copy = NULL;

	*out = NULL;
	while (start < end && is_space(s[start]))
		start++;
	while (end > start && is_space(s[end - 1]))
		end--;
	if (start == end)
		return CHAT_JSON_EMPTY;
	/* json-c stops at a NUL byte; a body holding one is never JSON. */
	if (memchr(s + start, '\0', end - start))
		return CHAT_JSON_INVALID;
	if (end - start > (size_t)INT32_MAX)
		return CHAT_JSON_INVALID;
	chat_buf_init(&kept);
	res = scan_body(s + start, end - start, keep, &kept, &lone);
	if (res != CHAT_JSON_OK)
		goto out;
	res = CHAT_JSON_INVALID;
	text = kept.data;
	tlen = kept.len;
	if (lone)
		text = copy = mark_lone_surrogates(text, tlen, &tlen);
	/* An object of at most one member, holding a scalar or {} or []. */
	tok = json_tokener_new_ex(KEPT_DEPTH);
	if (!tok)
		goto out;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, text, (int)tlen);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object))
		goto out;
	*out = obj;
	obj = NULL;
	res = CHAT_JSON_OK;
out:
	json_object_put(obj);
	if (tok)
		json_tokener_free(tok);
	free(copy);
	chat_buf_release(&kept);
	return res;
}

int chat_json_string(struct json_object *obj, const struct chat_field *f,
		     bool required, const char **s, size_t *len,
		     struct chat_buf *msg)
{
	struct json_object *v = NULL;
	const char *str;
	size_t n;

	*s = NULL;
	*len = 0;
	if (!obj || !json_object_object_get_ex(obj, f->name, &v)) {
		if (!required)
			return 0;
		chat_buf_addf(msg, "'%s' is required.", f->name);
		return -1;
	}
	if (!json_object_is_type(v, json_type_string)) {
		chat_buf_addf(msg, "'%s' must be a string.", f->name);
		return -1;
	}
	str = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0) {
		chat_buf_addf(msg, "'%s' must not be empty.", f->name);
		return -1;
	}
	if (!chat_utf8_valid(str, n)) {
		chat_buf_addf(msg, "'%s' must be valid UTF-8.", f->name);
		return -1;
	}
	if (memchr(str, '\0', n)) {
		chat_buf_addf(msg, "'%s' must not contain NUL characters.",
			      f->name);
		return -1;
	}
	if ((f->max_in_chars ? chat_utf8_chars(str, n) : n) > f->max) {
		chat_buf_addf(msg, "'%s' must be at most %zu %s.", f->name,
			      f->max, f->max_in_chars ? "characters" : "bytes");
		return -1;
	}
	*s = str;
	*len = n;
	return 1;
}

void chat_json_add_time(struct json_object *obj, const char *key, int64_t t)
{
	char ts[CHAT_TIME_LEN + 1];

	chat_time_format((time_t)t, ts);
	json_object_object_add(obj, key, json_object_new_string(ts));
}

void chat_json_array_add(struct chat_buf *arr, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
		obj, CHAT_JSON_TO_STRING, &len);

	chat_buf_addch(arr, arr->len ? ',' : '[');
	chat_buf_add(arr, s, len);
	json_object_put(obj);
}

/*
 * How CHAT_JSON_TO_STRING (json-c's json_escape_str, '/' left alone)
 * escapes byte c: the letter after the backslash of a two-byte escape,
 * 'u' for \u00XX (any other control character), or 0 when c goes as it is.
 * The one statement of the rule, for the writer and the length.
 */
static char escape_of(unsigned char c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '\b': return 'b';
	case '\t': return 't';
	case '\n': return 'n';
	case '\f': return 'f';
	case '\r': return 'r';
	default: return c < 0x20 ? 'u' : 0;
	}
}

void chat_json_write_string(struct chat_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;		/* bytes before s[i] not yet copied */
	char *d;

	/* The worst case, every byte \u00XX, at once: one grow, no checks. */
	chat_buf_grow(out, 6 * len + 2);
	d = out->data + out->len;
	*d++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char e;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;	/* the common byte, without a call */
		e = escape_of(c);
		memcpy(d, s + run, i - run);
		d += i - run;
		run = i + 1;
		*d++ = '\\';
		*d++ = e;
		if (e == 'u') {
			memcpy(d, "00", 2);
			d[2] = hex[c >> 4];
			d[3] = hex[c & 15];
			d += 4;
		}
	}
	memcpy(d, s + run, len - run);
	d += len - run;
	*d++ = '"';
	*d = '\0';
	out->len = (size_t)(d - out->data);
}

void chat_json_write_u64(struct chat_buf *out, uint64_t v)
{
	char digits[20];
	size_t n = sizeof(digits);

	do {
		digits[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	chat_buf_add(out, digits + n, sizeof(digits) - n);
}

void chat_json_write_time(struct chat_buf *out, int64_t t)
{
	char ts[CHAT_TIME_LEN + 3];

	ts[0] = '"';
	chat_time_format((time_t)t, ts + 1);
	ts[CHAT_TIME_LEN + 1] = '"';
	chat_buf_add(out, ts, CHAT_TIME_LEN + 2);
}

size_t chat_json_page_next(struct chat_buf *arr)
{
	size_t mark = arr->len;

	chat_buf_addch(arr, mark ? ',' : '[');
	return mark;
}

bool chat_json_page_fits(struct chat_buf *arr, size_t mark)
{
	if (!mark || arr->len + 1 <= CHAT_PAGE_BYTES_MAX)
		return true;
	arr->len = mark;
	arr->data[mark] = '\0';
	return false;
}

void chat_json_array_end(struct chat_buf *arr)
{
	if (!arr->len)
		chat_buf_addch(arr, '[');
	chat_buf_addch(arr, ']');
}

bool chat_json_page_add(struct chat_buf *arr, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
		obj, CHAT_JSON_TO_STRING, &len);
	bool fits = !arr->len ||
		    arr->len + 1 + len + 1 <= CHAT_PAGE_BYTES_MAX;

	if (fits) {
		chat_buf_addch(arr, arr->len ? ',' : '[');
		chat_buf_add(arr, s, len);
	}
	json_object_put(obj);
	return fits;
}

uint64_t chat_json_string_len(const char *s, size_t len)
{
	uint64_t n = len;

	for (size_t i = 0; i < len; i++) {
		char e = escape_of((unsigned char)s[i]);

		n += e == 'u' ? 5 : e != 0;
	}
	return n;
}
