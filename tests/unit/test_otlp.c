// SPDX-License-Identifier: BSD-2-Clause
/* The OTLP encoder, checked by decoding its output with protobuf-c's unpack: resources per
 * series, attribute names and omission of empty ones, Sum/Gauge/Histogram shapes, temporality,
 * start times, integer units; and the ExportMetricsServiceResponse decoder. */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "codec/otlp.h"
#include "codec/prom.h"
#include "base/version.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest Request;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics ResourceMetrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

/* Metric ids of the test catalogue below (snapshots take them as enum metric_id). */
#define T_CPU ((enum metric_id)0)
#define T_DISK ((enum metric_id)1)
#define T_SOCKETS ((enum metric_id)2)
#define T_LAT ((enum metric_id)3)
#define T_MAX 4

static const double lat_bounds[] = { 0.001, 0.01, 0.1 };

/* A catalogue with one family of each shape, the way metrics.c writes rows. */
static const struct metric_desc cat[T_MAX] = {
	[T_CPU] = { .name = "t_cpu_seconds_total",
		    .type = MT_COUNTER,
		    .help = "cpu",
		    .otlp_name = "container.cpu.time",
		    .otlp_unit = "s" },
	[T_DISK] = { .name = "t_disk_bytes_total",
		     .type = MT_COUNTER,
		     .help = "disk",
		     .own_labels = { "direction", "device" },
		     .otlp_name = "container.disk.io",
		     .otlp_unit = "By",
		     .otlp_attrs = { "disk.io.direction", "system.device" } },
	[T_SOCKETS] = { .name = "t_listening_sockets",
			.type = MT_GAUGE,
			.help = "sockets",
			.own_labels = { "role" },
			.otlp_name = "bpfdiag.tcp.listening_sockets",
			.otlp_unit = "{socket}" },
	[T_LAT] = { .name = "t_latency_seconds",
		    .type = MT_HISTOGRAM,
		    .help = "latency",
		    .own_labels = { "direction" },
		    .otlp_name = "bpfdiag.disk.latency",
		    .otlp_unit = "s",
		    .otlp_attrs = { "disk.io.direction" } },
};

static struct snapshot *build(void)
{
	struct snapshot *s = snapshot_new(3);
	struct snap_series *k = &s->series[0], *l = &s->series[1];
	const char *rd[METRIC_MAX_OWN_LABELS] = { "read", "vda" };
	const char *wr[METRIC_MAX_OWN_LABELS] = { "write", "vda" };
	const char *srv[METRIC_MAX_OWN_LABELS] = { "server", "" };
	const char *dir[METRIC_MAX_OWN_LABELS] = { "read", NULL };
	const uint64_t counts[] = { 1, 2, 3, 4 };

	assert_non_null(s);
	s->time = 1700000100.5;
	s->agent.start_time = 1700000000.0;
	s->node = strdup("node-1");
	k->labels[LBL_NAMESPACE] = strdup("shop");
	k->labels[LBL_POD] = strdup("web-7d9f-abcde");
	k->labels[LBL_CONTAINER] = strdup("nginx");
	k->labels[LBL_WORKLOAD_KIND] = strdup("Deployment");
	k->labels[LBL_WORKLOAD] = strdup("web");
	k->labels[LBL_HELM_RELEASE] = strdup("web-prod");
	k->labels[LBL_POD_UID] = strdup("0b3c-uid");
	k->labels[LBL_CONTAINER_ID] = strdup("c0ffee");
	k->helm_chart = strdup("web-1.2.3");
	k->start_time = 1700000050.25;
	assert_int_equal(snap_series_add(k, T_CPU, NULL, 12.5), 0);
	assert_int_equal(snap_series_add(k, T_DISK, rd, 4096), 0);
	assert_int_equal(snap_series_add(k, T_DISK, wr, 8192.4), 0);
	assert_int_equal(snap_series_add(k, T_SOCKETS, srv, 2), 0);
	assert_int_equal(snap_series_add_hist(k, T_LAT, dir, lat_bounds, 3, counts, 0.75), 0);
	/* local mode: only the workload labels */
	l->labels[LBL_WORKLOAD_KIND] = strdup("SystemdService");
	l->labels[LBL_WORKLOAD] = strdup("sshd.service");
	assert_int_equal(snap_series_add(l, T_CPU, NULL, 3), 0);
	/* series[2] has no points: no resource */
	return s;
}

