package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/medic-ops/medic"
	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/sandbox"
)

// sandboxWorld is the built-in sandbox's GitHub, AWS, health, PagerDuty and Terraform
// state servers seeded with the world `medic demo` uses, for a `medic serve` started
// apart (against a real Slack workspace, or a benchmark's fake Slack).
type sandboxWorld struct {
	sb  *sandbox.Sandbox
	cfg *config.Config
	// tfState is the Terraform http backend's base URL as medic reaches it.
	tfState string
	// env are the variables that point `medic serve` at the world, in print order.
	env [][2]string
	// configYAML is a ready medic config for the world (no Slack tokens: they come
	// from the environment).
	configYAML []byte
	closers    []func()
}

// startSandboxWorld starts the sandbox, seeds the demo's healthy world and builds the
// environment and config that point medic at it. Its servers are reached at host: on
// 127.0.0.1 directly, on any other host through a proxy listening there. dir holds
// the store and Terraform's work directory of the printed config.
func startSandboxWorld(host, dir string) (*sandboxWorld, error) {
	sb := sandbox.Start(sandbox.Options{})
	w := &sandboxWorld{sb: sb}
	ok := false
	defer func() {
		if !ok {
			w.close()
		}
	}()
	cfg, err := sandboxConfig(sb, dir)
	if err != nil {
		return nil, err
	}
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		return nil, err
	}
	urls, err := w.expose(host, sb.GitHub.URL(), sb.AWS.URL(), sb.PagerDuty.URL(), sb.TFState.URL(), strings.TrimSuffix(sb.HealthURL("x"), "/x/health"))
	if err != nil {
		return nil, err
	}
	github, aws, pd, tf, health := urls[0], urls[1], urls[2], urls[3], urls[4]
	for name, env := range cfg.Environments {
		env.Health.URL = health + "/" + name + "/health"
		for i, kv := range env.Terraform.BackendConfig {
			env.Terraform.BackendConfig[i] = strings.ReplaceAll(kv, sb.TFState.URL(), tf)
		}
		cfg.Environments[name] = env
	}
	cfg.PagerDuty.EventsURL = pd
	w.tfState = tf
	// medic serve validates its config: the webhook and the operators' listeners need
	// addresses of their own (the demo's ":0" twice is not one).
	if cfg.Listen, err = freeLoopbackAddr(); err != nil {
		return nil, err
	}
	if cfg.MetricsListen, err = freeLoopbackAddr(); err != nil {
		return nil, err
	}
	w.cfg = cfg
	w.env = [][2]string{
		{config.EnvGitHubAPIURL, github + "/"},
		{config.EnvGitHubToken, "ghs_sandbox"},
		{config.EnvWebhookSecret, sandboxWebhookSecret},
		{"AWS_ENDPOINT_URL", aws},
		{"AWS_ACCESS_KEY_ID", "AKIASANDBOX0000000"},
		{"AWS_SECRET_ACCESS_KEY", "sandbox-secret-key"},
		{"AWS_REGION", "us-east-1"},
		{"AWS_EC2_METADATA_DISABLED", "true"},
		{config.EnvPagerDutyKey, sandboxRoutingKey},
		{config.EnvPagerDutyURL, pd},
	}
	if w.configYAML, err = sandboxConfigYAML(cfg); err != nil {
		return nil, err
	}
	ok = true
	return w, nil
}

// expose returns the addresses medic reaches the servers at: on 127.0.0.1 their own,
// on any other host a proxy's listening there (closed with the world).
func (w *sandboxWorld) expose(host string, urls ...string) ([]string, error) {
	if host == "127.0.0.1" {
		return urls, nil
	}
	out := make([]string, 0, len(urls))
	for _, u := range urls {
		pub, stop, err := exposeOn(host, u)
		if err != nil {
			return nil, err
		}
		w.closers = append(w.closers, stop)
		out = append(out, pub)
	}
	return out, nil
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (w *sandboxWorld) close() {
	for _, c := range w.closers {
		c()
	}
	w.sb.Close()
}

// sandboxConfigYAML writes cfg's sandbox settings into the example config, keeping
// its comments and everything else as shipped.
func sandboxConfigYAML(cfg *config.Config) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(medic.ExampleConfig, &doc); err != nil {
		return nil, err
	}
	set := func(v any, path ...string) error { return setYAML(&doc, v, path...) }
	roles := map[string]map[string][]string{}
	for k, r := range cfg.Access.Roles {
		roles[k] = map[string][]string{"responders": r.Responders, "approvers": r.Approvers}
	}
	levels := map[string]map[string][]string{}
	for k, l := range cfg.Escalation.Levels {
		levels[k] = map[string][]string{"slack": l.Slack}
	}
	sets := []struct {
		v    any
		path []string
	}{
		{cfg.Listen, []string{"listen"}},
		{cfg.MetricsListen, []string{"metrics_listen"}},
		{cfg.Store, []string{"store"}},
		{roles, []string{"access", "roles"}},
		{levels, []string{"escalation", "levels"}},
		{cfg.Verify.Watch.String(), []string{"verify", "watch"}},
		{cfg.Jobs.Lease.String(), []string{"jobs", "lease"}},
		{cfg.Terraform.WorkDir, []string{"terraform", "work_dir"}},
		{cfg.Terraform.PluginDirs, []string{"terraform", "plugin_dirs"}},
		{cfg.Terraform.Bin, []string{"terraform", "bin"}},
		{cfg.PagerDuty.EventsURL, []string{"pagerduty", "events_url"}},
	}
	names := make([]string, 0, len(cfg.Environments))
	for name := range cfg.Environments {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		env := cfg.Environments[name]
		sets = append(sets,
			struct {
				v    any
				path []string
			}{env.Health.URL, []string{"environments", name, "health", "url"}},
			struct {
				v    any
				path []string
			}{env.Terraform.BackendConfig, []string{"environments", name, "terraform", "backend_config"}})
	}
	for _, s := range sets {
		if err := set(s.v, s.path...); err != nil {
			return nil, fmt.Errorf("setting %s: %w", strings.Join(s.path, "."), err)
		}
	}
	var buf bytes.Buffer
	buf.WriteString("# medic config for `medic sandbox`'s world (written by medic sandbox --print-config).\n" +
		"# Slack tokens come from the environment: SLACK_APP_TOKEN and SLACK_BOT_TOKEN.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// setYAML sets the value at path in a YAML document, creating mappings as needed.
func setYAML(doc *yaml.Node, v any, path ...string) error {
	n := doc
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	for i, key := range path {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a mapping", strings.Join(path[:i], "."))
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				next = n.Content[j+1]
			}
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, next)
		}
		n = next
	}
	var val yaml.Node
	if err := val.Encode(v); err != nil {
		return err
	}
	val.HeadComment, val.LineComment, val.FootComment = n.HeadComment, n.LineComment, n.FootComment
	*n = val
	return nil
}

