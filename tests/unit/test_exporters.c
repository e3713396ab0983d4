// SPDX-License-Identifier: BSD-2-Clause
/* Encoders over hand-built snapshots: Prometheus text (escaping, HELP/TYPE, values) and the
 * pods JSON (grouping by pod UID); invalid UTF-8 repaired once for every encoder; the HTTP
 * listen-address parser. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/utf8.h"
#include "codec/api_json.h"
#include "codec/prom.h"
#include "codec/prom_proto.h"
#include "io/prometheus/client/metrics.pb-c.h"
#include "hostile.h"
#include "model/histogram.h"
#include "transport/http.h"

static struct snapshot *two_pods(void)
{
	struct snapshot *s = snapshot_new(3);

	assert_non_null(s);
	s->series[0].labels[LBL_WORKLOAD_KIND] = strdup("Container");
	s->series[0].labels[LBL_WORKLOAD] = strdup("we\"ird\\name\nline");
	s->series[0].labels[LBL_POD_UID] = strdup("uid-a");
	s->series[0].cgroup_id = 11;
	assert_int_equal(snap_series_add(&s->series[0], M_CPU_SECONDS, NULL, 1.5), 0);
	{
		static const double bounds[] = { 0.001, 0.01 };
		const uint64_t counts[] = { 1, 2, 3 };
		const char *own[METRIC_MAX_OWN_LABELS] = { "read", "vda" };

		assert_int_equal(snap_series_add(&s->series[0], M_DISK_BYTES, own, 4096), 0);
		assert_int_equal(snap_series_add_hist(&s->series[0], M_DISK_LATENCY, own, bounds, 2,
						      counts, 0.25),
				 0);
	}
	s->agent.stats = calloc(3, sizeof(*s->agent.stats));
	assert_non_null(s->agent.stats);
	s->agent.n_stats = 3;
	s->agent.stats[0] =
		(struct collector_stat){ .kind = CSTAT_MAP_OVERFLOW, .subject = "a", .value = 3 };
	s->agent.stats[1] =
		(struct collector_stat){ .kind = CSTAT_MAP_ENTRIES, .subject = "a", .value = 9 };
	s->agent.stats[2] = s->agent.stats[0];
	snprintf(s->agent.stats[2].subject, sizeof(s->agent.stats[2].subject), "b");
	s->agent.stats[2].value = 4;
	s->series[0].rates.cpu_cores = 0.25;
	s->series[1].labels[LBL_WORKLOAD_KIND] = strdup("Cgroup");
	s->series[1].labels[LBL_WORKLOAD] = strdup("/system.slice");
	s->series[1].cgroup_id = 12;
	assert_int_equal(snap_series_add(&s->series[1], M_CPU_SECONDS, NULL, 2), 0);
	s->series[2].labels[LBL_WORKLOAD_KIND] = strdup("Container");
	s->series[2].labels[LBL_WORKLOAD] = strdup("c2");
	s->series[2].labels[LBL_POD_UID] = strdup("uid-a");
	s->series[2].cgroup_id = 13;
	assert_int_equal(snap_series_add(&s->series[2], M_CPU_SECONDS, NULL, 0.1), 0);
	s->series[2].rates.cpu_cores = 0.5;
	return s;
}

static void test_prom_escape(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	prom_escape_label(&sb, "a\"b\\c\nd");
	assert_string_equal(sb.data, "a\\\"b\\\\c\\nd");
	strbuf_reset(&sb);
	prom_escape_help(&sb, "x\"y\\z\n");
	assert_string_equal(sb.data, "x\"y\\\\z\\n");
	strbuf_reset(&sb);
}

static void test_prom_encode(void **state)
{
	struct snapshot *s = two_pods();
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	s->agent.collections = 7;
	assert_int_equal(prom_encode(s, &sb), 0);
	assert_non_null(strstr(sb.data, "# HELP bpfdiag_cpu_seconds_total "));
	assert_non_null(strstr(sb.data, "# TYPE bpfdiag_cpu_seconds_total counter\n"));
	assert_non_null(strstr(sb.data,
			       "bpfdiag_cpu_seconds_total{namespace=\"\",pod=\"\",container=\"\","
			       "workload_kind=\"Container\",workload=\"we\\\"ird\\\\name\\nline\","
			       "helm_release=\"\"} 1.5\n"));
	assert_non_null(strstr(sb.data, "workload=\"/system.slice\",helm_release=\"\"} 2\n"));
	/* the identity labels are on the info series only, for the series that have one */
	assert_null(strstr(sb.data,
			   "bpfdiag_cpu_seconds_total{namespace=\"\",pod=\"\",container=\"\","
			   "workload_kind=\"Container\",workload=\"we\\\"ird\\\\name\\nline\","
			   "helm_release=\"\",pod_uid"));
	assert_non_null(strstr(sb.data,
			       "# TYPE bpfdiag_container_info gauge\n"
			       "bpfdiag_container_info{namespace=\"\",pod=\"\",container=\"\","
			       "workload_kind=\"Container\",workload=\"we\\\"ird\\\\name\\nline\","
			       "helm_release=\"\",pod_uid=\"uid-a\",container_id=\"\"} 1\n"));
	assert_non_null(strstr(sb.data, "\nbpfdiag_agent_collections_total 7\n"));
	/* collector stats: one family header, samples grouped even when interleaved */
	assert_non_null(strstr(sb.data, "# TYPE bpfdiag_agent_map_overflow_total counter\n"
					"bpfdiag_agent_map_overflow_total{map=\"a\"} 3\n"
					"bpfdiag_agent_map_overflow_total{map=\"b\"} 4\n"));
	/* own labels follow the series labels */
	assert_non_null(
		strstr(sb.data, "helm_release=\"\",direction=\"read\",device=\"vda\"} 4096\n"));
	/* histograms: cumulative buckets, +Inf equal to _count, then _sum and _count */
	assert_non_null(strstr(sb.data, "# TYPE bpfdiag_disk_latency_seconds histogram\n"));
	assert_non_null(strstr(sb.data, ",direction=\"read\",le=\"0.001\"} 1\n"));
	assert_non_null(strstr(sb.data, ",direction=\"read\",le=\"0.01\"} 3\n"));
	assert_non_null(strstr(sb.data, ",direction=\"read\",le=\"+Inf\"} 6\n"));
	assert_non_null(strstr(sb.data, "bpfdiag_disk_latency_seconds_sum{"));
	assert_non_null(strstr(sb.data, ",direction=\"read\"} 0.25\n"));
	assert_non_null(strstr(sb.data, ",direction=\"read\"} 6\n"));
	/* every sample line belongs to a family announced before it */
	for (char *line = sb.data; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char name[128], decl[160];
		size_t n = strcspn(line, "{ \n");

		if (line[0] == '#' || n == 0)
			continue;
		assert_true(n < sizeof(name));
		memcpy(name, line, n);
		name[n] = '\0';
		snprintf(decl, sizeof(decl), "# TYPE %s ", name);
		char *d = strstr(sb.data, decl);

		/* histogram samples carry a suffix on the family's name */
		for (int k = 0; !d && k < 3; k++) {
			static const char *const sfx[] = { "_bucket", "_sum", "_count" };
			size_t sl = strlen(sfx[k]);

			if (n > sl && strcmp(name + n - sl, sfx[k]) == 0) {
				snprintf(decl, sizeof(decl), "# TYPE %.*s histogram\n",
					 (int)(n - sl), name);
				d = strstr(sb.data, decl);
			}
		}
		if (!d)
			fail_msg("no TYPE line for %s", name);
		assert_true(d < line);
	}
	strbuf_reset(&sb);
	snapshot_unref(s);
}

