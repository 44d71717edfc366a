{{/* echo.selector are the labels that select the echo pods. */}}
{{- define "echo.selector" -}}
app.kubernetes.io/name: echo
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* echo.labels are the labels of every object of the chart. */}}
{{- define "echo.labels" -}}
{{ include "echo.selector" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
