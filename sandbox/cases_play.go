package sandbox

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medic-ops/medic/sandbox/awsfake"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

// The runbook's pipeline, as the cases stage it.
const (
	// sandboxAccount is awsfake's default account ID: every ARN the cases write uses it.
	sandboxAccount = "123456789012"
	// stateBucket holds Terraform's state, one key per environment ("prod/terraform.tfstate").
	stateBucket = "sentiment-analyzer-terraform-state-" + sandboxAccount

	buildWorkflow     = "build-and-promote.yml"
	buildWorkflowName = "Build and Promote to Preprod"
	prodWorkflow      = "deploy-prod.yml"
	prodWorkflowName  = "Deploy to Production"

	// terraformVersion is the CLI the pipeline runs (and the one medic's tests use).
	terraformVersion = "1.5.7"

	// kmsFailure is why the prod dashboard function failed in rollback-fail: the reason
	// Lambda gives when the function's KMS key is unusable.
	kmsFailure = "Lambda was unable to configure access to your environment variables because the KMS key is invalid for CreateGrant. Please check your KMS key settings. KMS Exception: KMSInvalidStateException KMS Message: arn:aws:kms:us-east-1:" + sandboxAccount + ":key/6f1d2c3b-4a5e-4f70-9b8c-7d6e5f4a3b2c is pending deletion."
)

// Timing of a staged run: how long a job waits for a runner, and the gaps GitHub leaves
// between one job's end and the next event.
const (
	runnerPickup = 4 * time.Second
	jobGap       = 2 * time.Second
)

// canaryHealthBody is what the prod dashboard's /health answers once sha broke it.
func canaryHealthBody(sha string) string {
	return `{"status":"unhealthy","version":"` + sha + `","checks":{"dynamodb":"error: ValidationException: The table does not have the specified index: by_timestamp","secrets_manager":"ok"}}`
}

// lambdaFunctions are an environment's functions, named as the runbook names them.
func lambdaFunctions(env string) []string {
	return []string{env + "-sentiment-ingestion", env + "-sentiment-analysis", env + "-sentiment-dashboard"}
}

// lockTable is the DynamoDB table of env's Terraform state locks.
func lockTable(env string) string { return "terraform-state-lock-" + env }

// statePath is the "<bucket>/<key>" of env's state: a lock's LockID and Lock Info Path.
func statePath(env string) string { return stateBucket + "/" + env + "/terraform.tfstate" }

// stager stages one case on a sandbox seeded with the healthy world.
type stager struct {
	sb   *Sandbox
	now  time.Time
	name string
}

func newStager(sb *Sandbox, name string, now time.Time) *stager {
	return &stager{sb: sb, now: now.UTC(), name: name}
}

// id derives a stable pseudo-random number from the case and a purpose.
func (st *stager) id(purpose string) uint64 {
	return seedFor(st.name + "\x00" + purpose + "\x00" + st.now.Format(time.RFC3339Nano))
}

// lockID makes an ID the way Terraform does (hashicorp/go-uuid: 16 random bytes in
// UUID layout, without version bits).
func (st *stager) lockID(purpose string) string {
	a, b := st.id(purpose+"/a"), st.id(purpose+"/b")
	var raw [16]byte
	for i := range 8 {
		raw[i], raw[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", raw[0:4], raw[4:6], raw[6:8], raw[8:10], raw[10:16])
}

// runnerWho is the "user@host" of a GitHub-hosted runner, as Terraform records it.
func (st *stager) runnerWho(purpose string) string {
	n := st.id("runner/" + purpose)
	return fmt.Sprintf("runner@fv-az%d-%d", 100+n%1400, n/1400%1000)
}

// runnerName is the name GitHub gives the hosted runner of a job.
func (st *stager) runnerName(purpose string) string {
	return fmt.Sprintf("GitHub Actions %d", 1000000000+st.id("name/"+purpose)%1000000)
}

// --- AWS ---

var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// deployedSHA is the commit env runs: the SHA its dashboard function records in a tag
// or an environment variable.
func (st *stager) deployedSHA(env string) (string, error) {
	fn := env + "-sentiment-dashboard"
	f, ok := st.sb.AWS.Function(fn)
	if !ok {
		return "", fmt.Errorf("no function %s: seed the runbook's world first", fn)
	}
	for _, m := range []map[string]string{f.Tags, f.Env} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if shaPattern.MatchString(m[k]) {
				return m[k], nil
			}
		}
	}
	return "", fmt.Errorf("function %s records no deployed commit in its tags or environment", fn)
}

