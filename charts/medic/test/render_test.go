// Package charttest checks the Helm chart in charts/medic without a cluster or a helm
// binary: Helm's own Go packages lint it (as `helm lint --strict`) and render it (as
// `helm template`), each rendered manifest is decoded strictly (an unknown field is an
// error) into the Kubernetes API types, and the tests check what medic needs from them.
// It is a module of its own, so that medic's go.mod and `go test ./...` never pull in
// Helm or the Kubernetes libraries; `make chart-test` runs it.
package charttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = ".."
	repoRoot  = "../../.."
	release   = "medic"
	namespace = "ops"
	// sqliteValues is the chart's one-replica values file.
	sqliteValues = "../values-sqlite.yaml"
)

// kubeVersion is the cluster version the chart is linted and rendered for: the one
// k8s.io/api v0.37 describes (helm's own default outside tests).
const kubeVersion = "v1.37.0"

// manifests are the objects one rendering produced, decoded into their API types.
type manifests struct {
	Deployments     []appsv1.Deployment
	ConfigMaps      []corev1.ConfigMap
	Secrets         []corev1.Secret
	Services        []corev1.Service
	ServiceAccounts []corev1.ServiceAccount
	PVCs            []corev1.PersistentVolumeClaim
	PDBs            []policyv1.PodDisruptionBudget
	Ingresses       []networkingv1.Ingress
	// ServiceMonitors (monitoring.coreos.com/v1, a CRD) are checked as plain maps.
	ServiceMonitors []map[string]any
	// Docs are every document's text, with its kind, for searches across them.
	Docs []doc
	// Notes is NOTES.txt as rendered.
	Notes string
}

type doc struct {
	kind, name, text string
}

// values reads values files (as `-f`) and merges overrides over them (as `--set`).
func values(tb testing.TB, files []string, overrides map[string]any) map[string]any {
	tb.Helper()
	vals := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatalf("reading values: %v", err)
		}
		v, err := loader.LoadValues(bytes.NewReader(data))
		if err != nil {
			tb.Fatalf("parsing values %s: %v", f, err)
		}
		vals = loader.MergeMaps(vals, v)
	}
	return loader.MergeMaps(vals, overrides)
}

// loadChart loads charts/medic as helm does (.helmignore applied).
func loadChart(tb testing.TB) *chartv2.Chart {
	tb.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		tb.Fatalf("loading the chart: %v", err)
	}
	return ch
}

// render renders the chart as `helm template medic charts/medic -n ops` with the values
// files and overrides, and decodes every manifest strictly.
func render(tb testing.TB, files []string, overrides map[string]any) (*manifests, error) {
	tb.Helper()
	ch := loadChart(tb)
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		tb.Fatal(err)
	}
	caps.KubeVersion = *kv
	rv, err := util.ToRenderValues(ch, values(tb, files, overrides),
		common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}, caps)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	out, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	m := &manifests{}
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			m.Notes = out[name]
			continue
		}
		for _, text := range splitDocs(out[name]) {
			if err := m.decode(text); err != nil {
				tb.Errorf("%s: %v\n%s", name, err, text)
			}
		}
	}
	return m, nil
}

