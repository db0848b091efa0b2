{{/* Labels of every object: the manifests' one, then Helm's. */}}
{{- define "gatemesh.labels" -}}
app.kubernetes.io/name: gatemesh
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The pods' labels, which the Deployment, Service, PDB and
NetworkPolicy select on. */}}
{{- define "gatemesh.selectorLabels" -}}
app.kubernetes.io/name: gatemesh
app.kubernetes.io/component: webhook
{{- end -}}

{{/* repository[:tag][@digest]; the tag defaults to v<appVersion>. */}}
{{- define "gatemesh.image" -}}
{{- $tag := .Values.image.tag | default (printf "v%s" .Chart.AppVersion) -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The namespaces no webhook is called for. */}}
{{- define "gatemesh.excluded" -}}
- key: kubernetes.io/metadata.name
  operator: NotIn
  values: ["kube-system", {{ .Release.Namespace | quote }}]
{{- end -}}

{{/* The ServiceAccount as a subject of a binding. */}}
{{- define "gatemesh.subject" -}}
- kind: ServiceAccount
  name: gatemesh
  namespace: {{ .Release.Namespace }}
{{- end -}}

{{/* The policy file. */}}
{{- define "gatemesh.policy" -}}
apiVersion: gatemesh.io/v1alpha1
kind: Config
{{- with .Values.policy }}
{{ toYaml . }}
{{- end }}
{{- end -}}
