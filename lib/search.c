/*
 * search.c - the message search index: creation behind an alias, bulk
 * indexing, deletes and the contract's search, over chat_es_request.
 *
 * Why the analyzers of lib/search-index.json look as they do:
 *  - One char filter, chat_word_breaks, turns every run of characters
 *    that are not letters, digits or combining marks (\p{L}\p{Nd}\p{M},
 *    Java's classes) into one space; every analyzer starts with it, so
 *    all fields agree on what a word is.
 *  - body.tri is the 3-grams of the whole normalised text, spaces
 *    included ("hello world" gives hel ell llo "lo " "o w" " wo" wor ...),
 *    lowercased.  A query word of three or more characters is a
 *    match_phrase on it: consecutive 3-grams at consecutive positions,
 *    which is exactly "the word occurs inside the text".  Query words hold
 *    no spaces, so the phrase cannot reach across a word boundary; with
 *    the usual ngram tokenizer that skips separators, "datab" would find
 *    "data tables" (dat ata | tab at adjacent positions).
 *  - body.prefix indexes the first one and two characters of every word
 *    (edge_ngram filter) and is searched with the plain word analyzer, so
 *    "lo" finds words that start with "lo" and not "hello".
 *  - body itself is the lowercased words; a should clause on it ranks
 *    messages that hold the query word as a whole word first.
 * The C side (chat_search_words) splits the query the same way, to decide
 * which words are short and whether there is any word at all.
 */
#include "search.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "search_index.h"	/* generated from search-index.json */
#include "text.h"
#include "xalloc.h"

/* The engine's default index.max_result_window. */
#define MAX_RESULTS 10000

/*
 * Non-ASCII code points that are not letters, digits or combining marks:
 * punctuation, symbols, spaces, format and private-use characters and
 * emoji, by the blocks where they cluster (checked against the Unicode
 * database: no letter, digit or mark is listed, except the variation
 * selectors, which chat_word_breaks also treats as separators).  Rare
 * punctuation of other scripts counts as a letter here; the engine then
 * still splits there, and the word is searched as a short phrase.
 */
static const uint32_t nonword[][2] = {
	{0x80, 0xa9}, {0xab, 0xb4}, {0xb6, 0xb9}, {0xbb, 0xbf}, {0xd7, 0xd7},
	{0xf7, 0xf7}, {0x2c2, 0x2c5}, {0x2d2, 0x2df}, {0x2e5, 0x2eb},
	{0x2ed, 0x2ed}, {0x2ef, 0x2ff}, {0x375, 0x375}, {0x37e, 0x37e},
	{0x384, 0x385}, {0x387, 0x387}, {0x3f6, 0x3f6}, {0x482, 0x482},
	{0x55a, 0x55f}, {0x589, 0x58a}, {0x58d, 0x58f}, {0x5be, 0x5be},
	{0x5c0, 0x5c0}, {0x5c3, 0x5c3}, {0x5c6, 0x5c6}, {0x5f3, 0x5f4},
	{0x600, 0x60f}, {0x61b, 0x61b}, {0x61d, 0x61f}, {0x66a, 0x66d},
	{0x6d4, 0x6d4}, {0x6dd, 0x6de}, {0x6e9, 0x6e9}, {0x6fd, 0x6fe},
	{0x700, 0x70f}, {0x964, 0x965}, {0x970, 0x970}, {0xe3f, 0xe3f},
	{0xe4f, 0xe4f}, {0xe5a, 0xe5b}, {0x10fb, 0x10fb}, {0x1360, 0x1368},
	{0x1680, 0x1680}, {0x169b, 0x169c}, {0x16eb, 0x16ed}, {0x1800, 0x180a},
	{0x180e, 0x180e}, {0x2000, 0x2070}, {0x2074, 0x207e}, {0x2080, 0x208e},
	{0x20a0, 0x20cf}, {0x2100, 0x2101}, {0x2103, 0x2106}, {0x2108, 0x2109},
	{0x2114, 0x2114}, {0x2116, 0x2118}, {0x211e, 0x2123}, {0x2125, 0x2125},
	{0x2127, 0x2127}, {0x2129, 0x2129}, {0x212e, 0x212e}, {0x213a, 0x213b},
	{0x2140, 0x2144}, {0x214a, 0x214d}, {0x214f, 0x2182}, {0x2185, 0x218b},
	{0x2190, 0x2bff}, {0x2ce5, 0x2cea}, {0x2cf9, 0x2cfc}, {0x2cfe, 0x2cff},
	{0x2e00, 0x2e2e}, {0x2e30, 0x2e7f}, {0x2e80, 0x2fff}, {0x3000, 0x3004},
	{0x3007, 0x3029}, {0x3030, 0x3030}, {0x3036, 0x303a}, {0x303d, 0x303f},
	{0x309b, 0x309c}, {0x30a0, 0x30a0}, {0x30fb, 0x30fb}, {0x3190, 0x319f},
	{0x31c0, 0x31ef}, {0x3200, 0x33ff}, {0x4dc0, 0x4dff}, {0xa490, 0xa4cf},
	{0xa4fe, 0xa4ff}, {0xa60d, 0xa60f}, {0xa700, 0xa716}, {0xa720, 0xa721},
	{0xa789, 0xa78a}, {0xd800, 0xf8ff}, {0xfd3e, 0xfd3f}, {0xfdfc, 0xfdff},
	{0xfe00, 0xfe1f}, {0xfe30, 0xfe6f}, {0xfeff, 0xfeff}, {0xff00, 0xff0f},
	{0xff1a, 0xff20}, {0xff3b, 0xff40}, {0xff5b, 0xff65}, {0xffe0, 0xffff},
	{0x1f000, 0x1fbef}, {0xe0000, 0xe01ef}, {0xf0000, 0x10ffff},
};

