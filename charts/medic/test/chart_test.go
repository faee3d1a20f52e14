package charttest

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// TestLintStrict is `helm lint --strict` of the default values and of values-sqlite.yaml:
// a warning fails as an error does.
func TestLintStrict(t *testing.T) {
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files []string
	}{{"default", nil}, {"sqlite", []string{sqliteValues}}} {
		t.Run(tc.name, func(t *testing.T) {
			res := lint.RunAll(chartDir, values(t, tc.files, nil), namespace, lint.WithKubeVersion(kv))
			for _, msg := range res.Messages {
				if msg.Severity >= support.WarningSev {
					t.Errorf("lint: %s", msg)
				} else {
					t.Logf("lint: %s", msg)
				}
			}
		})
	}
}

// TestConfigPassesConfigCheck: the ConfigMap's medic.yaml is one medic accepts, for
// each shipped values file and for a file of one's own passed as configFile.
func TestConfigPassesConfigCheck(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(repoRoot, "medic.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The shipped example with a PostgreSQL store, as --set-file configFile=… passes it.
	own := regexp.MustCompile(`(?m)^store: .*$`).ReplaceAllString(string(example), `store: "postgres://medic@db:5432/medic?sslmode=verify-full"`)
	for _, tc := range []struct {
		name      string
		files     []string
		overrides map[string]any
		replicas  int32
	}{
		{"default", nil, nil, 2},
		{"sqlite", []string{sqliteValues}, nil, 1},
		{"configFile", nil, map[string]any{"configFile": own}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustRender(t, tc.files, tc.overrides)
			text, _ := m.config(t)
			configCheck(t, text)
			d, _ := m.deployment(t)
			if got := *d.Spec.Replicas; got != tc.replicas {
				t.Errorf("replicas: got %d, want %d", got, tc.replicas)
			}
		})
	}
}

// TestConfigFileReplacesConfig: configFile is the whole file, nothing of config's
// example (its prod environment) merged in.
func TestConfigFileReplacesConfig(t *testing.T) {
	file := "store: postgres://medic@db:5432/medic\nenvironments:\n  staging: {}\n"
	m := mustRender(t, nil, map[string]any{"configFile": file})
	text, _ := m.config(t)
	var c struct {
		Environments map[string]any `json:"environments"`
	}
	if err := yaml.Unmarshal([]byte(text), &c); err != nil {
		t.Fatal(err)
	}
	if got := keys(c.Environments); len(got) != 1 || got[0] != "staging" {
		t.Errorf("environments: got %v, want [staging] alone", got)
	}
}

// TestDefaultsRunTwoReplicasOnPostgres: two replicas, a budget letting drains take one
// at a time, a rolling update keeping both up, replicas spread over nodes.
func TestDefaultsRunTwoReplicasOnPostgres(t *testing.T) {
	m := mustRender(t, nil, nil)
	d, _ := m.deployment(t)
	_, cfg := m.config(t)
	if !strings.HasPrefix(cfg.Store, "postgres://") {
		t.Errorf("store: got %q, want postgres://…", cfg.Store)
	}
	if got := *d.Spec.Replicas; got != 2 {
		t.Errorf("replicas: got %d, want 2", got)
	}
	if len(m.PDBs) != 1 {
		t.Fatalf("got %d PodDisruptionBudgets, want 1", len(m.PDBs))
	}
	pdb := m.PDBs[0]
	if !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the budget's selector %v does not select the pods (labels %v)", pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	if got := disruptionsAllowed(t, pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable, int(*d.Spec.Replicas)); got != 1 {
		t.Errorf("the budget allows %d disruptions of 2 replicas, want 1", got)
	}
	if s := d.Spec.Strategy; s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy: got %+v, want RollingUpdate with maxUnavailable 0", s)
	}
	aa := d.Spec.Template.Spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Errorf("affinity: got %+v, want a preferred anti-affinity spreading the replicas", aa)
	}
	if len(m.PVCs) != 0 {
		t.Errorf("got %d PersistentVolumeClaims on PostgreSQL, want none", len(m.PVCs))
	}
}