static const char *attr(KeyValue **kv, size_t n, const char *key)
{
	const char *found = NULL;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(kv[i]->key, key) == 0) {
			assert_null(found); /* keys are unique */
			assert_int_equal(
				kv[i]->value->value_case,
				OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
			found = kv[i]->value->string_value;
		}
	}
	return found;
}

static bool near(uint64_t a, uint64_t b)
{
	return (a > b ? a - b : b - a) < 1000; /* ns: doubles carry unix ns to ~256 ns */
}

static Metric *metric(ResourceMetrics *rm, const char *name)
{
	assert_int_equal(rm->n_scope_metrics, 1);
	for (size_t i = 0; i < rm->scope_metrics[0]->n_metrics; i++) {
		if (strcmp(rm->scope_metrics[0]->metrics[i]->name, name) == 0)
			return rm->scope_metrics[0]->metrics[i];
	}
	fail_msg("no metric %s", name);
	return NULL;
}

static Request *encode(struct snapshot *s, struct otlp_payload *p)
{
	static const struct otlp_attr res[] = { { "service.name", "svc" },
						{ "deployment.environment", "test" },
						{ "k8s.pod.name", "from-env" } };
	struct otlp_encode_opts o = {
		.resource = res, .n_resource = 3, .catalogue = cat, .n_catalogue = T_MAX
	};
	Request *req;

	assert_int_equal(otlp_encode(s, &o, p), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, p->len, p->data);
	assert_non_null(req);
	return req;
}

static void test_resources(void **state)
{
	struct snapshot *s = build();
	struct otlp_payload p;
	Request *req = encode(s, &p);
	ResourceMetrics *k, *l;
	KeyValue **a;
	size_t n;

	(void)state;
	assert_int_equal(p.n_resources, 2);
	assert_int_equal(p.n_points, 6);
	assert_int_equal(req->n_resource_metrics, 2);
	k = req->resource_metrics[0];
	a = k->resource->attributes;
	n = k->resource->n_attributes;
	assert_string_equal(attr(a, n, "k8s.namespace.name"), "shop");
	assert_string_equal(attr(a, n, "k8s.pod.name"), "web-7d9f-abcde"); /* beats the env's */
	assert_string_equal(attr(a, n, "k8s.pod.uid"), "0b3c-uid");
	assert_string_equal(attr(a, n, "k8s.container.name"), "nginx");
	assert_string_equal(attr(a, n, "container.id"), "c0ffee");
	assert_string_equal(attr(a, n, "k8s.node.name"), "node-1");
	assert_string_equal(attr(a, n, "k8s.deployment.name"), "web");
	assert_string_equal(attr(a, n, "bpfdiag.helm.release.name"), "web-prod");
	assert_string_equal(attr(a, n, "bpfdiag.helm.chart.name"), "web-1.2.3");
	assert_string_equal(attr(a, n, "bpfdiag.workload.kind"), "Deployment");
	assert_string_equal(attr(a, n, "service.name"), "svc");
	assert_string_equal(attr(a, n, "deployment.environment"), "test");
	assert_string_equal(k->scope_metrics[0]->scope->name, "bpfdiag");
	assert_string_equal(k->scope_metrics[0]->scope->version, BPFDIAG_VERSION);

	l = req->resource_metrics[1];
	a = l->resource->attributes;
	n = l->resource->n_attributes;
	assert_string_equal(attr(a, n, "bpfdiag.workload.kind"), "SystemdService");
	assert_string_equal(attr(a, n, "bpfdiag.workload.name"), "sshd.service");
	assert_string_equal(attr(a, n, "k8s.pod.name"), "from-env"); /* none of its own */
	/* empty labels are omitted, not sent as "" */
	assert_null(attr(a, n, "k8s.namespace.name"));
	assert_null(attr(a, n, "container.id"));
	assert_null(attr(a, n, "bpfdiag.helm.chart.name"));
	assert_null(attr(a, n, "k8s.deployment.name"));
	for (size_t i = 0; i < n; i++)
		assert_true(a[i]->value->string_value[0] != '\0');

	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	free(p.data);
	snapshot_unref(s);
}