/* A restarted container: the series of its previous instance (gone, final values) and of the
 * new one share the six labels; only the live one is exposed, with its own info row. */
/* A catalogue family no series has a sample of gets no HELP or TYPE either; every family
 * that has samples gets both, once, before them. */
static void test_prom_absent_family_no_header(void **state)
{
	struct snapshot *s = two_pods();
	struct strbuf sb = STRBUF_INIT;
	char help[160], sample[160];
	int with = 0, without = 0;

	(void)state;
	assert_int_equal(prom_encode(s, &sb), 0);
	for (size_t m = 0; m < M_MAX; m++) {
		const char *h, *first;

		snprintf(help, sizeof(help), "# HELP %s ", metric_descs[m].name);
		snprintf(sample, sizeof(sample), "\n%s{", metric_descs[m].name);
		h = strstr(sb.data, help);
		first = strstr(sb.data, sample);
		if (!first && metric_descs[m].type == MT_HISTOGRAM) {
			snprintf(sample, sizeof(sample), "\n%s_bucket{", metric_descs[m].name);
			first = strstr(sb.data, sample);
		}
		if (first) {
			with++;
			assert_non_null(h);
			assert_true(h < first);
			assert_null(strstr(h + 1, help));
		} else {
			without++;
			assert_null(h);
		}
	}
	assert_true(with >= 1 && without >= 1);
	assert_null(strstr(sb.data, "# HELP bpfdiag_cpu_samples_total "));
	strbuf_reset(&sb);
	snapshot_unref(s);
}