// deploy moves functions to sha at time at, as the pipeline's terraform apply does: every
// tag or variable naming the old commit, the package key and the code hash change, and
// the package is uploaded to the function's bucket.
func (st *stager) deploy(at time.Time, sha string, fns ...string) error {
	for _, fn := range fns {
		f, ok := st.sb.AWS.Function(fn)
		if !ok {
			return fmt.Errorf("deploying %s: no such function", fn)
		}
		f.Tags, f.Env = maps.Clone(f.Tags), maps.Clone(f.Env)
		var old string
		for _, m := range []map[string]string{f.Tags, f.Env} {
			for k, v := range m {
				if shaPattern.MatchString(v) {
					old, m[k] = v, sha
				}
			}
		}
		if old != "" && f.S3Key != "" {
			f.S3Key = strings.ReplaceAll(f.S3Key, old, sha)
		}
		code := []byte("lambda package " + fn + "@" + sha)
		sum := sha256.Sum256(code)
		f.CodeSha256, f.CodeSize, f.LastModified = base64.StdEncoding.EncodeToString(sum[:]), int64(len(code)), at
		if f.S3Bucket != "" && f.S3Key != "" {
			if err := st.sb.AWS.PutObject(f.S3Bucket, f.S3Key, code); err != nil {
				return fmt.Errorf("deploying %s: %w", fn, err)
			}
		}
		st.sb.AWS.PutFunction(f)
	}
	return nil
}

// updateFunction changes one function in place.
func (st *stager) updateFunction(fn string, change func(*awsfake.Function)) error {
	f, ok := st.sb.AWS.Function(fn)
	if !ok {
		return fmt.Errorf("updating %s: no such function", fn)
	}
	f.Tags, f.Env = maps.Clone(f.Tags), maps.Clone(f.Env)
	change(&f)
	st.sb.AWS.PutFunction(f)
	return nil
}

// setAlarm moves an alarm to state at time at, keeping what it watches.
func (st *stager) setAlarm(name, state, reason string, at time.Time) {
	a, ok := st.sb.AWS.Alarm(name)
	if !ok {
		a = awsfake.Alarm{Name: name, Namespace: "AWS/Lambda", Metric: "Errors", Threshold: 5}
	}
	a.State, a.Reason, a.UpdatedAt = state, reason, at
	st.sb.AWS.SetAlarm(a)
}

// alarmReason is CloudWatch's StateReason for a one-datapoint Errors alarm (threshold 5).
func alarmReason(state string, value float64, at time.Time) string {
	stamp := at.UTC().Truncate(time.Minute).Format("02/01/06 15:04:05")
	if state == "ALARM" {
		return fmt.Sprintf("Threshold Crossed: 1 out of the last 1 datapoints [%.1f (%s)] was greater than or equal to the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition).", value, stamp)
	}
	return fmt.Sprintf("Threshold Crossed: 1 out of the last 1 datapoints [%.1f (%s)] was not greater than or equal to the threshold (5.0) (minimum 1 datapoint for ALARM -> OK transition).", value, stamp)
}

// lambdaLog writes Lambda-runtime log events to fn's log group: the stream is named
// like Lambda's ("2025/11/20/[$LATEST]<hex>").
func (st *stager) lambdaLog(fn string, at time.Time, message string) {
	stream := at.UTC().Format("2006/01/02") + "/[$LATEST]" + fmt.Sprintf("%016x", st.id("stream/"+fn+at.Format("2006010215")))
	st.sb.AWS.PutLogEvent("/aws/lambda/"+fn, stream, at, message)
}

