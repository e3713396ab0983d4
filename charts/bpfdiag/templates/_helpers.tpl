{{/* Names are cut at 63 characters: Kubernetes label values and DNS labels allow no more. */}}
{{- define "bpfdiag.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "bpfdiag.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "bpfdiag.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Helm's recommended labels, on every object. */}}
{{- define "bpfdiag.labels" -}}
helm.sh/chart: {{ include "bpfdiag.chart" . }}
{{ include "bpfdiag.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bpfdiag
{{- end }}

{{/* The immutable subset used by the DaemonSet and Service selectors. */}}
{{- define "bpfdiag.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bpfdiag.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "bpfdiag.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bpfdiag.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "bpfdiag.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding OTEL_EXPORTER_OTLP_HEADERS: the user's, or the chart's own. */}}
{{- define "bpfdiag.otlpHeadersSecret" -}}
{{- if .Values.otlp.headersSecret.name }}
{{- .Values.otlp.headersSecret.name }}
{{- else if .Values.otlp.headers }}
{{- printf "%s-otlp-headers" (include "bpfdiag.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Comma-separated k=v pairs, sorted by key (OTEL_*_HEADERS and OTEL_RESOURCE_ATTRIBUTES form). */}}
{{- define "bpfdiag.keyValueList" -}}
{{- $pairs := list }}
{{- range $k, $v := . }}
{{- $pairs = append $pairs (printf "%s=%v" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* Job label Prometheus gives the agent's targets: the Service name, as ServiceMonitor sets it. */}}
{{- define "bpfdiag.jobSelector" -}}
job="{{ include "bpfdiag.fullname" . }}"
{{- end }}

{{- define "bpfdiag.scheme" -}}
{{- if .Values.metrics.tls.enabled }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* kube-score checks that do not fit a node agent, for its kube-score/ignore annotation; the
     reasons, one line each, are in docs/SECURITY.md ("Chart linting"). */}}
{{- define "bpfdiag.kubeScoreIgnore" -}}
{{- /* Kubernetes sets no ambient capabilities: the added ones work only for UID 0. */}}
{{- $ignore := list "container-security-context-user-group-id" }}
{{- /* The image is pinned by tag or digest; Always would tie every agent restart to the
     registry being reachable. */}}
{{- if ne .Values.image.pullPolicy "Always" }}
{{- $ignore = append $ignore "container-image-pull-policy" }}
{{- end }}
{{- /* Opt-in: which peers may scrape the agent differs per cluster (networkPolicy). */}}
{{- if not .Values.networkPolicy.enabled }}
{{- $ignore = append $ignore "pod-networkpolicy" }}
{{- end }}
{{- /* Opt-ins for old kernels (privileged) or nodes without a bpffs (its init container). */}}
{{- if or .Values.privileged (and .Values.bpffs.mount (ne .Values.agent.pinDir "none")) }}
{{- $ignore = append $ignore "container-security-context-privileged" }}
{{- end }}
{{- /* A privileged container runs without seccomp whatever the profile says. */}}
{{- if .Values.privileged }}
{{- $ignore = append $ignore "container-seccomp-profile" }}
{{- end }}
{{- join "," $ignore }}
{{- end }}