static void test_prom_superseded_series(void **state)
{
	struct snapshot *s = snapshot_new(2);
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < 2; i++) {
		s->series[i].labels[LBL_NAMESPACE] = strdup("prod");
		s->series[i].labels[LBL_POD] = strdup("db-0");
		s->series[i].labels[LBL_CONTAINER] = strdup("db");
		s->series[i].labels[LBL_POD_UID] = strdup("uid-1");
		s->series[i].labels[LBL_CONTAINER_ID] = strdup(i ? "new" : "old");
		s->series[i].cgroups = i;
		s->series[i].start_time = 100 + i;
		assert_int_equal(snap_series_add(&s->series[i], M_CPU_SECONDS, NULL, 10 - 9 * i),
				 0);
	}
	assert_int_equal(prom_encode(s, &sb), 0);
	assert_non_null(strstr(sb.data, "helm_release=\"\"} 1\n"));
	assert_null(strstr(sb.data, "helm_release=\"\"} 10\n"));
	assert_non_null(strstr(sb.data, ",container_id=\"new\"} 1\n"));
	assert_null(strstr(sb.data, "container_id=\"old\""));
	assert_non_null(strstr(sb.data, "\nbpfdiag_agent_series_superseded 1\n"));
	strbuf_reset(&sb);
	snapshot_unref(s);
}

/* The kernel's 20 log2 slots fold into the catalogue's exported buckets, exactly: each
 * exported bound is a slot bound, each slot lands in one bucket. */
static void test_hist_folded_buckets(void **state)
{
	const struct metric_desc *d = &metric_descs[M_CPU_RUNQUEUE_LATENCY];
	struct snapshot *s = snapshot_new(1);
	struct strbuf sb = STRBUF_INIT;
	uint64_t slots[HIST_SLOTS], counts[METRIC_HIST_MAX_BUCKETS], total = 0;
	const double *bounds;
	int n, lines = 0;

	(void)state;
	for (int i = 0; i < HIST_SLOTS; i++)
		slots[i] = (uint64_t)i + 1;
	assert_non_null(s);
	assert_int_equal(snap_series_add_hist(&s->series[0], M_CPU_RUNQUEUE_LATENCY, NULL,
					      hist_bounds, HIST_SLOTS - 1, slots, 1.0),
			 0);
	n = metric_hist_buckets(d, s->series[0].points[0].hist, &bounds, counts);
	assert_int_equal(n, (int)d->n_export_bounds);
	assert_true(n <= 10);
	assert_ptr_equal(bounds, d->export_bounds);
	for (int b = 0; b <= n; b++)
		total += counts[b];
	assert_int_equal(total, s->series[0].points[0].hist->count);
	assert_int_equal(prom_encode(s, &sb), 0);
	/* slots 0..12 end at or below 4.194304 ms: 1 + 2 + ... + 13 waits */
	assert_non_null(strstr(sb.data, ",le=\"0.004194304\"} 91\n"));
	assert_null(strstr(sb.data, ",le=\"0.000524288\"}"));
	for (char *p = sb.data; (p = strstr(p, "bpfdiag_cpu_runqueue_latency_seconds_bucket{"));
	     p++)
		lines++;
	assert_int_equal(lines, n + 1);
	strbuf_reset(&sb);
	snapshot_unref(s);
}

/* The delimited MetricFamily at *off of pb, decoded; *off moves past it. */
static Io__Prometheus__Client__MetricFamily *next_family(const struct strbuf *pb, size_t *off)
{
	Io__Prometheus__Client__MetricFamily *f;
	uint64_t len = 0;
	int shift = 0;

	while (pb->data[*off] & 0x80) {
		len |= (uint64_t)(pb->data[(*off)++] & 0x7f) << shift;
		shift += 7;
	}
	len |= (uint64_t)pb->data[(*off)++] << shift;
	assert_true(*off + len <= pb->len);
	f = io__prometheus__client__metric_family__unpack(NULL, len, (uint8_t *)pb->data + *off);
	assert_non_null(f);
	*off += len;
	return f;
}

