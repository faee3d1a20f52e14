package recovery

import (
	"context"
	"errors"
	"fmt"
	"go.uber.org/zap"
	"reflect"
	"sync"
	"testing"
	"time"
)

// pvWorld is a hand-written fake of what previews read: the commits to revert,
// Terraform (its workspaces and plans), the plan store, Lambda and the test table.
// Every call is noted as a line, in order.
type pvWorld struct {
	commit       func(sha, branch string) (CommitInfo, error)
	workspaceErr error
	plan         func(o PlanOptions) (TerraformPlan, error)
	saveErr      error
	functionCode func(name string) (FunctionCode, error)
	artifact     func(bucket, key string) (ArtifactInfo, error)
	count        func(table string) (int, error)

	mu    sync.Mutex
	calls []string
	saved map[string][]byte
}

var (
	_ Reverter           = (*pvWorld)(nil)
	_ Terraform          = (*pvWorld)(nil)
	_ TerraformWorkspace = (*pvWorld)(nil)
	_ PlanStore          = pvPlanStore{}
	_ LambdaUpdater      = (*pvWorld)(nil)
	_ TableCleaner       = (*pvWorld)(nil)
)

var errPVUnexpected = errors.New("a preview must not call this")

func (w *pvWorld) note(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, fmt.Sprintf(format, args...))
}

func (w *pvWorld) callLog() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

func (w *pvWorld) Commit(_ context.Context, sha, branch string) (CommitInfo, error) {
	w.note("Commit %s on %s", sha, branch)
	return w.commit(sha, branch)
}

func (w *pvWorld) Revert(context.Context, string, string) (RevertResult, error) {
	w.note("Revert")
	return RevertResult{}, errPVUnexpected
}

func (w *pvWorld) Workspace(_ context.Context, env Environment, sha string) (TerraformWorkspace, error) {
	w.note("Workspace %s at %s", env.Name, sha)
	if w.workspaceErr != nil {
		return nil, w.workspaceErr
	}
	return w, nil
}

func (w *pvWorld) Plan(_ context.Context, o PlanOptions) (TerraformPlan, error) {
	w.note("Plan destroy=%v nolock=%v", o.Destroy, o.NoLock)
	return w.plan(o)
}

func (w *pvWorld) ApplyPlan(context.Context, []byte) error {
	w.note("ApplyPlan")
	return errPVUnexpected
}

func (w *pvWorld) ForceUnlock(context.Context, string) error {
	w.note("ForceUnlock")
	return errPVUnexpected
}

func (w *pvWorld) Dir() string { return "/tmp/ws" }

func (w *pvWorld) Close() error {
	w.note("Close")
	return nil
}