// disruptionsAllowed is how many of replicas healthy pods a budget lets an eviction take.
func disruptionsAllowed(tb testing.TB, minAvailable, maxUnavailable *intstr.IntOrString, replicas int) int {
	tb.Helper()
	switch {
	case minAvailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(minAvailable, replicas, true)
		if err != nil {
			tb.Fatal(err)
		}
		return max(replicas-n, 0)
	case maxUnavailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(maxUnavailable, replicas, true)
		if err != nil {
			tb.Fatal(err)
		}
		return min(n, replicas)
	}
	tb.Fatal("a budget with neither minAvailable nor maxUnavailable")
	return 0
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestProbesOnTheMetricsPort: /readyz and /healthz on metrics_listen's port, the
// webhook port on listen's.
func TestProbesOnTheMetricsPort(t *testing.T) {
	m := mustRender(t, nil, map[string]any{"config": map[string]any{"metrics_listen": ":9191", "listen": ":8181"}})
	_, c := m.deployment(t)
	text, cfg := m.config(t)
	configCheck(t, text)
	metricsPort := portOf(t, cfg.MetricsListen)
	if metricsPort != 9191 {
		t.Fatalf("metrics_listen: got %q, want :9191", cfg.MetricsListen)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"readiness", c.ReadinessProbe, "/readyz"},
		{"liveness", c.LivenessProbe, "/healthz"},
		{"startup", c.StartupProbe, "/healthz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: got %+v, want an HTTP GET", p.name, p.probe)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s probe path: got %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := containerPort(t, c, p.probe.HTTPGet.Port); got != metricsPort {
			t.Errorf("%s probe port: got %d, want metrics_listen's %d", p.name, got, metricsPort)
		}
	}
	if got := containerPort(t, c, intstr.FromString("webhook")); got != portOf(t, cfg.Listen) {
		t.Errorf("webhook port: got %d, want listen's %d", got, portOf(t, cfg.Listen))
	}
}

// portOf is the port of a ":PORT" address.
func portOf(tb testing.TB, addr string) int32 {
	tb.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		tb.Fatalf("address %q has no port", addr)
	}
	return int32(p)
}

// containerPort resolves a probe's or Service's port (a number or a name) on c.
func containerPort(tb testing.TB, c *corev1.Container, p intstr.IntOrString) int32 {
	tb.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	tb.Fatalf("the container has no port named %q (ports %+v)", p.StrVal, c.Ports)
	return 0
}

// TestSecurityContext: non-root, read-only root filesystem, no privilege escalation, no
// capabilities, for the default and the SQLite values.
func TestSecurityContext(t *testing.T) {
	for _, files := range [][]string{nil, {sqliteValues}} {
		m := mustRender(t, files, nil)
		d, c := m.deployment(t)
		pod := d.Spec.Template.Spec.SecurityContext
		sc := c.SecurityContext
		if sc == nil || pod == nil {
			t.Fatalf("security contexts: pod %+v, container %+v", pod, sc)
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot)
		if !nonRoot {
			t.Errorf("runAsNonRoot: got pod %s, container %s; want true", bl(pod.RunAsNonRoot), bl(sc.RunAsNonRoot))
		}
		if pod.RunAsUser == nil || *pod.RunAsUser == 0 {
			t.Errorf("runAsUser: got %s, want the image's non-root user", deref(pod.RunAsUser))
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("readOnlyRootFilesystem: got %s, want true", bl(sc.ReadOnlyRootFilesystem))
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("allowPrivilegeEscalation: got %s, want false", bl(sc.AllowPrivilegeEscalation))
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
			t.Errorf("capabilities: got %+v, want drop [ALL] and nothing added", sc.Capabilities)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("privileged: got true")
		}
	}
}