// exposeOn serves the HTTP server at target on a new port of host, rewriting its own
// address to the public one in headers and bodies (Location, Link, url fields).
func exposeOn(host, target string) (string, func(), error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", nil, err
	}
	name := host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		// Every interface: the others reach it by this machine's name.
		if h, err := os.Hostname(); err == nil {
			name = h
		}
	}
	pub := "http://" + net.JoinHostPort(name, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	tu, err := url.Parse(target)
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = tu.Scheme, tu.Host
		out.Header.Del("Accept-Encoding")
		resp, err := client.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body = bytes.ReplaceAll(body, []byte(target), []byte(pub))
		for k, vs := range resp.Header {
			if k == "Content-Length" {
				continue
			}
			for _, v := range vs {
				w.Header().Add(k, strings.ReplaceAll(v, target, pub))
			}
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	return pub, func() { _ = srv.Close() }, nil
}

// printSandboxEnv prints w's environment, one NAME=value a line, between comments: the
// output can be sourced by a shell (set -a; . file).
func printSandboxEnv(out io.Writer, w *sandboxWorld, configPath string) {
	fmt.Fprintf(out, "# medic sandbox: GitHub %s · AWS %s · health %s · PagerDuty %s · Terraform state %s\n",
		envValue(w.env, config.EnvGitHubAPIURL), envValue(w.env, "AWS_ENDPOINT_URL"),
		strings.TrimSuffix(w.cfg.Environments[firstEnv(w.cfg)].Health.URL, "/"+firstEnv(w.cfg)+"/health"),
		envValue(w.env, config.EnvPagerDutyURL), w.tfState)
	for _, kv := range w.env {
		fmt.Fprintf(out, "%s=%s\n", kv[0], kv[1])
	}
	if configPath != "" {
		fmt.Fprintf(out, "# config: %s (medic serve --config %s)\n", configPath, configPath)
	}
	fmt.Fprintln(out, "# ready: serving until SIGINT/SIGTERM")
}

func envValue(env [][2]string, name string) string {
	for _, kv := range env {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

func firstEnv(cfg *config.Config) string {
	names := make([]string, 0, len(cfg.Environments))
	for n := range cfg.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

func sandboxCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("listen-host", "127.0.0.1", "host the sandbox's servers listen on")
	configPath := fs.String("print-config", "", "write a ready medic config for the sandbox's world to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "medic sandbox: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	dir, err := os.MkdirTemp("", "medic-sandbox-")
	if err != nil {
		fmt.Fprintf(stderr, "medic sandbox: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	w, err := startSandboxWorld(*host, dir)
	if err != nil {
		fmt.Fprintf(stderr, "medic sandbox: %v\n", err)
		return 1
	}
	defer w.close()
	if *configPath != "" {
		if err := os.WriteFile(*configPath, w.configYAML, 0o644); err != nil {
			fmt.Fprintf(stderr, "medic sandbox: %v\n", err)
			return 1
		}
	}
	printSandboxEnv(stdout, w, *configPath)
	if f, ok := stdout.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
	<-ctx.Done()
	fmt.Fprintf(stderr, "medic sandbox: stopped; served %s\n", w.callSummary())
	return 0
}

// callSummary counts the GitHub, AWS and health calls the world answered, by
// operation: what the medic served against it asked for its answers.
func (w *sandboxWorld) callSummary() string {
	aws := map[string]int{}
	calls := w.sb.AWS.Calls()
	for _, c := range calls {
		aws[c.Op]++
	}
	github := w.sb.Faults.CallsByOp("github:")
	githubTotal := 0
	for _, n := range github {
		githubTotal += n
	}
	health := map[string]int{}
	total := 0
	for name := range w.cfg.Environments {
		if n := w.sb.Faults.Calls("health:" + name); n > 0 {
			health[name] = n
			total += n
		}
	}
	return fmt.Sprintf("GitHub %d calls (%s), AWS %d (%s), health %d (%s)", githubTotal, countList(github), len(calls), countList(aws), total, countList(health))
}

func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
