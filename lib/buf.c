/*
 * buf.c - growable, always NUL-terminated byte buffer.
 */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "xalloc.h"

static char empty_buf[1];

void chat_buf_init(struct chat_buf *b)
{
	b->data = empty_buf;
	b->len = 0;
	b->cap = 0;
}

void chat_buf_release(struct chat_buf *b)
{
	if (b->cap)
		free(b->data);
	chat_buf_init(b);
}

void chat_buf_reset(struct chat_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->data[0] = '\0';
}

void chat_buf_grow(struct chat_buf *b, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX / 2 - b->len - 1)
		xdie("buffer size overflow");
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (b->cap) {
		b->data = xrealloc(b->data, cap);
	} else {
		b->data = xmalloc(cap);
		b->data[0] = '\0';
	}
	b->cap = cap;
}

void chat_buf_add(struct chat_buf *b, const void *data, size_t len)
{
	if (!len)
		return;
	chat_buf_grow(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void chat_buf_adds(struct chat_buf *b, const char *s)
{
	chat_buf_add(b, s, strlen(s));
}

void chat_buf_addch(struct chat_buf *b, char c)
{
	chat_buf_add(b, &c, 1);
}

void chat_buf_vaddf(struct chat_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	chat_buf_grow(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		xdie("vsnprintf failed");
	if ((size_t)n >= b->cap - b->len) {
		chat_buf_grow(b, (size_t)n);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void chat_buf_addf(struct chat_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chat_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

char *chat_buf_detach(struct chat_buf *b, size_t *len)
{
	char *s;

	if (!b->cap)
		chat_buf_grow(b, 0);
	s = b->data;
	if (len)
		*len = b->len;
	chat_buf_init(b);
	return s;
}
