/*
 * bulk_sender.c - a _bulk request sent on a thread of its own (see
 * bulk_sender.h).
 */
#include "bulk_sender.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "es.h"
#include "xalloc.h"

struct chat_bulk_sender {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chat_es *es;	/* the sender thread's while a request runs */
	/* Under mu: */
	struct chat_bulk *job;	/* to send, or being sent */
	bool done;		/* job answered; rc is its result */
	bool quit;
	int rc;
	/* The caller's thread only: */
	bool busy;
};

static void *run(void *arg)
{
	struct chat_bulk_sender *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct chat_bulk *b;
		int rc;

		while (!s->quit && (!s->job || s->done))
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->quit)
			break;
		b = s->job;
		pthread_mutex_unlock(&s->mu);
		rc = chat_bulk_send(b, s->es);
		pthread_mutex_lock(&s->mu);
		s->rc = rc;
		s->done = true;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct chat_bulk_sender *chat_bulk_sender_new(const struct chat_config *cfg)
{
	struct chat_bulk_sender *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->es = chat_es_new(cfg);
	if (pthread_create(&s->thread, NULL, run, s)) {
		chat_es_free(s->es);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	return s;
}

void chat_bulk_sender_free(struct chat_bulk_sender *s)
{
	if (!s)
		return;
	chat_bulk_sender_wait(s, NULL);
	pthread_mutex_lock(&s->mu);
	s->quit = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	chat_es_free(s->es);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void chat_bulk_sender_start(struct chat_bulk_sender *s, struct chat_bulk *b)
{
	if (s->busy)
		xdie("chat_bulk_sender_start: a request is in flight");
	s->busy = true;
	pthread_mutex_lock(&s->mu);
	s->job = b;
	s->done = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

bool chat_bulk_sender_busy(const struct chat_bulk_sender *s)
{
	return s->busy;
}

int chat_bulk_sender_wait(struct chat_bulk_sender *s, struct chat_es *report)
{
	bool refused = false;
	int rc;

	if (!s->busy)
		return 0;
	pthread_mutex_lock(&s->mu);
	while (!s->done)
		pthread_cond_wait(&s->cv, &s->mu);
	rc = s->rc;
	for (size_t i = 0; rc == 0 && i < s->job->n; i++)
		refused = refused || s->job->failed[i];
	s->job = NULL;
	pthread_mutex_unlock(&s->mu);
	s->busy = false;
	if (report && (rc || refused)) {
		report->err = s->es->err;
		memcpy(report->errstr, s->es->errstr, sizeof(report->errstr));
	}
	return rc;
}