// TestWritablePaths: with a read-only root filesystem, every place medic writes is a
// volume: terraform.work_dir inside an emptyDir (its parent is the mount: medic makes
// work_dir itself, 0700 and its own, and refuses an emptyDir's root-owned 0777 root),
// /tmp, and the SQLite store's directory.
func TestWritablePaths(t *testing.T) {
	for _, tc := range []struct {
		name      string
		files     []string
		overrides map[string]any
	}{
		{"default", nil, nil},
		{"sqlite", []string{sqliteValues}, nil},
		{"own work_dir", nil, map[string]any{"config": map[string]any{"terraform": map[string]any{"work_dir": "/srv/tf/work"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustRender(t, tc.files, tc.overrides)
			d, c := m.deployment(t)
			_, cfg := m.config(t)
			vols := map[string]corev1.Volume{}
			for _, v := range d.Spec.Template.Spec.Volumes {
				vols[v.Name] = v
			}
			mountOf := func(p string) (corev1.VolumeMount, bool) {
				var best corev1.VolumeMount
				found := false
				for _, vm := range c.VolumeMounts {
					if (p == vm.MountPath || strings.HasPrefix(p, vm.MountPath+"/")) && len(vm.MountPath) > len(best.MountPath) {
						best, found = vm, true
					}
				}
				return best, found
			}
			wd := cfg.Terraform.WorkDir
			if !path.IsAbs(wd) {
				t.Fatalf("terraform.work_dir: got %q, want an absolute path", wd)
			}
			vm, ok := mountOf(wd)
			switch {
			case !ok:
				t.Errorf("terraform.work_dir %s is on no volume (the root filesystem is read-only)", wd)
			case vm.MountPath == wd:
				t.Errorf("terraform.work_dir %s is a volume's root: medic refuses an emptyDir's root (root's, mode 0777); mount its parent", wd)
			case vm.ReadOnly || vols[vm.Name].EmptyDir == nil:
				t.Errorf("terraform.work_dir %s is on volume %s, want a writable emptyDir (got %+v)", wd, vm.Name, vols[vm.Name].VolumeSource)
			case path.Dir(wd) != vm.MountPath:
				t.Errorf("terraform.work_dir %s: the emptyDir is at %s, want its parent %s", wd, vm.MountPath, path.Dir(wd))
			}
			if vm, ok := mountOf("/tmp/x"); !ok || vm.MountPath != "/tmp" || vols[vm.Name].EmptyDir == nil || vm.ReadOnly {
				t.Errorf("/tmp: got mount %+v, want a writable emptyDir", vm)
			}
			if db, ok := strings.CutPrefix(cfg.Store, "sqlite:"); ok {
				vm, ok := mountOf(db)
				if !ok || vm.ReadOnly || vm.MountPath != path.Dir(db) {
					t.Fatalf("the SQLite store %s: got mount %+v, want a writable volume on %s", db, vm, path.Dir(db))
				}
				if v := vols[vm.Name]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != m.PVCs[0].Name {
					t.Errorf("the SQLite store's volume: got %+v, want the chart's claim", v.VolumeSource)
				}
			}
			if cm, ok := mountOf("/etc/medic/medic.yaml"); !ok || !cm.ReadOnly || vols[cm.Name].ConfigMap == nil {
				t.Errorf("/etc/medic: got mount %+v, want the ConfigMap, read-only", cm)
			}
		})
	}
}

// TestTerminationGraceAboveShutdownGrace: the kubelet waits longer than medic drains.
func TestTerminationGraceAboveShutdownGrace(t *testing.T) {
	for _, tc := range []struct {
		grace string
		want  int64
	}{{"25s", 40}, {"1m30s", 105}, {"2m", 135}} {
		m := mustRender(t, nil, map[string]any{"config": map[string]any{"shutdown_grace": tc.grace}})
		d, _ := m.deployment(t)
		_, cfg := m.config(t)
		grace, err := time.ParseDuration(cfg.ShutdownGrace)
		if err != nil {
			t.Fatalf("shutdown_grace %q: %v", cfg.ShutdownGrace, err)
		}
		tgp := d.Spec.Template.Spec.TerminationGracePeriodSeconds
		if tgp == nil || time.Duration(*tgp)*time.Second <= grace {
			t.Errorf("shutdown_grace %s: terminationGracePeriodSeconds %s, want above it", grace, deref(tgp))
		} else if *tgp != tc.want {
			t.Errorf("shutdown_grace %s: terminationGracePeriodSeconds %d, want %d (grace + drainMarginSeconds)", grace, *tgp, tc.want)
		}
	}
	// Left out of the file: medic's default, 25s, is the one the chart writes and uses.
	m := mustRender(t, nil, map[string]any{"config": map[string]any{"shutdown_grace": nil}})
	if _, cfg := m.config(t); cfg.ShutdownGrace != "25s" {
		t.Errorf("shutdown_grace left out: the chart wrote %q, want medic's default 25s", cfg.ShutdownGrace)
	}
}

// TestRefusals: values that could not run are refused at render time, saying why.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		files     []string
		overrides map[string]any
		want      string
	}{
		{"termination grace not above shutdown_grace", nil, map[string]any{"terminationGracePeriodSeconds": 25}, "terminationGracePeriodSeconds (25) must be above config.shutdown_grace (25s)"},
		{"shutdown_grace the chart cannot read", nil, map[string]any{"config": map[string]any{"shutdown_grace": "1.5m"}}, "config.shutdown_grace"},
		{"two replicas on SQLite", []string{sqliteValues}, map[string]any{"replicaCount": 2}, "SQLite, which serves one medic at a time"},
		{"rolling update on SQLite", []string{sqliteValues}, map[string]any{"strategy": map[string]any{"type": "RollingUpdate"}}, "SQLite needs Recreate"},
		{"relative SQLite path", nil, map[string]any{"replicaCount": 1, "config": map[string]any{"store": "sqlite:medic.db"}}, "absolute"},
		{"no store", nil, map[string]any{"config": map[string]any{"store": nil}}, "config.store is not set"},
		{"work_dir in /tmp", nil, map[string]any{"config": map[string]any{"terraform": map[string]any{"work_dir": "/tmp/tf"}}}, "config.terraform.work_dir"},
		{"metrics on loopback", nil, map[string]any{"config": map[string]any{"metrics_listen": "127.0.0.1:9090"}}, "config.metrics_listen"},
		{"ServiceMonitor without its Service", nil, map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true}}}, "metrics.service.enabled"},
		{"secret key that is no variable", nil, map[string]any{"secrets": map[string]any{"slack-app-token": "x"}}, "not an environment variable name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.files, tc.overrides)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// medicEnvVars reads the environment variables medic reads from config/env.go: its
// Env… constants and the other secrets it redacts.
func medicEnvVars(tb testing.TB) map[string]bool {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "config", "env.go"))
	if err != nil {
		tb.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*Env\w+\s*=\s*"([A-Z_]+)"`).FindAllSubmatch(src, -1) {
		names[string(m[1])] = true
	}
	other := regexp.MustCompile(`otherSecretVars = \[\]string\{([^}]*)\}`).FindSubmatch(src)
	if other == nil {
		tb.Fatal("config/env.go: otherSecretVars not found")
	}
	for _, m := range regexp.MustCompile(`"([A-Z_]+)"`).FindAllSubmatch(other[1], -1) {
		names[string(m[1])] = true
	}
	if len(names) < 8 {
		tb.Fatalf("config/env.go: found only %v", keys(names))
	}
	return names
}

// plantedSecrets are a value for each secret of values.yaml, to look for in the output.
func plantedSecrets(tb testing.TB) map[string]any {
	tb.Helper()
	ch := loadChart(tb)
	secrets, ok := ch.Values["secrets"].(map[string]any)
	if !ok || len(secrets) == 0 {
		tb.Fatalf("values.yaml: no secrets map")
	}
	planted := map[string]any{}
	for k := range secrets {
		planted[k] = "planted-" + strings.ToLower(k) + "-4f1c9a"
	}
	planted["SLACK_APP_TOKEN"] = "xapp-planted-4f1c9a"
	planted["SLACK_BOT_TOKEN"] = "xoxb-planted-4f1c9a"
	return planted
}

// TestSecretsOnlyFromTheSecret: each secret is a variable medic reads, reaches the pod
// only through the Secret (envFrom or secretKeyRef), and appears in no other object.
func TestSecretsOnlyFromTheSecret(t *testing.T) {
	known := medicEnvVars(t)
	planted := plantedSecrets(t)
	for _, want := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "GITHUB_TOKEN", "GITHUB_WEBHOOK_SECRET", "PAGERDUTY_ROUTING_KEY", "PGPASSWORD"} {
		if _, ok := planted[want]; !ok {
			t.Errorf("values.yaml secrets: no %s", want)
		}
	}
	for k := range planted {
		if !known[k] {
			t.Errorf("values.yaml secrets.%s: medic reads no such variable (it reads %v)", k, keys(known))
		}
	}

	m := mustRender(t, nil, map[string]any{"secrets": planted, "webhook": map[string]any{"enabled": true, "ingress": map[string]any{"enabled": true}},
		"metrics": map[string]any{"service": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true}}})
	if len(m.Secrets) != 1 {
		t.Fatalf("got %d Secrets, want the chart's one", len(m.Secrets))
	}
	s := m.Secrets[0]
	for k, v := range planted {
		if got := string(s.Data[k]); got != v {
			t.Errorf("Secret %s: key %s holds %q, want %q", s.Name, k, got, v)
		}
	}
	for _, d := range m.Docs {
		if d.kind == "Secret" {
			continue
		}
		for k, v := range planted {
			val := v.(string)
			if strings.Contains(d.text, val) || strings.Contains(d.text, base64.StdEncoding.EncodeToString([]byte(val))) {
				t.Errorf("%s %s holds %s's value", d.kind, d.name, k)
			}
		}
	}
	_, c := m.deployment(t)
	assertEnvFromSecret(t, c, s.Name, planted)
}

// assertEnvFromSecret: the container takes the secrets from the Secret named name, and
// from nowhere else.
func assertEnvFromSecret(tb testing.TB, c *corev1.Container, name string, secrets map[string]any) {
	tb.Helper()
	fromSecret := false
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil && ef.SecretRef.Name == name && ef.Prefix == "" {
			fromSecret = true
		}
	}
	for _, e := range c.Env {
		if _, secret := secrets[e.Name]; !secret {
			continue
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != name || e.Value != "" {
			tb.Errorf("env %s: got %+v, want it from Secret %s", e.Name, e, name)
		}
	}
	if !fromSecret {
		tb.Errorf("envFrom: got %+v, want secretRef %s", c.EnvFrom, name)
	}
	args := strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
	for k, v := range secrets {
		if strings.Contains(args, v.(string)) {
			tb.Errorf("the command line holds %s", k)
		}
	}
}

// TestExistingSecretReplacesTheChartsSecret: with existingSecret the chart makes no
// Secret and the pods read the one named.
func TestExistingSecretReplacesTheChartsSecret(t *testing.T) {
	m := mustRender(t, nil, map[string]any{"existingSecret": "medic-tokens", "secrets": plantedSecrets(t)})
	if len(m.Secrets) != 0 {
		t.Errorf("got %d Secrets with existingSecret, want none", len(m.Secrets))
	}
	d, c := m.deployment(t)
	assertEnvFromSecret(t, c, "medic-tokens", plantedSecrets(t))
	if _, ok := d.Spec.Template.Annotations["checksum/secret"]; ok {
		t.Error("checksum/secret annotation with existingSecret: the chart cannot know its content")
	}
	for _, doc := range m.Docs {
		if strings.Contains(doc.text, "planted-") || strings.Contains(doc.text, "xapp-planted") {
			t.Errorf("%s %s holds a value of secrets: existingSecret must ignore them", doc.kind, doc.name)
		}
	}
}

// TestWebhookOptional: no webhook Service or Ingress by default (Socket Mode and polling
// need no inbound traffic); with webhook.enabled a Service on listen's port, and with
// its ingress an Ingress of /webhooks/github alone to that Service.
func TestWebhookOptional(t *testing.T) {
	m := mustRender(t, nil, nil)
	if len(m.Services) != 0 || len(m.Ingresses) != 0 || len(m.ServiceMonitors) != 0 {
		t.Errorf("defaults: got %d Services, %d Ingresses, %d ServiceMonitors; want none", len(m.Services), len(m.Ingresses), len(m.ServiceMonitors))
	}

	m = mustRender(t, nil, map[string]any{"webhook": map[string]any{"enabled": true}})
	if len(m.Services) != 1 || len(m.Ingresses) != 0 {
		t.Fatalf("webhook.enabled: got %d Services and %d Ingresses, want 1 and 0", len(m.Services), len(m.Ingresses))
	}
	d, c := m.deployment(t)
	_, cfg := m.config(t)
	svc := m.Services[0]
	if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("Service %s selects %v, not the pods (%v)", svc.Name, svc.Spec.Selector, d.Spec.Template.Labels)
	}
	if len(svc.Spec.Ports) != 1 || containerPort(t, c, svc.Spec.Ports[0].TargetPort) != portOf(t, cfg.Listen) {
		t.Errorf("Service %s ports %+v: want one to listen's port %s", svc.Name, svc.Spec.Ports, cfg.Listen)
	}

	m = mustRender(t, nil, map[string]any{"webhook": map[string]any{"enabled": true, "ingress": map[string]any{"enabled": true, "className": "nginx"}}})
	if len(m.Ingresses) != 1 {
		t.Fatalf("webhook.ingress.enabled: got %d Ingresses, want 1", len(m.Ingresses))
	}
	ing := m.Ingresses[0]
	svc = m.Services[0]
	for _, r := range ing.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			if p.Path != "/webhooks/github" {
				t.Errorf("Ingress path %q: want /webhooks/github alone", p.Path)
			}
			if b := p.Backend.Service; b == nil || b.Name != svc.Name || b.Port.Number != svc.Spec.Ports[0].Port {
				t.Errorf("Ingress backend %+v: want Service %s port %d", b, svc.Name, svc.Spec.Ports[0].Port)
			}
		}
	}
	if len(ing.Spec.Rules) == 0 {
		t.Error("Ingress without rules")
	}
}

// TestServiceMonitor: off by default; on, it scrapes /metrics through the metrics
// Service, whose port is metrics_listen's.
func TestServiceMonitor(t *testing.T) {
	m := mustRender(t, nil, map[string]any{"metrics": map[string]any{"service": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true}}})
	if len(m.ServiceMonitors) != 1 || len(m.Services) != 1 {
		t.Fatalf("got %d ServiceMonitors and %d Services, want 1 and 1", len(m.ServiceMonitors), len(m.Services))
	}
	var sm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port string `json:"port"`
				Path string `json:"path"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	raw, _ := json.Marshal(m.ServiceMonitors[0])
	if err := json.Unmarshal(raw, &sm); err != nil {
		t.Fatal(err)
	}
	svc := m.Services[0]
	_, c := m.deployment(t)
	_, cfg := m.config(t)
	if !selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
		t.Errorf("the ServiceMonitor selects %v, not Service %s (%v)", sm.Spec.Selector.MatchLabels, svc.Name, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Fatalf("endpoints %+v: want /metrics", sm.Spec.Endpoints)
	}
	found := false
	for _, p := range svc.Spec.Ports {
		if p.Name == sm.Spec.Endpoints[0].Port {
			found = true
			if got := containerPort(t, c, p.TargetPort); got != portOf(t, cfg.MetricsListen) {
				t.Errorf("metrics Service targets port %d, want metrics_listen's %s", got, cfg.MetricsListen)
			}
		}
	}
	if !found {
		t.Errorf("Service %s has no port %q", svc.Name, sm.Spec.Endpoints[0].Port)
	}
}