/* The protobuf exposition: a run-queue histogram of the kernel's slots becomes a native
 * histogram of schema 0 (slot k → bucket k - 20) with its classic buckets folded as in the
 * text; counters keep the six labels. */
static void test_prom_proto_native(void **state)
{
	struct snapshot *s = snapshot_new(2);
	struct strbuf text = STRBUF_INIT, pb = STRBUF_INIT;
	uint64_t slots[HIST_SLOTS] = { 0 }, other[HIST_SLOTS] = { 0 };
	struct prom_stream *ps;
	bool seen_hist = false, seen_cpu = false;
	int r;

	(void)state;
	slots[10] = 100; /* [0.524, 1.049) ms */
	slots[13] = 1; /* [4.19, 8.39) ms */
	assert_non_null(s);
	s->series[0].labels[LBL_WORKLOAD_KIND] = strdup("Container");
	s->series[0].labels[LBL_CONTAINER_ID] = strdup("abc");
	assert_int_equal(snap_series_add(&s->series[0], M_CPU_SECONDS, NULL, 2.5), 0);
	assert_int_equal(snap_series_add_hist(&s->series[0], M_CPU_RUNQUEUE_LATENCY, NULL,
					      hist_bounds, HIST_SLOTS - 1, slots, 0.06),
			 0);
	/* a second series whose labels extend the first's: its own histogram */
	s->series[1].labels[LBL_WORKLOAD_KIND] = strdup("Container");
	s->series[1].labels[LBL_WORKLOAD] = strdup("b");
	other[0] = 7;
	assert_int_equal(snap_series_add_hist(&s->series[1], M_CPU_RUNQUEUE_LATENCY, NULL,
					      hist_bounds, HIST_SLOTS - 1, other, 0),
			 0);
	ps = prom_stream_new(s, metric_descs, M_MAX, PROM_STREAM_SLOTS);
	assert_non_null(ps);
	do
		r = prom_stream_next(ps, &text, 1 << 20);
	while (r > 0);
	prom_stream_free(ps);
	assert_int_equal(prom_proto_from_text(text.data, text.len, &pb), 0);
	for (size_t off = 0; off < pb.len;) {
		Io__Prometheus__Client__MetricFamily *f = next_family(&pb, &off);

		if (!strcmp(f->name, "bpfdiag_cpu_runqueue_latency_seconds")) {
			Io__Prometheus__Client__Histogram *h = f->metric[0]->histogram;

			seen_hist = true;
			assert_int_equal(f->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM);
			assert_int_equal(f->n_metric, 2);
			assert_int_equal(f->metric[1]->histogram->sample_count, 7);
			assert_int_equal(f->metric[1]->histogram->positive_span[0]->offset, -20);
			assert_string_equal(f->metric[1]->label[4]->value, "b");
			assert_non_null(h);
			assert_int_equal(h->sample_count, 101);
			assert_true(h->has_schema && h->schema == 0);
			assert_int_equal(h->n_positive_span, 1);
			assert_int_equal(h->positive_span[0]->offset, 10 - 20);
			assert_int_equal(h->positive_span[0]->length, 4);
			assert_int_equal(h->n_positive_delta, 4);
			assert_int_equal(h->positive_delta[0], 100);
			assert_int_equal(h->positive_delta[1], -100);
			assert_int_equal(h->positive_delta[2], 0);
			assert_int_equal(h->positive_delta[3], 1);
			assert_int_equal(h->n_bucket,
					 metric_descs[M_CPU_RUNQUEUE_LATENCY].n_export_bounds);
			assert_int_equal(h->bucket[1]->cumulative_count, 100); /* le 1.048576 ms */
			assert_int_equal(h->bucket[3]->cumulative_count, 100); /* le 4.194304 ms */
			assert_int_equal(h->bucket[4]->cumulative_count, 101); /* le 8.388608 ms */
		}
		if (!strcmp(f->name, "bpfdiag_cpu_seconds_total")) {
			seen_cpu = true;
			assert_int_equal(f->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER);
			assert_int_equal(f->metric[0]->n_label, 6);
			assert_string_equal(f->metric[0]->label[3]->name, "workload_kind");
			assert_string_equal(f->metric[0]->label[3]->value, "Container");
			assert_true(f->metric[0]->counter->value == 2.5);
		}
		if (!strcmp(f->name, "bpfdiag_container_info"))
			assert_string_equal(f->metric[0]->label[7]->value, "abc");
		io__prometheus__client__metric_family__free_unpacked(f, NULL);
	}
	assert_true(seen_hist && seen_cpu);
	strbuf_reset(&text);
	strbuf_reset(&pb);
	snapshot_unref(s);
}

