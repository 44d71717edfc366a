{{/* The name of the sandbox's objects. */}}
{{- define "sandbox.name" -}}
{{- printf "cozylab-sandbox-%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object of the chart carries. */}}
{{- define "sandbox.labels" -}}
app.kubernetes.io/name: cozylab-sandbox
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The selector: stable across upgrades. */}}
{{- define "sandbox.selector" -}}
app.kubernetes.io/name: cozylab-sandbox
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
