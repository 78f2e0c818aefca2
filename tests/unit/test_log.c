/*
 * test_log.c - unit tests of lib/log.c: a warning that repeats while a
 * store is down is logged once per CHAT_LOG_LIMIT_MS, and the next line
 * logged says how many were left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "clock.h"
#include "log.h"

/* What `calls` wrote on stderr, as one string (caller frees). */
static char *stderr_of(void (*calls)(void))
{
	FILE *f = tmpfile();
	int saved = dup(2);
	char *text;
	long len;

	cr_assert_not_null(f);
	cr_assert_geq(saved, 0);
	fflush(stderr);
	cr_assert_geq(dup2(fileno(f), 2), 0);
	calls();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	len = ftell(f);
	cr_assert_geq(len, 0);
	text = calloc(1, (size_t)len + 1);
	rewind(f);
	cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

static size_t count(const char *s, const char *sub)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, sub)); p += strlen(sub))
		n++;
	return n;
}

static struct chat_log_limit a, b;
static unsigned logged;

static void burst(void)
{
	logged = 0;
	for (int i = 0; i < 50; i++)
		logged += chat_log_warn_limited(&a, "shard %d down", i);
	/* Another limiter is its own. */
	logged += chat_log_warn_limited(&b, "relay down");
}

static void after_the_limit(void)
{
	logged = chat_log_warn_limited(&a, "shard %d down", 99);
}

Test(log, limited_repeats_once_a_period)
{
	char *out;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	out = stderr_of(burst);
	cr_assert_eq(logged, 2, "%u lines logged", logged);
	cr_assert_eq(count(out, "\n"), 2, "%s", out);
	cr_assert(strstr(out, " warn shard 0 down\n"), "%s", out);
	cr_assert_eq(count(out, "shard"), 1, "%s", out);
	cr_assert(strstr(out, " warn relay down\n"), "%s", out);
	cr_assert_eq(a.left_out, 49);
	free(out);

	/* Within the period: counted, not logged. */
	out = stderr_of(after_the_limit);
	cr_assert_eq(logged, 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(a.left_out, 50);
	free(out);

	chat_sleep_ms(CHAT_LOG_LIMIT_MS + 50);
	out = stderr_of(after_the_limit);
	cr_assert_eq(logged, 1);
	cr_assert(strstr(out, " warn shard 99 down (and 50 more like it left "
			 "out of the log since the last)\n"), "%s", out);
	cr_assert_eq(a.left_out, 0);
	free(out);
}