static void test_metric_shapes(void **state)
{
	struct snapshot *s = build();
	struct otlp_payload p;
	Request *req = encode(s, &p);
	ResourceMetrics *k = req->resource_metrics[0];
	Metric *m;
	uint64_t t = 1700000100500000000ULL, start = 1700000050250000000ULL;

	(void)state;
	/* counter in seconds: cumulative monotonic Sum of doubles from the series start */
	m = metric(k, "container.cpu.time");
	assert_string_equal(m->unit, "s");
	assert_string_equal(m->description, "cpu");
	assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
	assert_int_equal(
		m->sum->aggregation_temporality,
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	assert_true(m->sum->is_monotonic);
	assert_int_equal(m->sum->n_data_points, 1);
	assert_int_equal(m->sum->data_points[0]->n_attributes, 0);
	assert_int_equal(m->sum->data_points[0]->value_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
	assert_true(m->sum->data_points[0]->as_double == 12.5);
	assert_true(near(m->sum->data_points[0]->time_unix_nano, t));
	assert_true(near(m->sum->data_points[0]->start_time_unix_nano, start));

	/* counter in bytes: integers; own labels under their OTLP names, one point each */
	m = metric(k, "container.disk.io");
	assert_string_equal(m->unit, "By");
	assert_int_equal(m->sum->n_data_points, 2);
	for (size_t i = 0; i < 2; i++) {
		Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dp = m->sum->data_points[i];

		assert_int_equal(
			dp->value_case,
			OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT);
		assert_int_equal(dp->n_attributes, 2);
		assert_string_equal(attr(dp->attributes, 2, "system.device"), "vda");
		assert_int_equal(dp->as_int,
				 strcmp(attr(dp->attributes, 2, "disk.io.direction"), "read") == 0 ?
					 4096 :
					 8192);
	}

	/* gauge: no start time; an own label without OTLP name keeps its own; empty ones go */
	m = metric(k, "bpfdiag.tcp.listening_sockets");
	assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
	assert_int_equal(m->gauge->n_data_points, 1);
	assert_int_equal(m->gauge->data_points[0]->start_time_unix_nano, 0);
	assert_int_equal(m->gauge->data_points[0]->as_int, 2);
	assert_int_equal(m->gauge->data_points[0]->n_attributes, 1);
	assert_string_equal(attr(m->gauge->data_points[0]->attributes, 1, "role"), "server");

	/* histogram: explicit bounds, per-bucket counts, count and a present sum */
	m = metric(k, "bpfdiag.disk.latency");
	assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
	assert_int_equal(
		m->histogram->aggregation_temporality,
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	assert_int_equal(m->histogram->n_data_points, 1);
	{
		Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *h =
			m->histogram->data_points[0];

		assert_int_equal(h->n_explicit_bounds, 3);
		assert_true(h->explicit_bounds[0] == 0.001 && h->explicit_bounds[2] == 0.1);
		assert_int_equal(h->n_bucket_counts, 4);
		assert_int_equal(h->bucket_counts[0], 1);
		assert_int_equal(h->bucket_counts[3], 4);
		assert_int_equal(h->count, 10);
		assert_int_equal(
			h->sum_present_case,
			OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM);
		assert_true(h->sum == 0.75);
		assert_true(near(h->start_time_unix_nano, start));
		assert_string_equal(attr(h->attributes, h->n_attributes, "disk.io.direction"),
				    "read");
	}

	/* the local series has no start of its own: the agent's start */
	m = metric(req->resource_metrics[1], "container.cpu.time");
	assert_true(near(m->sum->data_points[0]->start_time_unix_nano, 1700000000000000000ULL));

	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	free(p.data);
	snapshot_unref(s);
}

static void test_edge_cases(void **state)
{
	struct snapshot *s = snapshot_new(1);
	struct otlp_encode_opts o = { .catalogue = cat, .n_catalogue = T_MAX };
	struct otlp_payload p = { 0 };

	(void)state;
	/* nothing to send: an empty, valid request */
	assert_int_equal(otlp_encode(s, &o, &p), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(p.n_resources, 0);
	free(p.data);
	/* a point outside the catalogue is refused, not read out of bounds */
	assert_int_equal(snap_series_add(&s->series[0], (enum metric_id)T_MAX, NULL, 1), 0);
	p.data = NULL;
	assert_int_equal(otlp_encode(s, &o, &p), -EINVAL);
	assert_null(p.data);
	snapshot_unref(s);
	/* the real catalogue: every row has an OTLP name and unit */
	for (int m = 0; m < M_MAX; m++) {
		assert_non_null(metric_descs[m].otlp_name);
		assert_non_null(metric_descs[m].otlp_unit);
	}
	assert_string_equal(otlp_workload_attr("StatefulSet"), "k8s.statefulset.name");
	assert_string_equal(otlp_workload_attr("CronJob"), "k8s.cronjob.name");
	assert_string_equal(otlp_workload_attr("DaemonSet"), "k8s.daemonset.name");
	assert_string_equal(otlp_workload_attr("Job"), "k8s.job.name");
	assert_null(otlp_workload_attr("Pod"));
	assert_null(otlp_workload_attr("Container"));
	assert_null(otlp_workload_attr(NULL));
}

/* The real catalogue's per-volume points carry semconv's k8s.volume.name and k8s.volume.type
 * (an OTLP-only own label), the claim when there is one, and no bpfdiag.volume.name. */
static void test_volume_attributes(void **state)
{
	static const char *const vols[][METRIC_MAX_OWN_LABELS] = {
		{ "emptydir", "scratch", "", "emptyDir" },
		{ "pvc", "data", "data-db-0", "persistentVolumeClaim" },
		{ "config", "tls", "", "secret" },
		{ "rootfs", "/", "", "bpfdiag.rootfs" },
	};
	struct otlp_encode_opts o = { 0 };
	struct strbuf sb = STRBUF_INIT;
	struct snapshot *s = snapshot_new(1);
	struct otlp_payload p;
	Request *req;
	Metric *m;

	(void)state;
	assert_non_null(s);
	s->time = 1700000100;
	s->series[0].labels[LBL_WORKLOAD] = strdup("db");
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(snap_series_add(&s->series[0], M_FS_WRITE_BYTES, vols[i], 100), 0);
	assert_int_equal(otlp_encode(s, &o, &p), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, p.len, p.data);
	assert_non_null(req);
	m = metric(req->resource_metrics[0], "bpfdiag.fs.write.io");
	assert_int_equal(m->sum->n_data_points, 4);
	for (size_t i = 0; i < 4; i++) {
		Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dp = m->sum->data_points[i];
		KeyValue **a = dp->attributes;
		size_t n = dp->n_attributes;

		assert_int_equal(n, vols[i][2][0] ? 4 : 3);
		assert_string_equal(attr(a, n, "bpfdiag.volume.class"), vols[i][0]);
		assert_string_equal(attr(a, n, "k8s.volume.name"), vols[i][1]);
		assert_string_equal(attr(a, n, "k8s.volume.type"), vols[i][3]);
		if (vols[i][2][0])
			assert_string_equal(attr(a, n, "bpfdiag.volume.claim"), vols[i][2]);
		assert_null(attr(a, n, "bpfdiag.volume.name"));
	}
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	free(p.data);
	/* Prometheus has no such label: the type is OTLP's only */
	assert_int_equal(prom_encode(s, &sb), 0);
	assert_non_null(strstr(sb.data, ",volume_class=\"pvc\",volume=\"data\","
					"persistentvolumeclaim=\"data-db-0\"} 100\n"));
	assert_null(strstr(sb.data, "volume_type"));
	assert_null(strstr(sb.data, "persistentVolumeClaim"));
	strbuf_reset(&sb);
	snapshot_unref(s);
}

static void test_decode_response(void **state)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse r =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsPartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_PARTIAL_SUCCESS__INIT;
	static const uint8_t garbage[] = { 0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01 };
	uint8_t buf[128];
	char msg[8];
	int64_t rejected = -1;
	size_t len;

	(void)state;
	assert_int_equal(otlp_decode_response(NULL, 0, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 0);
	ps.rejected_data_points = 7;
	ps.error_message = "too many labels";
	r.partial_success = &ps;
	len = opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__pack(
		&r, buf);
	assert_int_equal(otlp_decode_response(buf, len, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 7);
	assert_string_equal(msg, "too man"); /* truncated to the buffer */
	assert_int_equal(otlp_decode_response(garbage, sizeof(garbage), &rejected, msg,
					      sizeof(msg)),
			 -EBADMSG);
}

/* A partial success whose message makes the answer far larger than what is read of it: the
 * rejected count still comes out of the first bytes, and what arrived of the message. */
static void test_decode_response_prefix(void **state)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse r =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsPartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_PARTIAL_SUCCESS__INIT;
	size_t big = 200000, len;
	char *text = malloc(big + 1), msg[16];
	uint8_t *buf = malloc(big + 64), cut_first[64];
	int64_t rejected = -1;

	(void)state;
	assert_non_null(text);
	assert_non_null(buf);
	memset(text, 'x', big);
	text[big] = '\0';
	ps.rejected_data_points = 12345;
	ps.error_message = text;
	r.partial_success = &ps;
	len = opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__pack(
		&r, buf);
	assert_true(len > big);
	/* cut at 64 KiB, as the sender reads it */
	assert_int_equal(otlp_decode_response(buf, 65536, &rejected, msg, sizeof(msg)), -EBADMSG);
	assert_int_equal(otlp_decode_response_prefix(buf, 65536, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 12345);
	assert_string_equal(msg, "xxxxxxxxxxxxxxx");
	/* whole: the same as the full decoder */
	assert_int_equal(otlp_decode_response_prefix(buf, len, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 12345);
	/* the message first (another encoder's order), cut before the count: not found */
	cut_first[0] = 0x0a; /* partial_success, length-delimited */
	cut_first[1] = 0xff;
	cut_first[2] = 0x7f; /* 16383 bytes */
	cut_first[3] = 0x12; /* error_message */
	cut_first[4] = 0xf0;
	cut_first[5] = 0x7f;
	memset(cut_first + 6, 'y', sizeof(cut_first) - 6);
	assert_int_equal(otlp_decode_response_prefix(cut_first, sizeof(cut_first), &rejected, msg,
						     sizeof(msg)),
			 -EBADMSG);
	assert_int_equal(rejected, 0);
	assert_string_equal(msg, "yyyyyyyyyyyyyyy");
	/* no partial success at all, or garbage */
	assert_int_equal(otlp_decode_response_prefix(NULL, 0, &rejected, msg, sizeof(msg)),
			 -EBADMSG);
	free(text);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_metric_shapes),
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_volume_attributes),
		cmocka_unit_test(test_decode_response),
		cmocka_unit_test(test_decode_response_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
