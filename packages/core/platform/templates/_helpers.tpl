{{/*
platform.package renders one Package of a bundle unless bundles.disabledPackages names it.
Arguments (a dict): root (the top context), name, variant (default "default"), components
(optional map of component name to {enabled, values}). Packages keep across uninstall and
removal from a bundle (helm.sh/resource-policy: keep): deleting one deletes its releases.
*/}}
{{- define "platform.package" -}}
{{- if not (has .name .root.Values.bundles.disabledPackages) }}
---
apiVersion: cozystack.io/v1alpha1
kind: Package
metadata:
  name: {{ .name }}
  annotations:
    helm.sh/resource-policy: keep
spec:
  variant: {{ .variant | default "default" }}
  {{- with .components }}
  components:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
platform.package.optional renders the Package only when bundles.enabledPackages names it (and
bundles.disabledPackages does not: disabled wins). Same arguments as platform.package.
*/}}
{{- define "platform.package.optional" -}}
{{- if has .name .root.Values.bundles.enabledPackages }}
{{- include "platform.package" . }}
{{- end }}
{{- end -}}

{{/* platform.noDelete is the label the deletion guard protects objects by. */}}
{{- define "platform.noDelete" -}}
platform.cozystack.io/no-delete: "true"
{{- end -}}

{{/*
platform.hasVAP is non-empty when the API server serves ValidatingAdmissionPolicy: advertised
by discovery, or (offline renders, whose API list holds group/versions only) Kubernetes 1.30+,
where it is GA and on by default.
*/}}
{{- define "platform.hasVAP" -}}
{{- if or (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy") (semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version) }}true{{ end }}
{{- end -}}
