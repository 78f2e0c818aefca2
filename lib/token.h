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
/* True for strings that can be tokens: 22..64 of [A-Za-z0-9_-]. */
bool chat_token_valid(const char *s, size_t len);

#endif
