/*
 * buf.h - the one growable byte buffer of the project (like git's strbuf).
 *
 * The contents are always NUL-terminated and `len` is authoritative, so a
 * buffer may hold NUL bytes.  Allocation failure aborts (see xalloc.h).
 */
#ifndef CHAT_BUF_H
#define CHAT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct chat_buf {
	char *data;	/* never NULL after chat_buf_init */
	size_t len;	/* bytes used, not counting the terminating NUL */
	size_t cap;	/* bytes allocated */
};

/* Make `b` an empty buffer.  Allocates nothing until the first append. */
void chat_buf_init(struct chat_buf *b);
/* Free the contents; `b` is an empty buffer again afterwards. */
void chat_buf_release(struct chat_buf *b);
/* Keep the allocation, forget the contents. */
void chat_buf_reset(struct chat_buf *b);
/* Make room for `extra` more bytes plus the NUL. */
void chat_buf_grow(struct chat_buf *b, size_t extra);
void chat_buf_add(struct chat_buf *b, const void *data, size_t len);
void chat_buf_adds(struct chat_buf *b, const char *s);
void chat_buf_addch(struct chat_buf *b, char c);
__attribute__((format(printf, 2, 3)))
void chat_buf_addf(struct chat_buf *b, const char *fmt, ...);
__attribute__((format(printf, 2, 0)))
void chat_buf_vaddf(struct chat_buf *b, const char *fmt, va_list ap);
/* Hand the contents to the caller (who frees them) and reset `b`. */
char *chat_buf_detach(struct chat_buf *b, size_t *len);

#endif