// lockInfo is Terraform's statemgr.LockInfo, fields in its order, as the S3 backend
// stores it in the lock table's Info attribute.
type lockInfo struct {
	ID        string
	Operation string
	Info      string
	Who       string
	Version   string
	Created   time.Time
	Path      string
}

// ensureBackend creates env's Terraform backend if the world lacks it: the state object
// in S3 and the DynamoDB lock table holding the state's digest item, as the S3 backend
// leaves them between runs.
func (st *stager) ensureBackend(env string) error {
	if _, ok := st.sb.AWS.Table(lockTable(env)); ok {
		return nil
	}
	deployed, _ := st.deployedSHA(env)
	state, err := terraformState(env, deployed, st.lockID("lineage/"+env))
	if err != nil {
		return err
	}
	if err := st.sb.AWS.PutObject(stateBucket, env+"/terraform.tfstate", state); err != nil {
		return fmt.Errorf("storing %s state: %w", env, err)
	}
	sum := md5.Sum(state)
	st.sb.AWS.PutTable(awsfake.Table{
		Name: lockTable(env), HashKey: "LockID", HashKeyType: "S",
		Items: []awsfake.Item{{"LockID": awsfake.S(statePath(env) + "-md5"), "Digest": awsfake.S(hex.EncodeToString(sum[:]))}},
	})
	return nil
}

// holdLock records a held lock in env's lock table, as the S3 backend writes it.
func (st *stager) holdLock(env string, li lockInfo) error {
	if err := st.ensureBackend(env); err != nil {
		return err
	}
	info, err := json.Marshal(li)
	if err != nil {
		return fmt.Errorf("encoding lock info: %w", err)
	}
	t, _ := st.sb.AWS.Table(lockTable(env))
	t.Items = append(t.Items, awsfake.Item{"LockID": awsfake.S(li.Path), "Info": awsfake.S(string(info))})
	st.sb.AWS.PutTable(t)
	return nil
}

// terraformState is a version 4 state document of env's functions at sha.
func terraformState(env, sha, lineage string) ([]byte, error) {
	type instance struct {
		SchemaVersion int            `json:"schema_version"`
		Attributes    map[string]any `json:"attributes"`
	}
	type resource struct {
		Mode      string     `json:"mode"`
		Type      string     `json:"type"`
		Name      string     `json:"name"`
		Provider  string     `json:"provider"`
		Instances []instance `json:"instances"`
	}
	var resources []resource
	for _, fn := range lambdaFunctions(env) {
		short := strings.TrimPrefix(fn, env+"-sentiment-")
		resources = append(resources, resource{
			Mode: "managed", Type: "aws_lambda_function", Name: short,
			Provider: `provider["registry.terraform.io/hashicorp/aws"]`,
			Instances: []instance{{Attributes: map[string]any{
				"id": fn, "function_name": fn, "runtime": "python3.11",
				"s3_bucket": env + "-sentiment-lambda-deployments", "s3_key": short + "/lambda-" + sha + ".zip",
				"tags": map[string]string{"environment": env, "model_version": sha},
			}}},
		})
	}
	doc := map[string]any{
		"version": 4, "terraform_version": terraformVersion, "serial": 212, "lineage": lineage,
		"outputs": map[string]any{
			"dashboard_function_url": map[string]string{"value": "https://" + env + "-dashboard.sentiment.example.com/", "type": "string"},
			"model_version":          map[string]string{"value": sha, "type": "string"},
		},
		"resources":     resources,
		"check_results": nil,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding %s state: %w", env, err)
	}
	return b, nil
}