/* The text's numbers: what the fast paths print (integers, nanoseconds and microseconds in
 * seconds) is what %.15g (or %.17g when that does not read back) printed, and reads back as
 * the same double. */
static void test_prom_values_round_trip(void **state)
{
	enum { N = 4000 };
	struct snapshot *s = snapshot_new(N);
	struct strbuf sb = STRBUF_INIT;
	double v[N];
	const char *p;
	uint64_t x = 88172645463325252ull;

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < N; i++) {
		char w[16];

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (i % 8) {
		case 0:
			v[i] = (double)(x % 100000000000000ull) / 1e9;
			break; /* ns */
		case 1:
			v[i] = (double)(x % 10000000000ull) / 1e6;
			break; /* µs */
		case 2:
			v[i] = (double)(x % 1000000) / 1e9;
			break; /* small */
		case 3:
			v[i] = (double)(x % 100000000000000000ull) / 1e9;
			break; /* > 15 digits */
		case 4:
			v[i] = (double)(x >> 11) / 9007199254740992.0 * 1e3;
			break; /* any */
		case 5:
			v[i] = (double)(x % 1000000000000000ull);
			break; /* integer */
		case 6:
			v[i] = -(double)(x % 1000000000000ull) / 1e9;
			break;
		default:
			v[i] = (double)(x >> 11) * 1e6;
			break; /* large */
		}
		snprintf(w, sizeof(w), "w%d", i);
		s->series[i].labels[LBL_WORKLOAD] = strdup(w);
		assert_int_equal(snap_series_add(&s->series[i], M_CPU_SECONDS, NULL, v[i]), 0);
	}
	assert_int_equal(prom_encode(s, &sb), 0);
	p = sb.data;
	for (int i = 0; i < N; i++) {
		char want[32], got[40];
		const char *e;

		snprintf(want, sizeof(want), "%.15g", v[i]);
		if (strtod(want, NULL) != v[i])
			snprintf(want, sizeof(want), "%.17g", v[i]);
		if (v[i] == (double)(long long)v[i] && fabs(v[i]) < 1e15)
			snprintf(want, sizeof(want), "%lld", (long long)v[i]);
		p = strstr(p, "bpfdiag_cpu_seconds_total{");
		assert_non_null(p);
		p = strchr(p, '}') + 2;
		e = strchr(p, '\n');
		assert_true(e - p < (ptrdiff_t)sizeof(got));
		memcpy(got, p, (size_t)(e - p));
		got[e - p] = '\0';
		assert_string_equal(got, want);
		assert_true(strtod(got, NULL) == v[i]);
	}
	strbuf_reset(&sb);
	snapshot_unref(s);
}

/* The protobuf of the text, as prom_proto_from_text reads back PROM_STREAM_SLOTS text. */
static void proto_of_text(const struct snapshot *s, struct strbuf *pb)
{
	struct prom_stream *ps = prom_stream_new(s, metric_descs, M_MAX, PROM_STREAM_SLOTS);
	struct strbuf text = STRBUF_INIT;
	int r;

	assert_non_null(ps);
	do
		r = prom_stream_next(ps, &text, 1 << 20);
	while (r > 0);
	prom_stream_free(ps);
	strbuf_puts(&text, "# HELP extra_total An appended family.\n"
			   "# TYPE extra_total counter\nextra_total 3\n");
	assert_int_equal(prom_proto_from_text(text.data, text.len, pb), 0);
	strbuf_reset(&text);
}

static void extra_family(void *ctx, struct strbuf *text)
{
	assert_string_equal(ctx, "ctx");
	strbuf_puts(text, "# HELP extra_total An appended family.\n"
			  "# TYPE extra_total counter\nextra_total 3\n");
}