static bool is_word_char(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(nonword) / sizeof(nonword[0]);

	if (cp < 0x80)
		return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
		       (cp >= 'A' && cp <= 'Z');
	if (cp > 0x10ffff)
		return false;	/* not UTF-8 */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < nonword[mid][0])
			hi = mid;
		else if (cp > nonword[mid][1])
			lo = mid + 1;
		else
			return false;
	}
	return true;
}

static unsigned char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 'a' - 'A')
				    : (unsigned char)c;
}

/*
 * Decode the code point at s[0..len), len > 0.  Returns its length in
 * bytes; *cp is UINT32_MAX for a byte that does not start valid UTF-8.
 */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned c = s[0];
	size_t n;
	uint32_t v;

	*cp = UINT32_MAX;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		v = c & 0x07;
	} else {
		return 1;
	}
	if (len <= n)
		return 1;
	for (size_t k = 1; k <= n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 1;
		v = (v << 6) | (s[k] & 0x3f);
	}
	if ((n == 2 && v < 0x800) || (n == 3 && v < 0x10000) ||
	    (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 1;
	*cp = v;
	return n + 1;
}

/* Is q[off..off+len) equal to a stored word, ignoring ASCII case? */
static bool seen(const char *q, const struct chat_search_word *words,
		 size_t n, size_t off, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		if (words[i].len != len)
			continue;
		while (k < len && ascii_lower(q[words[i].off + k]) ==
				  ascii_lower(q[off + k]))
			k++;
		if (k == len)
			return true;
	}
	return false;
}

size_t chat_search_words(const char *q, size_t len,
			 struct chat_search_word *words, size_t max)
{
	const unsigned char *s = (const unsigned char *)q;
	size_t n = 0, i = 0, start = 0, chars = 0;

	/* i == len is one more step: the end of input ends a word. */
	while (i <= len && n < max) {
		uint32_t cp = UINT32_MAX;
		size_t step = i < len ? utf8_next(s + i, len - i, &cp) : 1;

		if (is_word_char(cp)) {
			if (chars++ == 0)
				start = i;
		} else if (chars > 0) {
			if (!seen(q, words, n, start, i - start)) {
				words[n].off = start;
				words[n].len = i - start;
				words[n].chars = chars;
				n++;
			}
			chars = 0;
		}
		i += step;
	}
	return n;
}

/* The one place that fills es->errstr here. */
__attribute__((format(printf, 2, 3)))
static void fail(struct chat_es *es, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(es->errstr, sizeof(es->errstr), fmt, ap);
	va_end(ap);
}

static struct json_object *parse(const struct chat_buf *b)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	struct json_object *obj;

	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, b->data, (int)b->len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/* json_object_object_add, short enough for the builders below. */
static void set(struct json_object *obj, const char *key,
		struct json_object *val)
{
	json_object_object_add(obj, key, val);
}

/* obj[k1][k2] (k2 may be NULL); NULL when obj or a key is missing. */
static struct json_object *get(struct json_object *obj, const char *k1,
			       const char *k2)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(obj, k1, &v))
		return NULL;
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return NULL;
	return v;
}

