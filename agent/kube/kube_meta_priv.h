/* SPDX-License-Identifier: BSD-2-Clause */
/* Inside kube_meta: the state the watch thread (kube_watch.c), the enrichment thread
 * (kube_fetch.c) and the readers (kube_meta.c) share, and the reporting all of them use
 * (kube_report.c). */
#ifndef BPFDIAG_KUBE_META_PRIV_H
#define BPFDIAG_KUBE_META_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kube/kube_client.h"
#include "kube/kube_meta.h"
#include "kube/kube_store.h"

/* What a request was for: each source logs each cause once. */
enum source { SRC_PODS = 0, SRC_WORKLOAD, SRC_PVC, SRC_PDB, SRC_HPA, SRC_MAX };

struct kube_meta {
	struct kube_meta_opts o;
	char *url;
	char *token_file;
	struct tokenfile *token; /* the token file both clients read, NULL without one */
	char *ca_file;
	char *node;
	char selector[800]; /* fieldSelector=spec.nodeName%3D<node> */

	pthread_mutex_t lock;
	pthread_cond_t cond; /* store changed, or stop */
	bool lock_init;
	bool cond_init;
	bool curl_init;
	int stop;
	int synced;
	pthread_t watch_thr;
	pthread_t work_thr;
	bool watch_started;
	bool work_started;

	/* under lock */
	struct kube_store *st;
	struct kube_stats stats;
	bool in_outage;
	double outage_start;
	uint32_t reported[SRC_MAX];
	bool token_failed; /* the token file's last read failed, and that was logged */

	/* watch thread only */
	struct kube_client *wc;
	struct kube_stream *stream;
	char rv[KUBE_RV_MAX + 1];
	uint64_t rng;
	double relist_at; /* monotonic start of the last relist */
	unsigned relists_in_row; /* relists with less than RELIST_QUIET between them */

	/* enrichment thread only */
	struct kube_client *gc;
};

/* The client's stop hook: true once kube_meta__stop began. */
bool kube_stopping(void *ctx);
/* Waits on the condition until the monotonic time `until` (lock held). */
void kube_wait_until(struct kube_meta *km, double until);
/* Uniform in [0, 1): jitter only. */
double kube_rand01(struct kube_meta *km);

/* ---- reporting: count everything, log each cause once (kube_report.c) ---- */

void kube_emit(struct kube_meta *km, enum kube_log_level level, const char *msg);
/* Copies at most n printable bytes of s (an API server message) into buf. */
void kube_sanitize(char *buf, size_t len, const char *s, size_t n);
/* Counts a failure by reason and logs it when it is new for its source; outage: the pod
 * list/watch lost the API server. */
void kube_fail(struct kube_meta *km, enum source src, enum kube_err reason, bool outage,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A request of src succeeded: ends an outage and re-arms the logging of transient causes. */
void kube_ok(struct kube_meta *km, enum source src);
/* Counts one request by outcome (r and h as the client returned them), and a request that went
 * without a fresh token; logs a change of the token file's state (once per change). */
void kube_count(struct kube_meta *km, enum source src, int r, const struct kube_http *h);
/* Logs a change of the token file's state now, not when the request ends (a watch, as it
 * opens), and forgets it. */
void kube_token_news(struct kube_meta *km, enum source src, struct kube_http *h);
/* An HTTP answer other than the expected one: reason from the status, detail from the
 * Status body when there is one. */
void kube_http_fail(struct kube_meta *km, enum source src, const struct kube_http *h,
		    const char *what, bool outage);

/* The threads (kube_watch.c, kube_fetch.c). */
void *kube_watch_main(void *arg);
void *kube_fetch_main(void *arg);

#endif