// TestSQLiteValues: one replica, Recreate, the database on a claim, no budget and
// nothing that assumes two replicas.
func TestSQLiteValues(t *testing.T) {
	m := mustRender(t, []string{sqliteValues}, nil)
	d, _ := m.deployment(t)
	_, cfg := m.config(t)
	if !strings.HasPrefix(cfg.Store, "sqlite:/") {
		t.Errorf("store: got %q, want sqlite:/…", cfg.Store)
	}
	if got := *d.Spec.Replicas; got != 1 {
		t.Errorf("replicas: got %d, want 1", got)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("strategy: got %+v, want Recreate", d.Spec.Strategy)
	}
	for _, pdb := range m.PDBs {
		if got := disruptionsAllowed(t, pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable, 1); got < 1 {
			t.Errorf("PodDisruptionBudget %s allows %d disruptions of one replica: it blocks every drain", pdb.Name, got)
		}
	}
	if len(m.PDBs) != 0 {
		t.Errorf("got %d PodDisruptionBudgets, want none for one replica", len(m.PDBs))
	}
	if a := d.Spec.Template.Spec.Affinity; a != nil {
		t.Errorf("affinity %+v for one replica: want none", a)
	}
	if len(m.PVCs) != 1 {
		t.Fatalf("got %d PersistentVolumeClaims, want 1", len(m.PVCs))
	}
	if modes := m.PVCs[0].Spec.AccessModes; len(modes) != 1 || modes[0] != corev1.ReadWriteOnce {
		t.Errorf("claim access modes: got %v, want [ReadWriteOnce]", modes)
	}
	if !strings.Contains(m.Notes, "1 replica(s) on SQLite") {
		t.Errorf("NOTES: got %q, want it to say one replica on SQLite", m.Notes)
	}
	// Even with the budget left on, one replica gets none.
	m = mustRender(t, []string{sqliteValues}, map[string]any{"podDisruptionBudget": map[string]any{"enabled": true}})
	if len(m.PDBs) != 0 {
		t.Errorf("podDisruptionBudget.enabled with one replica: got %d budgets, want none", len(m.PDBs))
	}
	// Without persistence, an emptyDir, and no claim.
	m = mustRender(t, []string{sqliteValues}, map[string]any{"persistence": map[string]any{"enabled": false}})
	d, _ = m.deployment(t)
	if len(m.PVCs) != 0 {
		t.Errorf("persistence.enabled false: got %d claims, want none", len(m.PVCs))
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "data" && v.EmptyDir == nil {
			t.Errorf("persistence.enabled false: the data volume is %+v, want an emptyDir", v.VolumeSource)
		}
	}
}