/* Report an answer of the engine that is not the expected success. */
static void fail_answer(struct chat_es *es, const char *what, long status,
			const struct chat_buf *resp)
{
	struct json_object *obj = parse(resp);
	struct json_object *err = get(obj, "error", NULL);
	const char *type = "", *reason = "";

	if (err && json_object_is_type(err, json_type_object)) {
		type = json_object_get_string(get(err, "type", NULL));
		reason = json_object_get_string(get(err, "reason", NULL));
	} else if (err) {
		reason = json_object_get_string(err);
	}
	fail(es, "%s: HTTP %ld %s: %s", what, status, type ? type : "",
	     reason ? reason : "");
	json_object_put(obj);
}

/* Serialise `body` (may be NULL) and send it. */
static int send_json(struct chat_es *es, const char *method, const char *path,
		     struct json_object *body, long *status,
		     struct chat_buf *resp)
{
	const char *s = NULL;
	size_t len = 0;

	if (body)
		s = json_object_to_json_string_length(body,
						      JSON_C_TO_STRING_PLAIN,
						      &len);
	return chat_es_request(es, method, path, s, len, status, resp);
}

/*
 * The alias goes into URL paths unescaped, so accept only what is both a
 * valid index name and safe there: [a-z0-9._-], not starting with [._-].
 */
static const char *alias_of(struct chat_es *es)
{
	const char *a = es->cfg->es_index;
	size_t len = a ? strlen(a) : 0;

	if (len == 0 || len > 200 || strchr("._-", a[0]))
		goto bad;
	for (size_t i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", a[i]))
			goto bad;
	return a;
bad:
	fail(es, "search: index alias \"%.60s\" is not a lowercase index "
	     "name", a ? a : "");
	return NULL;
}

/* 1 when the alias exists, 0 when not, -1 on error. */
static int alias_exists(struct chat_es *es, const char *alias,
			struct chat_buf *path, struct chat_buf *resp)
{
	long status = 0;

	chat_buf_reset(path);
	chat_buf_addf(path, "/_alias/%s", alias);
	if (chat_es_request(es, "GET", path->data, NULL, 0, &status, resp))
		return -1;
	if (status == 200)
		return 1;
	if (status == 404)
		return 0;
	fail_answer(es, "search: alias lookup", status, resp);
	return -1;
}

int chat_search_create_index(struct chat_es *es, const char *alias,
			     char **name)
{
	const char *base = alias_of(es);
	struct json_object *def = json_tokener_parse(chat_search_index_json);
	struct json_object *aliases, *a;
	struct chat_buf path, resp;
	struct timespec now;
	long status = 0;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	*name = NULL;
	if (!def || !json_object_is_type(def, json_type_object)) {
		fail(es, "search: lib/search-index.json does not parse");
		goto out;
	}
	if (!base)
		goto out;
	/* Index and alias in one step: no window without the alias. */
	aliases = json_object_new_object();
	a = json_object_new_object();
	set(a, "is_write_index", json_object_new_boolean(1));
	set(aliases, alias, a);
	set(def, "aliases", aliases);
	/* Milliseconds: a new name even for a rebuild right after another. */
	clock_gettime(CLOCK_REALTIME, &now);
	chat_buf_addf(&path, "/%s-v1-%lld%03ld", base, (long long)now.tv_sec,
		      now.tv_nsec / 1000000);
	if (send_json(es, "PUT", path.data, def, &status, &resp))
		goto out;
	if (status == 200)
		*name = xstrdup(path.data + 1);
	else
		fail_answer(es, "search: index creation", status, &resp);
out:
	json_object_put(def);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return *name ? 0 : -1;
}

int chat_search_ensure_index(struct chat_es *es)
{
	const char *alias = alias_of(es);
	struct chat_buf path, resp;
	char *name = NULL;
	int rc = -1, found;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	if (!alias)
		goto out;
	found = alias_exists(es, alias, &path, &resp);
	if (found != 0) {
		rc = found == 1 ? 0 : -1;
		goto out;
	}
	/*
	 * Another process may have won the race: its index holds the alias
	 * as write index already, so ours is refused.  Either way the alias
	 * is there now, which is all we want; if not, errstr still says why
	 * the creation failed.
	 */
	if (chat_search_create_index(es, alias, &name) == 0 ||
	    alias_exists(es, alias, &path, &resp) == 1)
		rc = 0;
out:
	free(name);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

/* {verb: {"index": index, "alias": alias, flag: true}} for _aliases. */
static struct json_object *alias_action(const char *verb, const char *index,
					const char *alias, const char *flag)
{
	struct json_object *act = json_object_new_object();
	struct json_object *o = json_object_new_object();

	set(o, "index", json_object_new_string(index));
	set(o, "alias", json_object_new_string(alias));
	set(o, flag, json_object_new_boolean(1));
	set(act, verb, o);
	return act;
}

int chat_search_swap_alias(struct chat_es *es, const char *new,
			   const char *old)
{
	const char *alias = alias_of(es);
	struct json_object *body = json_object_new_object();
	struct json_object *acts = json_object_new_array();
	struct chat_buf resp;
	long status = 0;

	chat_buf_init(&resp);
	set(body, "actions", acts);
	/* must_exist: when `old` no longer holds the alias, change nothing. */
	if (alias && old)
		json_object_array_add(acts, alias_action("remove", old, alias,
							 "must_exist"));
	if (alias && new)
		json_object_array_add(acts, alias_action("add", new, alias,
							 "is_write_index"));
	if (alias && send_json(es, "POST", "/_aliases", body, &status,
			       &resp) == 0 && status != 200)
		fail_answer(es, "search: alias change", status, &resp);
	json_object_put(body);
	chat_buf_release(&resp);
	return status == 200 ? 0 : -1;
}

static void add_doc_id(struct chat_buf *b, uint64_t app, uint64_t chat,
		       uint64_t number)
{
	chat_buf_addf(b, "%" PRIu64 "-%" PRIu64 "-%" PRIu64, app, chat, number);
}

static void add_line(struct chat_buf *b, struct json_object *obj)
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN, &len);

	chat_buf_add(b, s, len);
	chat_buf_addch(b, '\n');
}

