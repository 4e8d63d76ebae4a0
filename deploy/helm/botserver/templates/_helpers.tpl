{{/*
Resource name prefix: fullnameOverride, else the release name.
*/}}
{{- define "botserver.prefix" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "botserver.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels. Call with (list $ "<component>").
*/}}
{{- define "botserver.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "botserver.chart" $root }}
{{ include "botserver.selectorLabels" . }}
app.kubernetes.io/part-of: botserver-go
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
{{- end -}}

{{- define "botserver.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: botserver
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/*
One service's settings: serviceDefaults overridden by services.<name>, as
YAML. Call with (list $ "<name>") and read it back with fromYaml. The
switches are taken explicitly so that an explicit false always wins, whatever
the merge function of the Helm version does with false.
*/}}
{{- define "botserver.service" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $d := $root.Values.serviceDefaults -}}
{{- $o := index $root.Values.services $name | default dict -}}
{{- $svc := mergeOverwrite (deepCopy $d) (deepCopy $o) -}}
{{- $_ := set $svc "enabled" (ternary $o.enabled $d.enabled (hasKey $o "enabled")) -}}
{{- $_ := set $svc "publicHTTP" (ternary $o.publicHTTP $d.publicHTTP (hasKey $o "publicHTTP")) -}}
{{- $_ := set $svc "spreadOverNodes" (ternary $o.spreadOverNodes $d.spreadOverNodes (hasKey $o "spreadOverNodes")) -}}
{{- $oh := $o.hpa | default dict -}}
{{- $_ := set $svc.hpa "enabled" (ternary $oh.enabled $d.hpa.enabled (hasKey $oh "enabled")) -}}
{{- $op := $o.pdb | default dict -}}
{{- $_ := set $svc.pdb "enabled" (ternary $op.enabled $d.pdb.enabled (hasKey $op "enabled")) -}}
{{- toYaml $svc -}}
{{- end -}}

{{/*
Names of the enabled services, sorted, as a YAML list.
*/}}
{{- define "botserver.enabled" -}}
{{- $out := list -}}
{{- range $name, $_ := .Values.services -}}
{{- $svc := include "botserver.service" (list $ $name) | fromYaml -}}
{{- if $svc.enabled -}}
{{- $out = append $out $name -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{- define "botserver.image" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $svc := index . 2 -}}
{{- $repo := $svc.image.repository | default (printf "%s/%s" $root.Values.image.registry $name) -}}
{{- $tag := $svc.image.tag | default $root.Values.image.tag | default $root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{- define "botserver.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "botserver.prefix" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The Secret the pods read: existingSecret, or the chart's own.
*/}}
{{- define "botserver.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-env" (include "botserver.prefix" .)) -}}
{{- end -}}

{{/*
SERVICE_ADDRS: every enabled service at its Service's gRPC port.
*/}}
{{- define "botserver.serviceAddrs" -}}
{{- $prefix := include "botserver.prefix" . -}}
{{- $addrs := list -}}
{{- range (include "botserver.enabled" . | fromYamlArray) -}}
{{- $addrs = append $addrs (printf "%s=%s-%s:9090" . $prefix .) -}}
{{- end -}}
{{- join "," $addrs -}}
{{- end -}}

{{/*
Non-secret settings shared by every service (ConfigMap data), as YAML.
*/}}
{{- define "botserver.configData" -}}
{{- $v := .Values -}}
{{- $data := dict "GRPC_ADDR" ":9090" "OPS_ADDR" ":9091" "DATA_DIR" "/data" "SERVICE_ADDRS" (include "botserver.serviceAddrs" .) -}}
{{- $backing := dict
  "BOOTSTRAP_ADMIN_EMAIL" $v.auth.bootstrapAdmin.email
  "S3_ENDPOINT" $v.s3.endpoint "S3_REGION" $v.s3.region "S3_BUCKET" $v.s3.bucket "S3_FORCE_PATH_STYLE" $v.s3.forcePathStyle
  "S3_PREFIX" $v.s3.prefix
  "QDRANT_URL" $v.qdrant.url
  "LLM_URL" $v.llm.url "LLM_MODEL" $v.llm.model "LLM_PROVIDER" $v.llm.provider "LLM_TIMEOUT" $v.llm.timeout
  "EMBEDDING_URL" $v.embedding.url "EMBEDDING_MODEL" $v.embedding.model "EMBEDDING_DIMENSIONS" $v.embedding.dimensions -}}
{{- range $k, $val := merge (deepCopy $v.config) $backing -}}
{{- if and (ne (toString $val) "") (not (hasKey $data $k)) -}}
{{- $_ := set $data $k (toString $val) -}}
{{- end -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/*
Secret settings (the chart's Secret data, before base64), as YAML.
*/}}
{{- define "botserver.secretData" -}}
{{- $v := .Values -}}
{{- $all := dict
  "DATABASE_URL" $v.postgres.url "NATS_URL" $v.nats.url "REDIS_URL" $v.redis.url
  "AUTH_SERVICE_KEY" $v.auth.serviceKey "BOOTSTRAP_ADMIN_PASSWORD" $v.auth.bootstrapAdmin.password
  "DRIVE_URL_SECRET" $v.drive.urlSecret
  "S3_ACCESS_KEY_ID" $v.s3.accessKeyId "S3_SECRET_ACCESS_KEY" $v.s3.secretAccessKey
  "QDRANT_API_KEY" $v.qdrant.apiKey "LLM_KEY" $v.llm.key "EMBEDDING_KEY" $v.embedding.key -}}
{{- $data := dict -}}
{{- range $k, $val := $all -}}
{{- if ne (toString $val) "" -}}
{{- $_ := set $data $k (toString $val) -}}
{{- end -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/*
The most pods one service may run: the HPA's maximum, else replicas.
*/}}
{{- define "botserver.maxPods" -}}
{{- ternary (int .hpa.maxReplicas) (int .replicas) .hpa.enabled -}}
{{- end -}}

{{/*
"true" when the enabled services run in more than one pod in all: they then
call each other across pods and must share AUTH_SERVICE_KEY.
*/}}
{{- define "botserver.split" -}}
{{- $names := include "botserver.enabled" . | fromYamlArray -}}
{{- $pods := 0 -}}
{{- range $names -}}
{{- $svc := include "botserver.service" (list $ .) | fromYaml -}}
{{- $pods = add $pods (int (include "botserver.maxPods" $svc)) -}}
{{- end -}}
{{- if or (gt (len $names) 1) (gt (int $pods) 1) }}true{{ end -}}
{{- end -}}

{{/*
"true" when botdrive is enabled and may run more than one pod: its replicas
must then share DRIVE_URL_SECRET, or a presigned URL made by one fails on
another.
*/}}
{{- define "botserver.driveReplicated" -}}
{{- if has "botdrive" (include "botserver.enabled" . | fromYamlArray) -}}
{{- $svc := include "botserver.service" (list $ "botdrive") | fromYaml -}}
{{- if gt (int (include "botserver.maxPods" $svc)) 1 }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/*
Fails the render when the pods could not start or could not work together:
no database or NATS, no shared service key, half a bootstrap admin. With
existingSecret the chart cannot see the values: the pods then refuse to
start when a required key is missing from that Secret.
*/}}
{{- define "botserver.validate" -}}
{{- $v := .Values -}}
{{- if not $v.existingSecret -}}
{{- if not $v.postgres.url -}}
{{- fail "botserver: set postgres.url (DATABASE_URL) or existingSecret (a Secret with a DATABASE_URL key)" -}}
{{- end -}}
{{- if not $v.nats.url -}}
{{- fail "botserver: set nats.url (NATS_URL, a NATS server with JetStream) or existingSecret (a Secret with a NATS_URL key)" -}}
{{- end -}}
{{- if and (include "botserver.split" .) (not $v.auth.serviceKey) -}}
{{- fail "botserver: set auth.serviceKey (AUTH_SERVICE_KEY: `head -c32 /dev/urandom | base64`) or existingSecret (a Secret with an AUTH_SERVICE_KEY key): services in different pods refuse each other's calls unless they share it" -}}
{{- end -}}
{{- if and (include "botserver.driveReplicated" .) (not $v.drive.urlSecret) -}}
{{- fail "botserver: set drive.urlSecret (DRIVE_URL_SECRET, 32+ characters: `head -c32 /dev/urandom | base64`) or existingSecret (a Secret with a DRIVE_URL_SECRET key): botdrive's replicas must share it, or set services.botdrive.hpa.enabled=false and replicas=1" -}}
{{- end -}}
{{- if and $v.auth.bootstrapAdmin.password (not $v.auth.bootstrapAdmin.email) -}}
{{- fail "botserver: auth.bootstrapAdmin.password is set without auth.bootstrapAdmin.email: set both or neither" -}}
{{- end -}}
{{- end -}}
{{- if and $v.auth.bootstrapAdmin.email (not $v.existingSecret) (not $v.auth.bootstrapAdmin.password) -}}
{{- fail "botserver: auth.bootstrapAdmin.email is set without auth.bootstrapAdmin.password (BOOTSTRAP_ADMIN_PASSWORD, or that key in existingSecret): set both or neither" -}}
{{- end -}}
{{- if eq (len (include "botserver.enabled" . | fromYamlArray)) 0 -}}
{{- fail "botserver: no service enabled (services.<name>.enabled)" -}}
{{- end -}}
{{- end -}}

{{/*
Environment of a service container besides the ConfigMap: its Secret keys,
the gateway address, GOMEMLIMIT from the memory limit, services.<name>.env.
Call with (list $ "<name>" $svc).
*/}}
{{- define "botserver.env" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $svc := index . 2 -}}
{{- $secret := include "botserver.secretName" $root -}}
{{- /* Keys the pods cannot work without: a missing one keeps the pod from starting. */ -}}
{{- $required := list "DATABASE_URL" -}}
{{- if include "botserver.split" $root -}}
{{- $required = append $required "AUTH_SERVICE_KEY" -}}
{{- end -}}
{{- if and (eq $name "botdrive") (include "botserver.driveReplicated" $root) -}}
{{- $required = append $required "DRIVE_URL_SECRET" -}}
{{- end -}}
{{- range (concat (list "DATABASE_URL" "NATS_URL" "REDIS_URL" "AUTH_SERVICE_KEY") ($svc.secretEnv | default list) | uniq) }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ . }}
      optional: {{ not (has . $required) }}
{{- end }}
{{- if $svc.publicHTTP }}
- name: PUBLIC_ADDR
  value: ":8080"
{{- end }}
{{- if and $svc.resources $svc.resources.limits $svc.resources.limits.memory }}
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef:
      resource: limits.memory
{{- end }}
{{- range $k, $val := $svc.env }}
- name: {{ $k }}
  value: {{ toString $val | quote }}
{{- end }}
{{- end -}}

{{/*
Container and pod security, volumes: shared by Deployments and the Job.
*/}}
{{- define "botserver.volumeMounts" -}}
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "botserver.volumes" -}}
- name: data
  emptyDir:
    sizeLimit: {{ . | default "1Gi" }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{/*
Environment of a migrate container: the ConfigMap data inline (the
ConfigMap does not exist yet during a pre-install hook) and the service's
own env. Call with (list $ $svc).
*/}}
{{- define "botserver.migrateEnv" -}}
{{- $root := index . 0 -}}
{{- $svc := index . 1 -}}
{{- $env := merge (deepCopy ($svc.env | default dict)) (include "botserver.configData" $root | fromYaml) -}}
{{- range $k, $v := $env }}
- name: {{ $k }}
  value: {{ toString $v | quote }}
{{- end }}
{{- end -}}
