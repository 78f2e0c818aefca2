/*
 * worker - the queue worker: persists the jobs of the job streams into
 * MariaDB and keeps the search index in line (lib/worker.h).  Runs until
 * SIGTERM or SIGINT.
 */
#include "proc.h"
#include "worker.h"

int main(void)
{
	struct chat_worker *w;
	int rc;

	chat_proc_init(0);
	w = chat_worker_new();
	rc = chat_worker_run(w);
	chat_worker_free(w);
	return rc ? 1 : 0;
}
