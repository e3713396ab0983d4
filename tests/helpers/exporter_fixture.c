/* Writes what the exporters make of a hand-built snapshot, for checks by real peers (promtool,
 * the official opentelemetry-proto bindings) in tests/e2e/test_exporter_fixtures.py:
 *   exporter_fixture prom        Prometheus text of a snapshot with counters, gauges, own
 *                                labels that need escaping and histograms, plus self-metrics
 *   exporter_fixture otlp        the same snapshot as an OTLP ExportMetricsServiceRequest
 *   exporter_fixture catalogue   the real catalogue, one row a line: name, type, OTLP name,
 *                                OTLP unit, own labels and their OTLP names (tab-separated) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/otlp.h"
#include "codec/prom.h"
#include "codec/selfmetrics.h"

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
		fprintf(stderr, "usage: exporter_fixture prom|otlp|catalogue\n");
		r = 2;
	}
	snapshot_unref(s);
	return r;
}
