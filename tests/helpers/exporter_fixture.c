// SPDX-License-Identifier: BSD-2-Clause
/* Writes what the exporters make of a hand-built snapshot, for checks by real peers (promtool,
 * the official opentelemetry-proto bindings) in tests/e2e/test_exporter_fixtures.py:
 *   exporter_fixture prom        Prometheus text of a snapshot with counters, gauges, own
 *                                labels that need escaping and histograms, plus self-metrics
 *   exporter_fixture otlp        the same snapshot as an OTLP ExportMetricsServiceRequest
 *   exporter_fixture catalogue   the real catalogue, one row a line: name, type, OTLP name,
 *                                OTLP unit, own labels and their OTLP names (tab-separated)
 *   exporter_fixture hostile N DIR  N snapshots with random bytes (invalid UTF-8, quotes,
 *                                backslashes, control characters) in every string, published
 *                                the way the agent does; DIR/<i>.prom, .pods.json,
 *                                .findings.json and .otlp are what the encoders made of each */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/otlp.h"
#include "codec/prom.h"
#include "codec/selfmetrics.h"
#include "hostile.h"

/* Metric ids of the fixture catalogue below (snapshots take them as enum metric_id). */
#define F_CPU ((enum metric_id)0)
#define F_DISK ((enum metric_id)1)
#define F_LISTEN ((enum metric_id)2)
#define F_RUNQ ((enum metric_id)3)
#define F_DISK_LAT ((enum metric_id)4)
#define F_MAX 5

static const double runq_bounds[] = { 1e-06, 1e-05, 0.0001, 0.001, 0.01, 0.1, 1 };
static const double disk_bounds[] = { 0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5 };

static const struct metric_desc cat[F_MAX] = {
	[F_CPU] = { .name = "bpfdiag_cpu_seconds_total",
		    .type = MT_COUNTER,
		    .help = "CPU time the container's tasks spent running.",
		    .otlp_name = "container.cpu.time",
		    .otlp_unit = "s" },
	[F_DISK] = { .name = "bpfdiag_disk_bytes_total",
		     .type = MT_COUNTER,
		     .help = "Bytes read and written by block I/O.\nSecond line \\ of help.",
		     .own_labels = { "direction", "device" },
		     .otlp_name = "container.disk.io",
		     .otlp_unit = "By",
		     .otlp_attrs = { "disk.io.direction", "system.device" } },
	[F_LISTEN] = { .name = "bpfdiag_tcp_listening_sockets",
		       .type = MT_GAUGE,
		       .help = "Listening TCP sockets.",
		       .otlp_name = "bpfdiag.tcp.listening_sockets",
		       .otlp_unit = "{socket}" },
	[F_RUNQ] = { .name = "bpfdiag_cpu_runqueue_latency_seconds",
		     .type = MT_HISTOGRAM,
		     .help = "Run-queue wait per wakeup.",
		     .otlp_name = "bpfdiag.cpu.runqueue.latency",
		     .otlp_unit = "s" },
	[F_DISK_LAT] = { .name = "bpfdiag_disk_latency_seconds",
			 .type = MT_HISTOGRAM,
			 .help = "Block I/O latency.",
			 .own_labels = { "direction" },
			 .otlp_name = "bpfdiag.disk.latency",
			 .otlp_unit = "s",
			 .otlp_attrs = { "disk.io.direction" } },
};

static void fill(struct snap_series *se, unsigned k)
{
	const char *rd[METRIC_MAX_OWN_LABELS] = { "read", "vda" };
	const char *wr[METRIC_MAX_OWN_LABELS] = { "write", "nvme0n1" };
	const char *r1[METRIC_MAX_OWN_LABELS] = { "read" };
	const char *w1[METRIC_MAX_OWN_LABELS] = { "write" };
	uint64_t runq[8] = { 5, 10 * k, 20, 7, 3, 1, 0, 1 };
	uint64_t lat[8] = { 0, 4, 9, 2, 0, 0, 1, 0 };

	if (snap_series_add(se, F_CPU, NULL, 1.25 * k) ||
	    snap_series_add(se, F_DISK, rd, 4096.0 * k) ||
	    snap_series_add(se, F_DISK, wr, 1e9 + k) || snap_series_add(se, F_LISTEN, NULL, k) ||
	    snap_series_add_hist(se, F_RUNQ, NULL, runq_bounds, 7, runq, 0.0375 * k) ||
	    snap_series_add_hist(se, F_DISK_LAT, r1, disk_bounds, 7, lat, 1.5) ||
	    snap_series_add_hist(se, F_DISK_LAT, w1, disk_bounds, 7, lat, 0)) {
		fprintf(stderr, "exporter_fixture: out of memory\n");
		exit(1);
	}
}

static struct snapshot *build(void)
{
	struct snapshot *s = snapshot_new(2);
	struct snap_series *a, *b;