func (w *pvWorld) SavePlan(_ context.Context, requestID string, plan []byte) error {
	w.note("SavePlan %s %q", requestID, plan)
	if w.saveErr != nil {
		return w.saveErr
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.saved == nil {
		w.saved = map[string][]byte{}
	}
	w.saved[requestID] = plan
	return nil
}

func (w *pvWorld) storedPlan(context.Context, string) ([]byte, string, error) {
	w.note("Plan of a request")
	return nil, "", errPVUnexpected
}

func (w *pvWorld) DeletePlan(context.Context, string) error {
	w.note("DeletePlan")
	return errPVUnexpected
}

func (w *pvWorld) FunctionCode(_ context.Context, _ Environment, name string) (FunctionCode, error) {
	w.note("FunctionCode %s", name)
	return w.functionCode(name)
}

func (w *pvWorld) Artifact(_ context.Context, _ Environment, bucket, key string) (ArtifactInfo, error) {
	w.note("Artifact s3://%s/%s", bucket, key)
	return w.artifact(bucket, key)
}

func (w *pvWorld) UpdateCode(context.Context, Environment, string, string, string) (string, error) {
	w.note("UpdateCode")
	return "", errPVUnexpected
}

func (w *pvWorld) WaitUpdated(context.Context, Environment, string, time.Duration) (FunctionCode, error) {
	w.note("WaitUpdated")
	return FunctionCode{}, errPVUnexpected
}

func (w *pvWorld) CountItems(_ context.Context, _ Environment, table string) (int, error) {
	w.note("CountItems %s", table)
	return w.count(table)
}

func (w *pvWorld) DeleteAllItems(context.Context, Environment, string) (int, error) {
	w.note("DeleteAllItems")
	return 0, errPVUnexpected
}

// pvPlanStore is pvWorld seen as a PlanStore (TerraformWorkspace has its own Plan).
type pvPlanStore struct{ *pvWorld }

func (s pvPlanStore) Plan(ctx context.Context, id string) ([]byte, string, error) {
	return s.storedPlan(ctx, id)
}

// pvDetailed is Terraform's failure with its long output.
type pvDetailed struct{ summary, detail string }

func (e pvDetailed) Error() string   { return e.summary }
func (e pvDetailed) Summary() string { return e.summary }
func (e pvDetailed) Detail() string  { return e.detail }

func pvEngine(w *pvWorld, runs *dgWorld, branch string) *requester {
	e := &Engine{deps: EngineDeps{Runs: runs, Now: func() time.Time { return dgNow },
		Actions: &ActionDeps{Reverter: w, Terraform: w, Plans: pvPlanStore{w}, Lambda: w, StateLocks: runs, Tables: w, Branch: branch}}, log: zap.NewNop()}
	e.esc = e.newEscalator()
	rq, _ := e.newActions(nil)
	return rq
}

const pvSHA = "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6"

func pvEnv(name string) Environment {
	return Environment{Name: name, Functions: []string{name + "-sentiment-a", name + "-sentiment-b"}, ArtifactsBucket: name + "-artifacts",
		Version: VersionSource{ShortPrefix: name + "-sentiment-"}, Table: name + "-items", LockTable: "tf-locks", DeployWorkflow: "deploy-" + name + ".yml"}
}

// pvCase is one request's preview: what the world answers, what the approver reads and
// what was asked of the world to make it.
type pvCase struct {
	name      string
	env       string
	incident  *Incident
	req       Request
	world     func(w *pvWorld, runs *dgWorld)
	branch    string
	want      Preview
	wantCalls []string
}

func runPreviewCases(t *testing.T, cases []pvCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(string(tc.req.Action)+"/"+tc.name, func(t *testing.T) {
			w, runs := &pvWorld{}, &dgWorld{}
			if tc.world != nil {
				tc.world(w, runs)
			}
			branch := tc.branch
			if branch == "" {
				branch = "main"
			}
			env := tc.env
			if env == "" {
				env = "prod"
			}
			got := pvEngine(w, runs, branch).preview(context.Background(), pvEnv(env), tc.incident, tc.req)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
				if !reflect.DeepEqual(got.Lines, tc.want.Lines) {
					t.Errorf("lines: got %q, want %q", got.Lines, tc.want.Lines)
				}
			}
			if tc.wantCalls != nil && !reflect.DeepEqual(w.callLog(), tc.wantCalls) {
				t.Errorf("calls: got %q, want %q", w.callLog(), tc.wantCalls)
			}
		})
	}
}

