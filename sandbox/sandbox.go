// Package sandbox runs protocol-faithful local stand-ins for everything medic talks
// to (Slack with Socket Mode, GitHub's REST API, AWS, the service's health endpoints)
// and seeds them with a world described in a few lines. `medic demo` and the tests use
// it with the real client libraries; nothing leaves 127.0.0.1.
package sandbox

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/medic-ops/medic/sandbox/awsfake"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/githubfake"
	"github.com/medic-ops/medic/sandbox/pagerdutyfake"
	"github.com/medic-ops/medic/sandbox/slackfake"
	"github.com/medic-ops/medic/sandbox/tfstate"
)

// Options configure a Sandbox. The zero value is usable.
type Options struct {
	// Repository is the GitHub "owner/name" served; default "traylorre/sentiment-analyzer-gsk".
	Repository string
	// Now is the clock of every fake; time.Now when nil.
	Now func() time.Time
	// Slack tunes the Slack fake (ping interval, ack timeout …); its Faults and Now
	// are set by the sandbox.
	Slack slackfake.Options
	// GitHubToken, when set, is the only token the GitHub fake accepts;
	// AWSAccessKeyID the only access key the AWS fake takes (besides its STS's);
	// StatePassword the only password the Terraform state backend takes (user
	// "medic"). A drill's sandbox draws all three, so nothing else on the host
	// changes its world.
	GitHubToken, AWSAccessKeyID, StatePassword string
}

// Sandbox is a running set of fakes sharing one fault injector.
type Sandbox struct {
	// Faults slows down or breaks any operation of any fake ("lambda:GetFunction",
	// "health:prod", "slack:chat.postMessage" …).
	Faults *fault.Injector
	Slack  *slackfake.Server
	GitHub *githubfake.Server
	AWS    *awsfake.Server
	// TFState is the Terraform http backend holding each environment's state.
	TFState *tfstate.Server
	// PagerDuty is the Events API v2 medic pages through.
	PagerDuty *pagerdutyfake.Server

	health *httptest.Server
	mu     sync.Mutex
	envs   map[string]*healthState
	now    func() time.Time
	// good holds each environment's known good SHAs and how its functions record
	// their version, so the world can recover when one of them is deployed again.
	good map[string]goodVersions
}

type goodVersions struct {
	shas        map[string]bool
	tag, envVar string
	shortPrefix string
	functions   []string
	alarms      []string
}

type healthState struct {
	apiKey string
	status int
	body   string
}

// Start starts every fake. Call Close when done.
func Start(o Options) *Sandbox {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Repository == "" {
		o.Repository = "traylorre/sentiment-analyzer-gsk"
	}
	faults := fault.New()
	so := o.Slack
	so.Faults, so.Now = faults, o.Now
	s := &Sandbox{
		Faults: faults,
		Slack:  slackfake.New(so),
		GitHub: githubfake.New(githubfake.Options{Repository: o.Repository, Faults: faults, Now: o.Now, Token: o.GitHubToken}),
		AWS:    awsfake.New(awsfake.Options{Faults: faults, Now: o.Now, AccessKeyID: o.AWSAccessKeyID}),
		envs:   map[string]*healthState{},
		now:    o.Now,
		good:   map[string]goodVersions{},
	}
	s.TFState = tfstate.New(faults)
	if o.StatePassword != "" {
		s.TFState.RequireCredentials("medic", o.StatePassword)
	}
	s.PagerDuty = pagerdutyfake.New(faults)
	s.TFState.OnWrite(s.stateWritten)
	s.AWS.OnMutation(s.awsChanged)
	s.health = httptest.NewServer(http.HandlerFunc(s.serveHealth))
	return s
}

// Close stops every fake.
func (s *Sandbox) Close() {
	s.health.Close()
	s.TFState.Close()
	s.PagerDuty.Close()
	s.Slack.Close()
	s.GitHub.Close()
	s.AWS.Close()
}

// HealthURL is the URL of env's health endpoint.
func (s *Sandbox) HealthURL(env string) string { return s.health.URL + "/" + env + "/health" }

