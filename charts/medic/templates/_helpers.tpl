{{/* Names and labels. */}}
{{- define "medic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "medic.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "medic.selectorLabels" -}}
app.kubernetes.io/name: {{ include "medic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "medic.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "medic.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "medic.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "medic.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret medic's environment comes from: existingSecret, else the chart's. */}}
{{- define "medic.secretName" -}}
{{- default (include "medic.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* Where the ConfigMap's medic.yaml is mounted; the image's CMD names the same file. */}}
{{- define "medic.configDir" -}}/etc/medic{{- end -}}

{{/*
medic.config: the medic.yaml the pods run, as YAML (read it with fromYaml): configFile
when set, else config; with listen, metrics_listen, shutdown_grace and
terraform.work_dir written out (medic's defaults; the chart's work_dir) so that the
chart and medic read the same values.
*/}}
{{- define "medic.config" -}}
{{- $cfg := dict -}}
{{- if .Values.configFile -}}
{{- $cfg = fromYaml .Values.configFile -}}
{{- if hasKey $cfg "Error" -}}
{{- fail (printf "configFile: it is not a YAML mapping: %s" (get $cfg "Error")) -}}
{{- end -}}
{{- else -}}
{{- $cfg = deepCopy (.Values.config | default dict) -}}
{{- end -}}
{{- if not $cfg.store -}}
{{- fail "config.store is not set: use postgres://USER@HOST:5432/DB?sslmode=… (several replicas; the password from secrets.PGPASSWORD) or sqlite:/var/lib/medic/data/medic.db (one replica)" -}}
{{- end -}}
{{- $_ := set $cfg "listen" (toString ($cfg.listen | default ":8080")) -}}
{{- $_ := set $cfg "metrics_listen" (toString ($cfg.metrics_listen | default ":9090")) -}}
{{- $_ := set $cfg "shutdown_grace" (toString ($cfg.shutdown_grace | default "25s")) -}}
{{- $tf := $cfg.terraform | default dict -}}
{{- $_ := set $tf "work_dir" (toString ($tf.work_dir | default "/var/lib/medic/work/terraform")) -}}
{{- $_ := set $cfg "terraform" $tf -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* medic.port: the port of a listen address ":PORT"; (list KEY ADDRESS). */}}
{{- define "medic.port" -}}
{{- $key := index . 0 -}}
{{- $addr := index . 1 -}}
{{- if not (regexMatch "^(0\\.0\\.0\\.0|\\[::\\])?:[0-9]{1,5}$" $addr) -}}
{{- fail (printf "config.%s: %q: under Kubernetes use \":PORT\" (all addresses), e.g. \":9090\": the kubelet's probes and the Services reach the pod's IP" $key $addr) -}}
{{- end -}}
{{- $port := regexFind "[0-9]+$" $addr | atoi -}}
{{- if or (lt $port 1) (gt $port 65535) -}}
{{- fail (printf "config.%s: %q: the port must be 1 to 65535" $key $addr) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{- define "medic.webhookPort" -}}
{{- $cfg := include "medic.config" . | fromYaml -}}
{{- include "medic.port" (list "listen" $cfg.listen) -}}
{{- end -}}

{{- define "medic.metricsPort" -}}
{{- $cfg := include "medic.config" . | fromYaml -}}
{{- include "medic.port" (list "metrics_listen" $cfg.metrics_listen) -}}
{{- end -}}

{{/* medic.graceSeconds: shutdown_grace in whole seconds. */}}
{{- define "medic.graceSeconds" -}}
{{- $cfg := include "medic.config" . | fromYaml -}}
{{- $g := $cfg.shutdown_grace -}}
{{- if or (not (regexMatch "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$" $g)) (eq $g "") -}}
{{- fail (printf "config.shutdown_grace: %q: write it in whole hours, minutes and seconds (25s, 1m30s) so the chart can derive terminationGracePeriodSeconds from it" $g) -}}
{{- end -}}
{{- $h := regexFind "[0-9]+h" $g | trimSuffix "h" | default "0" | atoi -}}
{{- $m := regexFind "[0-9]+m" $g | trimSuffix "m" | default "0" | atoi -}}
{{- $s := regexFind "[0-9]+s" $g | trimSuffix "s" | default "0" | atoi -}}
{{- $total := add (mul $h 3600) (mul $m 60) $s -}}
{{- if lt $total 1 -}}
{{- fail (printf "config.shutdown_grace: %q is not a positive duration (medic refuses it)" $g) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
medic.terminationGrace: terminationGracePeriodSeconds, derived from shutdown_grace, or
the one given once it is checked to leave medic its drain.
*/}}
{{- define "medic.terminationGrace" -}}
{{- $grace := include "medic.graceSeconds" . | atoi -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $grace (int .Values.drainMarginSeconds) -}}
{{- else -}}
{{- $t := int .Values.terminationGracePeriodSeconds -}}
{{- if le $t $grace -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above config.shutdown_grace (%ds): the kubelet would kill medic mid-drain. Leave it empty (shutdown_grace + drainMarginSeconds) or raise it" $t $grace) -}}
{{- end -}}
{{- $t -}}
{{- end -}}
{{- end -}}

{{/* medic.sqlitePath: the SQLite database's path, or "" on PostgreSQL. */}}
{{- define "medic.sqlitePath" -}}
{{- $cfg := include "medic.config" . | fromYaml -}}
{{- $store := toString $cfg.store -}}
{{- if hasPrefix "sqlite:" $store -}}
{{- $path := trimPrefix "sqlite:" $store -}}
{{- if or (not (hasPrefix "/" $path)) (ne (clean $path) $path) -}}
{{- fail (printf "config.store: %q: use an absolute, clean path such as sqlite:/var/lib/medic/data/medic.db: the root filesystem is read-only, and the chart mounts a volume on the path's directory" $store) -}}
{{- end -}}
{{- $path -}}
{{- else if not (or (hasPrefix "postgres://" $store) (hasPrefix "postgresql://" $store)) -}}
{{- fail (printf "config.store: unsupported store URL: use sqlite:/ABSOLUTE/PATH or postgres://USER@HOST/DB") -}}
{{- end -}}
{{- end -}}

{{/* medic.dataDir: where the SQLite store's volume is mounted ("" on PostgreSQL). */}}
{{- define "medic.dataDir" -}}
{{- $path := include "medic.sqlitePath" . -}}
{{- if $path -}}{{ dir $path }}{{- end -}}
{{- end -}}

{{/* medic.workDir: terraform.work_dir. */}}
{{- define "medic.workDir" -}}
{{- $cfg := include "medic.config" . | fromYaml -}}
{{- $wd := $cfg.terraform.work_dir -}}
{{- if or (not (hasPrefix "/" $wd)) (ne (clean $wd) $wd) -}}
{{- fail (printf "config.terraform.work_dir: %q: use an absolute, clean path such as /var/lib/medic/work/terraform" $wd) -}}
{{- end -}}
{{- $wd -}}
{{- end -}}

{{/*
medic.workMount: where the work dir's emptyDir is mounted: terraform.work_dir's parent.
Not work_dir itself: an emptyDir's root is root's and writable by all (0777), and medic
refuses such a work root; it makes work_dir itself, 0700.
*/}}
{{- define "medic.workMount" -}}
{{- $mount := dir (include "medic.workDir" .) -}}
{{- $reserved := list "/" "/tmp" (include "medic.configDir" .) (include "medic.dataDir" .) -}}
{{- if has $mount $reserved -}}
{{- fail (printf "config.terraform.work_dir: the chart mounts its volume on %s, the work dir's parent, which is also the root, /tmp, the config's or the store's directory: use a directory of its own, e.g. /var/lib/medic/work/terraform" $mount) -}}
{{- end -}}
{{- $mount -}}
{{- end -}}

{{/* medic.validate: refuse values that would not run. */}}
{{- define "medic.validate" -}}
{{- $replicas := int .Values.replicaCount -}}
{{- if include "medic.sqlitePath" . -}}
{{- if ne $replicas 1 -}}
{{- fail (printf "replicaCount is %d but config.store is SQLite, which serves one medic at a time (a second replica is refused at start): set replicaCount: 1, or use PostgreSQL" $replicas) -}}
{{- end -}}
{{- if and .Values.strategy .Values.strategy.type (ne .Values.strategy.type "Recreate") -}}
{{- fail "strategy.type: SQLite needs Recreate: a new pod cannot open the store while the old one holds it" -}}
{{- end -}}
{{- if has (include "medic.dataDir" .) (list "/" "/tmp" (include "medic.configDir" .)) -}}
{{- fail (printf "config.store: the chart mounts the store's volume on %s: put the database in a directory of its own, e.g. sqlite:/var/lib/medic/data/medic.db" (include "medic.dataDir" .)) -}}
{{- end -}}
{{- end -}}
{{- if lt $replicas 1 -}}
{{- fail "replicaCount: at least 1" -}}
{{- end -}}
{{- if eq (include "medic.webhookPort" .) (include "medic.metricsPort" .) -}}
{{- fail "config.listen and config.metrics_listen: use two ports (medic refuses one for both)" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor selects that Service" -}}
{{- end -}}
{{- if and .Values.webhook.ingress.enabled (not .Values.webhook.enabled) -}}
{{- fail "webhook.ingress.enabled needs webhook.enabled" -}}
{{- end -}}
{{- $_ := include "medic.workMount" . -}}
{{- $_ := include "medic.terminationGrace" . -}}
{{- range $k, $v := .Values.secrets -}}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $k) -}}
{{- fail (printf "secrets.%s: not an environment variable name (each key becomes one)" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
