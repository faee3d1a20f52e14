package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/medic-ops/medic/config"
)

// TestSandboxCmd runs `medic sandbox` in-process, reads the environment it prints and
// the config it writes, and calls the world through them: GitHub's list of workflow
// runs, a health endpoint with its API key, a Lambda function. On 127.0.0.1 the
// servers answer directly; on another host through medic's rewriting proxy.
func TestSandboxCmd(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) {
			cfgPath := filepath.Join(t.TempDir(), "medic-sandbox.yaml")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			var errOut strings.Builder
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"sandbox", "--listen-host", host, "--print-config", cfgPath}, pw, &errOut, os.Getenv)
				pw.Close()
			}()
			env := map[string]string{}
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
				_, _ = io.Copy(io.Discard, pr)
			}()
		read:
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("medic sandbox stopped before it was ready: %s", errOut.String())
					}
					if strings.HasPrefix(line, "# ready") {
						break read
					}
					if name, val, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
						env[name] = val
					}
				case <-time.After(20 * time.Second):
					t.Fatal("medic sandbox printed no ready line within 20s")
				}
			}
			for _, name := range []string{"GITHUB_API_URL", "GITHUB_TOKEN", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PAGERDUTY_EVENTS_URL", "PAGERDUTY_ROUTING_KEY"} {
				if env[name] == "" {
					t.Errorf("%s not printed: %v", name, env)
				}
			}
			for name, val := range env {
				if strings.HasSuffix(name, "_URL") && !strings.Contains(val, "://"+host+":") {
					t.Errorf("%s=%s is not on %s", name, val, host)
				}
			}
			// The printed environment is what medic serve reads.
			secrets, _ := config.SecretsFromEnv(func(k string) string { return env[k] })
			if secrets.GitHubAPIURL != env["GITHUB_API_URL"] || secrets.PagerDutyEventsURL != env["PAGERDUTY_EVENTS_URL"] {
				t.Errorf("medic reads %+v from %v", secrets, env)
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				t.Fatalf("the printed config does not load: %v", err)
			}

			// GitHub: the deploy workflow's runs.
			req, _ := http.NewRequest(http.MethodGet, env["GITHUB_API_URL"]+"repos/"+cfg.GitHub.Owner+"/"+cfg.GitHub.Repo+"/actions/runs", nil)
			req.Header.Set("Authorization", "Bearer "+env["GITHUB_TOKEN"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var runs struct {
				TotalCount int `json:"total_count"`
				Runs       []struct {
					URL string `json:"url"`
				} `json:"workflow_runs"`
			}
			err = json.NewDecoder(resp.Body).Decode(&runs)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || runs.TotalCount == 0 || len(runs.Runs) == 0 {
				t.Fatalf("GitHub's workflow runs: %d %+v %v", resp.StatusCode, runs, err)
			}
			if !strings.HasPrefix(runs.Runs[0].URL, strings.TrimSuffix(env["GITHUB_API_URL"], "/")) {
				t.Errorf("a run's url %s is not on the printed GitHub %s", runs.Runs[0].URL, env["GITHUB_API_URL"])
			}

			// Health: prod's endpoint answers 200 with its API key, 401 without.
			prod := cfg.Environments["prod"]
			for _, key := range []string{"", "sbx-prod-api-key-5f2b9c"} {
				req, _ := http.NewRequest(http.MethodGet, prod.Health.URL, nil)
				if key != "" {
					req.Header.Set("X-API-Key", key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if want := map[bool]int{true: 401, false: 200}[key == ""]; resp.StatusCode != want {
					t.Errorf("health %s with key %q: %d, want %d", prod.Health.URL, key, resp.StatusCode, want)
				}
			}

			// AWS: a prod Lambda function through the printed endpoint and credentials.
			lc := lambda.New(lambda.Options{
				Region:       prod.AWS.Region,
				BaseEndpoint: sdkaws.String(env["AWS_ENDPOINT_URL"]),
				Credentials:  credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
			})
			fn := prod.Lambda.Functions[0]
			out, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &fn})
			if err != nil {
				t.Fatalf("GetFunction %s: %v", fn, err)
			}
			if out.Configuration == nil || sdkaws.ToString(out.Configuration.FunctionName) != fn {
				t.Errorf("GetFunction %s: %+v", fn, out.Configuration)
			}

			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("medic sandbox exited %d: %s", code, errOut.String())
				}
				// The summary counts each service's calls by operation: GitHub's too.
				want := "served GitHub 1 calls (ListWorkflowRuns=1), AWS 1 (lambda:GetFunction=1), health 2 (prod=2)"
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("medic sandbox's summary: got %q, want %q", errOut.String(), want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("medic sandbox did not stop within 10s of its context's end")
			}
		})
	}
}