// SetHealth makes env's health endpoint answer status with body to callers that send
// its API key.
func (s *Sandbox) SetHealth(env string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.healthLocked(env)
	h.status, h.body = status, body
}

func (s *Sandbox) healthLocked(env string) *healthState {
	h, ok := s.envs[env]
	if !ok {
		h = &healthState{status: http.StatusOK, body: `{"status":"healthy"}`}
		s.envs[env] = h
	}
	return h
}

// serveHealth answers GET /{env}/health like the service's dashboard Lambda: 401
// without the right X-API-Key, otherwise the configured answer.
func (s *Sandbox) serveHealth(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 2 || parts[1] != "health" || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	env := parts[0]
	if fe := s.Faults.Hit(r.Context(), "health:"+env); fe != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fe.Status)
		fmt.Fprintf(w, `{"error":%q}`, fe.Message)
		return
	}
	s.mu.Lock()
	h, ok := s.envs[env]
	var st healthState
	if ok {
		st = *h
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
		return
	}
	if st.apiKey != "" && r.Header.Get("X-API-Key") != st.apiKey {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid or missing API key"}`)
		return
	}
	w.WriteHeader(st.status)
	fmt.Fprint(w, st.body)
}

// World describes what the fakes hold: the repository's deploy history and, per
// environment, its Lambda functions, alarms, health endpoint, secrets and data.
type World struct {
	Envs []Env
}

// Env is one environment of a World.
type Env struct {
	Name string
	// Functions are the Lambda function names; each runs Version.
	Functions []string
	// VersionTag, VersionEnv: where each function records Version (tag key or
	// environment variable); either may be empty.
	VersionTag string
	VersionEnv string
	// Version is the deployed SHA; default the newest of GoodDeploys.
	Version string
	// FailedFunctions are functions whose State is Failed.
	FailedFunctions []string
	// Alarms are alarm names in OK; Firing are alarm names in ALARM.
	Alarms []string
	Firing []string
	// APIKeySecret names the secret holding APIKey, sent to the health endpoint.
	APIKeySecret string
	APIKey       string
	// HealthStatus and HealthBody are the health endpoint's answer (default 200).
	HealthStatus int
	HealthBody   string
	// DeployWorkflow is the workflow file; DeployWorkflowName its name.
	DeployWorkflow     string
	DeployWorkflowName string
	DeployBranch       string
	// GoodDeploys are SHAs of successful deploy runs, oldest first, one hour apart and
	// ending an hour before now.
	GoodDeploys []string
	// Table is a DynamoDB table (hash key source_id, range key timestamp).
	Table string
	// Bucket holds {short}/lambda-{sha}.zip artifacts for every good deploy; ShortPrefix
	// is removed from a function name to make {short}.
	Bucket      string
	ShortPrefix string
	// Secrets are extra secrets (name → value).
	Secrets map[string]string
	// TerraformBackend is the backend of the Terraform configuration its deploys'
	// commits carry: "http" (default, the sandbox's tfstate server) or "s3".
	TerraformBackend string
}

// Seed loads w into the fakes. It can be called more than once; later calls add to or
// replace what is there.
func (s *Sandbox) Seed(w World) error {
	now := s.now()
	for _, e := range w.Envs {
		if err := s.seedEnv(e, now); err != nil {
			return fmt.Errorf("seeding %s: %w", e.Name, err)
		}
	}
	return nil
}