/* The protobuf written straight from a snapshot, in parts of any size, is byte for byte what
 * the text says read back: every family, label (escaped ones, own labels, the info family's
 * identity), counter and gauge value, classic bucket (folded, or a histogram's own bounds) and
 * native bucket; superseded series left out. */
static void test_prom_proto_stream_is_the_text(void **state)
{
	struct snapshot *s = two_pods();
	struct strbuf want = STRBUF_INIT;
	uint64_t slots[HIST_SLOTS] = { 0 }, none[HIST_SLOTS] = { 0 };
	size_t parts[] = { 1, 100, 4096, 1 << 20 };

	(void)state;
	slots[0] = 3;
	slots[7] = 1000000;
	slots[19] = 2;
	assert_int_equal(snap_series_add(&s->series[1], M_CPU_RUNQUEUE_WAIT_SECONDS, NULL, 0.1), 0);
	assert_int_equal(snap_series_add_hist(&s->series[1], M_CPU_RUNQUEUE_LATENCY, NULL,
					      hist_bounds, HIST_SLOTS - 1, none, 0),
			 0);
	assert_int_equal(snap_series_add_hist(&s->series[2], M_CPU_RUNQUEUE_LATENCY, NULL,
					      hist_bounds, HIST_SLOTS - 1, slots, 123.456789),
			 0);
	assert_int_equal(snap_series_add(&s->series[2], M_MEMORY_RSS_BYTES, NULL, 1e18), 0);
	s->series[2].labels[LBL_CONTAINER_ID] = strdup("ab\"c");
	/* series 2 and 1 share their six labels: series 1, gone, is superseded */
	free(s->series[1].labels[LBL_WORKLOAD_KIND]);
	free(s->series[1].labels[LBL_WORKLOAD]);
	s->series[1].labels[LBL_WORKLOAD_KIND] = strdup("Container");
	s->series[1].labels[LBL_WORKLOAD] = strdup("c2");
	s->series[2].cgroups = 1;
	s->agent.collections = 7;
	proto_of_text(s, &want);
	for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
		struct prom_proto_stream *ps =
			prom_proto_stream_new(s, metric_descs, M_MAX, extra_family, "ctx");
		struct strbuf got = STRBUF_INIT;
		int r;

		assert_non_null(ps);
		do
			r = prom_proto_stream_next(ps, &got, parts[p]);
		while (r > 0);
		assert_int_equal(r, 0);
		prom_proto_stream_free(ps);
		assert_int_equal(got.len, want.len);
		assert_memory_equal(got.data, want.data, want.len);
		strbuf_reset(&got);
	}
	/* and it says what the text says: the superseded series is absent, series 2 present; the
	 * catalogue's families in its order, none of them empty (the superseded series' wait
	 * family has no other series: it is left out, not sent with no metrics) */
	for (size_t off = 0, cat = 0; off < want.len;) {
		Io__Prometheus__Client__MetricFamily *f = next_family(&want, &off);

		assert_true(f->n_metric > 0);
		while (cat < M_MAX && strcmp(f->name, metric_descs[cat].name))
			cat++;
		assert_true(cat < M_MAX || strncmp(f->name, "bpfdiag_cpu", 11));
		assert_string_not_equal(f->name, "bpfdiag_cpu_runqueue_wait_seconds_total");
		if (!strcmp(f->name, "bpfdiag_cpu_runqueue_latency_seconds")) {
			assert_int_equal(f->n_metric, 1);
			assert_int_equal(f->metric[0]->histogram->sample_count, 1000005);
			assert_int_equal(f->metric[0]->histogram->positive_span[0]->length,
					 HIST_SLOTS);
		}
		if (!strcmp(f->name, "bpfdiag_container_info")) {
			assert_int_equal(f->n_metric, 2);
			assert_string_equal(f->metric[1]->label[7]->value, "ab\"c");
		}
		if (!strcmp(f->name, "extra_total"))
			assert_true(f->metric[0]->counter->value == 3);
		io__prometheus__client__metric_family__free_unpacked(f, NULL);
	}
	strbuf_reset(&want);
	snapshot_unref(s);
}

