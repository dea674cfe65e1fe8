{{- define "portcullis.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portcullis.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portcullis.labels" -}}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "portcullis.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "portcullis.credentialSecretName" -}}
{{- printf "%s-credentials" (include "portcullis.fullname" .) -}}
{{- end -}}

{{/* Several replicas must share counters: refuse to render without Redis. */}}
{{- define "portcullis.validate" -}}
{{- $replicas := int .Values.replicaCount -}}
{{- if and (or (gt $replicas 1) .Values.autoscaling.enabled) (not (or .Values.redis.url .Values.redis.existingSecret)) -}}
{{- fail "redis.url or redis.existingSecret is required with more than one replica or autoscaling: replicas must share counters, revocations and personal keys" -}}
{{- end -}}
{{- if and (eq .Values.policy.source "bundle") (not (and .Values.policy.bundle.url .Values.policy.bundle.publicKeySecret)) -}}
{{- fail "policy.source=bundle needs policy.bundle.url and policy.bundle.publicKeySecret" -}}
{{- end -}}
{{- if and (eq .Values.policy.source "git") (not .Values.policy.git.url) -}}
{{- fail "policy.source=git needs policy.git.url" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret)" -}}
{{- end -}}
{{- end -}}