func (s *Sandbox) seedEnv(e Env, now time.Time) error {
	gv := goodVersions{shas: map[string]bool{}, tag: e.VersionTag, envVar: e.VersionEnv, shortPrefix: e.ShortPrefix,
		functions: e.Functions, alarms: append(append([]string(nil), e.Alarms...), e.Firing...)}
	for _, sha := range e.GoodDeploys {
		gv.shas[sha] = true
	}
	s.mu.Lock()
	s.good[e.Name] = gv
	s.mu.Unlock()
	version := e.Version
	if version == "" && len(e.GoodDeploys) > 0 {
		version = e.GoodDeploys[len(e.GoodDeploys)-1]
	}
	failed := map[string]bool{}
	for _, f := range e.FailedFunctions {
		failed[f] = true
	}
	for _, fn := range e.Functions {
		code := []byte("lambda package " + fn + "@" + version)
		sum := sha256.Sum256(code)
		f := awsfake.Function{
			Name: fn, Runtime: "python3.11", Handler: "handler.lambda_handler",
			CodeSha256: base64.StdEncoding.EncodeToString(sum[:]), CodeSize: int64(len(code)),
			LastModified: now.Add(-time.Hour), Env: map[string]string{"ENVIRONMENT": e.Name},
			Tags: map[string]string{"environment": e.Name},
		}
		if e.VersionTag != "" {
			f.Tags[e.VersionTag] = version
		}
		if e.VersionEnv != "" {
			f.Env[e.VersionEnv] = version
		}
		if e.Table != "" {
			f.Env["DYNAMODB_TABLE"] = e.Table
		}
		if failed[fn] {
			f.State, f.StateReason, f.LastUpdateStatus = "Failed", "The function could not be initialized", "Failed"
		}
		if e.Bucket != "" {
			f.S3Bucket, f.S3Key = e.Bucket, artifactKey(fn, e.ShortPrefix, version)
		}
		s.AWS.PutFunction(f)
		s.AWS.CreateLogGroup("/aws/lambda/" + fn)
		if e.Bucket != "" {
			for _, sha := range e.GoodDeploys {
				if err := s.AWS.PutObject(e.Bucket, artifactKey(fn, e.ShortPrefix, sha), []byte("lambda package "+fn+"@"+sha)); err != nil {
					return err
				}
			}
		}
	}
	for _, a := range e.Alarms {
		s.AWS.SetAlarm(awsfake.Alarm{Name: a, State: "OK", Reason: "Threshold Crossed: no datapoints were >= threshold", UpdatedAt: now.Add(-2 * time.Hour), Namespace: "AWS/Lambda", Metric: "Errors", Threshold: 5})
	}
	for _, a := range e.Firing {
		s.AWS.SetAlarm(awsfake.Alarm{Name: a, State: "ALARM", Reason: "Threshold Crossed: 1 out of the last 1 datapoints [12.0] was greater than or equal to the threshold (5.0).", UpdatedAt: now.Add(-11 * time.Minute), Namespace: "AWS/Lambda", Metric: "Errors", Threshold: 5})
	}
	if e.APIKeySecret != "" {
		s.AWS.PutSecret(e.APIKeySecret, e.APIKey)
	}
	for name, v := range e.Secrets {
		s.AWS.PutSecret(name, v)
	}
	if e.Table != "" {
		s.AWS.PutTable(awsfake.Table{Name: e.Table, HashKey: "source_id", RangeKey: "timestamp"})
	}
	s.mu.Lock()
	h := s.healthLocked(e.Name)
	h.apiKey = e.APIKey
	if e.HealthStatus != 0 {
		h.status = e.HealthStatus
	}
	if e.HealthBody != "" {
		h.body = e.HealthBody
	}
	s.mu.Unlock()

	if e.DeployWorkflow != "" {
		name := e.DeployWorkflowName
		if name == "" {
			name = e.DeployWorkflow
		}
		s.GitHub.AddWorkflow(e.DeployWorkflow, name)
		branch := e.DeployBranch
		if branch == "" {
			branch = "main"
		}
		n := len(e.GoodDeploys)
		for i, sha := range e.GoodDeploys {
			at := now.Add(-time.Duration(n-i) * time.Hour)
			// Every version deployed came from the main branch: its commits are main's
			// history (each environment's after the ones seeded before it).
			if _, _, known := s.GitHub.CommitMessage(sha); !known {
				s.GitHub.AddCommit(githubfake.Commit{SHA: sha, Message: "Deploy " + sha[:min(7, len(sha))], When: at, Files: RepositoryFilesFor(cmp.Or(e.TerraformBackend, "http")), Branch: "main"})
			}
			s.GitHub.AddRun(githubfake.Run{WorkflowFile: e.DeployWorkflow, HeadBranch: branch, HeadSHA: sha,
				Conclusion: "success", CreatedAt: at.Add(-5 * time.Minute), UpdatedAt: at})
		}
	}
	return nil
}

