/*
 * reindex - rebuild the message search index from MariaDB, with no
 * downtime and without losing what is written meanwhile (lib/reindex.h
 * says how).  Exit status 0 on success, 1 on failure, 2 on bad usage.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proc.h"
#include "reindex.h"
#include "text.h"

/* The options. */
struct args {
	unsigned batch, pause_ms;
};

static const char usage[] =
	"usage: reindex [--batch N] [--pause MS]\n"
	"Rebuild the message search index from MariaDB into a new index, move\n"
	"the alias CHAT_ES_INDEX to it atomically and delete the old index.\n"
	"Searches and writes go on meanwhile; what is written during the\n"
	"rebuild is carried over.  Safe to interrupt (Ctrl-C) before the\n"
	"swap.\n"
	"\n"
	"  --batch N   rows per MariaDB statement and _bulk request (1-10000,\n"
	"              default 1000)\n"
	"  --pause MS  sleep MS milliseconds after each batch of the copy, to\n"
	"              spare a busy cluster (default 0)\n"
	"\n"
	"Settings: the CHAT_MYSQL_* and CHAT_ES_* variables.  Progress goes\n"
	"to stderr when it is a terminal; one summary line to stdout.  Exit 0\n"
	"on success, 1 on failure (with a message on stderr), 2 on bad usage.\n"
	"Needs /tmp room for 32 bytes per message.\n";

/*
 * Read the options into `a`.  Returns 0 to run, or -1 to exit at once
 * with *status: 0 after --help, 2 on bad usage (said on stderr).
 */
static int parse_args(struct args *a, int argc, char **argv, int *status)
{
	for (int i = 1; i < argc; i++) {
		bool batch = strcmp(argv[i], "--batch") == 0;
		uint64_t v;

		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			*status = 0;
			return -1;
		}
		if ((!batch && strcmp(argv[i], "--pause") != 0) ||
		    i + 1 == argc ||
		    chat_parse_u64(argv[i + 1], strlen(argv[i + 1]),
				   batch ? 1 : 0,
				   batch ? CHAT_REINDEX_BATCH_MAX :
					   CHAT_REINDEX_PAUSE_MAX_MS,
				   &v)) {
			fprintf(stderr, "reindex: bad argument '%s'\n%s",
				argv[i], usage);
			*status = 2;
			return -1;
		}
		*(batch ? &a->batch : &a->pause_ms) = (unsigned)v;
		i++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = { .batch = CHAT_REINDEX_BATCH_DEFAULT };
	struct chat_reindex *r;
	int rc;

	if (parse_args(&a, argc, argv, &rc))
		return rc;
	chat_proc_init(CHAT_PROC_HUP);
	r = chat_reindex_new(a.batch, a.pause_ms);
	rc = chat_reindex_run(r) ? 1 : 0;
	chat_reindex_free(r);
	return rc;
}
