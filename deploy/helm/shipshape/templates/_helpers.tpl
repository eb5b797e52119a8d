{{/* Names and labels shared by every template. */}}

{{- define "shipshape.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "shipshape.fullname" -}}
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

{{- define "shipshape.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "shipshape.labels" -}}
helm.sh/chart: {{ include "shipshape.chart" . }}
app.kubernetes.io/name: {{ include "shipshape.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "shipshape.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: shipshape
{{- end }}

{{/* The pods of one release (any component). */}}
{{- define "shipshape.instanceLabels" -}}
app.kubernetes.io/name: {{ include "shipshape.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The serving pods: Deployment, Service, PDB, HPA and spread selectors. */}}
{{- define "shipshape.selectorLabels" -}}
{{ include "shipshape.instanceLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "shipshape.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "shipshape.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image tag: the chart's appVersion unless set; never `latest` (no rollback, no audit trail). */}}
{{- define "shipshape.imageTag" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString }}
{{- if eq (lower $tag) "latest" }}
{{- fail "image.tag must not be `latest`: pin a version or a git SHA so rollouts and rollbacks are reproducible" }}
{{- end }}
{{- $tag }}
{{- end }}

{{- define "shipshape.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository (include "shipshape.imageTag" .) .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "shipshape.imageTag" .) }}
{{- end }}
{{- end }}

{{- define "shipshape.sqlite" -}}
{{- if eq .Values.database.mode "sqlite" }}true{{ end }}
{{- end }}

{{/* Whether the migrate hook Job runs (postgres only; sqlite migrates on start). */}}
{{- define "shipshape.migrateJob" -}}
{{- if and (eq .Values.database.mode "postgres") .Values.database.migrations.job }}true{{ end }}
{{- end }}

{{/* The Secret and key holding DATABASE_URL in postgres mode. */}}
{{- define "shipshape.dbSecretName" -}}
{{- default (printf "%s-database" (include "shipshape.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{- define "shipshape.dbSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}DATABASE_URL{{ end }}
{{- end }}

{{- define "shipshape.pvcName" -}}
{{- default (printf "%s-data" (include "shipshape.fullname" .)) .Values.database.sqlite.persistence.existingClaim }}
{{- end }}

{{/* Refuse value combinations that would break production; run from every template that
     renders something, so `helm template -s` of a single file still checks. */}}
{{- define "shipshape.validate" -}}
{{- $v := .Values }}
{{- if eq $v.database.mode "sqlite" }}
{{- if gt (int $v.replicaCount) 1 }}
{{- fail (printf "database.mode=sqlite needs replicaCount=1 (got %d): SQLite on one volume cannot be shared by several pods; use database.mode=postgres to scale out" (int $v.replicaCount)) }}
{{- end }}
{{- if $v.autoscaling.enabled }}
{{- fail "database.mode=sqlite cannot be combined with autoscaling.enabled=true: the HPA would start more pods on one SQLite volume; set autoscaling.enabled=false or use database.mode=postgres" }}
{{- end }}
{{- else }}
{{- if and (not $v.database.existingSecret) (not $v.database.url) }}
{{- fail "database.mode=postgres needs database.existingSecret (a Secret with key DATABASE_URL) or database.url" }}
{{- end }}
{{- if and $v.database.existingSecret $v.database.url }}
{{- fail "set database.existingSecret or database.url, not both" }}
{{- end }}
{{- if and $v.database.url (not (hasPrefix "postgres" $v.database.url)) }}
{{- fail "database.url must be a postgres:// or postgresql:// URL in database.mode=postgres" }}
{{- end }}
{{- end }}
{{- $needed := add (int $v.preStopSleepSeconds) (int $v.config.shutdownDrainSecs) (int $v.config.shutdownGraceSecs) }}
{{- if le (int $v.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + config.shutdownDrainSecs + config.shutdownGraceSecs (%d), or the kubelet kills requests in flight" (int $v.terminationGracePeriodSeconds) (int $needed)) }}
{{- end }}
{{- if and $v.httpRoute.enabled (not $v.httpRoute.parentRefs) }}
{{- fail "httpRoute.enabled needs httpRoute.parentRefs (the Gateway(s) to attach to)" }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}

{{/* postgres: the URL is a file from the Secret (DATABASE_URL_FILE), re-read by the service when
     Kubernetes swaps the file after the Secret changes; sqlite takes it from the ConfigMap. A Secret
     volume (not subPath) is what Kubernetes updates in place. */}}
{{- define "shipshape.dbEnv" -}}
{{- if not (include "shipshape.sqlite" .) }}
- name: DATABASE_URL_FILE
  value: {{ printf "/etc/shipshape/db/%s" (include "shipshape.dbSecretKey" .) | quote }}
{{- end }}
{{- end }}

{{/* The Secret the migrations Job reads its URL from (the owner's login when given). */}}
{{- define "shipshape.migrateSecretName" -}}
{{- default (include "shipshape.dbSecretName" .) .Values.database.migrations.existingSecret }}
{{- end }}

{{/* "true" when a Prometheus Operator kind should be rendered: enabled true, or "auto" and the
     cluster serves the API. Args: (list $ .Values.x.enabled "monitoring.coreos.com/v1/Kind"). */}}
{{- define "shipshape.operatorKind" -}}
{{- $ctx := index . 0 }}{{- $on := index . 1 }}{{- $api := index . 2 }}
{{- if eq (toString $on) "true" }}true
{{- else if and (eq (toString $on) "auto") ($ctx.Capabilities.APIVersions.Has $api) }}true
{{- end }}
{{- end }}

{{/* Volumes every shipshape container needs: a writable /tmp (the root filesystem is read-only)
     and the database CA bundle when one is given. */}}
{{- define "shipshape.commonVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.database.caBundle.configMapName }}
- name: db-ca
  configMap:
    name: {{ . }}
{{- end }}
{{- end }}

{{- define "shipshape.commonVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.database.caBundle.configMapName }}
- name: db-ca
  mountPath: /etc/shipshape/db-ca
  readOnly: true
{{- end }}
{{- end }}
