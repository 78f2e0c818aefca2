/*
 * xalloc.h - allocation wrappers that abort on out-of-memory, so callers
 * never carry an OOM path.  Parsers of untrusted input must not use xdie
 * for bad input; they return an error instead.
 */
#ifndef CHAT_XALLOC_H
#define CHAT_XALLOC_H

#include <stddef.h>
#include <stdlib.h>

__attribute__((noreturn, format(printf, 1, 2)))
void xdie(const char *fmt, ...);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