static void test_prom_proto_accept(void **state)
{
	(void)state;
	assert_false(prom_proto_accepted(NULL));
	assert_false(prom_proto_accepted("text/plain;version=0.0.4;q=1,*/*;q=0.1"));
	assert_true(prom_proto_accepted(
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
		"encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"));
	assert_false(prom_proto_accepted(
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
		"encoding=delimited;q=0.2,text/plain;version=0.0.4;q=0.3"));
	assert_false(prom_proto_accepted("application/vnd.google.protobuf;encoding=delimited"));
	assert_false(prom_proto_accepted(
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
		"encoding=text"));
}

/* Rendered a part at a time, the exposition is the same bytes as in one go. */
static void test_prom_stream_parts(void **state)
{
	struct snapshot *s = two_pods();
	struct strbuf whole = STRBUF_INIT, parts = STRBUF_INIT;
	struct prom_stream *ps;
	int r, calls = 0;

	(void)state;
	assert_int_equal(prom_encode(s, &whole), 0);
	ps = prom_stream_new(s, metric_descs, M_MAX, 0);
	assert_non_null(ps);
	do {
		size_t before = parts.len;

		r = prom_stream_next(ps, &parts, 64);
		assert_true(r >= 0);
		assert_true(r == 0 || parts.len >= before + 64);
		calls++;
	} while (r > 0);
	prom_stream_free(ps);
	/* in several parts (a part ends after the series that crossed its size) */
	assert_true(calls > 4);
	assert_int_equal(parts.len, whole.len);
	assert_memory_equal(parts.data, whole.data, whole.len);
	strbuf_reset(&whole);
	strbuf_reset(&parts);
	snapshot_unref(s);
}

static void test_pods_json_groups_by_uid(void **state)
{
	struct snapshot *s = two_pods();
	struct strbuf sb = STRBUF_INIT;
	json_object *root, *pods, *p, *cs, *v;

	(void)state;
	assert_int_equal(api_pods_json(s, &sb), 0);
	root = json_tokener_parse(sb.data);
	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "pods", &pods));
	assert_int_equal(json_object_array_length(pods), 2);
	p = json_object_array_get_idx(pods, 0);
	assert_true(json_object_object_get_ex(p, "uid", &v));
	assert_string_equal(json_object_get_string(v), "uid-a");
	assert_true(json_object_object_get_ex(p, "containers", &cs));
	assert_int_equal(json_object_array_length(cs), 2);
	assert_true(json_object_object_get_ex(p, "cpu_cores", &v));
	assert_true(json_object_get_double(v) > 0.74 && json_object_get_double(v) < 0.76);
	v = json_object_array_get_idx(cs, 1);
	assert_true(json_object_object_get_ex(v, "cgroup_id", &v));
	assert_int_equal(json_object_get_uint64(v), 13);
	json_object_put(root);
	strbuf_reset(&sb);
	assert_int_equal(api_findings_json(s, &sb), 0);
	assert_string_equal(sb.data, "{\"findings\":[]}\n");
	strbuf_reset(&sb);
	snapshot_unref(s);
}

static void test_utf8_table(void **state)
{
	static const struct {
		const char *s;
		size_t len; /* of the first character; 0: ill-formed */
	} cases[] = {
		{ "a", 1 },
		{ "\xc2\x80", 2 },
		{ "\xdf\xbf", 2 },
		{ "\xc0\x80", 0 }, /* overlong NUL */
		{ "\xc1\xbf", 0 }, /* overlong */
		{ "\xe0\x80\x80", 0 }, /* overlong */
		{ "\xe0\xa0\x80", 3 },
		{ "\xed\x9f\xbf", 3 },
		{ "\xed\xa0\x80", 0 }, /* surrogate */
		{ "\xef\xbf\xbd", 3 }, /* U+FFFD itself */
		{ "\xf0\x8f\xbf\xbf", 0 }, /* overlong */
		{ "\xf0\x9f\x98\x80", 4 },
		{ "\xf4\x8f\xbf\xbf", 4 }, /* U+10FFFF */
		{ "\xf4\x90\x80\x80", 0 }, /* past U+10FFFF */
		{ "\xf5\x80\x80\x80", 0 },
		{ "\xe2\x82", 0 }, /* cut short */
		{ "\x80", 0 }, /* stray continuation */
		{ "\xff", 0 },
		{ "\xfe", 0 },
	};
	char buf[8], *r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (utf8_char_len(cases[i].s, strlen(cases[i].s)) != cases[i].len)
			fail_msg("case %zu: want %zu", i, cases[i].len);
	}
	r = utf8_repair_dup("a\xff\xfe/b\xe2\x82");
	assert_string_equal(r, "a\xef\xbf\xbd\xef\xbf\xbd/b\xef\xbf\xbd\xef\xbf\xbd");
	free(r);
	r = utf8_repair_dup("ok \xf0\x9f\x98\x80");
	assert_string_equal(r, "ok \xf0\x9f\x98\x80");
	free(r);
	/* a fixed buffer: repaired, cut at a character boundary when it no longer fits */
	snprintf(buf, sizeof(buf),
		 "ab\xff\xff"
		 "c");
	assert_true(utf8_repair_buf(buf, sizeof(buf)));
	assert_string_equal(buf, "ab\xef\xbf\xbd");
	snprintf(buf, sizeof(buf), "fine");
	assert_false(utf8_repair_buf(buf, sizeof(buf)));
	snprintf(buf, sizeof(buf), "x\xc0y");
	assert_true(utf8_repair_inplace(buf));
	assert_string_equal(buf, "x?y");
}

