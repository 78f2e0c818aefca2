/*
 * search.c - the message search index: creation behind an alias, bulk
 * indexing, deletes and the contract's search, over chat_es_request.
 *
 * Why the analyzers of lib/search-index.json look as they do:
 *  - Two char filters say what a word is, the same for every analyzer,
 *    so that all fields agree: chat_word_breaks turns every run of
 *    characters that are not letters, digits, combining marks or
 *    connector punctuation (\p{L}\p{Nd}\p{M}\p{Pc}, Java's classes)
 *    into one space; chat_connectors then drops the connectors (`_` and
 *    its look-alikes) that do not stand between two word characters, so
 *    that, as Unicode's word rules have it, "h_llo" stays one word and
 *    "hello_" is "hello".  Each is a character class or a possessive run
 *    of one: an alternation inside a repeated group makes Java's regex
 *    recurse per character, which overflows its stack on long bodies.
 *  - The word fields (body, body.prefix) need no rewritten text, only its
 *    words: the chat_words tokenizer finds them with one pattern (a word
 *    character, then word characters or connector runs that another word
 *    character follows, possessively), where the char filters and a
 *    whitespace split took two passes over the text per field.  Both give
 *    the same tokens (test_search_lib: word_fields_split_as_the_char_
 *    filters_do); each pass over every body is a large part of the
 *    engine's indexing work (tests/bench/index-ceiling.sh, README
 *    "Indexing, round 4").
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
 *  - Every field lowercases with the Greek rules (chat_lowercase): the
 *    final sigma is then the sigma that a capital one lowercases to, so
 *    that case does not matter in Greek either; other letters lowercase
 *    as Java's Character.toLowerCase has them.
 *  - json_len, doc values only, is the body's length as a page writes
 *    it, so that a search chooses its page without reading bodies.
 *  - The index is sorted by app, chat, number: the messages of a chat lie
 *    together in every segment, so a search of one chat reads the 3-gram
 *    postings and positions of that stretch and skips the rest, instead
 *    of stepping through every chat's documents (tests/bench/
 *    search-alternatives.sh: the same hits in the same order, ~2-3x the
 *    searches per second at 1M messages).  An index made before takes
 *    effect of it after jobs/reindex.
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
#include "json.h"
#include "search_index.h"	/* generated from search-index.json */
#include "search_words.h"
#include "text.h"
#include "xalloc.h"

#define MAX_RESULTS CHAT_SEARCH_WINDOW

/* Fill es->err and es->errstr: an answer of the engine that is not the
 * expected one (chat_es_set_err, es.h). */
