/*
 * job.h - a job of the queue, as the worker reads it from a job stream
 * entry (lib/queue.c writes them; jobs/worker persists them).
 *
 * Entry fields (strings): t the type ('c' a chat, 'm' a message, 'd' a
 * deleted chat), a the application id, c the chat number, n the message
 * number, i the chat's row id (deletes), ts the Unix time of the create,
 * b the message body.
 */
#ifndef CHAT_JOB_H
#define CHAT_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chat_stream_entry;

struct chat_job {
	char type;		/* 'c', 'm', 'd'; 0 when malformed */
	uint64_t app, chat, number, chat_id;
	int64_t ts;
	const char *body;	/* points into the entry; not NUL-terminated */
	size_t body_len;
	bool skip;		/* the worker's: nothing to write (deleted chat) */
	const char *dead;	/* why it is dead-lettered, or NULL */
};

/*
 * Fill `j` from stream entry `e` (whose reply must outlive it).  A job
 * that lacks a field its type needs, has a field that is not a number
 * where one is due, has an unknown type or an application of another
 * shard than the entry's, or whose entry was deleted while pending, has
 * `dead` set ("malformed job"); the others have it NULL.  Never fails
 * otherwise: any bytes are safe.
 */
void chat_job_parse(struct chat_job *j, const struct chat_stream_entry *e);

#endif