// deployerPolicy is the inline policy of env's deployer IAM user; secretsPrefix is the
// Secrets Manager name prefix its secrets statement allows ("prod/").
func deployerPolicy(env, secretsPrefix string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Sid": "LambdaDeploy", "Effect": "Allow",
				"Action":   []string{"lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:PublishVersion", "lambda:ListVersionsByFunction", "lambda:TagResource", "lambda:UntagResource", "lambda:ListTags"},
				"Resource": "arn:aws:lambda:us-east-1:*:function:" + env + "-sentiment-*"},
			{"Sid": "PassLambdaRoles", "Effect": "Allow", "Action": "iam:PassRole",
				"Resource": "arn:aws:iam::*:role/" + env + "-sentiment-*-role"},
			{"Sid": "LambdaPackages", "Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:ListBucket"},
				"Resource": []string{"arn:aws:s3:::" + env + "-sentiment-lambda-deployments", "arn:aws:s3:::" + env + "-sentiment-lambda-deployments/*"}},
			{"Sid": "TerraformState", "Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:ListBucket"},
				"Resource": []string{"arn:aws:s3:::" + stateBucket, "arn:aws:s3:::" + stateBucket + "/" + env + "/*"}},
			{"Sid": "TerraformLock", "Effect": "Allow", "Action": []string{"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"},
				"Resource": "arn:aws:dynamodb:us-east-1:*:table/" + lockTable(env)},
			{"Sid": "ItemsTable", "Effect": "Allow", "Action": []string{"dynamodb:DescribeTable", "dynamodb:Query", "dynamodb:Scan", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"},
				"Resource": []string{"arn:aws:dynamodb:us-east-1:*:table/" + env + "-sentiment-items", "arn:aws:dynamodb:us-east-1:*:table/" + env + "-sentiment-items/index/*"}},
			{"Sid": "SecretsRead", "Effect": "Allow", "Action": []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
				"Resource": "arn:aws:secretsmanager:us-east-1:*:secret:" + secretsPrefix + "*"},
			{"Sid": "Observability", "Effect": "Allow", "Action": []string{"cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm", "logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DescribeLogGroups", "logs:FilterLogEvents"},
				"Resource": "*"},
		},
	}
	b, _ := json.MarshalIndent(doc, "", "  ") // maps of strings and slices always encode
	return string(b)
}

// deployerUser and deployerPolicyName name env's deployer IAM user and its inline policy.
func deployerUser(env string) string { return "sentiment-analyzer-" + env + "-deployer" }

func deployerPolicyName(env string) string {
	return strings.ToUpper(env[:1]) + env[1:] + "DeploymentPolicy"
}

// baseline adds what every case's world has besides the healthy world: the Terraform
// backends of prod and preprod and the deployer IAM users with their policies.
func (st *stager) baseline() error {
	for _, env := range []string{"prod", "preprod"} {
		if err := st.ensureBackend(env); err != nil {
			return err
		}
		st.sb.AWS.PutUserPolicy(deployerUser(env), deployerPolicyName(env), deployerPolicy(env, env+"/"))
	}
	st.sb.GitHub.AddWorkflow(buildWorkflow, buildWorkflowName)
	st.sb.GitHub.AddWorkflow(prodWorkflow, prodWorkflowName)
	return nil
}

// --- GitHub ---

// commit adds a commit to branch. On a branch the fake does not know yet its parent is
// parent (when the graph has it), so reverting it leads back to that commit.
func (st *stager) commit(branch, parent string, c githubfake.Commit) string {
	c.Branch = branch
	if _, ok := st.sb.GitHub.Ref("heads/" + branch); !ok && parent != "" {
		if _, _, known := st.sb.GitHub.CommitMessage(parent); known {
			c.Parents = []string{parent}
		}
	}
	return st.sb.GitHub.AddCommit(c)
}

// runPlan is a workflow run to play: its jobs, in order, from queued to where the case
// leaves them.
type runPlan struct {
	workflow string
	event    string
	branch   string
	sha      string
	actor    string
	jobs     []jobPlan
	// vars are extra placeholder values for every job's log.
	vars logVars
	// endAt is when the last job activity happens (a completed run completes then);
	// startAt, when set, fixes the run's start instead.
	endAt, startAt time.Time
}

// jobPlan is one job: a log template, or a job skipped because an earlier one failed.
type jobPlan struct {
	log  string
	skip string
	vars logVars
}

