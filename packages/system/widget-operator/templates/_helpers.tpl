{{/* widget-operator.labels are the labels of every object of the chart. */}}
{{- define "widget-operator.labels" -}}
app.kubernetes.io/name: widget-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
