/*
 * fuzz_route.c - libFuzzer target for path routing: chat_route_match
 * over the route patterns of the FastCGI programs (the tables of
 * cgi-bin/applications.c, chats.c, messages.c and health.c).
 *
 * The input, up to a NUL (REQUEST_URI is a C string), is the path.
 * Checked: at most one pattern matches a path (the tables never have to
 * choose), and a match captured what its pattern says: a valid token
 * inside the path, numbers from 1 to 2^32 - 1 written exactly as the
 * path has them, literal segments equal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "token.h"


#define MESSAGES "/applications/{token}/chats/{chat}/messages"

/* Every pattern of the routing tables in cgi-bin/. */
static const char *const patterns[] = {
	"/applications",
	"/applications/{token}",
	"/applications/{token}/chats",
	"/applications/{token}/chats/{chat}",
	MESSAGES,
	MESSAGES "/search",
	MESSAGES "/{message}",
	"/health",
};

/* Segment k (0-based, after the leading '/') of s: start and length. */
static bool segment(const char *s, int k, const char **seg, size_t *len)
{
	if (*s != '/')
		return false;
	s++;
	for (int i = 0; i < k; i++) {
		s = strchr(s, '/');
		if (!s)
			return false;
		s++;
	}
	*seg = s;
	*len = strcspn(s, "/");
	return true;
}

static size_t count_slashes(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '/';
	return n;
}

static void check_match(const char *pattern, const char *path,
			const struct chat_req *req)
{
	CHECK(count_slashes(pattern) == count_slashes(path));
	for (int k = 0;; k++) {
		const char *pseg, *sseg;
		size_t plen, slen;
		char num[32];

		if (!segment(pattern, k, &pseg, &plen))
			break;
		CHECK(segment(path, k, &sseg, &slen));
		if (plen == 7 && memcmp(pseg, "{token}", 7) == 0) {
			CHECK(req->token == sseg && req->token_len == slen);
			CHECK(chat_token_valid(sseg, slen));
		} else if ((plen == 6 && memcmp(pseg, "{chat}", 6) == 0) ||
			   (plen == 9 && memcmp(pseg, "{message}", 9) == 0)) {
			uint64_t n = plen == 6 ? req->chat : req->message;

			CHECK(n >= 1 && n <= UINT32_MAX);
			snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
			CHECK(strlen(num) == slen && memcmp(num, sseg, slen) == 0);
		} else {
			CHECK(plen == slen && memcmp(pseg, sseg, slen) == 0);
		}
		if (!strchr(pseg, '/'))
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1);
	int matches = 0;

	memcpy(path, data, size);
	path[size] = '\0';
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		struct chat_req req;

		memset(&req, 0, sizeof(req));
		if (chat_route_match(patterns[i], path, &req)) {
			matches++;
			check_match(patterns[i], path, &req);
		}
	}
	CHECK(matches <= 1);
	free(path);
	return 0;
}