// TestDockerfileMatchesTheChart: the image the repository's Dockerfile builds is the one
// the chart runs: medic as the entrypoint, the chart's arguments as its CMD, a numeric
// non-root user (runAsNonRoot cannot check a user name) equal to the chart's, Terraform
// where terraform.bin finds it, the ports exposed the chart's. (No container engine
// runs here: the image itself is not built by this test.)
func TestDockerfileMatchesTheChart(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	final := string(raw)
	if i := strings.LastIndex(final, "\nFROM "); i >= 0 {
		final = final[i:]
	}
	instr := func(name string) string {
		m := regexp.MustCompile(`(?m)^`+name+`\s+(.+)$`).FindAllStringSubmatch(final, -1)
		if len(m) == 0 {
			t.Fatalf("the Dockerfile's last stage has no %s", name)
		}
		return strings.TrimSpace(m[len(m)-1][1])
	}
	var entry, cmd []string
	if err := json.Unmarshal([]byte(instr("ENTRYPOINT")), &entry); err != nil {
		t.Fatalf("ENTRYPOINT: %v", err)
	}
	if err := json.Unmarshal([]byte(instr("CMD")), &cmd); err != nil {
		t.Fatalf("CMD: %v", err)
	}
	m := mustRender(t, nil, nil)
	d, c := m.deployment(t)
	_, cfg := m.config(t)
	if len(entry) != 1 || path.Base(entry[0]) != "medic" || len(c.Command) != 0 {
		t.Errorf("ENTRYPOINT %v with the chart's command %v: want medic's binary, the chart setting no command", entry, c.Command)
	}
	if strings.Join(cmd, " ") != strings.Join(c.Args, " ") || strings.Join(c.Args, " ") != "serve --config /etc/medic/medic.yaml" {
		t.Errorf("CMD %v, chart args %v: want both serve --config /etc/medic/medic.yaml", cmd, c.Args)
	}
	user := instr("USER")
	uid, gid, ok := strings.Cut(user, ":")
	pod := d.Spec.Template.Spec.SecurityContext
	if !ok || pod.RunAsUser == nil || pod.RunAsGroup == nil || uid != strconv.FormatInt(*pod.RunAsUser, 10) || gid != strconv.FormatInt(*pod.RunAsGroup, 10) || uid == "0" {
		t.Errorf("USER %q: want the chart's numeric non-root uid:gid (runAsUser %s, runAsGroup %s)", user, deref(pod.RunAsUser), deref(pod.RunAsGroup))
	}
	tf := regexp.MustCompile(`(?m)^COPY --from=\S+ \S+/terraform (\S+)$`).FindStringSubmatch(final)
	switch {
	case tf == nil:
		t.Error("the image carries no terraform binary (COPY … /terraform …)")
	case cfg.Terraform.Bin != "terraform" && cfg.Terraform.Bin != tf[1]:
		t.Errorf("terraform.bin %q: the image has %s", cfg.Terraform.Bin, tf[1])
	case path.Dir(tf[1]) != "/usr/local/bin" && path.Dir(tf[1]) != "/usr/bin":
		t.Errorf("terraform at %s is not on the image's PATH", tf[1])
	}
	expose := strings.Fields(instr("EXPOSE"))
	for _, p := range []string{strconv.Itoa(int(portOf(t, cfg.Listen))), strconv.Itoa(int(portOf(t, cfg.MetricsListen)))} {
		found := false
		for _, e := range expose {
			found = found || e == p
		}
		if !found {
			t.Errorf("EXPOSE %v: want the chart's port %s", expose, p)
		}
	}
	if !strings.Contains(string(raw), "./cmd/medic") {
		t.Error("the Dockerfile does not build ./cmd/medic")
	}
}

func deref(p *int64) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(*p, 10)
}

func bl(p *bool) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatBool(*p)
}

// TestChartLeavesOutItsTestModule: .helmignore keeps this module (Go files, go.mod,
// go.sum) out of the chart helm loads and packages.
func TestChartLeavesOutItsTestModule(t *testing.T) {
	ch := loadChart(t)
	if len(ch.Raw) == 0 {
		t.Fatal("the chart loaded no files")
	}
	for _, f := range ch.Raw {
		if strings.HasPrefix(f.Name, "test/") || strings.HasSuffix(f.Name, ".go") || path.Base(f.Name) == "go.mod" {
			t.Errorf("the chart carries %s", f.Name)
		}
	}
}
