#!/usr/bin/env python3
"""Writes the Grafana dashboards shipped by the chart (charts/bpfdiag/dashboards/*.json).

The JSON files are generated so that every panel is built the same way (datasource variable,
units, legends, selectors); tests/chart/test_dashboards.py checks that the committed files are
what this script writes. Metric and label names are those of docs/METRICS.md.

Usage: tools/gen-dashboards.py [--check]   (--check: exit 1 if a committed file differs)
"""
import json
import os
import sys

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "charts", "bpfdiag",
                       "dashboards")
DS = {"type": "prometheus", "uid": "${datasource}"}

# Selectors. W: the workload variables; per-container series, bpfdiag_pod_info and
# bpfdiag_finding all carry these labels. A: the agent variable, on self-metrics (instance is the
# node name: the chart's ServiceMonitor sets it).
W = 'namespace=~"$namespace", helm_release=~"$helm_release", workload=~"$workload"'
A = 'instance=~"$instance"'
RATE = "$__rate_interval"


class Board:
    """Lays panels out left to right on Grafana's 24-column grid."""

    def __init__(self, uid, title, description, variables, tags=()):
        self.uid, self.title, self.description = uid, title, description
        self.variables = variables
        self.tags = ["bpfdiag"] + list(tags)
        self.panels = []
        self.x = self.y = self.row_h = 0

    def _place(self, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({"type": "row", "title": title, "collapsed": False, "panels": [],
                            "id": len(self.panels) + 1,
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}})
        self.y += 1

    def add(self, panel, w, h):
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = self._place(w, h)
        panel["datasource"] = DS
        self.panels.append(panel)

    def json(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "editable": True,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-3h", "to": "now"},
            "timepicker": {},
            "timezone": "",
            "annotations": {"list": []},
            "links": [{"type": "dashboards", "tags": ["bpfdiag"], "asDropdown": True,
                       "title": "bpfdiag", "includeVars": True, "keepTime": True}],
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def target(expr, legend="", instant=False, table=False, ref=0):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + ref),
         "range": not instant, "instant": instant}
    if table:
        t["format"] = "table"
    return t


