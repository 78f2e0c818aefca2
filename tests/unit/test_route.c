/*
 * test_route.c - unit tests of chat_route_match (lib/http.c): literal
 * segments and the {token}, {chat} and {message} captures.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "http.h"

#define TOKEN "AbCdEfGhIjKlMnOpQrStUv_-0123456789"

static const char *const msg_pattern =
	"/applications/{token}/chats/{chat}/messages/{message}";

static bool match(const char *pattern, const char *path, struct chat_req *req)
{
	memset(req, 0, sizeof(*req));
	return chat_route_match(pattern, path, req);
}

Test(route, literal_paths)
{
	struct chat_req req;

	cr_assert(match("/applications", "/applications", &req));
	cr_assert(match("/health", "/health", &req));
	cr_assert(!match("/applications", "/application", &req));
	cr_assert(!match("/applications", "/applicationsx", &req));
	cr_assert(!match("/applications", "/Applications", &req));
	cr_assert(!match("/applications", "/applications/", &req));
	cr_assert(!match("/applications", "//applications", &req));
	cr_assert(!match("/applications", "", &req));
	cr_assert(!match("/applications", "/", &req));
	cr_assert(!match("/health", "/health/x", &req));
}

Test(route, captures_token)
{
	struct chat_req req;

	cr_assert(match("/applications/{token}", "/applications/" TOKEN, &req));
	cr_assert_eq(req.token_len, strlen(TOKEN));
	cr_assert(strncmp(req.token, TOKEN, req.token_len) == 0);
}

Test(route, captures_all_three)
{
	struct chat_req req;

	cr_assert(match(msg_pattern,
			"/applications/" TOKEN "/chats/12/messages/4294967295",
			&req));
	cr_assert_eq(req.token_len, strlen(TOKEN));
	cr_assert(strncmp(req.token, TOKEN, req.token_len) == 0);
	cr_assert_eq(req.chat, 12);
	cr_assert_eq(req.message, 4294967295ULL);
	cr_assert(match("/applications/{token}/chats/{chat}",
			"/applications/" TOKEN "/chats/1", &req));
	cr_assert_eq(req.chat, 1);
	cr_assert_eq(req.message, 0);
}

Test(route, token_lengths_and_alphabet)
{
	static const char *const ok[] = {
		"/applications/abcdefghijklmnopqrstuv",	/* 22 */
		"/applications/"
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_",
	};
	static const char *const bad[] = {
		"/applications/abcdefghijklmnopqrstu",	/* 21 */
		"/applications/"
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_a",
		"/applications/",
		"/applications/abcdefghijklmnopqrstuv%20",
		"/applications/abcdefghijklmnopqrstuv ",
		"/applications/abcdefghijklmnopqrst.v",
		"/applications/abcdefghijklmnopqrstu+v",
		"/applications/abcdefghijklmnopqrstu=v",
		"/applications/abcdefghijklmnopqrstu~v",
		"/applications/abcdefghijklmnopqrst\xc3\xa9v",
		"/applications/abcdefghijklmnopqrstuv?",
	};
	struct chat_req req;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert(match("/applications/{token}", ok[i], &req), "%s",
			  ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(!match("/applications/{token}", bad[i], &req), "%s",
			  bad[i]);
}

Test(route, numbers_must_be_plain_positive_decimals)
{
	static const char *const bad[] = {
		"0", "-1", "+1", "1.5", "1.0", "0x1", "1e3", "01", "00",
		"abc", "1a", " 1", "1 ", "%31", "", "4294967296",
		"18446744073709551615", "18446744073709551616",
		"1234567890123456789012345",
	};
	static const char *const ok[] = { "1", "9", "10", "4294967295" };
	char path[256];
	struct chat_req req;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/applications/%s/chats/%s",
			 TOKEN, bad[i]);
		cr_assert(!match("/applications/{token}/chats/{chat}", path,
				 &req), "chat '%s'", bad[i]);
		snprintf(path, sizeof(path),
			 "/applications/%s/chats/1/messages/%s", TOKEN, bad[i]);
		cr_assert(!match(msg_pattern, path, &req), "message '%s'",
			  bad[i]);
	}
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(path, sizeof(path), "/applications/%s/chats/%s",
			 TOKEN, ok[i]);
		cr_assert(match("/applications/{token}/chats/{chat}", path,
				&req), "chat '%s'", ok[i]);
	}
}

Test(route, segment_counts)
{
	struct chat_req req;

	cr_assert(!match("/applications/{token}", "/applications", &req));
	cr_assert(!match("/applications/{token}",
			 "/applications/" TOKEN "/chats", &req));
	cr_assert(!match("/applications/{token}/chats",
			 "/applications/" TOKEN, &req));
	cr_assert(!match("/applications/{token}/chats/{chat}",
			 "/applications/" TOKEN "/chats/1/messages", &req));
	cr_assert(!match(msg_pattern,
			 "/applications/" TOKEN "/chats/1/messages", &req));
	cr_assert(!match(msg_pattern,
			 "/applications/" TOKEN "/chats/1/messages/1/x", &req));
	cr_assert(!match("/applications/{token}/chats",
			 "/applications/" TOKEN "/chat", &req));
	cr_assert(!match("/applications/{token}/chats",
			 "/applications/" TOKEN "//chats", &req));
	cr_assert(!match("/applications/{token}/chats",
			 "/applications//" TOKEN "/chats", &req));
}

Test(route, trailing_slash)
{
	struct chat_req req;

	cr_assert(!match("/applications/{token}", "/applications/" TOKEN "/",
			 &req));
	cr_assert(!match("/applications/{token}/chats",
			 "/applications/" TOKEN "/chats/", &req));
	cr_assert(!match("/applications/{token}/chats/{chat}",
			 "/applications/" TOKEN "/chats/1/", &req));
	cr_assert(!match(msg_pattern,
			 "/applications/" TOKEN "/chats/1/messages/2/", &req));
}

Test(route, literal_beats_capture_shape)
{
	struct chat_req req;

	/* "search" is not a number, so it cannot be a {message}. */
	cr_assert(!match(msg_pattern,
			 "/applications/" TOKEN "/chats/1/messages/search",
			 &req));
	cr_assert(match("/applications/{token}/chats/{chat}/messages/search",
			"/applications/" TOKEN "/chats/7/messages/search",
			&req));
	cr_assert_eq(req.chat, 7);
}