func TestPreviewOfRunActions(t *testing.T) {
	jobs := func(j ...JobInfo) func(w *pvWorld, runs *dgWorld) {
		return func(_ *pvWorld, runs *dgWorld) {
			runs.runJobs = func(_ context.Context, id int64) ([]JobInfo, error) {
				if id != 900 {
					return nil, fmt.Errorf("jobs of run %d, want 900", id)
				}
				return j, nil
			}
		}
	}
	done := func(name, conclusion string) JobInfo {
		return JobInfo{Name: name, Status: "completed", Conclusion: conclusion}
	}
	req := func(a ActionID) Request { return Request{ID: "REQ-1", Action: a, Params: RequestParams{RunID: 900}} }
	const warning = ":warning: The run is still going: GitHub re-runs only a finished run. Cancel it first."
	cases := []pvCase{
		{name: "failed jobs marked", req: req(ActRerunFailed), world: jobs(done("build", "success"), done("test", "failure"), done("lint", "timed_out"), done("docs", "cancelled")),
			want: Preview{Title: "Run 900", Lines: []string{"build: success", "test: failure ← re-run", "lint: timed_out ← re-run", "docs: cancelled"}}},
		{name: "every job re-runs: no marks", req: req(ActRerun), world: jobs(done("build", "success"), done("test", "failure")),
			want: Preview{Title: "Run 900", Lines: []string{"build: success", "test: failure"}}},
		{name: "a job still running", req: req(ActRerun), world: jobs(done("build", "success"), JobInfo{Name: "deploy", Status: "in_progress"}),
			want: Preview{Title: "Run 900", Lines: []string{"build: success", "deploy: in progress", warning}}},
		{name: "a job queued", req: req(ActRerunFailed), world: jobs(done("build", "failure"), JobInfo{Name: "deploy", Status: "queued"}),
			want: Preview{Title: "Run 900", Lines: []string{"build: failure ← re-run", "deploy: queued", warning}}},
		{name: "a job without a status is not running", req: req(ActRerunFailed), world: jobs(JobInfo{Name: "build", Conclusion: "failure"}),
			want: Preview{Title: "Run 900", Lines: []string{"build: failure ← re-run"}}},
		{name: "cancelling a running run warns of nothing", req: req(ActCancelRun), world: jobs(done("build", "success"), JobInfo{Name: "deploy", Status: "in_progress"}),
			want: Preview{Title: "Run 900", Lines: []string{"build: success", "deploy: in progress"}}},
		{name: "jobs cannot be listed", req: req(ActRerun),
			world: func(_ *pvWorld, runs *dgWorld) {
				runs.runJobs = func(context.Context, int64) ([]JobInfo, error) { return nil, dgErr("GitHub: 502 on GET jobs") }
			},
			want: Preview{Title: "Run 900", Problem: "GitHub: 502 on GET jobs"}},
	}
	runPreviewCases(t, cases)
}

