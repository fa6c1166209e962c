{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "dbs-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name, or release-chart when the release name lacks the chart's. */}}
{{- define "dbs-exporter.fullname" -}}
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

{{- define "dbs-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dbs-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dbs-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "dbs-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dbs-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dbs-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dbs-exporter.credentialsSecret" -}}
{{- if .Values.credentials.existingSecret }}
{{- .Values.credentials.existingSecret }}
{{- else if .Values.credentials.create }}
{{- include "dbs-exporter.fullname" . }}-credentials
{{- end }}
{{- end }}

{{- define "dbs-exporter.webConfigSecret" -}}
{{- if .Values.webConfig.existingSecret }}
{{- .Values.webConfig.existingSecret }}
{{- else if .Values.webConfig.config }}
{{- include "dbs-exporter.fullname" . }}-web-config
{{- end }}
{{- end }}

{{/* Whether the web config turns TLS on: said, or read from the config the chart writes. */}}
{{- define "dbs-exporter.tls" -}}
{{- if or .Values.webConfig.tls (and .Values.webConfig.config (hasKey .Values.webConfig.config "tls_server_config")) }}true{{- end }}
{{- end }}

{{/* The probes of the container: httpGet on the metrics port, HTTPS when TLS is on. */}}
{{- define "dbs-exporter.probe" -}}
httpGet:
  path: {{ .path }}
  port: metrics
  scheme: {{ if include "dbs-exporter.tls" .root }}HTTPS{{ else }}HTTP{{ end }}
  {{- with .root.Values.probes.httpHeaders }}
  httpHeaders:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The pod template, shared by the Deployment and the sharded StatefulSet: the StatefulSet adds the
shard flags and the two variables they read, and nothing else.
*/}}
{{- define "dbs-exporter.podTemplate" -}}
metadata:
  annotations:
    # A config or credentials change rolls the pods.
    checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if and .Values.credentials.create (not .Values.credentials.existingSecret) }}
    checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- end }}
    {{- if and .Values.webConfig.config (not .Values.webConfig.existingSecret) }}
    checksum/web-config: {{ include (print .Template.BasePath "/web-config-secret.yaml") . | sha256sum }}
    {{- end }}
    kubectl.kubernetes.io/default-container: dbs-exporter
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "dbs-exporter.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "dbs-exporter.serviceAccountName" . }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: dbs-exporter
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config.file=/etc/dbs-exporter/config.yaml
        - --web.listen-address=:{{ .Values.web.port }}
        - --web.telemetry-path={{ .Values.web.telemetryPath }}
        {{- if include "dbs-exporter.webConfigSecret" . }}
        - --web.config.file=/etc/dbs-exporter-web/web-config.yml
        {{- end }}
        {{- if .Values.web.enableLifecycle }}
        - --web.enable-lifecycle
        {{- end }}
        - --log.level={{ .Values.logLevel }}
        - --log.format={{ .Values.logFormat }}
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if .Values.sharding.enabled }}
        - --shard.count=$(DBS_EXPORTER_SHARD_COUNT)
        - --shard.index=auto
        {{- end }}
      ports:
        - name: metrics
          containerPort: {{ .Values.web.port }}
          protocol: TCP
      {{- if or .Values.sharding.enabled .Values.extraEnv }}
      env:
        {{- if .Values.sharding.enabled }}
        - name: DBS_EXPORTER_SHARD_COUNT
          value: {{ .Values.sharding.shards | quote }}
        # --shard.index=auto reads the ordinal at the end of HOSTNAME: the pod's name.
        - name: HOSTNAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- $secret := include "dbs-exporter.credentialsSecret" . }}
      {{- if or $secret .Values.extraEnvFrom }}
      envFrom:
        {{- with $secret }}
        - secretRef:
            name: {{ . }}
        {{- end }}
        {{- with .Values.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      # /-/healthy answers as long as the process serves HTTP.
      livenessProbe:
        {{- include "dbs-exporter.probe" (dict "root" . "path" "/-/healthy") | nindent 8 }}
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      # Ready once every target has had its first listing, whatever its outcome: the first
      # listings start at once, paced by rate_limit_per_region and concurrency.
      readinessProbe:
        {{- include "dbs-exporter.probe" (dict "root" . "path" "/-/ready") | nindent 8 }}
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /etc/dbs-exporter
          readOnly: true
        {{- if include "dbs-exporter.webConfigSecret" . }}
        - name: web-config
          mountPath: /etc/dbs-exporter-web
          readOnly: true
        {{- end }}
        {{- if .Values.webConfig.tlsSecret }}
        - name: tls
          mountPath: /etc/dbs-exporter-tls
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    {{- with .Values.extraContainers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "dbs-exporter.fullname" . }}
    {{- with include "dbs-exporter.webConfigSecret" . }}
    - name: web-config
      secret:
        secretName: {{ . }}
    {{- end }}
    {{- with .Values.webConfig.tlsSecret }}
    - name: tls
      secret:
        secretName: {{ . }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The configuration: required, so that no install polls a placeholder estate.
*/}}
{{- define "dbs-exporter.config" -}}
{{- if not .Values.config }}
{{- fail "config is required: set `config` to your dbs-exporter configuration, either your instances (regions[].instances, as in config/example.yaml) or discovery over the regions you name, e.g. --set-json 'config={\"discovery\":{},\"regions\":[{\"region_id\":\"cn-hangzhou\"}]}' (config/example-discovery.yaml)" }}
{{- end }}
{{- toYaml .Values.config }}
{{- end }}

{{/*
A duration of the exporter's config (500ms, 30s, 5m, 1h30m, 7d) in whole seconds, at least 1;
the default poll_interval, 60, when it is not set.
*/}}
{{- define "dbs-exporter.pollIntervalSeconds" -}}
{{- $text := toString (default "60s" .Values.config.poll_interval) }}
{{- $seconds := 0 }}
{{- range $part := regexFindAll "[0-9]+(ms|s|m|h|d)" $text -1 }}
{{- $n := int (regexFind "^[0-9]+" $part) }}
{{- if hasSuffix "ms" $part }}{{ $seconds = add $seconds (div $n 1000) }}
{{- else if hasSuffix "s" $part }}{{ $seconds = add $seconds $n }}
{{- else if hasSuffix "m" $part }}{{ $seconds = add $seconds (mul $n 60) }}
{{- else if hasSuffix "h" $part }}{{ $seconds = add $seconds (mul $n 3600) }}
{{- else if hasSuffix "d" $part }}{{ $seconds = add $seconds (mul $n 86400) }}
{{- end }}
{{- end }}
{{- max $seconds 1 }}
{{- end }}
