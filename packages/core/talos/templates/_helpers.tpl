{{/* Labels every patch ConfigMap carries; role is "all" or "controlplane". */}}
{{- define "talos.labels" -}}
app.kubernetes.io/name: cozy-talos
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
talos.cozylab.io/patch-role: {{ .role }}
{{- end -}}

{{/* The patch every node gets. */}}
{{- define "talos.clusterPatch" -}}
{{- $v := .Values -}}
machine:
  kubelet:
    nodeIP:
      validSubnets:
        - {{ $v.nodeSubnet }}
    {{- with $v.kubelet.maxPods }}
    extraConfig:
      maxPods: {{ . }}
    {{- end }}
  {{- with $v.kernelModules }}
  kernel:
    modules:
      {{- range . }}
      - name: {{ .name }}
        {{- with .parameters }}
        parameters:
          {{- toYaml . | nindent 10 }}
        {{- end }}
      {{- end }}
  {{- end }}
  {{- with $v.registryMirrors }}
  registries:
    mirrors:
      {{- range $host, $endpoints := . }}
      {{ $host }}:
        endpoints:
          {{- toYaml $endpoints | nindent 10 }}
      {{- end }}
  {{- end }}
  {{- if or $v.cri.deviceOwnershipFromSecurityContext $v.lvm.enabled }}
  files:
    {{- if $v.cri.deviceOwnershipFromSecurityContext }}
    - op: create
      path: /etc/cri/conf.d/20-customization.part
      content: |
        [plugins]
          [plugins."io.containerd.cri.v1.runtime"]
            device_ownership_from_security_context = true
    {{- end }}
    {{- if $v.lvm.enabled }}
    - op: overwrite
      path: /etc/lvm/lvm.conf
      permissions: 0o644
      content: |
        backup {
          backup = 0
          archive = 0
        }
        devices {
          global_filter = [ {{ range $v.lvm.rejectDevices }}"r|^{{ . }}|", {{ end }}"a|.*|" ]
        }
    {{- end }}
  {{- end }}
cluster:
  network:
    cni:
      name: none
    dnsDomain: {{ $v.cluster.dnsDomain }}
    podSubnets:
      {{- toYaml $v.cluster.podSubnets | nindent 6 }}
    serviceSubnets:
      {{- toYaml $v.cluster.serviceSubnets | nindent 6 }}
  {{- if $v.apiServer.oidc.enabled }}
  apiServer:
    extraArgs:
      oidc-issuer-url: {{ $v.apiServer.oidc.issuerURL | quote }}
      oidc-client-id: {{ $v.apiServer.oidc.clientID | quote }}
      oidc-username-claim: {{ $v.apiServer.oidc.usernameClaim | quote }}
      oidc-groups-claim: {{ $v.apiServer.oidc.groupsClaim | quote }}
  {{- end }}
{{- end -}}

{{/* The patch control-plane nodes get on top of the cluster patch. */}}
{{- define "talos.controlPlanePatch" -}}
{{- $v := .Values -}}
{{- $cp := $v.controlPlane -}}
machine:
  nodeLabels:
    node.kubernetes.io/exclude-from-external-load-balancers:
      $patch: delete
  {{- with $cp.vip }}
  network:
    interfaces:
      - interface: {{ $cp.vipInterface }}
        vip:
          ip: {{ . }}
  {{- end }}
cluster:
  allowSchedulingOnControlPlanes: {{ $cp.allowSchedulingOnControlPlanes }}
  controllerManager:
    extraArgs:
      bind-address: 0.0.0.0
  scheduler:
    extraArgs:
      bind-address: 0.0.0.0
  {{- with $v.apiServer.certSANs }}
  apiServer:
    certSANs:
      {{- toYaml . | nindent 6 }}
  {{- end }}
  proxy:
    disabled: {{ $cp.disableProxy }}
  discovery:
    enabled: {{ not $cp.disableDiscovery }}
  etcd:
    advertisedSubnets:
      - {{ $v.nodeSubnet }}
{{- end -}}