/* A cgroup named \xff\xfe (any user who may create a cgroup can) and the same bytes in every
 * other outside string: published through the slot, every encoder's output stays well-formed,
 * the bytes show as U+FFFD everywhere, and the repairs are counted. */
static void test_invalid_utf8_every_encoder(void **state)
{
	static const uint8_t bad[] = "\xff\xfe";
	struct snapshot_slot slot;
	struct hostile_out o;
	struct snapshot *s;
	char why[256] = "";

	(void)state;
	s = hostile_snapshot(bad, sizeof(bad) - 1);
	assert_non_null(s);
	snapshot_slot_init(&slot);
	snapshot_slot_set(&slot, s);
	s = snapshot_slot_get(&slot);
	assert_int_equal(hostile_render(s, &o), 0);
	if (hostile_check(&o, why, sizeof(why)))
		fail_msg("%s", why);
	assert_non_null(strstr(o.prom.data, "pod=\"\xef\xbf\xbd\xef\xbf\xbd\""));
	assert_non_null(strstr(o.pods.data, "\"cgroup_path\":\"\xef\xbf\xbd\xef\xbf\xbd\""));
	/* node; 2 x (8 labels, path, chart, 4 own label slots in 2 points); 9 pod labels; 8 of
	 * the finding's strings */
	assert_int_equal(s->agent.invalid_utf8_strings, 1 + 2 * (8 + 2 + 8) + 9 + 8);
	assert_non_null(strstr(o.prom.data, "\nbpfdiag_agent_invalid_utf8_strings 54\n"));
	hostile_out_reset(&o);
	snapshot_unref(s);
	snapshot_slot_destroy(&slot);
}

static void test_parse_listen(void **state)
{
	char host[64], err[256];
	unsigned port;

	(void)state;
	assert_int_equal(
		http_parse_listen("0.0.0.0:9810", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(port, 9810);
	assert_int_equal(http_parse_listen("[::1]:80", host, sizeof(host), &port, err, sizeof(err)),
			 0);
	assert_string_equal(host, "::1");
	assert_int_equal(http_parse_listen(":0", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "");
	static const char *bad[] = { "",       "9810",	  "host:",     "a:b", "1.2.3.4:65536",
				     "::1:80", "[::1]80", "1.2.3.4:-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (http_parse_listen(bad[i], host, sizeof(host), &port, err, sizeof(err)) !=
		    -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(err[0] != '\0');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_escape),
		cmocka_unit_test(test_prom_encode),
		cmocka_unit_test(test_prom_superseded_series),
		cmocka_unit_test(test_prom_absent_family_no_header),
		cmocka_unit_test(test_prom_stream_parts),
		cmocka_unit_test(test_hist_folded_buckets),
		cmocka_unit_test(test_prom_proto_native),
		cmocka_unit_test(test_prom_proto_accept),
		cmocka_unit_test(test_prom_proto_stream_is_the_text),
		cmocka_unit_test(test_prom_values_round_trip),
		cmocka_unit_test(test_pods_json_groups_by_uid),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_utf8_table),
		cmocka_unit_test(test_invalid_utf8_every_encoder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
