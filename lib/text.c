/*
 * text.c - checked parsers for untrusted text and timestamp formatting.
 */
#include "text.h"

#include <string.h>

#include "buf.h"

int chat_parse_u64(const char *s, size_t len, uint64_t min, uint64_t max,
		   uint64_t *out)
{
	uint64_t v = 0;

	if (!s || len == 0 || len > 20)
		return -1;
	if (len > 1 && s[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

size_t chat_utf8_next(const char *str, size_t len, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c = s[0];
	size_t n;
	uint32_t v;

	*cp = CHAT_UTF8_BAD;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		v = c & 0x07;
	} else {
		return 1;
	}
	if (len <= n)
		return 1;
	for (size_t k = 1; k <= n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 1;
		v = (v << 6) | (s[k] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((n == 2 && v < 0x800) || (n == 3 && v < 0x10000) ||
	    (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 1;
	*cp = v;
	return n + 1;
}

bool chat_utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint32_t cp;

		i += chat_utf8_next(s + i, len - i, &cp);
		if (cp == CHAT_UTF8_BAD)
			return false;
	}
	return true;
}

size_t chat_utf8_chars(const char *str, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)str[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* d[0..n) of v, zero padded on the left. */
static void put_digits(char *d, unsigned n, unsigned v)
{
	while (n--) {
		d[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * Without gmtime_r and strftime, which took a tenth of a list page's CPU
 * (time zone state, locale): the proleptic Gregorian calendar counted in
 * 400-year eras of 146097 days, from 0000-03-01 so that the leap day is
 * the last of its year.  Years 1970 to 9999; anything else is written as
 * the epoch, as before.
 */
void chat_time_format(time_t t, char out[CHAT_TIME_LEN + 1])
{
	int64_t secs = (int64_t)t, days, era, doe, yoe, doy, mp;
	unsigned year, month, day, sod;

	if (secs < 0 || secs > CHAT_TIME_MAX)
		secs = 0;
	days = secs / 86400 + 719468;	/* from 0000-03-01 */
	sod = (unsigned)(secs % 86400);
	era = days / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	year = (unsigned)(yoe + era * 400 + (month <= 2));
	memcpy(out, "0000-00-00T00:00:00Z", CHAT_TIME_LEN + 1);
	put_digits(out, 4, year);
	put_digits(out + 5, 2, month);
	put_digits(out + 8, 2, day);
	put_digits(out + 11, 2, sod / 3600);
	put_digits(out + 14, 2, sod / 60 % 60);
	put_digits(out + 17, 2, sod % 60);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int decode(const char *s, size_t len, char **out)
{
	struct chat_buf b;

	chat_buf_init(&b);
	chat_buf_grow(&b, len);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				goto bad;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0')
			goto bad;
		chat_buf_addch(&b, c);
	}
	*out = chat_buf_detach(&b, NULL);
	return 0;
bad:
	chat_buf_release(&b);
	return -1;
}

int chat_query_get(const char *qs, const char *name, char **out)
{
	size_t nlen = strlen(name);

	*out = NULL;
	while (qs && *qs) {
		const char *end = strchr(qs, '&');
		size_t plen = end ? (size_t)(end - qs) : strlen(qs);
		const char *eq = memchr(qs, '=', plen);
		size_t klen = eq ? (size_t)(eq - qs) : plen;

		if (klen == nlen && memcmp(qs, name, nlen) == 0) {
			const char *v = eq ? eq + 1 : qs + plen;
			size_t vlen = eq ? plen - klen - 1 : 0;

			return decode(v, vlen, out) ? -1 : 1;
		}
		qs = end ? end + 1 : NULL;
	}
	return 0;
}