	if (!s)
		exit(1);
	s->time = 1700000100.25;
	s->agent.start_time = 1700000000;
	s->node = strdup("node-1");
	a = &s->series[0];
	a->labels[LBL_NAMESPACE] = strdup("shop");
	a->labels[LBL_POD] = strdup("web-7d9f-abcde");
	a->labels[LBL_CONTAINER] = strdup("nginx");
	a->labels[LBL_WORKLOAD_KIND] = strdup("Deployment");
	a->labels[LBL_WORKLOAD] = strdup("web \"quoted\" \\ back\nslash");
	a->labels[LBL_HELM_RELEASE] = strdup("web-prod");
	a->labels[LBL_POD_UID] = strdup("6f1c2b1e-0000-4000-8000-000000000001");
	a->labels[LBL_CONTAINER_ID] = strdup("c0ffee00");
	a->helm_chart = strdup("web-1.2.3");
	a->start_time = 1700000050;
	fill(a, 1);
	b = &s->series[1];
	b->labels[LBL_WORKLOAD_KIND] = strdup("SystemdService");
	b->labels[LBL_WORKLOAD] = strdup("sshd.service");
	fill(b, 2);
	return s;
}

static int write_file(const char *dir, unsigned i, const char *ext, const void *data, size_t len)
{
	char path[4096];
	FILE *f;
	int r = 0;

	snprintf(path, sizeof(path), "%s/%u.%s", dir, i, ext);
	f = fopen(path, "we");
	if (!f || fwrite(data, 1, len, f) != len)
		r = 1;
	if (f && fclose(f))
		r = 1;
	return r;
}

/* Random strings biased to what breaks encoders, NUL-separated. */
static size_t hostile_bytes(uint64_t *rng, uint8_t *buf, size_t cap)
{
	static const uint8_t special[] = { 0,	 0,    0,    0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0,
					   0xf4, 0x90, 0xe2, 0x82, '"',	 '\\', '\n', '\r', '\t',
					   0x01, 0x7f, '{',  '}',  '=',	 ',',  ' ',  '#' };
	size_t n = 64 + *rng % (cap - 64);

	for (size_t i = 0; i < n; i++) {
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		buf[i] = (*rng >> 8) % 3 ? special[(*rng >> 16) % sizeof(special)] :
					   (uint8_t)(*rng >> 24);
	}
	return n;
}

static int hostile(unsigned n, const char *dir)
{
	uint64_t rng = 0x9E3779B97F4A7C15ULL;
	uint8_t buf[1024];

	for (unsigned i = 0; i < n; i++) {
		struct snapshot *s = hostile_snapshot(buf, hostile_bytes(&rng, buf, sizeof(buf)));
		struct snapshot_slot slot;
		struct hostile_out o;
		int r;

		if (!s)
			return 1;
		snapshot_slot_init(&slot);
		snapshot_slot_set(&slot, s); /* the one repair every published snapshot gets */
		r = hostile_render(s, &o);
		if (!r)
			r = write_file(dir, i, "prom", o.prom.data, o.prom.len) ||
			    write_file(dir, i, "pods.json", o.pods.data, o.pods.len) ||
			    write_file(dir, i, "findings.json", o.findings.data, o.findings.len) ||
			    write_file(dir, i, "otlp", o.otlp, o.otlp_len);
		hostile_out_reset(&o);
		snapshot_slot_destroy(&slot);
		if (r)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	const char *mode = argc > 1 ? argv[1] : "";
	struct snapshot *s;
	int r = 0;

	if (strcmp(mode, "catalogue") == 0) {
		for (int m = 0; m < M_MAX; m++) {
			const struct metric_desc *d = &metric_descs[m];

			printf("%s\t%s\t%s\t%s", d->name, types[d->type], d->otlp_name,
			       d->otlp_unit);
			for (int o = 0; o < METRIC_MAX_OWN_LABELS && d->own_labels[o]; o++)
				printf("\t%s=%s", d->own_labels[o],
				       d->otlp_attrs[o] ? d->otlp_attrs[o] : d->own_labels[o]);
			printf("\n");
		}
		return 0;
	}
	if (strcmp(mode, "hostile") == 0 && argc == 4)
		return hostile((unsigned)strtoul(argv[2], NULL, 10), argv[3]);
	s = build();
	if (strcmp(mode, "prom") == 0) {
		struct strbuf sb = STRBUF_INIT;
		struct selfmetrics m = { .otlp_enabled = true };

		selfmetrics_http_request(&m, SM_PATH_METRICS, 200);
		selfmetrics_http_render(&m, 0.003);
		r = prom_encode_catalogue(s, cat, F_MAX, &sb);
		selfmetrics_prom_encode(&m, &sb);
		if (r || strbuf_failed(&sb))
			r = 1;
		else
			fwrite(sb.data, 1, sb.len, stdout);
		strbuf_reset(&sb);
	} else if (strcmp(mode, "otlp") == 0) {
		static const struct otlp_attr res[] = { { "service.name", "bpfdiag" } };
		struct otlp_encode_opts o = {
			.resource = res, .n_resource = 1, .catalogue = cat, .n_catalogue = F_MAX
		};
		struct otlp_payload p;

		r = otlp_encode(s, &o, &p) ? 1 : 0;
		if (!r) {
			fwrite(p.data, 1, p.len, stdout);
			free(p.data);
		}
	} else {
		fprintf(stderr, "usage: exporter_fixture prom|otlp|catalogue|hostile N DIR\n");
		r = 2;
	}
	snapshot_unref(s);
	return r;
}
