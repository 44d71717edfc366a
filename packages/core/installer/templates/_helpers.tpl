{{/* Labels every object of the chart carries. */}}
{{- define "installer.labels" -}}
app.kubernetes.io/name: cozystack-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
The operator's arguments. Listeners stay off: the pod is on the host network and a rolling
update surges a second pod onto the same node, so a fixed port would collide. Leader election
stays on because that surge briefly runs two managers.
*/}}
{{- define "installer.args" -}}
{{- $o := .Values.cozystackOperator -}}
- --leader-elect=true
- --install-flux=true
- --install-crds=true
- --metrics-bind-address=0
- --health-probe-bind-address=0
{{- if $o.disableTelemetry }}
- --disable-telemetry
{{- end }}
{{- with $o.helmReleaseInterval }}
- --helmrelease-interval={{ . }}
{{- end }}
{{- with $o.helmReleaseRetryInterval }}
- --helmrelease-retry-interval={{ . }}
{{- end }}
{{- with $o.helmReleaseInstallTimeout }}
- --helmrelease-install-timeout={{ . }}
{{- end }}
{{- with $o.helmReleaseUpgradeTimeout }}
- --helmrelease-upgrade-timeout={{ . }}
{{- end }}
{{- with $o.fluxRequeueDependency }}
- --flux-requeue-dependency={{ . }}
{{- end }}
{{- with $o.leaderElectLeaseDuration }}
- --leader-elect-lease-duration={{ . }}
{{- end }}
{{- with $o.leaderElectRenewDeadline }}
- --leader-elect-renew-deadline={{ . }}
{{- end }}
{{- with $o.leaderElectRetryPeriod }}
- --leader-elect-retry-period={{ . }}
{{- end }}
{{- with toString $o.helmReleaseMaxHistory }}
- --helmrelease-max-history={{ . }}
{{- end }}
- --platform-source-name={{ $o.platformSourceName }}
- --platform-source-url={{ $o.platformSourceUrl }}
{{- with $o.platformSourceRef }}
- --platform-source-ref={{ . }}
{{- end }}
{{- with $o.platformSourceSecret }}
- --platform-source-secret={{ . }}
{{- end }}
{{- if $o.platformSourceInsecure }}
- --platform-source-insecure
{{- end }}
{{- end -}}

{{/*
The API endpoint the operator uses before a CNI (and so the kubernetes Service) works: KubePrism
on Talos, the node's own API server on generic Kubernetes, the in-cluster service when hosted.
*/}}
{{- define "installer.env" -}}
{{- $o := .Values.cozystackOperator -}}
{{- with $o.platformVersion }}
- name: COZYSTACK_VERSION
  value: {{ . | quote }}
{{- end }}
{{- if eq $o.variant "talos" }}
- name: KUBERNETES_SERVICE_HOST
  value: localhost
- name: KUBERNETES_SERVICE_PORT
  value: "7445"
{{- else if eq $o.variant "generic" }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ required "cozystack.apiServerHost is required for the generic variant" .Values.cozystack.apiServerHost | quote }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ .Values.cozystack.apiServerPort | toString | quote }}
{{- end }}
{{- end -}}

{{/* Tolerations that let the operator start before the CNI makes nodes Ready. */}}
{{- define "installer.tolerations" -}}
- key: node.kubernetes.io/not-ready
  operator: Exists
- key: node.kubernetes.io/unreachable
  operator: Exists
- key: node.cilium.io/agent-not-ready
  operator: Exists
- key: node.cloudprovider.kubernetes.io/uninitialized
  operator: Exists
{{- end -}}
