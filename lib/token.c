/*
 * token.c - application tokens from the kernel's CSPRNG.
 */
#include "token.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "buf.h"

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int chat_token_new(char out[CHAT_TOKEN_LEN + 1])
{
	unsigned char raw[24];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	for (size_t i = 0, o = 0; i < sizeof(raw); i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 |
			     raw[i + 2];

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	out[CHAT_TOKEN_LEN] = '\0';
	return 0;
}

bool chat_token_valid(const char *s, size_t len)
{
	if (len < CHAT_TOKEN_MIN_LEN || len > CHAT_TOKEN_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!memchr(alphabet, s[i], sizeof(alphabet) - 1))
			return false;
	return true;
}

void chat_token_mask(const char *s, struct chat_buf *out)
{
	while (*s) {
		size_t run = strspn(s, alphabet);

		if (run >= CHAT_TOKEN_MIN_LEN)
			chat_buf_addch(out, '*');
		else
			chat_buf_add(out, s, run);
		s += run;
		run = strcspn(s, alphabet);
		chat_buf_add(out, s, run);
		s += run;
	}
}