static void add_bulk_doc(struct chat_buf *nd, struct chat_buf *id,
			 const struct chat_search_doc *d, bool create_only)
{
	struct json_object *action = json_object_new_object();
	struct json_object *meta = json_object_new_object();
	struct json_object *doc = json_object_new_object();

	chat_buf_reset(id);
	add_doc_id(id, d->app, d->chat, d->number);
	set(meta, "_id", json_object_new_string_len(id->data, (int)id->len));
	set(action, create_only ? "create" : "index", meta);
	add_line(nd, action);
	set(doc, "app", json_object_new_uint64(d->app));
	set(doc, "chat", json_object_new_uint64(d->chat));
	set(doc, "number", json_object_new_uint64(d->number));
	set(doc, "body", json_object_new_string_len(d->body, (int)d->body_len));
	set(doc, "created_at", json_object_new_int64(d->created_at));
	set(doc, "updated_at", json_object_new_int64(d->updated_at));
	add_line(nd, doc);
	json_object_put(action);
	json_object_put(doc);
}

/* The result of a bulk item, {"create": {...}}: its only member. */
static struct json_object *item_result(struct json_object *item)
{
	if (!json_object_is_type(item, json_type_object))
		return NULL;
	json_object_object_foreach(item, key, val) {
		(void)key;
		return val;
	}
	return NULL;
}