// mustRender is render that fails the test on an error.
func mustRender(tb testing.TB, files []string, overrides map[string]any) *manifests {
	tb.Helper()
	m, err := render(tb, files, overrides)
	if err != nil {
		tb.Fatalf("rendering the chart: %v", err)
	}
	return m
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

func splitDocs(s string) []string {
	var docs []string
	for _, d := range docSep.Split(s, -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// decode decodes one document into its API type; a field the type lacks is an error.
func (m *manifests) decode(text string) error {
	var head struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(text), &head); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	strict := func(into any) error { return yaml.UnmarshalStrict([]byte(text), into) }
	var err error
	switch gvk := head.APIVersion + " " + head.Kind; gvk {
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		err = strict(&o)
		m.Deployments = append(m.Deployments, o)
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		err = strict(&o)
		m.ConfigMaps = append(m.ConfigMaps, o)
	case "v1 Secret":
		var o corev1.Secret
		err = strict(&o)
		m.Secrets = append(m.Secrets, o)
	case "v1 Service":
		var o corev1.Service
		err = strict(&o)
		m.Services = append(m.Services, o)
	case "v1 ServiceAccount":
		var o corev1.ServiceAccount
		err = strict(&o)
		m.ServiceAccounts = append(m.ServiceAccounts, o)
	case "v1 PersistentVolumeClaim":
		var o corev1.PersistentVolumeClaim
		err = strict(&o)
		m.PVCs = append(m.PVCs, o)
	case "policy/v1 PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		err = strict(&o)
		m.PDBs = append(m.PDBs, o)
	case "networking.k8s.io/v1 Ingress":
		var o networkingv1.Ingress
		err = strict(&o)
		m.Ingresses = append(m.Ingresses, o)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		var o map[string]any
		err = strict(&o)
		m.ServiceMonitors = append(m.ServiceMonitors, o)
	default:
		return fmt.Errorf("unexpected kind %q", gvk)
	}
	if err != nil {
		return fmt.Errorf("%s %s does not decode strictly: %w", head.Kind, head.Metadata.Name, err)
	}
	if head.Metadata.Name == "" {
		return fmt.Errorf("%s without a name", head.Kind)
	}
	m.Docs = append(m.Docs, doc{kind: head.Kind, name: head.Metadata.Name, text: text})
	return nil
}

// deployment returns the one Deployment and its medic container.
func (m *manifests) deployment(tb testing.TB) (*appsv1.Deployment, *corev1.Container) {
	tb.Helper()
	if len(m.Deployments) != 1 {
		tb.Fatalf("got %d Deployments, want 1", len(m.Deployments))
	}
	d := &m.Deployments[0]
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		tb.Fatalf("got %d containers, want 1 (medic)", n)
	}
	return d, &d.Spec.Template.Spec.Containers[0]
}

// medicConfig is what the tests read of the ConfigMap's medic.yaml (medic's own keys).
type medicConfig struct {
	Listen        string `json:"listen"`
	MetricsListen string `json:"metrics_listen"`
	Store         string `json:"store"`
	ShutdownGrace string `json:"shutdown_grace"`
	Terraform     struct {
		Bin     string `json:"bin"`
		WorkDir string `json:"work_dir"`
	} `json:"terraform"`
}

// config returns the ConfigMap's medic.yaml, as text and as medicConfig.
func (m *manifests) config(tb testing.TB) (string, medicConfig) {
	tb.Helper()
	if len(m.ConfigMaps) != 1 {
		tb.Fatalf("got %d ConfigMaps, want 1", len(m.ConfigMaps))
	}
	text, ok := m.ConfigMaps[0].Data["medic.yaml"]
	if !ok {
		tb.Fatalf("the ConfigMap has no medic.yaml: keys %v", keys(m.ConfigMaps[0].Data))
	}
	var c medicConfig
	if err := yaml.Unmarshal([]byte(text), &c); err != nil {
		tb.Fatalf("the ConfigMap's medic.yaml: %v", err)
	}
	return text, c
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// medicBinary builds medic once per test run (or takes MEDIC_BIN), for `config check`.
var medicBinary = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("MEDIC_BIN"); bin != "" {
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "medic-chart-test")
	if err != nil {
		return "", err
	}
	tmpDirs = append(tmpDirs, dir)
	bin := filepath.Join(dir, "medic")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/medic")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/medic: %v\n%s", err, out)
	}
	return bin, nil
})

var tmpDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tmpDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// configCheck runs `medic config check --no-env` on a rendered medic.yaml; it fails the
// test unless medic calls it OK. The medic binary is built from this repository: a
// missing Go toolchain fails the test, it never skips.
func configCheck(tb testing.TB, text string) {
	tb.Helper()
	bin, err := medicBinary()
	if err != nil {
		tb.Fatalf("building medic for config check: %v", err)
	}
	f := filepath.Join(tb.TempDir(), "medic.yaml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "config", "check", "--no-env", "--config", f)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("medic config check --no-env on the rendered medic.yaml: %v\nstdout:\n%s\nstderr:\n%s\nmedic.yaml:\n%s", err, &stdout, &stderr, text)
	}
	if !strings.Contains(stdout.String(), ": OK") {
		tb.Fatalf("medic config check said %q, want OK", stdout.String())
	}
	if stderr.Len() > 0 {
		tb.Logf("medic config check: %s", &stderr)
	}
}