def timeseries(title, queries, unit, description="", stack=False):
    return {
        "type": "timeseries", "title": title, "description": description,
        "targets": [target(e, l, ref=i) for i, (e, l) in enumerate(queries)],
        "fieldConfig": {"defaults": {
            "unit": unit, "min": 0,
            "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if stack else 0,
                       "showPoints": "never",
                       "stacking": {"mode": "normal" if stack else "none", "group": "A"}}},
            "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "right",
                               "calcs": ["mean", "max", "lastNotNull"]},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def stat(title, expr, unit="short", legend="", description="", thresholds=None):
    steps = [{"color": "green", "value": None}]
    for value, color in thresholds or []:
        steps.append({"color": color, "value": value})
    return {
        "type": "stat", "title": title, "description": description,
        "targets": [target(expr, legend, instant=True)],
        "fieldConfig": {"defaults": {"unit": unit,
                                     "thresholds": {"mode": "absolute", "steps": steps}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
                    "orientation": "auto"},
    }


def bars(title, expr, legend, unit, description=""):
    return {
        "type": "bargauge", "title": title, "description": description,
        "targets": [target(expr, legend, instant=True)],
        "fieldConfig": {"defaults": {"unit": unit, "min": 0,
                                     "color": {"mode": "continuous-GrYlRd"}},
                        "overrides": []},
        "options": {"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    }


def table(title, expr, columns, description="", links=None, value_name=None, unit="short"):
    """An instant-query table showing `columns` (labels) in that order, plus the value when
    value_name is given."""
    order = {c: i for i, c in enumerate(columns)}
    excluded = {"Time": True, "__name__": True, "job": True}
    if value_name is None:
        excluded["Value"] = True
    renames = {"Value": value_name} if value_name else {}
    if value_name:
        order["Value"] = len(columns)
    panel = {
        "type": "table", "title": title, "description": description,
        "targets": [target(expr, instant=True, table=True)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm",
                    "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
        "transformations": [{"id": "organize", "options": {
            "excludeByName": excluded, "indexByName": order, "renameByName": renames}}],
    }
    if links:
        panel["fieldConfig"]["defaults"]["links"] = links
    return panel


def query_var(name, label, query, multi=True, include_all=True):
    return {
        "type": "query", "name": name, "label": label,
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery",
                  "qryType": 1},
        "refresh": 2, "sort": 1,
        "multi": multi, "includeAll": include_all, "allValue": ".*",
        "current": ({"selected": True, "text": ["All"], "value": ["$__all"]} if multi else
                    {"selected": True, "text": "All", "value": "$__all"}) if include_all else {},
        "options": [], "regex": "", "hide": 0,
    }


def common_variables(workload_multi=True):
    return [
        {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
         "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [],
         "refresh": 1, "regex": ""},
        query_var("namespace", "Namespace", "label_values(bpfdiag_pod_info, namespace)"),
        query_var("helm_release", "Helm release",
                  'label_values(bpfdiag_pod_info{namespace=~"$namespace"}, helm_release)'),
        query_var("workload", "Workload",
                  'label_values(bpfdiag_pod_info{namespace=~"$namespace", '
                  'helm_release=~"$helm_release"}, workload)', multi=workload_multi),
    ]


DRILL_LINK = [{"title": "Open workload",
               "url": "/d/bpfdiag-workload?${datasource:queryparam}"
                      "&var-namespace=${__data.fields.namespace}"
                      "&var-workload=${__data.fields.workload}&${__url_time_range}"}]


def top(metric):
    return ("topk(10, sum by (namespace, workload_kind, workload) "
            "(rate(%s{%s}[%s])))" % (metric, W, RATE))


def fleet():
    b = Board("bpfdiag-fleet", "bpfdiag / Fleet overview",
              "Findings and the busiest workloads across every node bpfdiag measures.",
              common_variables(), ["fleet"])
    b.row("Findings")
    sev = [(1, "orange")]
    b.add(stat("Critical findings", 'count(bpfdiag_finding{%s, severity="critical"}) or vector(0)'
               % W, thresholds=[(1, "red")]), 4, 4)
    b.add(stat("High findings", 'count(bpfdiag_finding{%s, severity="high"}) or vector(0)' % W,
               thresholds=sev), 4, 4)
    b.add(stat("Medium and lower", 'count(bpfdiag_finding{%s, severity=~"medium|low|info"}) '
               "or vector(0)" % W, thresholds=[(1, "yellow")]), 4, 4)
    b.add(stat("Workloads with findings",
               "count(count by (namespace, workload_kind, workload) (bpfdiag_finding{%s})) "
               "or vector(0)" % W, thresholds=sev), 4, 4)
    b.add(stat("Pods measured", "count(bpfdiag_pod_info{%s}) or vector(0)" % W), 4, 4)
    b.add(stat("Agents", "count(bpfdiag_agent_build_info) or vector(0)",
               description="Agents Prometheus scrapes (one per node)."), 4, 4)
    b.add(bars("Findings by Helm release",
               "sort_desc(count by (helm_release) (bpfdiag_finding{%s}))" % W,
               "{{helm_release}}", "short",
               "Workloads outside a Helm release are the empty bar."), 8, 9)
    b.add(table("Findings by workload", "bpfdiag_finding{%s}" % W,
                ["severity", "rule", "namespace", "workload_kind", "workload", "helm_release",
                 "suggested_kind"],
                "One row per finding; the agent's /api/v1/findings has the message and evidence.",
                links=DRILL_LINK), 16, 9)
    b.add(timeseries("Findings over time by rule",
                     [("count by (rule) (bpfdiag_finding{%s})" % W, "{{rule}}")], "short",
                     stack=True), 24, 7)
    b.row("Top workloads")
    b.add(bars("Top CPU (cores)", top("bpfdiag_cpu_seconds_total"),
               "{{namespace}}/{{workload}}", "short"), 8, 9)
    b.add(bars("Top disk I/O", top("bpfdiag_disk_bytes_total"),
               "{{namespace}}/{{workload}}", "binBps", "Block-layer bytes read and written."),
          8, 9)
    b.add(bars("Top network", top("bpfdiag_network_bytes_total"),
               "{{namespace}}/{{workload}}", "binBps", "Bytes sent and received."), 8, 9)
    b.add(bars("Top fsync", top("bpfdiag_fs_sync_calls_total"),
               "{{namespace}}/{{workload}}", "ops", "fsync, fdatasync, sync_file_range and "
               "msync(MS_SYNC) calls per second, all volumes."), 8, 9)
    b.add(bars("Top CPU run-queue wait", top("bpfdiag_cpu_runqueue_wait_seconds_total"),
               "{{namespace}}/{{workload}}", "s", "Seconds per second spent runnable but "
               "waiting for a CPU."), 8, 9)
    b.add(bars("Top TCP retransmits", top("bpfdiag_tcp_retransmits_total"),
               "{{namespace}}/{{workload}}", "short"), 8, 9)
    b.row("By Helm release")
    b.add(timeseries("CPU by Helm release", [(
        "sum by (helm_release) (rate(bpfdiag_cpu_seconds_total{%s}[%s]))" % (W, RATE),
        "{{helm_release}}")], "short", stack=True), 12, 8)
    b.add(timeseries("Disk I/O by Helm release", [(
        "sum by (helm_release) (rate(bpfdiag_disk_bytes_total{%s}[%s]))" % (W, RATE),
        "{{helm_release}}")], "binBps", stack=True), 12, 8)
    return b


def by_pod(metric, extra="", by="pod", legend="{{pod}}"):
    return ("sum by (%s) (rate(%s{%s%s}[%s]))" % (by, metric, W, extra, RATE), legend)


def workload():
    b = Board("bpfdiag-workload", "bpfdiag / Workload",
              "What one workload does, per pod: CPU and run queue, disk by device and volume "
              "class, fsync, network and TCP.", common_variables(workload_multi=False),
              ["workload"])
    b.row("Findings and pods")
    b.add(table("Findings", "bpfdiag_finding{%s}" % W,
                ["severity", "rule", "workload_kind", "workload", "suggested_kind"]), 12, 6)
    b.add(table("Pods", "bpfdiag_pod_info{%s}" % W,
                ["pod", "node", "qos_class", "workload_kind", "helm_chart"]), 12, 6)
    b.row("CPU")
    b.add(timeseries("CPU (cores)", [by_pod("bpfdiag_cpu_seconds_total")], "short"), 12, 8)
    b.add(timeseries("CPU throttled", [by_pod("bpfdiag_cpu_throttled_seconds_total")], "s",
                     "Seconds per second the CFS quota held the pod's tasks back."), 12, 8)
    b.add(timeseries("Run-queue wait", [by_pod("bpfdiag_cpu_runqueue_wait_seconds_total")], "s",
                     "Seconds per second runnable tasks waited for a CPU."), 12, 8)
    b.add(timeseries("Throttled periods", [
        ("sum by (pod) (rate(bpfdiag_cpu_throttled_periods_total{%s}[%s])) / "
         "sum by (pod) (rate(bpfdiag_cpu_periods_total{%s}[%s]))" % (W, RATE, W, RATE),
         "{{pod}}")], "percentunit",
        "Share of CPU-limit enforcement periods in which the pod was throttled (RS-02)."), 12, 8)
    b.add(timeseries("CPU limit and samples", [
        ("sum by (pod) (bpfdiag_cpu_limit_cores{%s})" % W, "limit {{pod}}"),
        ("sum by (pod) (rate(bpfdiag_cpu_samples_total{%s}[%s])) / 99" % (W, RATE),
         "sampled {{pod}}")], "short",
        "CPU limit in cores, and CPU use estimated from cpu-clock samples at 99 Hz: only when "
        "the agent samples (opt-in: chart value agent.cpuSamplesHz: 99, agent flag "
        "--cpu-samples 99); without, the sampled line is empty, and at another rate it is "
        "off by rate/99."), 12, 8)
    b.add(timeseries("CPU pressure", [
        by_pod("bpfdiag_cpu_pressure_seconds_total", by="pod, kind",
               legend="{{pod}} {{kind}}")], "percentunit",
        "PSI: share of time some (or all) of the pod's tasks stalled waiting for CPU."), 12, 8)
    b.add(timeseries("Run-queue latency", [
        ("histogram_quantile(0.99, sum by (pod, le) (rate("
         "bpfdiag_cpu_runqueue_latency_seconds_bucket{%s}[%s])))" % (W, RATE), "p99 {{pod}}"),
        ("histogram_quantile(0.5, sum by (pod, le) (rate("
         "bpfdiag_cpu_runqueue_latency_seconds_bucket{%s}[%s])))" % (W, RATE), "p50 {{pod}}"),
    ], "s"), 12, 8)
    b.row("Memory")
    b.add(timeseries("Memory working set and limit", [
        ("sum by (pod) (bpfdiag_memory_working_set_bytes{%s})" % W, "{{pod}}"),
        ("sum by (pod) (bpfdiag_memory_limit_bytes{%s})" % W, "limit {{pod}}")], "bytes",
        "Working set (usage - inactive file, as kubelet evicts by) against the limit (RS-03)."),
        12, 8)
    b.add(timeseries("Memory by kind", [
        ("sum(bpfdiag_memory_usage_bytes{%s})" % W, "usage"),
        ("sum(bpfdiag_memory_rss_bytes{%s})" % W, "rss"),
        ("sum(bpfdiag_memory_page_cache_bytes{%s})" % W, "page cache"),
        # absent where the cgroups cannot swap (docs/METRICS.md): none swapped
        ("sum(bpfdiag_memory_swap_bytes{%s}) or vector(0)" % W, "swap")], "bytes"), 12, 8)
    b.add(timeseries("Page faults", [
        by_pod("bpfdiag_memory_page_faults_total", by="pod, type",
               legend="{{pod}} {{type}}")], "short"), 12, 8)
    b.add(timeseries("OOM kills", [
        ("sum by (pod) (bpfdiag_memory_oom_kills_total{%s})" % W, "{{pod}}")], "short",
        "Kills by the kernel's OOM killer in the pod's containers, since they started (RS-05)."),
        12, 8)
    b.row("Right-sizing and neighbours")
    b.add(table("Recommended CPU request (cores)",
                'bpfdiag_recommendation{%s, resource="cpu"}' % W,
                ["pod", "container", "kind"], value_name="cores",
                description="p95 of per-interval CPU use over the window, raised when the "
                "container was throttled (docs/RULES.md, Right-sizing; RS-01, RS-04)."), 12, 8)
    b.add(table("Recommended memory (bytes)",
                'bpfdiag_recommendation{%s, resource="memory"}' % W,
                ["pod", "container", "kind"], value_name="bytes", unit="bytes",
                description="Daily peak working set + 15 % (request) and + 30 % (limit), raised "
                "after an OOM kill (docs/RULES.md, Right-sizing)."), 12, 8)
    b.add(timeseries("Run-queue wait caused by neighbours", [
        ("sum by (neighbour_namespace, neighbour_workload) (rate("
         "bpfdiag_cpu_runqueue_wait_caused_seconds_total{%s}[%s]))" % (W, RATE),
         "{{neighbour_namespace}}/{{neighbour_workload}}")], "s",
        "Seconds per second this workload's tasks waited for a CPU held by each neighbour "
        "workload (top 3 per container, waits of 100 us or more; RS-06)."), 24, 8)
    b.row("Disk and volumes")
    b.add(timeseries("Disk throughput by device", [
        by_pod("bpfdiag_disk_bytes_total", by="device, direction",
               legend="{{device}} {{direction}}")], "binBps"), 12, 8)
    b.add(timeseries("Disk operations by device", [
        by_pod("bpfdiag_disk_operations_total", by="device, direction",
               legend="{{device}} {{direction}}")], "iops"), 12, 8)
    b.add(timeseries("Disk latency", [
        ("histogram_quantile(0.99, sum by (direction, le) (rate("
         "bpfdiag_disk_latency_seconds_bucket{%s}[%s])))" % (W, RATE), "p99 {{direction}}"),
        ("histogram_quantile(0.5, sum by (direction, le) (rate("
         "bpfdiag_disk_latency_seconds_bucket{%s}[%s])))" % (W, RATE), "p50 {{direction}}"),
    ], "s"), 12, 8)
    b.add(timeseries("Disk I/O per pod", [by_pod("bpfdiag_disk_bytes_total")], "binBps"), 12, 8)
    b.add(timeseries("Writes by volume class", [
        by_pod("bpfdiag_fs_write_bytes_total", by="volume_class, volume",
               legend="{{volume_class}} {{volume}}")], "binBps",
        "Logical write() bytes per volume: rootfs, emptydir, pvc, config, memory, hostpath."),
        12, 8)
    b.add(timeseries("Reads by volume class", [
        by_pod("bpfdiag_fs_read_bytes_total", by="volume_class, volume",
               legend="{{volume_class}} {{volume}}")], "binBps",
        "Logical read bytes per volume (page cache hits included): a StatefulSet that reads "
        "its PVC steadily keeps state (WK-07)."), 12, 8)
    b.add(timeseries("fsync rate by volume class", [
        by_pod("bpfdiag_fs_sync_calls_total", by="volume_class, volume",
               legend="{{volume_class}} {{volume}}")], "ops",
        "fsync, fdatasync, sync_file_range and msync(MS_SYNC) calls per second."), 12, 8)
    b.add(timeseries("fsync rate per pod", [by_pod("bpfdiag_fs_sync_calls_total")], "ops"),
          12, 8)
    b.add(timeseries("Writes per pod", [by_pod("bpfdiag_fs_write_bytes_total")], "binBps"), 12, 8)
    b.add(timeseries("Write calls by volume class", [
        by_pod("bpfdiag_fs_write_calls_total", by="volume_class, volume",
               legend="{{volume_class}} {{volume}}")], "ops"), 12, 8)
    b.row("Network")
    b.add(timeseries("Network per pod", [
        by_pod("bpfdiag_network_bytes_total", by="pod, direction",
               legend="{{pod}} {{direction}}")], "binBps"), 12, 8)
    b.add(timeseries("TCP retransmits", [by_pod("bpfdiag_tcp_retransmits_total")], "short"),
          12, 8)
    b.add(timeseries("TCP connections opened", [
        by_pod("bpfdiag_tcp_connections_opened_total", by="pod, role",
               legend="{{pod}} {{role}}")], "short", "Client: connect(); server: accept()."),
          12, 8)
    b.add(timeseries("Listening TCP sockets", [
        ("sum by (pod) (bpfdiag_tcp_listening_sockets{%s})" % W, "{{pod}}")], "short"), 12, 8)
    return b


def agent():
    variables = common_variables() + [
        query_var("instance", "Agent", "label_values(bpfdiag_agent_build_info, instance)")]
    b = Board("bpfdiag-agent", "bpfdiag / Agent health",
              "What the agents cost and whether they see everything: BPF run time, map fill, "
              "Kubernetes API and export errors.", variables, ["agent"])
    b.row("Agents")
    b.add(stat("Agents", "count(bpfdiag_agent_build_info{%s})" % A), 4, 4)
    b.add(stat("Probe families down", "count(bpfdiag_agent_probe_up{%s} == 0) or vector(0)" % A,
               thresholds=[(1, "red")],
               description="Families whose BPF programs failed to load or attach."), 4, 4)
    b.add(stat("Maps overflowing",
               "count(sum by (instance, map) (rate(bpfdiag_agent_map_overflow_total{%s}[%s])) "
               "> 0) or vector(0)" % (A, RATE), thresholds=[(1, "orange")]), 4, 4)
    b.add(stat("Pods in selection", "count(bpfdiag_pod_info{%s}) or vector(0)" % W,
               description="Pods matching namespace, helm_release and workload."), 4, 4)
    b.add(table("Agent versions", "bpfdiag_agent_build_info{%s}" % A,
                ["instance", "version", "revision"]), 8, 4)
    b.add(table("BPF probe families", "bpfdiag_agent_probe_up{%s}" % A,
                ["instance", "family"], value_name="up",
                description="1: loaded and attached; 0: the kernel lacks what it needs."), 12, 8)
    b.add(timeseries("Agent uptime", [("time() - bpfdiag_agent_start_time_seconds{%s}" % A,
                                       "{{instance}}")], "s"), 12, 8)
    b.row("BPF cost")
    b.add(timeseries("BPF CPU per program", [(
        "sum by (program) (rate(bpfdiag_agent_bpf_run_seconds_total{%s}[%s]))" % (A, RATE),
        "{{program}}")], "percentunit",
        "Fraction of one CPU spent in each BPF program (needs kernel.bpf_stats_enabled).",
        stack=True), 12, 8)
    b.add(timeseries("BPF runs per program", [(
        "sum by (program) (rate(bpfdiag_agent_bpf_runs_total{%s}[%s]))" % (A, RATE),
        "{{program}}")], "short"), 12, 8)
    b.add(timeseries("BPF time per run", [(
        "sum by (program) (rate(bpfdiag_agent_bpf_run_seconds_total{%s}[%s])) / "
        "sum by (program) (rate(bpfdiag_agent_bpf_runs_total{%s}[%s]))" % (A, RATE, A, RATE),
        "{{program}}")], "s"), 12, 8)
    b.add(timeseries("Collection duration", [(
        "max by (instance) (bpfdiag_agent_collection_duration_seconds{%s})" % A,
        "{{instance}}")], "s", "Wall time of the last map collection."), 12, 8)
    b.row("Maps")
    b.add(timeseries("Map fill", [(
        "max by (map) (bpfdiag_agent_map_entries{%s} / bpfdiag_agent_map_capacity{%s})"
        % (A, A), "{{map}}")], "percentunit"), 12, 8)
    b.add(timeseries("Map overflow", [(
        "sum by (instance, map) (rate(bpfdiag_agent_map_overflow_total{%s}[%s]))" % (A, RATE),
        "{{instance}} {{map}}")], "short", "Events per second that found a map full."), 12, 8)
    b.add(timeseries("CPU time lost to a full map", [(
        "sum by (instance) (rate(bpfdiag_agent_cpu_dropped_seconds_total{%s}[%s]))" % (A, RATE),
        "{{instance}}")], "s"), 12, 8)
    b.add(timeseries("Unresolved cgroups", [(
        "max by (instance) (bpfdiag_agent_cgroups_unresolved{%s})" % A, "{{instance}}")],
        "short", "Cgroup ids seen in maps that were removed before the agent saw their path."),
        12, 8)
    b.row("Errors")
    b.add(timeseries("Kubernetes API errors", [(
        "sum by (instance, reason) (rate(bpfdiag_agent_kube_api_errors_total{%s}[%s]))" % (A, RATE),
        "{{instance}} {{reason}}")], "short"), 8, 8)
    b.add(timeseries("OTLP exports", [(
        "sum by (result) (rate(bpfdiag_agent_otlp_exports_total{%s}[%s]))" % (A, RATE),
        "{{result}}")], "short"), 8, 8)
    b.add(timeseries("Collection errors", [(
        "sum by (instance) (rate(bpfdiag_agent_collection_errors_total{%s}[%s]))" % (A, RATE),
        "{{instance}}")], "short"), 8, 8)
    return b


BOARDS = {"fleet-overview.json": fleet, "workload.json": workload, "agent-health.json": agent}


def render(build):
    return json.dumps(build().json(), indent=2, sort_keys=True) + "\n"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        sys.exit(__doc__.strip().splitlines()[-1])
    stale = []
    for name, build in BOARDS.items():
        path = os.path.join(OUT_DIR, name)
        text = render(build)
        try:
            with open(path) as f:
                same = f.read() == text
        except FileNotFoundError:
            same = False
        if check:
            if not same:
                stale.append(name)
        elif not same:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("stale dashboards (run tools/gen-dashboards.py): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