int chat_search_bulk(struct chat_es *es, const struct chat_search_doc *docs,
		     size_t n, bool create_only, bool *item_failed)
{
	const char *alias = alias_of(es);
	struct json_object *obj = NULL, *items;
	struct chat_buf nd, id, path, resp;
	long status = 0;
	size_t failed = 0;
	int rc = -1;

	chat_buf_init(&nd);
	chat_buf_init(&id);
	chat_buf_init(&path);
	chat_buf_init(&resp);
	for (size_t i = 0; i < n; i++)
		item_failed[i] = true;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	if (!alias)
		goto out;
	for (size_t i = 0; i < n; i++)
		add_bulk_doc(&nd, &id, &docs[i], create_only);
	/* require_alias: never auto-create a concrete index by that name. */
	chat_buf_addf(&path, "/%s/_bulk?require_alias=true", alias);
	if (chat_es_request(es, "POST", path.data, nd.data, nd.len, &status,
			    &resp))
		goto out;
	if (status != 200) {
		fail_answer(es, "search: bulk", status, &resp);
		goto out;
	}
	obj = parse(&resp);
	items = get(obj, "items", NULL);
	if (!items || !json_object_is_type(items, json_type_array) ||
	    json_object_array_length(items) != n) {
		fail(es, "search: bulk: unexpected answer");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *res =
			item_result(json_object_array_get_idx(items, i));
		struct json_object *err = get(res, "error", "type");
		int st = res ? json_object_get_int(get(res, "status", NULL))
			     : 0;

		/* For create, 409 means the document is already there. */
		item_failed[i] = !((st >= 200 && st < 300) ||
				   (create_only && st == 409));
		/* Keep the first item's error for the caller's log. */
		if (item_failed[i] && failed++ == 0)
			fail(es, "search: bulk item %zu: status %d %s", i, st,
			     err ? json_object_get_string(err) : "");
	}
	rc = 0;
out:
	json_object_put(obj);
	chat_buf_release(&nd);
	chat_buf_release(&id);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

int chat_search_delete_message(struct chat_es *es, uint64_t app,
			       uint64_t chat, uint64_t number)
{
	const char *alias = alias_of(es);
	struct chat_buf path, resp;
	long status = 0;
	int rc = -1;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	if (!alias)
		goto out;
	chat_buf_addf(&path, "/%s/_doc/", alias);
	add_doc_id(&path, app, chat, number);
	if (chat_es_request(es, "DELETE", path.data, NULL, 0, &status, &resp))
		goto out;
	/* 404: no such document (or no index at all): deleted either way. */
	if (status == 200 || status == 404)
		rc = 0;
	else
		fail_answer(es, "search: delete", status, &resp);
out:
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

/* {"term": {field: value}} */
static struct json_object *term(const char *field, uint64_t value)
{
	struct json_object *t = json_object_new_object();
	struct json_object *q = json_object_new_object();

	set(t, field, json_object_new_uint64(value));
	set(q, "term", t);
	return q;
}

/* {"bool": {"filter": [app, chat terms]}}; *boolq is its "bool". */
static struct json_object *chat_filter(uint64_t app, uint64_t chat,
				       struct json_object **boolq)
{
	struct json_object *q = json_object_new_object();
	struct json_object *filter = json_object_new_array();

	*boolq = json_object_new_object();
	json_object_array_add(filter, term("app", app));
	json_object_array_add(filter, term("chat", chat));
	set(*boolq, "filter", filter);
	set(q, "bool", *boolq);
	return q;
}

int chat_search_delete_chat(struct chat_es *es, uint64_t app, uint64_t chat)
{
	const char *alias = alias_of(es);
	struct json_object *body = NULL, *obj = NULL, *boolq, *failures;
	struct chat_buf path, resp;
	long status = 0;
	int rc = -1;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	if (!alias)
		goto out;
	/*
	 * _delete_by_query only sees refreshed documents: refresh first, so
	 * that a message indexed a moment ago goes too.
	 */
	chat_buf_addf(&path, "/%s/_refresh", alias);
	if (chat_es_request(es, "POST", path.data, NULL, 0, &status, &resp))
		goto out;
	if (status == 404) {
		rc = 0;		/* no index, nothing to delete */
		goto out;
	}
	if (status != 200) {
		fail_answer(es, "search: refresh", status, &resp);
		goto out;
	}
	body = json_object_new_object();
	set(body, "query", chat_filter(app, chat, &boolq));
	chat_buf_reset(&path);
	chat_buf_addf(&path, "/%s/_delete_by_query?conflicts=proceed"
		      "&refresh=true", alias);
	if (send_json(es, "POST", path.data, body, &status, &resp))
		goto out;
	if (status != 200) {
		fail_answer(es, "search: delete_by_query", status, &resp);
		goto out;
	}
	obj = parse(&resp);
	failures = get(obj, "failures", NULL);
	if (!obj || (failures && json_object_array_length(failures) > 0)) {
		fail(es, "search: delete_by_query: %s",
		     failures ? json_object_to_json_string(failures)
			      : "unexpected answer");
		goto out;
	}
	rc = 0;
out:
	json_object_put(body);
	json_object_put(obj);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

/* {type: {field: {"query": w[0..len), "operator": "and"?}}} */
static struct json_object *word_query(const char *type, const char *field,
				      const char *w, size_t len, bool all)
{
	struct json_object *q = json_object_new_object();
	struct json_object *f = json_object_new_object();
	struct json_object *p = json_object_new_object();

	set(p, "query", json_object_new_string_len(w, (int)len));
	if (all)
		set(p, "operator", json_object_new_string("and"));
	set(f, field, p);
	set(q, type, f);
	return q;
}

/* What every search asks for besides the query and the size. */
static const char search_fixed[] =
	"{\"track_total_hits\": false,"
	" \"_source\": [\"number\", \"body\", \"created_at\", \"updated_at\"],"
	" \"sort\": [{\"_score\": \"desc\"}, {\"number\": \"asc\"}]}";

static struct json_object *search_body(uint64_t app, uint64_t chat,
				       const char *q,
				       const struct chat_search_word *words,
				       size_t n, unsigned limit)
{
	struct json_object *body = json_tokener_parse(search_fixed);
	struct json_object *must = json_object_new_array();
	struct json_object *should = json_object_new_array();
	struct json_object *boolq;

	for (size_t i = 0; i < n; i++) {
		const char *w = q + words[i].off;
		size_t len = words[i].len;

		json_object_array_add(must, words[i].chars >= 3
			? word_query("match_phrase", "body.tri", w, len, false)
			: word_query("match", "body.prefix", w, len, true));
		/* Whole-word hits rank first. */
		json_object_array_add(should, word_query("match", "body", w,
							 len, false));
	}
	set(body, "query", chat_filter(app, chat, &boolq));
	set(boolq, "must", must);
	set(boolq, "should", should);
	set(body, "size", json_object_new_int64(limit));
	return body;
}

static void add_time(struct json_object *msg, const char *key,
		     struct json_object *v)
{
	char ts[CHAT_TIME_LEN + 1];

	chat_time_format((time_t)json_object_get_int64(v), ts);
	set(msg, key, json_object_new_string(ts));
}

/* A Message object from a hit's _source, or NULL when it is malformed. */
static struct json_object *hit_message(struct json_object *hit)
{
	struct json_object *src = get(hit, "_source", NULL);
	struct json_object *number, *body, *msg;

	if (!src)
		return NULL;
	number = get(src, "number", NULL);
	body = get(src, "body", NULL);
	if (!number || !body || !json_object_is_type(body, json_type_string))
		return NULL;
	msg = json_object_new_object();
	set(msg, "number",
	    json_object_new_uint64(json_object_get_uint64(number)));
	/* Share the body string with the parsed answer, no copy. */
	set(msg, "body", json_object_get(body));
	add_time(msg, "created_at", get(src, "created_at", NULL));
	add_time(msg, "updated_at", get(src, "updated_at", NULL));
	return msg;
}

int chat_search_query(struct chat_es *es, uint64_t app, uint64_t chat,
		      const char *q, size_t qlen, unsigned limit,
		      struct json_object **results)
{
	const char *alias = alias_of(es);
	struct chat_search_word words[CHAT_SEARCH_MAX_WORDS];
	struct json_object *body = NULL, *obj = NULL, *hits, *failed;
	struct json_object *arr = json_object_new_array();
	struct chat_buf path, resp;
	long status = 0;
	size_t n;
	int rc = -1;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	*results = NULL;
	if (!alias)
		goto out;
	n = chat_search_words(q, qlen, words, CHAT_SEARCH_MAX_WORDS);
	if (n == 0 || limit == 0) {
		rc = 0;		/* nothing can match: no need to ask */
		goto out;
	}
	body = search_body(app, chat, q, words, n,
			   limit > MAX_RESULTS ? MAX_RESULTS : limit);
	chat_buf_addf(&path, "/%s/_search", alias);
	if (send_json(es, "POST", path.data, body, &status, &resp))
		goto out;
	if (status != 200) {
		fail_answer(es, "search", status, &resp);
		goto out;
	}
	obj = parse(&resp);
	hits = get(obj, "hits", "hits");
	failed = get(obj, "_shards", "failed");
	if (!hits || !json_object_is_type(hits, json_type_array)) {
		fail(es, "search: unexpected answer");
		goto out;
	}
	/* With one shard, a failed shard means no answer at all. */
	if (failed && json_object_get_int(failed) > 0) {
		fail(es, "search: %d shard(s) failed",
		     json_object_get_int(failed));
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(hits); i++) {
		struct json_object *msg =
			hit_message(json_object_array_get_idx(hits, i));

		if (msg)
			json_object_array_add(arr, msg);
	}
	rc = 0;
out:
	if (rc == 0) {
		*results = arr;
		arr = NULL;
	}
	json_object_put(arr);
	json_object_put(body);
	json_object_put(obj);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}
