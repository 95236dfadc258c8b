{{/*
Names, labels and the pieces shared by the Ferry pods. Object names are "<fullname>-<component>";
selector labels are name + instance + component and never change after install (a Deployment's
or StatefulSet's selector is immutable).
*/}}

{{- define "ferry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ferry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Selector labels of a component: (dict "ctx" $ "component" "mover") */}}
{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ferry.labels" -}}
{{ include "ferry.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
{{- end -}}

{{/* The pod network: required, because a wrong guess either lets pods forge client addresses or breaks the director. */}}
{{- define "ferry.podNetworkCIDR" -}}
{{- $cidrs := required "podNetworkCIDR is required: the pod network CIDR(s), e.g. --set podNetworkCIDR=10.244.0.0/16 (movers trust PROXY headers only from there)" .Values.podNetworkCIDR -}}
{{- range splitList "," $cidrs -}}
{{- if not (regexMatch "^[0-9a-fA-F:.]+/[0-9]{1,3}$" (trim .)) -}}
{{- fail (printf "podNetworkCIDR: %q is not a CIDR (address/prefix)" (trim .)) -}}
{{- end -}}
{{- end -}}
{{- $cidrs -}}
{{- end -}}

{{/* Secrets: name and key of each value the pods read. */}}
{{- define "ferry.handleKeySecret" -}}
{{- default (printf "%s-handle-key" (include "ferry.fullname" .)) .Values.handleKey.existingSecret -}}
{{- end -}}
{{- define "ferry.adminTokenSecret" -}}
{{- default (printf "%s-admin-token" (include "ferry.fullname" .)) .Values.adminToken.existingSecret -}}
{{- end -}}

{{- define "ferry.databaseSecret" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.existingSecret -}}
{{- .Values.externalDatabase.existingSecret -}}
{{- else -}}
{{- printf "%s-database" (include "ferry.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- define "ferry.databaseSecretKey" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.existingSecret -}}
{{- .Values.externalDatabase.existingSecretKey -}}
{{- else -}}url{{- end -}}
{{- end -}}

{{- define "ferry.redisSecret" -}}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.existingSecret -}}
{{- .Values.externalRedis.existingSecret -}}
{{- else -}}
{{- printf "%s-redis-url" (include "ferry.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- define "ferry.redisSecretKey" -}}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.existingSecret -}}
{{- .Values.externalRedis.existingSecretKey -}}
{{- else -}}url{{- end -}}
{{- end -}}

{{/* FERRY_POOL_DEVICES: the same paths in every pod that opens the pool. */}}
{{- define "ferry.poolDevices" -}}
{{- $paths := list -}}
{{- if eq .Values.pool.mode "file" -}}
{{- range $i := until (int .Values.pool.file.devices) -}}
{{- $paths = append $paths (printf "/pool/dev%d.img" $i) -}}
{{- end -}}
{{- else if eq .Values.pool.mode "block" -}}
{{- range $i, $_ := .Values.pool.block.devices -}}
{{- $paths = append $paths (printf "/dev/ferry/pool%d" $i) -}}
{{- end -}}
{{- else -}}
{{- fail (printf "pool.mode must be file or block, not %q" .Values.pool.mode) -}}
{{- end -}}
{{- if not $paths -}}{{- fail "the pool needs at least one device (pool.file.devices or pool.block.devices)" -}}{{- end -}}
{{- join "," $paths -}}
{{- end -}}

{{- define "ferry.poolClaim" -}}
{{- /* (dict "ctx" $ "index" i "device" d) for block; (dict "ctx" $) for file */ -}}
{{- if hasKey . "device" -}}
{{- default (printf "%s-pool-%d" (include "ferry.fullname" .ctx) .index) .device.existingClaim -}}
{{- else -}}
{{- default (printf "%s-pool" (include "ferry.fullname" .ctx)) .ctx.Values.pool.file.existingClaim -}}
{{- end -}}
{{- end -}}

{{/* Pool volumes of a pod spec (admin-api and movers). */}}
{{- define "ferry.poolVolumes" -}}
{{- if eq .Values.pool.mode "file" }}
- name: pool
  persistentVolumeClaim:
    claimName: {{ include "ferry.poolClaim" (dict "ctx" .) }}
{{- else }}
{{- range $i, $d := .Values.pool.block.devices }}
- name: pool-{{ $i }}
  persistentVolumeClaim:
    claimName: {{ include "ferry.poolClaim" (dict "ctx" $ "index" $i "device" $d) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Pool mounts of a container: volumeMounts (file) or volumeDevices (block). */}}
{{- define "ferry.poolMounts" -}}
{{- if eq .Values.pool.mode "file" }}
volumeMounts:
  - name: pool
    mountPath: /pool
{{- include "ferry.commonMounts" . }}
{{- else }}
volumeDevices:
{{- range $i, $_ := .Values.pool.block.devices }}
  - name: pool-{{ $i }}
    devicePath: /dev/ferry/pool{{ $i }}
{{- end }}
volumeMounts:
{{- include "ferry.commonMounts" . }}
{{- end }}
{{- end -}}

{{- define "ferry.commonMounts" }}
  - name: handle-key
    mountPath: /etc/ferry/handle-key
    readOnly: true
  - name: admin-token
    mountPath: /etc/ferry/admin-token
    readOnly: true
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{- define "ferry.commonVolumes" }}
- name: handle-key
  secret:
    secretName: {{ include "ferry.handleKeySecret" . }}
    defaultMode: 0440
    items:
      - key: handle.key
        path: handle.key
- name: admin-token
  secret:
    secretName: {{ include "ferry.adminTokenSecret" . }}
    defaultMode: 0440
    items:
      - key: token
        path: token
- name: tmp
  emptyDir: {}
{{- end -}}

{{/* Environment shared by the admin-api and the movers (the cluster contract). */}}
{{- define "ferry.clusterEnv" }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "ferry.databaseSecret" . }}
      key: {{ include "ferry.databaseSecretKey" . }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "ferry.redisSecret" . }}
      key: {{ include "ferry.redisSecretKey" . }}
- name: FERRY_POOL_DEVICES
  value: {{ include "ferry.poolDevices" . | quote }}
- name: FERRY_HANDLE_KEY_FILE
  value: /etc/ferry/handle-key/handle.key
- name: FERRY_HTTP_PORT
  value: "8049"
- name: FERRY_BIND_ADDRESS
  value: 0.0.0.0
- name: FERRY_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{/* Probes on FERRY_HTTP_PORT: startup and liveness on /healthz, readiness on /readyz. */}}
{{- define "ferry.probes" }}
startupProbe:
  httpGet: { path: /healthz, port: http }
  periodSeconds: 5
  failureThreshold: 60
livenessProbe:
  httpGet: { path: /healthz, port: http }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: http }
  periodSeconds: 3
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}
