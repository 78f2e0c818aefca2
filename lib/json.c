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
 * the tree.  UTF-8 is left to chat_json_string, which answers 422 for it.
 */
struct scan {
	const char *s;
	size_t i, len;
	size_t lone;	/* lone surrogate escapes seen */
	size_t values;	/* values begun so far */
	bool too_big;	/* a cap was passed: the scan stopped there */
};

static bool scan_value(struct scan *sc, int depth);

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
	sc->i++;	/* the opening quote */
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
		if (c && strchr("\"\\/bfnrt", c))
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

/* The members of an object or the elements of an array, after its '{'/'['. */
static bool scan_container(struct scan *sc, int depth, char close)
{
	sc->i++;
	skip_ws(sc);
	if (peek(sc) == close) {
		sc->i++;
		return true;
	}
	for (;;) {
		skip_ws(sc);
		if (close == '}') {
			if (peek(sc) != '"' || !scan_string(sc))
				return false;
			skip_ws(sc);
			if (peek(sc) != ':')
				return false;
			sc->i++;
		}
		if (!scan_value(sc, depth + 1))
			return false;
		skip_ws(sc);
		if (peek(sc) == close) {
			sc->i++;
			return true;
		}
		if (peek(sc) != ',')
			return false;
		sc->i++;
	}
}

/* One value with the whitespace around it; depth counts open containers. */
static bool scan_value(struct scan *sc, int depth)
{
	bool ok;

	skip_ws(sc);
	if (++sc->values > CHAT_JSON_MAX_VALUES) {
		sc->too_big = true;
		return false;
	}
	switch (peek(sc)) {
	case '{':
	case '[':
		if (depth >= CHAT_JSON_MAX_DEPTH) {
			sc->too_big = true;
			return false;
		}
		ok = scan_container(sc, depth, peek(sc) == '{' ? '}' : ']');
		break;
	case '"':
		ok = scan_string(sc);
		break;
	case 't':
		ok = scan_literal(sc, "true");
		break;
	case 'f':
		ok = scan_literal(sc, "false");
		break;
	case 'n':
		ok = scan_literal(sc, "null");
		break;
	default:
		ok = scan_number(sc);
	}
	skip_ws(sc);
	return ok;
}

/*
 * CHAT_JSON_OK for RFC 8259 text within the caps (*lone counts its lone
 * surrogate escapes), CHAT_JSON_INVALID or CHAT_JSON_TOO_BIG otherwise.
 * The scan stops at the first cap passed: what follows is not read.
 */
static enum chat_json_result rfc8259_valid(const char *s, size_t len,
					   size_t *lone)
{
	struct scan sc = { .s = s, .i = 0, .len = len };
	bool ok = scan_value(&sc, 0) && sc.i == len;

	*lone = sc.lone;
	if (ok)
		return CHAT_JSON_OK;
	return sc.too_big ? CHAT_JSON_TOO_BIG : CHAT_JSON_INVALID;
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
				      struct json_object **out)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	enum chat_json_result res = CHAT_JSON_INVALID;
	size_t start = 0, end = len, lone = 0, tlen;
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
	res = rfc8259_valid(s + start, end - start, &lone);
	if (res != CHAT_JSON_OK)
		return res;
	res = CHAT_JSON_INVALID;
	text = s + start;
	tlen = end - start;
	if (lone)
		text = copy = mark_lone_surrogates(text, tlen, &tlen);

	/*
	 * The scan above enforces the depth (open containers); json-c also
	 * counts the scalar inside the innermost one, so give it one more.
	 */
	tok = json_tokener_new_ex(CHAT_JSON_MAX_DEPTH + 1);
	if (!tok)
		goto out;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, text, (int)tlen);
	if (!obj && json_tokener_get_error(tok) == json_tokener_continue) {
		/* A top-level number may go on; a space ends it. */
		obj = json_tokener_parse_ex(tok, " ", 1);
	} else if (json_tokener_get_error(tok) == json_tokener_success &&
		   (size_t)json_tokener_get_parse_end(tok) != tlen) {
		goto out;	/* trailing junk after the value */
	}
	if (json_tokener_get_error(tok) != json_tokener_success)
		goto out;
	if (!obj) {
		/* `null` parses to NULL with success. */
		res = CHAT_JSON_NOT_OBJECT;
		goto out;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		res = CHAT_JSON_NOT_OBJECT;
		goto out;
	}
	*out = obj;
	obj = NULL;
	res = CHAT_JSON_OK;
out:
	json_object_put(obj);
	if (tok)
		json_tokener_free(tok);
	free(copy);
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