func TestPreviewOfARevert(t *testing.T) {
	commit := func(c CommitInfo, err error) func(w *pvWorld, _ *dgWorld) {
		return func(w *pvWorld, _ *dgWorld) {
			w.commit = func(string, string) (CommitInfo, error) { return c, err }
		}
	}
	files := func(n int) []string {
		var f []string
		for i := 1; i <= n; i++ {
			f = append(f, fmt.Sprintf("src/f%02d.py", i))
		}
		return f
	}
	changed := func(n int) []string {
		var l []string
		for i := 1; i <= n; i++ {
			l = append(l, fmt.Sprintf("changed src/f%02d.py", i))
		}
		return l
	}
	req := Request{ID: "REQ-1", Action: ActRevert, Params: RequestParams{SHA: pvSHA}}
	tip := CommitInfo{SHA: pvSHA, Message: "feat: encrypt with KMS\n\nRotates the key.", Author: "Dana Scully", Parents: []string{"p1"}, Files: files(2), IsTip: true}
	with := func(change func(c *CommitInfo)) CommitInfo { c := tip; change(&c); return c }
	const pushes = "It is the tip of main: medic pushes a revert commit (no force)."
	const opensPR = "It is not the tip of main: medic opens a revert pull request."
	cases := []pvCase{
		{name: "the tip: a revert commit", req: req, world: commit(tip, nil), wantCalls: []string{"Commit " + pvSHA + " on main"},
			want: Preview{Title: "Commit to revert", Lines: append(append([]string{"9f1c2d3 feat: encrypt with KMS — by Dana Scully"}, changed(2)...), pushes)}},
		{name: "not the tip: a pull request", req: req, world: commit(with(func(c *CommitInfo) { c.IsTip = false }), nil),
			want: Preview{Title: "Commit to revert", Lines: append(append([]string{"9f1c2d3 feat: encrypt with KMS — by Dana Scully"}, changed(2)...), opensPR)}},
		{name: "a merge at the tip: a pull request", req: req, world: commit(with(func(c *CommitInfo) { c.Parents = []string{"p1", "p2"} }), nil),
			want: Preview{Title: "Commit to revert", Lines: append(append([]string{"9f1c2d3 feat: encrypt with KMS — by Dana Scully"}, changed(2)...), opensPR)}},
		{name: "ten files all listed", req: req, world: commit(with(func(c *CommitInfo) { c.Files = files(10) }), nil),
			want: Preview{Title: "Commit to revert", Lines: append(append([]string{"9f1c2d3 feat: encrypt with KMS — by Dana Scully"}, changed(10)...), pushes)}},
		{name: "eleven files: ten and a count", req: req, world: commit(with(func(c *CommitInfo) { c.Files = files(11) }), nil),
			want: Preview{Title: "Commit to revert", Lines: append(append([]string{"9f1c2d3 feat: encrypt with KMS — by Dana Scully"}, changed(10)...), "…and 1 more files", pushes)}},
		{name: "a key in the subject is redacted", req: req, world: commit(with(func(c *CommitInfo) { c.Message = "add key AKIAABCDEFGHIJKLMNOP"; c.Files = nil }), nil),
			want: Preview{Title: "Commit to revert", Lines: []string{"9f1c2d3 add key [REDACTED AWS KEY ID] — by Dana Scully", pushes}}},
		{name: "the configured branch", req: req, branch: "trunk", world: commit(with(func(c *CommitInfo) { c.Files = nil }), nil), wantCalls: []string{"Commit " + pvSHA + " on trunk"},
			want: Preview{Title: "Commit to revert", Lines: []string{"9f1c2d3 feat: encrypt with KMS — by Dana Scully", "It is the tip of trunk: medic pushes a revert commit (no force)."}}},
		{name: "the commit cannot be read", req: req, world: commit(CommitInfo{}, dgErr("GitHub: 404 on GET commit")),
			want: Preview{Title: "Commit to revert", Problem: "GitHub: 404 on GET commit"}},
	}
	runPreviewCases(t, cases)
}