// playedRun is what play staged.
type playedRun struct {
	runID      int64
	jobs       []scheduled
	jobIDs     []int64
	failed     []int64
	deliveries []Delivery
	start, end time.Time
}

// scheduled is one job of a run laid out in time.
type scheduled struct {
	plan     jobPlan
	queuedAt time.Time
	log      jobLog
}

// schedule lays a run's jobs out from start: each job is queued jobGap after the previous
// one ended, picked up runnerPickup later, and lasts as long as its log. upload records
// the artifacts a job uploads (nil during a dry run).
func (st *stager) schedule(p runPlan, start time.Time, runID int64, runNumber int, upload func(int, string, int64) int64) ([]scheduled, time.Time, error) {
	t := start.Add(jobGap)
	var out []scheduled
	for i, jp := range p.jobs {
		if len(out) > 0 && out[len(out)-1].log.status == "in_progress" {
			return nil, time.Time{}, fmt.Errorf("job %d follows a job that is still running", i+1)
		}
		if jp.skip != "" {
			out = append(out, scheduled{plan: jp, queuedAt: t, log: jobLog{job: jp.skip, start: t, end: t, status: "completed", conclusion: "skipped"}})
			t = t.Add(time.Second)
			continue
		}
		vars := logVars{
			"repo": st.sb.GitHub.Owner() + "/" + st.sb.GitHub.Repo(), "repo_name": st.sb.GitHub.Repo(),
			"branch": p.branch, "sha": p.sha, "short_sha": p.sha[:7],
			"run_id": strconv.FormatInt(runID, 10), "run_number": strconv.Itoa(runNumber),
			"account": sandboxAccount, "state_bucket": stateBucket,
			"runner_name": st.runnerName(jp.log),
			"runner_who":  st.runnerWho(jp.log),
		}
		maps.Copy(vars, p.vars)
		maps.Copy(vars, jp.vars)
		var up func(string, int64) int64
		if upload != nil {
			up = func(name string, size int64) int64 { return upload(i, name, size) }
		}
		l, err := renderLog(jp.log, t.Add(runnerPickup), vars, up)
		if err != nil {
			return nil, time.Time{}, err
		}
		out = append(out, scheduled{plan: jp, queuedAt: t, log: l})
		t = l.end.Add(jobGap)
	}
	last := out[len(out)-1].log
	end := last.end
	if last.status == "completed" {
		end = end.Add(time.Second)
	}
	return out, end, nil
}

// play stages a run in the GitHub fake step by step, capturing the webhook payload of
// each step as GitHub would send it: workflow_run requested and in_progress, per job
// workflow_job queued, in_progress and completed (completed only, for a skipped job),
// and workflow_run completed once every job is.
func (st *stager) play(p runPlan) (playedRun, error) {
	if p.event == "" {
		p.event = "push"
	}
	if p.branch == "" {
		p.branch = "main"
	}
	gh := st.sb.GitHub
	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	_, dryEnd, err := st.schedule(p, base, 0, 0, nil)
	if err != nil {
		return playedRun{}, fmt.Errorf("laying out %s: %w", p.workflow, err)
	}
	start := p.startAt
	if start.IsZero() {
		start = p.endAt.Add(-dryEnd.Sub(base))
	}
	// GitHub's run and job times are whole seconds; the logs keep their precision.
	created := start.Truncate(time.Second)
	run := gh.AddRun(githubfake.Run{
		WorkflowFile: p.workflow, HeadBranch: p.branch, HeadSHA: p.sha, Event: p.event, Actor: p.actor,
		Status: "queued", CreatedAt: created, UpdatedAt: created, RunStartedAt: created,
	})
	played := playedRun{runID: run.ID, start: start}
	record := func(event string, payload any, err error) error {
		if err != nil {
			return err
		}
		played.deliveries = append(played.deliveries, Delivery{Event: event, Payload: payload})
		return nil
	}
	if err := record(st.runEvent(run.ID, "requested")); err != nil {
		return played, err
	}
	upload := func(_ int, name string, size int64) int64 { return gh.AddArtifact(run.ID, name, size) }
	jobs, end, err := st.schedule(p, start, run.ID, run.RunNumber, upload)
	if err != nil {
		return played, fmt.Errorf("laying out %s: %w", p.workflow, err)
	}
	played.end, played.jobs = end, jobs
	if err := gh.UpdateRun(run.ID, func(r *githubfake.Run) {
		r.Status, r.UpdatedAt = "in_progress", jobs[0].queuedAt.Truncate(time.Second)
	}); err != nil {
		return played, err
	}
	if err := record(st.runEvent(run.ID, "in_progress")); err != nil {
		return played, err
	}
	runConclusion := "success"
	for _, s := range jobs {
		id, err := st.playJob(run.ID, s, record)
		if err != nil {
			return played, fmt.Errorf("playing job %q: %w", s.log.job, err)
		}
		played.jobIDs = append(played.jobIDs, id)
		if s.log.conclusion == "failure" {
			played.failed = append(played.failed, id)
			runConclusion = "failure"
		}
	}
	if jobs[len(jobs)-1].log.status != "completed" {
		return played, gh.UpdateRun(run.ID, func(r *githubfake.Run) { r.UpdatedAt = end.Truncate(time.Second) })
	}
	if err := gh.UpdateRun(run.ID, func(r *githubfake.Run) {
		r.Status, r.Conclusion, r.UpdatedAt = "completed", runConclusion, end.Truncate(time.Second)
	}); err != nil {
		return played, err
	}
	return played, record(st.runEvent(run.ID, "completed"))
}