// artifactKey is where the pipeline uploads a function's package: {short}/lambda-{sha}.zip.
func artifactKey(fn, shortPrefix, sha string) string {
	return strings.TrimPrefix(fn, shortPrefix) + "/lambda-" + sha + ".zip"
}

// WaitReady is a convenience for tests and the demo: it waits until n Socket Mode
// connections are open.
func (s *Sandbox) WaitReady(ctx context.Context, n int) error {
	return s.Slack.WaitConnected(ctx, n)
}

// lambdaKey matches the S3 key a function's code comes from: {short}/lambda-{sha}.zip.
var lambdaKey = regexp.MustCompile(`lambda-([0-9a-f]{7,40})\.zip$`)

// stateWritten is the infrastructure reacting to a Terraform apply: each Lambda
// function of the state runs the code its s3_key names, and an environment deployed
// back to a known good version recovers.
func (s *Sandbox) stateWritten(env string, state []byte) {
	resources, err := tfstate.ParseResources(state)
	if err != nil {
		return
	}
	var shas []string
	for _, r := range resources {
		fn, key := r.InputString("function"), r.InputString("s3_key")
		m := lambdaKey.FindStringSubmatch(key)
		if fn == "" || m == nil {
			continue
		}
		s.runVersion(env, fn, m[1])
		shas = append(shas, m[1])
	}
	s.recoverIfGood(env, shas)
}

// awsChanged is the world reacting to a Lambda code update from S3: the function runs
// that artifact's version, and an environment all of whose functions run a known good
// version recovers.
func (s *Sandbox) awsChanged(m awsfake.Mutation) {
	if m.Op != "lambda:UpdateFunctionCode" || m.Status >= 300 {
		return
	}
	var in struct {
		FunctionName string
		S3Key        string
	}
	if json.Unmarshal([]byte(m.Input), &in) != nil {
		return
	}
	sha := lambdaKey.FindStringSubmatch(in.S3Key)
	if sha == nil {
		return
	}
	s.mu.Lock()
	var env string
	var fns []string
	var good goodVersions
	for name, gv := range s.good {
		for _, fn := range gv.functions {
			if fn == in.FunctionName {
				env, fns, good = name, gv.functions, gv
			}
		}
	}
	s.mu.Unlock()
	if env == "" {
		return
	}
	s.runVersion(env, in.FunctionName, sha[1])
	var shas []string
	for _, fn := range fns {
		f, ok := s.AWS.Function(fn)
		if !ok {
			return
		}
		shas = append(shas, versionOf(f, good))
	}
	s.recoverIfGood(env, shas)
}

func versionOf(f awsfake.Function, gv goodVersions) string {
	if gv.tag != "" {
		return f.Tags[gv.tag]
	}
	return f.Env[gv.envVar]
}

// runVersion records that fn runs sha: its version tag or variable, Active and updated.
func (s *Sandbox) runVersion(env, fn, sha string) {
	s.mu.Lock()
	gv := s.good[env]
	s.mu.Unlock()
	f, ok := s.AWS.Function(fn)
	if !ok {
		return
	}
	if gv.tag != "" {
		f.Tags[gv.tag] = sha
	}
	if gv.envVar != "" {
		f.Env[gv.envVar] = sha
	}
	f.State, f.StateReason, f.LastUpdateStatus, f.LastUpdateStatusReason = "Active", "", "Successful", ""
	s.AWS.PutFunction(f)
}

// recoverIfGood heals an environment whose functions all run known good versions: its
// health endpoint answers 200 and its alarms return to OK.
func (s *Sandbox) recoverIfGood(env string, shas []string) {
	s.mu.Lock()
	gv := s.good[env]
	s.mu.Unlock()
	if len(shas) == 0 {
		return
	}
	for _, sha := range shas {
		if !gv.shas[sha] {
			return
		}
	}
	s.SetHealth(env, http.StatusOK, `{"status":"healthy"}`)
	for _, name := range gv.alarms {
		if a, ok := s.AWS.Alarm(name); ok && a.State != "OK" {
			a.State, a.Reason, a.UpdatedAt = "OK", "Threshold Crossed: no datapoints were >= the threshold after the rollback", s.now()
			s.AWS.SetAlarm(a)
		}
	}
}
