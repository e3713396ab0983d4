{{- define "testapp.labels" -}}
app.kubernetes.io/name: testapp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "testapp.selector" -}}
app.kubernetes.io/name: testapp
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- /* The pod spec, shared by every kind. */}}
{{- define "testapp.pod" -}}
{{- $v := .Values }}
{{- if eq $v.kind "CronJob" }}
restartPolicy: Never
{{- end }}
terminationGracePeriodSeconds: 2
enableServiceLinks: false
containers:
  - name: main
    image: {{ $v.image }}
    imagePullPolicy: Never
    command: ["/bin/bash", "-c", {{ $v.main | quote }}]
    resources: {{- toYaml $v.resources | nindent 6 }}
    {{- if $v.port }}
    ports:
      - {containerPort: {{ $v.port }}, name: serve}
    readinessProbe:
      tcpSocket: {port: {{ $v.port }}}
      periodSeconds: 2
    {{- end }}
    {{- if ne $v.data.type "none" }}
    volumeMounts:
      - {name: data, mountPath: /data}
    {{- end }}
  {{- if $v.load }}
  - name: load
    image: {{ $v.image }}
    imagePullPolicy: Never
    command: ["/bin/bash", "-c", {{ $v.load | quote }}]
    resources: {{- toYaml $v.resources | nindent 6 }}
  {{- end }}
{{- if has $v.data.type (list "emptyDir" "pvc" "hostPath") }}
volumes:
  - name: data
    {{- if eq $v.data.type "emptyDir" }}
    emptyDir: {}
    {{- else if eq $v.data.type "pvc" }}
    persistentVolumeClaim: {claimName: {{ .Release.Name }}-data}
    {{- else }}
    hostPath: {path: {{ $v.data.hostPath }}, type: Directory}
    {{- end }}
{{- end }}
{{- end }}
