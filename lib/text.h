/*
 * text.h - checked parsing of untrusted text: integers, UTF-8, query
 * strings; and the contract's timestamp format.  Nothing here aborts on
 * bad input.
 */
#ifndef CHAT_TEXT_H
#define CHAT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Parse s[0..len) as a plain decimal integer in [min, max]: digits only,
 * no sign, no spaces, no leading zeros (except "0" itself), no overflow.
 * Returns 0 and stores the value in *out, or -1.
 */
int chat_parse_u64(const char *s, size_t len, uint64_t min, uint64_t max,
		   uint64_t *out);

/*
 * Decode the code point at s[0..len), len > 0, into *cp.  Returns its
 * length in bytes; for a byte that does not start well-formed UTF-8
 * (overlong, surrogate, past U+10FFFF, cut short) *cp is CHAT_UTF8_BAD
 * and the length 1.
 */
#define CHAT_UTF8_BAD UINT32_MAX
size_t chat_utf8_next(const char *s, size_t len, uint32_t *cp);
/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool chat_utf8_valid(const char *s, size_t len);
/* Number of code points in valid UTF-8 s[0..len). */
size_t chat_utf8_chars(const char *s, size_t len);

/* Length of an RFC 3339 UTC timestamp with seconds, without the NUL. */
#define CHAT_TIME_LEN 20
/* The last second chat_time_format writes: 9999-12-31T23:59:59Z. */
#define CHAT_TIME_MAX INT64_C(253402300799)
/* Write "YYYY-MM-DDThh:mm:ssZ" for `t` into out[CHAT_TIME_LEN + 1] (the
 * epoch for a `t` before it or after CHAT_TIME_MAX). */
void chat_time_format(time_t t, char out[CHAT_TIME_LEN + 1]);

/*
 * Find query parameter `name` in the raw query string `qs` and
 * percent-decode it into a fresh string (caller frees) in *out.
 * Returns 1 when found, 0 when absent, -1 when the encoding is bad
 * (a truncated %-escape or a decoded NUL byte).
 */
int chat_query_get(const char *qs, const char *name, char **out);

#endif