func TestPreviewOfTerraformActions(t *testing.T) {
	plan := TerraformPlan{Add: 1, Change: 2, Changes: []ResourceChange{{"aws_lambda_function.a", []string{"update"}}, {"aws_lambda_function.b", []string{"update"}}, {"aws_s3_object.x", []string{"create"}}},
		File: []byte("PLAN"), SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	const planDetail = "Plan: 1 to add, 2 to change, 0 to destroy.\n~ aws_lambda_function.a\n~ aws_lambda_function.b\n+ aws_s3_object.x"
	planned := func(p TerraformPlan, err error) func(w *pvWorld, _ *dgWorld) {
		return func(w *pvWorld, _ *dgWorld) {
			w.plan = func(PlanOptions) (TerraformPlan, error) { return p, err }
		}
	}
	req := func(a ActionID) Request { return Request{ID: "REQ-7", Action: a, Params: RequestParams{SHA: pvSHA}} }
	const saved = "Saved plan sha256 0123456789abcdef: the job applies exactly this plan, and stops if prod's state changes before it runs."
	opened := []string{"Workspace prod at " + pvSHA, "Plan destroy=false nolock=true"}
	cases := []pvCase{
		{name: "a plan to read, nothing kept", req: req(ActTerraformPlan), world: planned(plan, nil),
			wantCalls: append(opened, "Close"),
			want:      Preview{Title: "terraform plan of prod at 9f1c2d3", Detail: planDetail, Lines: []string{"Plan: 1 to add, 2 to change, 0 to destroy."}}},
		{name: "a rollback keeps the plan it shows", req: req(ActRollback), world: planned(plan, nil),
			wantCalls: append(opened, `SavePlan REQ-7 "PLAN"`, "Close"),
			want: Preview{Title: "terraform plan of prod at 9f1c2d3", Detail: planDetail, PlanSHA256: plan.SHA256,
				Lines: []string{"Plan: 1 to add, 2 to change, 0 to destroy.", saved}}},
		{name: "an emergency rollback too", req: req(ActEmergencyRollback), world: planned(plan, nil),
			wantCalls: append(opened, `SavePlan REQ-7 "PLAN"`, "Close"),
			want: Preview{Title: "terraform plan of prod at 9f1c2d3", Detail: planDetail, PlanSHA256: plan.SHA256,
				Lines: []string{"Plan: 1 to add, 2 to change, 0 to destroy.", saved}}},
		{name: "a planned rollback says so", req: Request{ID: "REQ-7", Action: ActRollback, Params: RequestParams{SHA: pvSHA, Planned: true}}, world: planned(plan, nil),
			want: Preview{Title: "terraform plan of prod at 9f1c2d3", Detail: planDetail, PlanSHA256: plan.SHA256,
				Lines: []string{"Planned rollback: prod has no open incident; this rolls it back to 9f1c2d3.", "Plan: 1 to add, 2 to change, 0 to destroy.", saved}}},
		{name: "no changes", req: req(ActRollback), world: planned(TerraformPlan{File: []byte("P0"), SHA256: "abc"}, nil),
			want: Preview{Title: "terraform plan of prod at 9f1c2d3", Detail: "No changes: the infrastructure already matches.", PlanSHA256: "abc",
				Lines: []string{"No changes: the infrastructure already matches.", "Saved plan sha256 abc: the job applies exactly this plan, and stops if prod's state changes before it runs."}}},
		{name: "destroy and recreate", env: "preprod", req: req(ActDestroyRecreate), world: planned(TerraformPlan{Destroy: 3, File: []byte("D"), SHA256: "ffff"}, nil),
			wantCalls: []string{"Workspace preprod at " + pvSHA, "Plan destroy=true nolock=true", `SavePlan REQ-7 "D"`, "Close"},
			want: Preview{Title: "terraform plan -destroy of preprod (sources at 9f1c2d3)", Detail: "Plan: 0 to add, 0 to change, 3 to destroy.", PlanSHA256: "ffff",
				Lines: []string{"Plan: 0 to add, 0 to change, 3 to destroy.",
					"Saved plan sha256 ffff: the job applies exactly this plan, and stops if preprod's state changes before it runs.",
					"then deploy-preprod.yml runs on main to deploy it again"}}},
		{name: "the workspace cannot be made", req: req(ActRollback), world: func(w *pvWorld, _ *dgWorld) { w.workspaceErr = dgErr("GitHub: 404 on GET tarball") },
			wantCalls: []string{"Workspace prod at " + pvSHA},
			want:      Preview{Title: "terraform plan of prod at 9f1c2d3", Problem: "GitHub: 404 on GET tarball"}},
		{name: "the plan fails with Terraform's output, redacted", req: req(ActRollback),
			world:     planned(TerraformPlan{}, pvDetailed{"terraform plan: exit status 1", "Error: invalid token\n  token = \"ghp_0123456789abcdefghijABCDEFGHIJ\""}),
			wantCalls: append(opened, "Close"),
			want: Preview{Title: "terraform plan of prod at 9f1c2d3", Problem: "terraform plan: exit status 1",
				Detail: "Error: invalid token\n  token = [REDACTED]"}},
		{name: "the plan fails without output", req: req(ActTerraformPlan), world: planned(TerraformPlan{}, errors.New("signal: killed")),
			want: Preview{Title: "terraform plan of prod at 9f1c2d3", Problem: "signal: killed"}},
		{name: "the plan cannot be kept", req: req(ActRollback), world: func(w *pvWorld, r *dgWorld) { planned(plan, nil)(w, r); w.saveErr = errors.New("disk full") },
			wantCalls: append(opened, `SavePlan REQ-7 "PLAN"`, "Close"),
			want: Preview{Title: "terraform plan of prod at 9f1c2d3", Detail: planDetail, Problem: "could not keep the plan: disk full",
				Lines: []string{"Plan: 1 to add, 2 to change, 0 to destroy."}}},
	}
	runPreviewCases(t, cases)
}

func TestPreviewOfEnvironmentActions(t *testing.T) {
	key := func(fn string) string { return fn + "/lambda-" + pvSHA + ".zip" }
	lambda := func(code map[string]FunctionCode, codeErr error, arts map[string]ArtifactInfo, artErr error) func(w *pvWorld, _ *dgWorld) {
		return func(w *pvWorld, _ *dgWorld) {
			w.functionCode = func(name string) (FunctionCode, error) { return code[name], codeErr }
			w.artifact = func(bucket, key string) (ArtifactInfo, error) {
				if bucket != "prod-artifacts" {
					return ArtifactInfo{}, fmt.Errorf("bucket %s, want prod-artifacts", bucket)
				}
				return arts[key], artErr
			}
		}
	}
	code := map[string]FunctionCode{
		"prod-sentiment-a": {CodeSha256: "abcdefghijklmnopqrstuvwxyz0=", Version: "7"},
		"prod-sentiment-b": {CodeSha256: "short", Version: "3"},
	}
	arts := map[string]ArtifactInfo{
		key("a"): {Exists: true, SHA256: "ZYXWVUTSRQPONMLKJIHG="},
		key("b"): {Exists: true},
	}
	lock := StateLock{ID: "L-1", Who: "runner@fv-az1", Operation: "OperationTypeApply", Created: dgNow.Add(-45 * time.Minute), Path: "state/prod.tfstate"}
	locks := func(l ...StateLock) func(w *pvWorld, runs *dgWorld) {
		return func(_ *pvWorld, runs *dgWorld) {
			runs.stateLocks = func(_ context.Context, _ Environment, table string) ([]StateLock, error) {
				if table != "tf-locks" {
					return nil, fmt.Errorf("table %s, want tf-locks", table)
				}
				return l, nil
			}
		}
	}
	const unlockWarning = "If the holder is still running, unlocking lets two runs write the state at once: make sure it is gone."
	lambdaReq := Request{ID: "REQ-2", Action: ActForceLambdaUpdate, Params: RequestParams{SHA: pvSHA}}
	unlock := Request{ID: "REQ-3", Action: ActForceUnlock, Params: RequestParams{LockID: "L-1"}}
	cases := []pvCase{
		{name: "each function now and the artifact it gets", req: lambdaReq, world: lambda(code, nil, arts, nil),
			wantCalls: []string{"FunctionCode prod-sentiment-a", "Artifact s3://prod-artifacts/" + key("a"), "FunctionCode prod-sentiment-b", "Artifact s3://prod-artifacts/" + key("b")},
			want: Preview{Title: "Lambda code of prod → 9f1c2d3", Lines: []string{
				"prod-sentiment-a: now code abcdefghijk…, version 7 → s3://prod-artifacts/" + key("a") + " (sha256 ZYXWVUTSRQP…)",
				"prod-sentiment-b: now code short, version 3 → s3://prod-artifacts/" + key("b")}}},
		{name: "a missing artifact: no approval", req: lambdaReq, world: lambda(code, nil, map[string]ArtifactInfo{key("a"): {Exists: true}}, nil),
			want: Preview{Title: "Lambda code of prod → 9f1c2d3", Problem: "an artifact is missing: the update would fail for it", Lines: []string{
				"prod-sentiment-a: now code abcdefghijk…, version 7 → s3://prod-artifacts/" + key("a"),
				"prod-sentiment-b: now code short, version 3 → s3://prod-artifacts/" + key("b") + " (MISSING)"}}},
		{name: "what cannot be read says why", req: lambdaReq, world: lambda(nil, dgErr("Lambda: AccessDenied on GetFunction"), nil, dgErr("S3: 403 on HeadObject")),
			want: Preview{Title: "Lambda code of prod → 9f1c2d3", Lines: []string{
				"prod-sentiment-a: now unknown (Lambda: AccessDenied on GetFunction) → s3://prod-artifacts/" + key("a") + " (S3: 403 on HeadObject)",
				"prod-sentiment-b: now unknown (Lambda: AccessDenied on GetFunction) → s3://prod-artifacts/" + key("b") + " (S3: 403 on HeadObject)"}}},

		{name: "the incident's lock", req: unlock, incident: &Incident{Lock: &lock}, world: locks(StateLock{ID: "L-1", Who: "stale@table"}),
			want: Preview{Title: "State lock to remove", Lines: []string{"Lock L-1 held by runner@fv-az1 for OperationTypeApply since 09:15 UTC (45m ago)", "State state/prod.tfstate", unlockWarning}}},
		{name: "the lock table's lock", req: unlock, incident: &Incident{Lock: &StateLock{ID: "L-0", Who: "other"}}, world: locks(StateLock{ID: "L-9"}, lock),
			want: Preview{Title: "State lock to remove", Lines: []string{"Lock L-1 held by runner@fv-az1 for OperationTypeApply since 09:15 UTC (45m ago)", "State state/prod.tfstate", unlockWarning}}},
		{name: "a lock nobody describes", req: unlock, world: locks(),
			want: Preview{Title: "State lock to remove", Lines: []string{"Lock L-1", unlockWarning}}},
		{name: "the lock table cannot be read", req: unlock, incident: &Incident{Lock: &StateLock{ID: "L-1"}},
			world: func(_ *pvWorld, runs *dgWorld) {
				runs.stateLocks = func(context.Context, Environment, string) ([]StateLock, error) { return nil, dgErr("DynamoDB: denied") }
			},
			want: Preview{Title: "State lock to remove", Lines: []string{"Lock L-1", unlockWarning}}},

		{name: "the alarm and its reason", req: Request{Action: ActSetAlarmOK, Params: RequestParams{Alarm: "prod-errors", Reason: "fixed by the rollback"}},
			want: Preview{Title: "Alarm", Lines: []string{"prod-errors → OK, reason: fixed by the rollback", "CloudWatch sets it back to ALARM at the next evaluation if the metric still breaches."}}},

		{name: "how many items go", env: "preprod", req: Request{Action: ActCleanTestData},
			world:     func(w *pvWorld, _ *dgWorld) { w.count = func(string) (int, error) { return 42, nil } },
			wantCalls: []string{"CountItems preprod-items"},
			want:      Preview{Title: "Test data to delete", Lines: []string{"42 items of preprod-items, deleted by key"}}},
		{name: "the table cannot be counted", env: "preprod", req: Request{Action: ActCleanTestData},
			world: func(w *pvWorld, _ *dgWorld) {
				w.count = func(string) (int, error) { return 0, dgErr("DynamoDB: ResourceNotFoundException") }
			},
			want: Preview{Title: "Test data to delete", Problem: "DynamoDB: ResourceNotFoundException"}},

		{name: "an action without a preview", req: Request{Action: ActViewLogs}, want: Preview{}},
	}
	runPreviewCases(t, cases)
	// A lock table that holds the lock's holder is read only when the incident does
	// not say who holds it.
	w, runs := &pvWorld{}, &dgWorld{}
	locks(lock)(w, runs)
	pvEngine(w, runs, "main").preview(context.Background(), pvEnv("prod"), &Incident{Lock: &lock}, unlock)
	if n := runs.count("StateLocks"); n != 0 {
		t.Errorf("lock table read %d times for a lock the incident describes, want 0", n)
	}
}
