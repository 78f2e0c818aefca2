/*
 * token.h - application tokens: 192 bits from getrandom(2), base64url.
 */
#ifndef CHAT_TOKEN_H
#define CHAT_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* 24 random bytes encode to exactly 32 base64url characters. */
#define CHAT_TOKEN_LEN 32

/* Write a fresh token and a NUL into out.  Returns 0, or -1 if the
 * kernel's CSPRNG could not be read. */
int chat_token_new(char out[CHAT_TOKEN_LEN + 1]);
/* Lengths a token in a request may have (chat_token_new makes CHAT_TOKEN_LEN). */
#define CHAT_TOKEN_MIN_LEN 22
#define CHAT_TOKEN_MAX_LEN 64
/*
 * True for strings that can be tokens: CHAT_TOKEN_MIN_LEN..MAX_LEN of
 * [A-Za-z0-9_-].
 */
bool chat_token_valid(const char *s, size_t len);

/*
 * Append s to out with every run of CHAT_TOKEN_MIN_LEN or more token
 * characters ([A-Za-z0-9_-]) replaced by one '*': a string fit for a log
 * line whatever shape a client gave the path ("/applications/<t>/chats",
 * "//applications/<t>", "/applications%2F<t>" all lose the token).
 */
struct chat_buf;
void chat_token_mask(const char *s, struct chat_buf *out);

#endif
