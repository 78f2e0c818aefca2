/*
 * fuzz_query.c - libFuzzer target for query strings: chat_query_get
 * (find a parameter, percent-decode it) and the page parameters as
 * chat_req_page reads them (chat_parse_u64 of limit and after).
 *
 * The first byte picks the parameter name; the rest, up to a NUL (the
 * FastCGI QUERY_STRING is a C string), is the query.  chat_query_get is
 * compared with a plain reference implementation of the same rules: the
 * first parameter with exactly that name, '+' is a space, %XX needs two
 * hex digits, and a decoded NUL is an error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "text.h"


static const char *const names[] = { "q", "limit", "after", "", "a=b",
				     "%71", "q q", "limit&" };

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The reference: 1 and the decoded value in out[], 0 absent, -1 bad. */
static int reference(const char *qs, const char *name, char *out)
{
	size_t nlen = strlen(name);
	const char *p = qs;

	for (;;) {
		const char *amp = strchr(p, '&');
		const char *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *kend = eq ? eq : end;

		if (*p && (size_t)(kend - p) == nlen &&
		    memcmp(p, name, nlen) == 0) {
			size_t o = 0;

			for (const char *v = eq ? eq + 1 : end; v < end; v++) {
				char c = *v;

				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					if (end - v < 3 || hex(v[1]) < 0 ||
					    hex(v[2]) < 0)
						return -1;
					c = (char)(hex(v[1]) * 16 + hex(v[2]));
					v += 2;
				}
				if (c == '\0')
					return -1;
				out[o++] = c;
			}
			out[o] = '\0';
			return 1;
		}
		if (!amp)
			return 0;
		p = amp + 1;
	}
}

/* What chat_req_page does with one value: a canonical decimal or not. */
static void check_number(const char *v, uint64_t min, uint64_t max)
{
	uint64_t n = 0;
	char back[32];

	if (chat_parse_u64(v, strlen(v), min, max, &n) != 0)
		return;
	CHECK(n >= min && n <= max);
	snprintf(back, sizeof(back), "%llu", (unsigned long long)n);
	CHECK(strcmp(back, v) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name;
	char *qs, *got = (char *)1, *want;
	int rc, ref;

	if (size == 0)
		return 0;
	name = names[data[0] % (sizeof(names) / sizeof(names[0]))];
	qs = malloc(size);
	memcpy(qs, data + 1, size - 1);
	qs[size - 1] = '\0';
	want = malloc(size);

	rc = chat_query_get(qs, name, &got);
	ref = reference(qs, name, want);
	CHECK(rc == ref);
	if (rc == 1) {
		CHECK(got != NULL);
		CHECK(strcmp(got, want) == 0);
		CHECK(strlen(got) <= strlen(qs));
		if (strcmp(name, "limit") == 0)
			check_number(got, 1, 1000);
		else if (strcmp(name, "after") == 0)
			check_number(got, 0, UINT32_MAX);
	} else {
		CHECK(got == NULL);
	}
	free(got);
	free(want);
	free(qs);
	return 0;
}