__attribute__((format(printf, 2, 3)))
static void set_err(struct chat_es *es, const char *fmt, ...)
{
	char msg[sizeof(es->errstr)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	chat_es_set_err(es, CHAT_ES_ERR_ANSWER, "%s", msg);
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
static void set_err_answer(struct chat_es *es, const char *what,
			   long status, const struct chat_buf *resp)
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
	set_err(es, "%s: HTTP %ld %s: %s", what, status, type ? type : "",
		reason ? reason : "");
	json_object_put(obj);
}

void chat_search_read_error(struct chat_es *es, const char *what,
			    long status, const struct chat_buf *resp)
{
	set_err_answer(es, what, status, resp);
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
 * Index and alias names go into URL paths unescaped, so accept only what
 * is both a valid index name and safe there: [a-z0-9._-], not starting
 * with [._-].
 */
static bool plain_name(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	return len > 0 && len <= 255 && !strchr("._-", s[0]) &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* Whether index name `index` may be touched; if not, says why in es. */
static bool index_name_ok(struct chat_es *es, const char *index)
{
	if (plain_name(index))
		return true;
	set_err(es, "search: index name \"%.100s\" is not plain; not "
		"touching it", index ? index : "");
	return false;
}

static const char *alias_of(struct chat_es *es)
{
	const char *a = es->cfg->es_index;

	/* Room for the "-v1-<ms>" of concrete index names. */
	if (plain_name(a) && strlen(a) <= 200)
		return a;
	set_err(es, "search: index alias \"%.60s\" is not a lowercase index "
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
	set_err_answer(es, "search: alias lookup", status, resp);
	return -1;
}

int chat_search_alias_index(struct chat_es *es, const char *alias,
			    char **index)
{
	struct chat_buf path, resp;
	int rc = -1, found;

	*index = NULL;
	chat_buf_init(&path);
	chat_buf_init(&resp);
	if (!plain_name(alias)) {
		set_err(es, "search: alias \"%.60s\" is not a plain index name",
			alias ? alias : "");
		goto out;
	}
	found = alias_exists(es, alias, &path, &resp);
	if (found <= 0) {
		rc = found;
		goto out;
	}
	rc = chat_search_read_alias(es, alias, &resp, index);
out:
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

int chat_search_read_alias(struct chat_es *es, const char *alias,
			   const struct chat_buf *resp, char **index)
{
	struct json_object *obj = parse(resp);
	int rc = -1;

	*index = NULL;
	if (!json_object_is_type(obj, json_type_object) ||
	    json_object_object_length(obj) != 1) {
		set_err(es, "search: alias %s is held by %d indices (%.300s); "
			"fix that by hand first", alias,
			json_object_is_type(obj, json_type_object)
				? json_object_object_length(obj) : 0,
			resp->data);
		goto out;
	}
	json_object_object_foreach(obj, key, val) {
		(void)val;
		*index = xstrdup(key);
	}
	rc = 0;
out:
	json_object_put(obj);
	return rc;
}

int chat_search_index_call(struct chat_es *es, const char *method,
			   const char *index, const char *suffix, bool gone_ok)
{
	struct chat_buf path, resp;
	long status = 0;
	int rc = -1;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	if (!index_name_ok(es, index))
		goto out;
	chat_buf_addf(&path, "/%s%s", index, suffix);
	if (chat_es_request(es, method, path.data, NULL, 0, &status, &resp))
		goto out;
	if (status == 200 || (gone_ok && status == 404))
		rc = 0;
	else
		set_err_answer(es, path.data, status, &resp);
out:
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

int chat_search_create_index(struct chat_es *es, const char *alias,
			     unsigned replicas, char **name)
{
	const char *base = alias_of(es);
	struct json_object *def = json_tokener_parse(chat_search_index_json);
	struct json_object *aliases, *a, *settings;
	struct chat_buf path, resp;
	struct timespec now;
	long status = 0;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	*name = NULL;
	if (!def || !json_object_is_type(def, json_type_object)) {
		set_err(es, "search: lib/search-index.json does not parse");
		goto out;
	}
	if (!base)
		goto out;
	/* CHAT_ES_SHARDS and CHAT_ES_REPLICAS instead of the file's. */
	settings = get(def, "settings", "index");
	if (!settings) {
		set_err(es, "search: lib/search-index.json has no settings.index");
		goto out;
	}
	set(settings, "number_of_shards",
	    json_object_new_int((int)es->cfg->es_shards));
	set(settings, "number_of_replicas", json_object_new_int((int)replicas));
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
	/*
	 * Sent again to another node after the first reset or timed out: the
	 * first may have created it (our name is new to the millisecond).
	 */
	if (status == 200 || (status == 400 && es->resent &&
			      strstr(resp.data, "resource_already_exists")))
		*name = xstrdup(path.data + 1);
	else
		set_err_answer(es, "search: index creation", status, &resp);
out:
	json_object_put(def);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return *name ? 0 : -1;
}

/*
 * Fields that lib/search-index.json gained after its first release, and
 * that documents now carry: an index made before (its mapping is strict)
 * would refuse every document until jobs/reindex replaced it, so they
 * are added to its mapping.  Adding a field changes no existing one; its
 * documents get it as they are indexed again.
 */
static const char *const added_fields[] = { "json_len" };

/* Add added_fields, as lib/search-index.json maps them, to `alias`'s
 * index (a no-op when it has them). */
static int add_fields(struct chat_es *es, const char *alias,
		      struct chat_buf *path, struct chat_buf *resp)
{
	struct json_object *def = json_tokener_parse(chat_search_index_json);
	struct json_object *props = get(get(def, "mappings", NULL),
					"properties", NULL);
	struct json_object *body = json_object_new_object();
	struct json_object *add = json_object_new_object();
	long status = 0;
	int rc = -1;

	set(body, "properties", add);
	for (size_t i = 0;
	     i < sizeof(added_fields) / sizeof(added_fields[0]); i++) {
		struct json_object *f = get(props, added_fields[i], NULL);

		if (!f) {
			set_err(es, "search: lib/search-index.json does not "
				"map %s", added_fields[i]);
			goto out;
		}
		set(add, added_fields[i], json_object_get(f));
	}
	chat_buf_reset(path);
	chat_buf_addf(path, "/%s/_mapping", alias);
	if (send_json(es, "PUT", path->data, body, &status, resp))
		goto out;
	if (status != 200) {
		set_err_answer(es, "search: mapping update", status, resp);
		goto out;
	}
	rc = 0;
out:
	json_object_put(body);
	json_object_put(def);
	return rc;
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
		rc = found == 1 ? add_fields(es, alias, &path, &resp) : -1;
		goto out;
	}
	/*
	 * Another process may have won the race: its index holds the alias
	 * as write index already, so ours is refused.  Either way the alias
	 * is there now, which is all we want; if not, errstr still says why
	 * the creation failed.
	 */
	if (chat_search_create_index(es, alias, es->cfg->es_replicas,
				     &name) == 0 ||
	    alias_exists(es, alias, &path, &resp) == 1)
		rc = 0;
out:
	free(name);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

int chat_search_set_replicas(struct chat_es *es, const char *index,
			     unsigned replicas, unsigned wait_s)
{
	struct json_object *body = json_object_new_object();
	struct json_object *ix = json_object_new_object();
	struct json_object *obj = NULL;
	struct chat_buf path, resp;
	long status = 0;
	int rc = -1;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	if (!index_name_ok(es, index))
		goto out;
	set(ix, "number_of_replicas", json_object_new_int((int)replicas));
	set(body, "index", ix);
	chat_buf_addf(&path, "/%s/_settings", index);
	if (send_json(es, "PUT", path.data, body, &status, &resp))
		goto out;
	if (status != 200) {
		set_err_answer(es, "search: replicas", status, &resp);
		goto out;
	}
	chat_buf_reset(&path);
	chat_buf_addf(&path, "/_cluster/health/%s?wait_for_status=green"
		      "&timeout=%us", index, wait_s);
	if (chat_es_request(es, "GET", path.data, NULL, 0, &status, &resp))
		goto out;
	obj = parse(&resp);
	/* 408: the wait timed out; the body says how far it got. */
	if (status != 200 && status != 408) {
		set_err_answer(es, "search: index health", status, &resp);
		goto out;
	}
	rc = json_object_get_boolean(get(obj, "timed_out", NULL)) ? 1 : 0;
out:
	json_object_put(body);
	json_object_put(obj);
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
		set_err_answer(es, "search: alias change", status, &resp);
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
	struct json_object *doc;

	chat_buf_reset(id);
	add_doc_id(id, d->app, d->chat, d->number);
	set(meta, "_id", json_object_new_string_len(id->data, (int)id->len));
	set(action, !d->body ? "delete" : create_only ? "create" : "index",
	    meta);
	add_line(nd, action);
	json_object_put(action);
	if (!d->body)
		return;
	doc = json_object_new_object();
	set(doc, "app", json_object_new_uint64(d->app));
	set(doc, "chat", json_object_new_uint64(d->chat));
	set(doc, "number", json_object_new_uint64(d->number));
	set(doc, "body", json_object_new_string_len(d->body, (int)d->body_len));
	set(doc, "created_at", json_object_new_int64(d->created_at));
	set(doc, "updated_at", json_object_new_int64(d->updated_at));
	/* What a search page counts for it (search_fixed). */
	set(doc, "json_len", json_object_new_uint64(
		chat_json_string_len(d->body, d->body_len)));
	add_line(nd, doc);
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
	struct chat_buf nd, id, path, resp;
	long status = 0;
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
	/*
	 * require_alias: never auto-create a concrete index by that name.
	 * filter_path: of each item only what chat_search_read_bulk reads
	 * (a fifth of the answer to receive and parse); a refusal of the
	 * whole request keeps its error for the log.
	 */
	chat_buf_addf(&path, "/%s/_bulk?require_alias=true&filter_path="
		      "items.*.status,items.*.error.type,error", alias);
	if (chat_es_request(es, "POST", path.data, nd.data, nd.len, &status,
			    &resp))
		goto out;
	if (status != 200) {
		set_err_answer(es, "search: bulk", status, &resp);
		goto out;
	}
	rc = chat_search_read_bulk(es, &resp, docs, n, create_only,
				   item_failed);
out:
	chat_buf_release(&nd);
	chat_buf_release(&id);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

int chat_search_read_bulk(struct chat_es *es, const struct chat_buf *resp,
			  const struct chat_search_doc *docs, size_t n,
			  bool create_only, bool *item_failed)
{
	struct json_object *obj = parse(resp), *items;
	size_t failed = 0;
	bool busy = false;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		item_failed[i] = true;
	items = get(obj, "items", NULL);
	if (!items || !json_object_is_type(items, json_type_array) ||
	    json_object_array_length(items) != n) {
		set_err(es, "search: bulk: unexpected answer");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *res =
			item_result(json_object_array_get_idx(items, i));
		struct json_object *err = get(res, "error", "type");
		int st = res ? json_object_get_int(get(res, "status", NULL))
			     : 0;

		/*
		 * For create, 409 means the document is already there; for
		 * delete, 404 that it is gone already.
		 */
		item_failed[i] = !((st >= 200 && st < 300) ||
				   (create_only && docs[i].body && st == 409) ||
				   (!docs[i].body && st == 404));
		/* Keep the first item's error for the caller's log. */
		if (item_failed[i] && failed++ == 0)
			set_err(es, "search: bulk item %zu: status %d %s", i,
				st, err ? json_object_get_string(err) : "");
		/*
		 * Too many requests, a write block (disk full, read-only
		 * index) or a server error: the engine cannot take writes
		 * now, which is no fault of the document.
		 */
		if (st == 429 || st == 403 || st >= 500)
			busy = true;
	}
	rc = busy ? -1 : 0;
out:
	json_object_put(obj);
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
		set_err_answer(es, "search: delete", status, &resp);
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
		set_err_answer(es, "search: refresh", status, &resp);
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
		set_err_answer(es, "search: delete_by_query", status, &resp);
		goto out;
	}
	obj = parse(&resp);
	failures = get(obj, "failures", NULL);
	if (!obj || (failures && json_object_array_length(failures) > 0)) {
		set_err(es, "search: delete_by_query: %s",
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

/*
 * A search asks in one request for the page's hits with their documents
 * (search_docs_fixed): the query, the hits and their bodies from one
 * searcher, in one round trip.  Its reply is read only up to about a
 * page (page_reply_max); a longer one means the bodies of these hits
 * are large, and the page is then chosen before any body is read, in two
 * requests (search_ids_fixed, then _mget): the ids of the hits with the
 * length of each body as the contract's JSON writes it (json-c with
 * CHAT_JSON_TO_STRING: \uXXXX for a control character, two bytes for
 * \" \\ \b \t \n \f \r, UTF-8 for the rest), then the documents of those
 * that fit.  The length is stored with each document (json_len, doc
 * values only, written by add_bulk_doc with chat_json_string_len); a
 * document indexed before the field existed (by an earlier version,
 * until jobs/reindex rebuilt the index) has it computed from its _source
 * as it always was: Java strings are UTF-16, so a surrogate half counts
 * two of a pair's four bytes.  Reading _source for every hit was the
 * dearer part of the script.
 */
#define SEARCH_SORT \
	" \"sort\": [{\"_score\": \"desc\"}, {\"number\": \"asc\"}]}"

static const char search_docs_fixed[] =
	"{\"track_total_hits\": false, \"_source\": [\"number\", \"body\","
	" \"created_at\", \"updated_at\"]," SEARCH_SORT;

static const char search_ids_fixed[] =
	"{\"track_total_hits\": false, \"_source\": false,"
	" \"script_fields\": {\"json_len\": {\"script\": {\"lang\": \"painless\","
	" \"source\": \"if (doc.containsKey('json_len') &&"
	" !doc['json_len'].empty) { return doc['json_len'].value; }"
	" String b = params['_source']['body']; long n = 0;"
	" for (int i = 0; i < b.length(); ++i) { char c = b.charAt(i);"
	" if (c == 34 || c == 92 || c == 8 || c == 9 || c == 10 || c == 12 ||"
	" c == 13) { n += 2; } else if (c < 32) { n += 6; }"
	" else if (c < 128) { n += 1; }"
	" else if (c < 2048 || Character.isSurrogate(c)) { n += 2; }"
	" else { n += 3; } } return n;\"}}}," SEARCH_SORT;

/* A Message object's bytes besides its body, with the comma before it. */
#define MESSAGE_OVERHEAD 128

/*
 * What the engine writes around a hit's document in a one-step reply
 * (index, id, score, sort values), at most, in bytes.
 */
#define HIT_OVERHEAD 512

/*
 * The longest one-step reply read for `size` hits: a page of bodies and
 * the frame of every hit.  A longer one holds more than a page.
 */
static size_t page_reply_max(unsigned size)
{
	return CHAT_PAGE_BYTES_MAX + (size_t)size * HIT_OVERHEAD + 4096;
}

/*
 * Whether a message whose body is `size` bytes written joins a page of
 * `take` messages and *bytes bytes so far: while the page stays within
 * CHAT_PAGE_BYTES_MAX, and the first always.  If so, *bytes counts it.
 */
static bool page_takes(uint64_t *bytes, size_t take, uint64_t size)
{
	if (take > 0 && *bytes + size + MESSAGE_OVERHEAD > CHAT_PAGE_BYTES_MAX)
		return false;
	*bytes += size + MESSAGE_OVERHEAD;
	return true;
}

static struct json_object *search_body(const char *fixed, uint64_t app,
				       uint64_t chat, const char *q,
				       const struct chat_search_word *words,
				       size_t n, unsigned from, unsigned size)
{
	struct json_object *body = json_tokener_parse(fixed);
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
	set(body, "from", json_object_new_int64(from));
	set(body, "size", json_object_new_int64(size));
	return body;
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
	chat_json_add_time(msg, "created_at",
			   json_object_get_int64(get(src, "created_at", NULL)));
	chat_json_add_time(msg, "updated_at",
			   json_object_get_int64(get(src, "updated_at", NULL)));
	return msg;
}

/* The hits array of a search's 200 answer `obj`, or NULL (es says why). */
static struct json_object *answer_hits(struct chat_es *es,
				       struct json_object *obj)
{
	struct json_object *arr = get(obj, "hits", "hits");
	struct json_object *failed = get(obj, "_shards", "failed");

	if (!arr || !json_object_is_type(arr, json_type_array)) {
		set_err(es, "search: unexpected answer");
		return NULL;
	}
	/* With one shard, a failed shard means no answer at all. */
	if (failed && json_object_get_int(failed) > 0) {
		set_err(es, "search: %d shard(s) failed",
			json_object_get_int(failed));
		return NULL;
	}
	return arr;
}

/* POST a search `body`: 0 when the engine answered 200, into *resp. */
static int post_search(struct chat_es *es, const char *alias,
		       const char *pref, struct json_object *body,
		       struct chat_buf *resp)
{
	struct chat_buf path;
	long status = 0;
	int rc = -1;

	chat_buf_init(&path);
	chat_buf_addf(&path, "/%s/_search?preference=%s", alias, pref);
	if (send_json(es, "POST", path.data, body, &status, resp) == 0) {
		if (status == 200)
			rc = 0;
		else
			set_err_answer(es, "search", status, resp);
	}
	chat_buf_release(&path);
	return rc;
}

int chat_search_read_page(struct chat_es *es, const struct chat_buf *resp,
			  unsigned limit, struct json_object *arr,
			  size_t *nhits)
{
	struct json_object *obj = parse(resp);
	struct json_object *hits = answer_hits(es, obj);
	uint64_t bytes = 2;	/* the brackets */
	size_t len, take = 0;
	int rc = -1;

	*nhits = 0;
	if (!hits)
		goto out;
	len = json_object_array_length(hits);
	for (size_t i = 0; i < len && take < limit; i++) {
		struct json_object *h = json_object_array_get_idx(hits, i);
		struct json_object *body = get(h, "_source", "body");
		struct json_object *msg = hit_message(h);

		if (!msg) {
			set_err(es, "search: a hit without its document");
			goto out;
		}
		if (!page_takes(&bytes, take, chat_json_string_len(
				json_object_get_string(body),
				(size_t)json_object_get_string_len(body)))) {
			json_object_put(msg);
			break;
		}
		json_object_array_add(arr, msg);
		take++;
	}
	*nhits = len;
	rc = 0;
out:
	json_object_put(obj);
	return rc;
}

/*
 * The page in one request: its messages appended to `arr`, *take of
 * them, of *nhits hits.  Returns 1, with nothing appended, when the
 * reply was longer than page_reply_max: ask in two steps.
 */
static int page_one_step(struct chat_es *es, const char *alias,
			 const char *pref, struct json_object *body,
			 unsigned size, unsigned limit,
			 struct json_object *arr, size_t *take, size_t *nhits)
{
	struct chat_buf resp;
	size_t reply_max = es->reply_max, page_max = page_reply_max(size);
	int rc;

	chat_buf_init(&resp);
	if (page_max < reply_max)
		es->reply_max = page_max;
	rc = post_search(es, alias, pref, body, &resp);
	es->reply_max = reply_max;
	if (rc)
		rc = es->err == CHAT_ES_ERR_LONG ? 1 : -1;
	else if (chat_search_read_page(es, &resp, limit, arr, nhits))
		rc = -1;
	else
		*take = json_object_array_length(arr);
	chat_buf_release(&resp);
	return rc;
}

/*
 * Step one of two: the ids and body sizes of hits [from, from + size).
 * *hits (caller frees) point into *answer (caller puts).
 */
static int search_ids(struct chat_es *es, const char *alias,
		      const char *pref, struct json_object *body,
		      struct json_object **answer,
		      struct chat_search_hit **hits, size_t *nhits)
{
	struct chat_buf resp;
	int rc = -1;

	*answer = NULL;
	*hits = NULL;
	*nhits = 0;
	chat_buf_init(&resp);
	if (post_search(es, alias, pref, body, &resp) == 0)
		rc = chat_search_read_ids(es, &resp, answer, hits, nhits);
	chat_buf_release(&resp);
	return rc;
}

int chat_search_read_ids(struct chat_es *es, const struct chat_buf *resp,
			 struct json_object **answer,
			 struct chat_search_hit **hits, size_t *nhits)
{
	struct json_object *arr;
	size_t len;

	*hits = NULL;
	*nhits = 0;
	*answer = parse(resp);
	arr = answer_hits(es, *answer);
	if (!arr)
		goto fail;
	len = json_object_array_length(arr);
	*hits = xcalloc(len + 1, sizeof(**hits));
	for (size_t i = 0; i < len; i++) {
		struct json_object *h = json_object_array_get_idx(arr, i);
		struct json_object *id = get(h, "_id", NULL);
		struct json_object *size = get(h, "fields", "json_len");

		if (!id || !json_object_is_type(id, json_type_string) ||
		    !size || !json_object_is_type(size, json_type_array)) {
			set_err(es, "search: a hit without its id or size");
			goto fail;
		}
		(*hits)[*nhits].id = json_object_get_string(id);
		(*hits)[*nhits].size = json_object_get_uint64(
			json_object_array_get_idx(size, 0));
		(*nhits)++;
	}
	return 0;
fail:
	free(*hits);
	*hits = NULL;
	*nhits = 0;
	json_object_put(*answer);
	*answer = NULL;
	return -1;
}

/* Step two of two: the documents of hits[0..n), in that order, into `arr`. */
static int fetch_docs(struct chat_es *es, const char *alias,
		      const char *pref, const struct chat_search_hit *hits,
		      size_t n, struct json_object *arr)
{
	struct json_object *body = json_object_new_object();
	struct json_object *ids = json_object_new_array();
	struct chat_buf path, resp;
	long status = 0;
	int rc = -1;

	chat_buf_init(&path);
	chat_buf_init(&resp);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(ids, json_object_new_string(hits[i].id));
	set(body, "ids", ids);
	/*
	 * realtime=false: from the searcher the first step used.  A realtime
	 * get of a document changed since the last refresh makes the engine
	 * refresh the shard first, on every search while messages come in.
	 */
	chat_buf_addf(&path, "/%s/_mget?realtime=false&preference=%s"
		      "&_source_includes=number,body,created_at,updated_at",
		      alias, pref);
	if (send_json(es, "POST", path.data, body, &status, &resp))
		goto out;
	if (status != 200) {
		set_err_answer(es, "search: mget", status, &resp);
		goto out;
	}
	rc = chat_search_read_docs(es, &resp, arr);
out:
	json_object_put(body);
	chat_buf_release(&path);
	chat_buf_release(&resp);
	return rc;
}

int chat_search_read_docs(struct chat_es *es, const struct chat_buf *resp,
			  struct json_object *arr)
{
	struct json_object *obj = parse(resp);
	struct json_object *docs = get(obj, "docs", NULL);
	int rc = -1;

	if (!docs || !json_object_is_type(docs, json_type_array)) {
		set_err(es, "search: mget: unexpected answer");
		goto out;
	}
	/* A document deleted since step one is left out (found: false). */
	for (size_t i = 0; i < json_object_array_length(docs); i++) {
		struct json_object *msg =
			hit_message(json_object_array_get_idx(docs, i));

		if (msg)
			json_object_array_add(arr, msg);
	}
	rc = 0;
out:
	json_object_put(obj);
	return rc;
}

/*
 * The page in two requests, as page_one_step: the sizes of the hits,
 * then the documents of those that fit (one deleted in between is left
 * out, but still counted in *take).
 */
static int page_two_steps(struct chat_es *es, const char *alias,
			  const char *pref, struct json_object *body,
			  unsigned limit, struct json_object *arr,
			  size_t *take, size_t *nhits)
{
	struct json_object *answer = NULL;
	struct chat_search_hit *hits = NULL;
	uint64_t bytes = 2;	/* the brackets */
	int rc = -1;

	*take = 0;
	if (search_ids(es, alias, pref, body, &answer, &hits, nhits))
		goto out;
	while (*take < *nhits && *take < limit &&
	       page_takes(&bytes, *take, hits[*take].size))
		(*take)++;
	if (*take && fetch_docs(es, alias, pref, hits, *take, arr))
		goto out;
	rc = 0;
out:
	json_object_put(answer);
	free(hits);
	return rc;
}

int chat_search_page(struct chat_es *es, uint64_t app, uint64_t chat,
		     const char *q, size_t qlen, unsigned offset,
		     unsigned limit, struct json_object **results,
		     unsigned *next)
{
	const char *alias = alias_of(es);
	struct chat_search_word words[CHAT_SEARCH_MAX_WORDS];
	struct json_object *body = NULL;
	struct json_object *arr = json_object_new_array();
	struct chat_buf pref;
	size_t n, nhits = 0, take = 0;
	unsigned size;
	int rc = -1;

	chat_buf_init(&pref);
	*results = NULL;
	*next = 0;
	if (!alias)
		goto out;
	n = chat_search_words(q, qlen, words, CHAT_SEARCH_MAX_WORDS);
	if (n == 0 || limit == 0 || offset >= MAX_RESULTS) {
		rc = 0;		/* nothing can match: no need to ask */
		goto out;
	}
	/* One hit more than the page tells whether another page follows. */
	size = limit + 1 < MAX_RESULTS - offset ? limit + 1
						: MAX_RESULTS - offset;
	/*
	 * With replicas, each copy of a shard refreshes on its own: the
	 * searches of one chat, and both steps of one asked in two, go to the
	 * same copy (while it is there), so that a message once found stays
	 * found and step two reads the searcher of step one.
	 */
	chat_buf_addf(&pref, "chat-%" PRIu64 "-%" PRIu64, app, chat);
	body = search_body(search_docs_fixed, app, chat, q, words, n, offset,
			   size);
	rc = page_one_step(es, alias, pref.data, body, size, limit, arr,
			   &take, &nhits);
	if (rc == 1) {
		json_object_put(body);
		body = search_body(search_ids_fixed, app, chat, q, words, n,
				   offset, size);
		rc = page_two_steps(es, alias, pref.data, body, limit, arr,
				    &take, &nhits);
	}
	if (rc)
		goto out;
	if (take < nhits && offset + take < MAX_RESULTS)
		*next = offset + (unsigned)take;
out:
	if (rc == 0) {
		*results = arr;
		arr = NULL;
	}
	json_object_put(arr);
	json_object_put(body);
	chat_buf_release(&pref);
	return rc;
}

int chat_search_query(struct chat_es *es, uint64_t app, uint64_t chat,
		      const char *q, size_t qlen, unsigned limit,
		      struct json_object **results)
{
	unsigned next;

	return chat_search_page(es, app, chat, q, qlen, 0, limit, results,
				&next);
}
