{{/*
Shared names, labels and security settings. Every object of a release is
named after the user, so two users' releases never collide in a namespace
and `kubectl get all -l kube-coder.io/user=<name>` finds one user's things.
*/}}

{{/* <user>-workspace: the prefix of every object name. */}}
{{- define "kc.fullname" -}}
{{- required "user.name is required (a DNS label such as \"jane\")" .Values.user.name | printf "%s-workspace" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kc.namespace" -}}
{{- .Values.namespace | default .Release.Namespace -}}
{{- end -}}

{{- define "kc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "kc.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Standard labels for every object. */}}
{{- define "kc.labels" -}}
{{ include "kc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kube-coder
helm.sh/chart: {{ include "kc.chart" . }}
kube-coder.io/user: {{ .Values.user.name }}
{{- end -}}

{{/* Labels plus a component, for objects of one part of the workspace. */}}
{{- define "kc.componentLabels" -}}
{{ include "kc.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kc.componentSelector" -}}
{{ include "kc.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "kc.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "kc.workspaceImage" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "kc.controlPlaneImage" -}}
{{ .Values.controlPlane.image.repository }}:{{ .Values.controlPlane.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "kc.oauth2SecretName" -}}
{{- .Values.oauth2.existingSecret | default (printf "%s-oauth2" (include "kc.fullname" .)) -}}
{{- end -}}

{{/* True ("true") when the chart itself creates the OAuth2 Secret. */}}
{{- define "kc.oauth2SecretGiven" -}}
{{- if and .Values.oauth2.clientID .Values.oauth2.clientSecret .Values.oauth2.cookieSecret (not .Values.oauth2.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "kc.claudeSecretName" -}}
{{- .Values.claude.existingSecret | default (printf "%s-claude" (include "kc.fullname" .)) -}}
{{- end -}}

{{/* True when the agents get an Anthropic key (from our Secret or one given). */}}
{{- define "kc.claudeEnabled" -}}
{{- if or .Values.claude.apiKey .Values.claude.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "kc.githubAppSecretName" -}}
{{- .Values.github.app.existingSecret | default (printf "%s-github-app" (include "kc.fullname" .)) -}}
{{- end -}}

{{/* True when GitHub App auth is on: ids plus a key from our Secret or one given. */}}
{{- define "kc.githubAppEnabled" -}}
{{- $a := .Values.github.app -}}
{{- if and $a.appId $a.installationId (or $a.privateKey $a.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "kc.tlsSecretName" -}}
{{- .Values.ingress.tls.secretName | default (printf "%s-tls" (include "kc.fullname" .)) -}}
{{- end -}}

{{/*
The restricted security context every container gets: uid/gid 1000, no
privilege escalation, no capabilities, the runtime's default seccomp
profile. Pass a dict with "readOnly" (bool): the root filesystem is
read-only wherever the process never writes outside its mounted volumes.
*/}}
{{- define "kc.securityContext" -}}
runAsUser: 1000
runAsGroup: 1000
runAsNonRoot: true
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: {{ .readOnly }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Extra annotations for every Ingress of the release (ingress.annotations). */}}
{{- define "kc.ingressAnnotations" -}}
{{- with .Values.ingress.annotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
cert-manager's issuer annotation, on the main Ingress only: it owns the one
Certificate (every host of the release, one Secret). Were every Ingress to
carry it, cert-manager would see five owners of one Certificate.
*/}}
{{- define "kc.certManagerAnnotation" -}}
{{- if and .Values.ingress.tls.enabled .Values.ingress.tls.clusterIssuer }}
cert-manager.io/cluster-issuer: {{ .Values.ingress.tls.clusterIssuer | quote }}
{{- end }}
{{- end -}}

{{/* Every host name of the release, space-separated: user.host, and the gRPC host if its own. */}}
{{- define "kc.hosts" -}}
{{ .Values.user.host }}
{{- if and .Values.ingress.grpc.enabled .Values.ingress.grpc.host (ne .Values.ingress.grpc.host .Values.user.host) }} {{ .Values.ingress.grpc.host }}
{{- end }}
{{- end -}}

{{/* TLS block: pass (dict "root" . "hosts" LIST); all share one Secret. */}}
{{- define "kc.ingressTLS" -}}
{{- if .root.Values.ingress.tls.enabled -}}
tls:
  - hosts:
      {{- range .hosts }}
      - {{ . | quote }}
      {{- end }}
    secretName: {{ include "kc.tlsSecretName" .root }}
{{- end }}
{{- end -}}

{{/*
Where ingress-nginx asks oauth2-proxy (the workspace pod's sidecar, through
the workspace Service) whether a request to the IDE, terminal or browser may
pass (auth_request). Cluster-internal, so the check never leaves the cluster.
*/}}
{{- define "kc.oauth2AuthURL" -}}
http://{{ include "kc.fullname" . }}.{{ include "kc.namespace" . }}.svc.cluster.local:4180/oauth2/auth
{{- end -}}

{{/*
kc-gateway's identity listener: a unix socket in the "oauth-sock" emptyDir,
which only kc-gateway and oauth2-proxy mount. Only requests arriving there
turn the proxy's identity headers into a session (gateway/README.md, Trust
model).
*/}}
{{- define "kc.oauthSocketDir" -}}
/run/kc-oauth
{{- end -}}
{{- define "kc.oauthSocket" -}}
{{ include "kc.oauthSocketDir" . }}/gateway.sock
{{- end -}}

{{/* Host names kc-gateway answers (gateway.allowed_hosts); anything else is 421. */}}
{{- define "kc.gatewayHosts" -}}
{{- $f := include "kc.fullname" . -}}
{{- $ns := include "kc.namespace" . -}}
{{- $hosts := list "localhost" "127.0.0.1" "::1" $f (printf "%s.%s" $f $ns) (printf "%s.%s.svc" $f $ns) (printf "%s.%s.svc.cluster.local" $f $ns) .Values.user.host -}}
{{- range .Values.controlPlane.gateway.allowedHosts }}{{ $hosts = append $hosts . }}{{ end -}}
{{- toJson (uniq $hosts) -}}
{{- end -}}

{{/* The annotations that put an Ingress behind GitHub OAuth2. */}}
{{- define "kc.oauth2Annotations" -}}
nginx.ingress.kubernetes.io/auth-url: {{ include "kc.oauth2AuthURL" . | quote }}
nginx.ingress.kubernetes.io/auth-signin: "https://$host/oauth2/start?rd=$escaped_request_uri"
# IDE, terminal and browser keep WebSockets open for a working session.
nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"
nginx.ingress.kubernetes.io/proxy-body-size: "64m"
{{- end -}}

{{/* Environment of the containers a person or an agent works in. */}}
{{- define "kc.workspaceEnv" -}}
- name: HOME
  value: /home/coder
- name: USER
  value: coder
{{- if .Values.dind.enabled }}
- name: DOCKER_HOST
  value: unix:///run/docker/docker.sock
{{- end }}
{{- with .Values.user.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Mounts of the containers a person or an agent works in. */}}
{{- define "kc.workspaceMounts" -}}
- name: home
  mountPath: /home/coder
{{- if .Values.buildWrappers.enabled }}
- name: build-wrappers
  mountPath: /opt/kube-coder/build-wrappers
  readOnly: true
{{- end }}
{{- if .Values.dind.enabled }}
- name: docker
  mountPath: /run/docker
{{- end }}
{{- end -}}
