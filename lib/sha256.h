/*
 * sha256.h - SHA-256 (FIPS 180-4), for storing application tokens as
 * their digest: MariaDB and Redis hold SHA-256(token), never the token.
 *
 * Small and dependency-free on purpose: the programs hash one 32-byte
 * token per request, which costs well under a microsecond.
 */
#ifndef CHAT_SHA256_H
#define CHAT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define CHAT_SHA256_LEN 32		/* bytes of a digest */
#define CHAT_SHA256_HEX_LEN 64		/* its lowercase hex form */

/* A digest in progress; caller storage, nothing to release. */
struct chat_sha256 {
	uint32_t h[8];
	uint64_t len;			/* bytes hashed so far */
	unsigned char block[64];
	size_t used;			/* bytes waiting in block */
};

void chat_sha256_init(struct chat_sha256 *s);
/* Hash data[0..len) after what came before. */
void chat_sha256_update(struct chat_sha256 *s, const void *data, size_t len);
/* Pad, write the digest into out; `s` must be initialised again to reuse. */
void chat_sha256_final(struct chat_sha256 *s,
		       unsigned char out[CHAT_SHA256_LEN]);

/* One-shot: the digest of data[0..len). */
void chat_sha256(const void *data, size_t len,
		 unsigned char out[CHAT_SHA256_LEN]);
/* A digest as 64 lowercase hex digits and a NUL. */
void chat_sha256_hex(const unsigned char digest[CHAT_SHA256_LEN],
		     char out[CHAT_SHA256_HEX_LEN + 1]);

#endif
