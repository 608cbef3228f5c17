{{/* Chart name, truncated to the 63 characters Kubernetes allows in a label. */}}
{{- define "signalr-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release name already contains the chart name. */}}
{{- define "signalr-bridge.fullname" -}}
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

{{- define "signalr-bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels never carry the version: selectors are immutable. */}}
{{- define "signalr-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "signalr-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "signalr-bridge.labels" -}}
helm.sh/chart: {{ include "signalr-bridge.chart" . }}
{{ include "signalr-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: bridge
app.kubernetes.io/part-of: {{ .Values.partOf | default (include "signalr-bridge.name" .) }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "signalr-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "signalr-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the connection string and SASL password: the chart's own or an existing one. */}}
{{- define "signalr-bridge.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- include "signalr-bridge.fullname" . }}
{{- end }}
{{- end }}

{{- define "signalr-bridge.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The bridge's config file as rendered into the ConfigMap: .Values.config with the
observability listener forced to the port the probes and the Service use.
*/}}
{{- define "signalr-bridge.configFile" -}}
{{- $config := deepCopy .Values.config }}
{{- $obs := dict "host" "0.0.0.0" "port" (int .Values.metrics.port) }}
{{- $_ := set $config "observability" (mergeOverwrite (default (dict) $config.observability) $obs) }}
{{- toYaml $config }}
{{- end }}

{{/* shutdown.drain_timeout_seconds from the config, with the daemon's default of 25. */}}
{{- define "signalr-bridge.drainTimeout" -}}
{{- $shutdown := default (dict) .Values.config.shutdown }}
{{- if hasKey $shutdown "drain_timeout_seconds" }}{{ $shutdown.drain_timeout_seconds }}{{ else }}25{{ end }}
{{- end }}

{{/* Kafka bootstrap servers as one comma-separated string (the config allows a list or a string). */}}
{{- define "signalr-bridge.bootstrapServers" -}}
{{- $servers := .Values.config.kafka.bootstrap_servers }}
{{- if kindIs "slice" $servers }}{{ join "," $servers }}{{ else }}{{ $servers }}{{ end }}
{{- end }}