// playJob stages one job through its states and records their webhooks.
func (st *stager) playJob(runID int64, s scheduled, record func(string, any, error) error) (int64, error) {
	gh := st.sb.GitHub
	l := s.log
	queued := s.queuedAt.Truncate(time.Second)
	if l.conclusion == "skipped" {
		j := gh.AddJob(runID, githubfake.Job{Name: l.job, Status: "completed", Conclusion: "skipped", StartedAt: queued, CompletedAt: queued})
		if err := gh.UpdateJob(j.ID, func(j *githubfake.Job) { j.RunnerName = "" }); err != nil {
			return 0, err
		}
		return j.ID, record(st.jobEvent(j.ID, "completed"))
	}
	j := gh.AddJob(runID, githubfake.Job{Name: l.job, Status: "queued", StartedAt: queued})
	if err := record(st.jobEvent(j.ID, "queued")); err != nil {
		return 0, err
	}
	runner := st.runnerName(s.plan.log)
	first := make([]githubfake.Step, len(l.steps))
	for i, step := range l.steps {
		first[i] = githubfake.Step{Name: step.Name, Number: step.Number, Status: "queued"}
	}
	first[0].Status, first[0].StartedAt = "in_progress", l.steps[0].StartedAt
	if err := gh.UpdateJob(j.ID, func(j *githubfake.Job) {
		j.Status, j.StartedAt, j.RunnerName, j.Steps = "in_progress", l.start.Truncate(time.Second), runner, first
	}); err != nil {
		return 0, err
	}
	if err := record(st.jobEvent(j.ID, "in_progress")); err != nil {
		return 0, err
	}
	if err := gh.UpdateJob(j.ID, func(j *githubfake.Job) {
		j.Steps, j.Log, j.Status, j.Conclusion = slices.Clone(l.steps), l.text, l.status, l.conclusion
		if l.status == "completed" {
			j.CompletedAt = l.end.Truncate(time.Second)
		}
	}); err != nil {
		return 0, err
	}
	if l.status != "completed" {
		return j.ID, nil
	}
	return j.ID, record(st.jobEvent(j.ID, "completed"))
}

// runEvent and jobEvent build a webhook from the fake's state now, for record.
func (st *stager) runEvent(runID int64, action string) (string, any, error) {
	ev, err := st.sb.GitHub.RunEvent(runID, action)
	return "workflow_run", ev, err
}

func (st *stager) jobEvent(jobID int64, action string) (string, any, error) {
	ev, err := st.sb.GitHub.JobEvent(jobID, action)
	return "workflow_job", ev, err
}
