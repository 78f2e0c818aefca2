/*
 * test_sha256.c - unit tests of lib/sha256.c: the FIPS 180 examples, the
 * lengths around a block's padding boundary checked against coreutils'
 * sha256sum, and input fed in pieces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "sha256.h"

static void hex_of(const void *data, size_t len, char out[65])
{
	unsigned char d[CHAT_SHA256_LEN];

	chat_sha256(data, len, d);
	chat_sha256_hex(d, out);
}

static void check(const char *msg, const char *want)
{
	char got[65];

	hex_of(msg, strlen(msg), got);
	cr_assert_str_eq(got, want, "SHA-256(\"%.60s\")", msg);
}

/* FIPS 180-2, appendix B (and the NIST examples of FIPS 180-4). */
Test(sha256, fips_one_block)
{
	check("abc", "ba7816bf8f01cfea414140de5dae2223"
		     "b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, empty)
{
	check("", "e3b0c44298fc1c149afbf4c8996fb924"
		  "27ae41e4649b934ca495991b7852b855");
}

Test(sha256, fips_448_bits)
{
	check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	      "248d6a61d20638b8e5c026930c3e6039"
	      "a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, fips_896_bits)
{
	check("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	      "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

Test(sha256, fips_million_a)
{
	const char want[] = "cdc76e5c9914fb9281a1c7e284d73e67"
			    "f1809a48a497200e046d39ccc7112cd0";
	char *a = malloc(1000000), got[65];
	struct chat_sha256 s;
	unsigned char d[CHAT_SHA256_LEN];

	cr_assert_not_null(a);
	memset(a, 'a', 1000000);
	hex_of(a, 1000000, got);
	cr_assert_str_eq(got, want);
	/* The same fed in uneven pieces that straddle block boundaries. */
	chat_sha256_init(&s);
	for (size_t off = 0, step = 1; off < 1000000; off += step, step = step % 97 + 1)
		chat_sha256_update(&s, a + off,
				   off + step > 1000000 ? 1000000 - off : step);
	chat_sha256_final(&s, d);
	chat_sha256_hex(d, got);
	cr_assert_str_eq(got, want);
	free(a);
}

/*
 * Every length from 0 to 200 bytes (the padding takes one or two blocks
 * depending on len % 64) against sha256sum, run once over one file per
 * length, and byte by byte against the one-shot digest.
 */
#define MAXLEN 200

Test(sha256, lengths_against_sha256sum)
{
	unsigned char data[MAXLEN];
	char dir[] = "/tmp/test_sha256.XXXXXX", path[64], cmd[96];
	char (*want)[65] = calloc(MAXLEN + 1, sizeof(*want));
	FILE *p;

	cr_assert_not_null(want);
	cr_assert_not_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= MAXLEN; len++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%03zu", dir, len);
		f = fopen(path, "wb");
		cr_assert_not_null(f);
		cr_assert_eq(fwrite(data, 1, len, f), len);
		cr_assert_eq(fclose(f), 0);
	}
	/* The shell sorts the names, which are the lengths zero-padded. */
	snprintf(cmd, sizeof(cmd), "sha256sum %s/*", dir);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	for (size_t len = 0; len <= MAXLEN; len++)
		cr_assert_eq(fscanf(p, "%64s %*s", want[len]), 1, "length %zu",
			     len);
	cr_assert_eq(pclose(p), 0);
	for (size_t len = 0; len <= MAXLEN; len++) {
		snprintf(path, sizeof(path), "%s/%03zu", dir, len);
		unlink(path);
	}
	rmdir(dir);

	for (size_t len = 0; len <= MAXLEN; len++) {
		char got[65], piecewise[65];
		unsigned char d[CHAT_SHA256_LEN];
		struct chat_sha256 s;

		hex_of(data, len, got);
		cr_assert_str_eq(got, want[len], "length %zu", len);
		chat_sha256_init(&s);
		for (size_t i = 0; i < len; i++)
			chat_sha256_update(&s, data + i, 1);
		chat_sha256_final(&s, d);
		chat_sha256_hex(d, piecewise);
		cr_assert_str_eq(piecewise, want[len], "length %zu byte by byte",
				 len);
	}
	free(want);
}
