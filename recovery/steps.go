package recovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// stepDef is one step of a job: a name people read, whether it changes the world, its
// time limit and what it does. A step's output is redacted before it is recorded.
type stepDef struct {
	name     string
	mutating bool
	timeout  time.Duration
	run      func(ctx context.Context) (string, error)
}

// jobCtx carries what a job's steps share (the Terraform workspace), and what a step
// set going for medic to follow once the job ends (a pushed revert commit, a
// dispatched deploy run).
type jobCtx struct {
	ws     TerraformWorkspace
	follow *FollowUp
}

func (jc *jobCtx) close() {
	if jc != nil && jc.ws != nil {
		_ = jc.ws.Close()
	}
}

// Step time limits.
const (
	apiStepTimeout       = 2 * time.Minute
	terraformInitTimeout = 10 * time.Minute
	terraformPlanTimeout = 15 * time.Minute
	terraformApplyLimit  = 45 * time.Minute
	lambdaWaitTimeout    = 10 * time.Minute
	// cleanTableTimeout bounds deleting a test table's items, batch by batch.
	cleanTableTimeout = 45 * time.Minute
)

// plan lists a job's steps: the runbook's commands for its action, as API calls.
func (jr *jobRunner) plan(job Job, jc *jobCtx) []stepDef {
	env, _ := jr.envs.Get(job.Env)
	s, ok := specOf(job.Action)
	if !ok || s.steps == nil {
		return []stepDef{{"unknown action " + string(job.Action), false, time.Second, func(context.Context) (string, error) {
			return "", errors.New("medic has no steps for this action")
		}}}
	}
	return s.steps(jr, env, job, jc)
}

// The actions' steps (see actionTable).

func (jr *jobRunner) stepsRerunFailed(env Environment, job Job, jc *jobCtx) []stepDef {
	id := job.Params.RunID
	return runCallSteps(fmt.Sprintf("Re-run the failed jobs of run %d", id), fmt.Sprintf("GitHub queued the failed jobs of run %d again.", id), id, jr.deps.Workflows.RerunFailedJobs)
}

func (jr *jobRunner) stepsRerun(env Environment, job Job, jc *jobCtx) []stepDef {
	id := job.Params.RunID
	return runCallSteps(fmt.Sprintf("Re-run run %d", id), fmt.Sprintf("GitHub queued run %d again.", id), id, jr.deps.Workflows.RerunRun)
}

func (jr *jobRunner) stepsCancelRun(env Environment, job Job, jc *jobCtx) []stepDef {
	id := job.Params.RunID
	return runCallSteps(fmt.Sprintf("Cancel run %d", id), fmt.Sprintf("GitHub is cancelling run %d.", id), id, jr.deps.Workflows.CancelRun)
}

// runCallSteps is the one step of an action on a workflow run: call on it, saying done.
func runCallSteps(name, done string, runID int64, call func(context.Context, int64) error) []stepDef {
	return []stepDef{{name, true, apiStepTimeout, func(ctx context.Context) (string, error) {
		return said(done, call(ctx, runID))
	}}}
}

func (jr *jobRunner) stepsRevert(env Environment, job Job, jc *jobCtx) []stepDef {
	p := job.Params
	return []stepDef{{fmt.Sprintf("Revert %s on %s", shortSHA(p.SHA), jr.deps.Branch), true, apiStepTimeout, func(ctx context.Context) (string, error) {
		res, err := jr.deps.Reverter.Revert(ctx, p.SHA, jr.deps.Branch)
		if err != nil {
			return "", err
		}
		if res.Method == "pull-request" {
			return fmt.Sprintf("%s is not the tip of %s: opened revert pull request #%d %s", shortSHA(p.SHA), jr.deps.Branch, res.PullRequest, res.URL), nil
		}
		if ValidSHA(res.SHA) {
			jc.follow = &FollowUp{SHA: res.SHA}
		}
		return fmt.Sprintf("Pushed revert commit %s to %s (no force); the pipeline runs again from it.", shortSHA(res.SHA), jr.deps.Branch), nil
	}}}
}

func (jr *jobRunner) stepsPlan(env Environment, job Job, jc *jobCtx) []stepDef {
	p := job.Params
	return []stepDef{jr.stepWorkspace(env, p.SHA, jc), jr.stepPlan(jc)}
}

func (jr *jobRunner) stepsRollback(env Environment, job Job, jc *jobCtx) []stepDef {
	p := job.Params
	return []stepDef{jr.stepWorkspace(env, p.SHA, jc), jr.stepApplySaved(job, jc), jr.stepVerify(env)}
}

func (jr *jobRunner) stepsUnlock(env Environment, job Job, jc *jobCtx) []stepDef {
	p := job.Params
	return []stepDef{jr.stepWorkspace(env, p.SHA, jc), {"terraform force-unlock " + p.LockID, true, terraformInitTimeout, func(ctx context.Context) (string, error) {
		if err := jc.ws.ForceUnlock(ctx, p.LockID); err != nil {
			return "", err
		}
		return "Lock " + p.LockID + " removed. Terraform runs of " + env.Name + " can take the state again.", nil
	}}}
}

func (jr *jobRunner) stepsDestroy(env Environment, job Job, jc *jobCtx) []stepDef {
	p := job.Params
	return []stepDef{jr.stepWorkspace(env, p.SHA, jc), jr.stepApplySaved(job, jc), {"Re-run " + env.DeployWorkflow + " on " + jr.deps.Branch, true, apiStepTimeout, func(ctx context.Context) (string, error) {
		since := jr.now()
		if err := jr.deps.Workflows.DispatchWorkflow(ctx, env.DeployWorkflow, jr.deps.Branch, nil); err != nil {
			return "", err
		}
		jc.follow = &FollowUp{Workflow: env.DeployWorkflow, Since: since}
		return env.DeployWorkflow + " dispatched on " + jr.deps.Branch + ": it redeploys " + env.Name + ".", nil
	}}}
}

func (jr *jobRunner) stepsLambda(env Environment, job Job, jc *jobCtx) []stepDef {
	p := job.Params
	var steps []stepDef
	for _, fn := range env.Functions {
		key := artifactKey(env, fn, p.SHA)
		steps = append(steps, stepDef{fmt.Sprintf("Update %s from s3://%s/%s", fn, env.ArtifactsBucket, key), true, apiStepTimeout, func(ctx context.Context) (string, error) {
			v, err := jr.deps.Lambda.UpdateCode(ctx, env, fn, env.ArtifactsBucket, key)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%s: update started, version %s published.", fn, v), nil
		}})
		steps = append(steps, stepDef{"Wait for " + fn + " to finish updating", false, lambdaWaitTimeout, func(ctx context.Context) (string, error) {
			fc, err := jr.deps.Lambda.WaitUpdated(ctx, env, fn, 2*time.Second)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%s: %s, update %s, code %s", fn, fc.State, fc.LastUpdateStatus, cutText(fc.CodeSha256, 16)), nil
		}})
	}
	return append(steps, jr.stepVerify(env))
}

func (jr *jobRunner) stepsAlarm(env Environment, job Job, jc *jobCtx) []stepDef {
	p := job.Params
	return []stepDef{{"Set " + p.Alarm + " to OK", true, apiStepTimeout, func(ctx context.Context) (string, error) {
		if err := jr.deps.Alarms.SetAlarmOK(ctx, env, p.Alarm, p.Reason); err != nil {
			return "", err
		}
		return p.Alarm + " set to OK: " + p.Reason + ". CloudWatch re-evaluates it at the next period.", nil
	}}}
}

func (jr *jobRunner) stepsClean(env Environment, job Job, jc *jobCtx) []stepDef {
	return []stepDef{{"Delete the items of " + env.Table + " (by key)", true, cleanTableTimeout, func(ctx context.Context) (string, error) {
		n, err := jr.deps.Tables.DeleteAllItems(ctx, env, env.Table)
		if err != nil {
			return fmt.Sprintf("%d items deleted before the error", n), err
		}
		return fmt.Sprintf("%d items deleted from %s.", n, env.Table), nil
	}}}
}

// said is a step's outcome: what happened when err is nil, else only the error.
func said(done string, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return done, nil
}

// artifactKey is where the pipeline put a function's package for sha (the
// environment's artifact key pattern, the runbook's {short}/lambda-{sha}.zip by default).
func artifactKey(env Environment, fn, sha string) string {
	pattern := env.ArtifactKey
	if pattern == "" {
		pattern = "{short}/lambda-{sha}.zip"
	}
	short := strings.TrimPrefix(fn, env.Version.ShortPrefix)
	return strings.NewReplacer("{function}", fn, "{short}", short, "{sha}", sha).Replace(pattern)
}

func (jr *jobRunner) stepWorkspace(env Environment, sha string, jc *jobCtx) stepDef {
	return stepDef{fmt.Sprintf("Fetch the Terraform sources at %s and terraform init (%s)", shortSHA(sha), env.Name), false, terraformInitTimeout,
		func(ctx context.Context) (string, error) {
			// Checked when requested; checked again now: main may have moved since.
			if _, err := jr.onBranch(ctx, sha); err != nil {
				return "", err
			}
			ws, err := jr.deps.Terraform.Workspace(ctx, env, sha)
			if err != nil {
				return "", err
			}
			jc.ws = ws
			return "", nil
		}}
}

func (jr *jobRunner) stepPlan(jc *jobCtx) stepDef {
	return stepDef{"terraform plan", false, terraformPlanTimeout, func(ctx context.Context) (string, error) {
		plan, err := jc.ws.Plan(ctx, PlanOptions{})
		if err != nil {
			return "", err
		}
		return planText(plan), nil
	}}
}

// stepApplySaved applies the plan the approver approved, and nothing else: the plan
// saved by the request's preview, checked against the SHA-256 the request showed.
// Terraform itself refuses it when the state changed since (ErrStalePlan).
func (jr *jobRunner) stepApplySaved(job Job, jc *jobCtx) stepDef {
	name := "terraform apply of the approved plan"
	if job.PlanSHA256 != "" {
		name += " (sha256 " + hexPrefix(job.PlanSHA256, 12) + ")"
	}
	return stepDef{name, true, terraformApplyLimit, func(ctx context.Context) (string, error) {
		if job.PlanSHA256 == "" {
			return "", errors.New("the request has no approved plan; request it again for a new preview")
		}
		plan, sum, err := jr.deps.Plans.Plan(ctx, job.RequestID)
		if errors.Is(err, ErrNotFound) {
			return "", errors.New("the approved plan is no longer on record (applied once already?); request it again for a new preview")
		}
		if err != nil {
			return "", fmt.Errorf("reading the approved plan: %w", err)
		}
		if sum != job.PlanSHA256 {
			return "", fmt.Errorf("the saved plan (sha256 %s) is not the one approved (sha256 %s); nothing was applied", hexPrefix(sum, 12), hexPrefix(job.PlanSHA256, 12))
		}
		if err := jc.ws.ApplyPlan(ctx, plan); err != nil {
			return "", err
		}
		return "Applied the approved plan (sha256 " + hexPrefix(sum, 16) + "), nothing else.", nil
	}}
}

// stepVerify checks the health endpoint and alarms, then keeps watching for the
// configured time (the runbook: 10 minutes) and fails as soon as it breaks.
func (jr *jobRunner) stepVerify(env Environment) stepDef {
	w := jr.deps.Verify
	name := "Verify: health endpoint 200 and no alarm in ALARM"
	if w.Watch > 0 {
		name += fmt.Sprintf(", watched for %s", w.Watch)
	}
	return stepDef{name, false, w.Watch + 2*time.Minute, func(ctx context.Context) (string, error) {
		verdict, ok := jr.after.verify(ctx, env)
		if !ok {
			return "", errors.New(strings.TrimPrefix(verdict, ":x: "))
		}
		if w.Watch <= 0 {
			return verdict, nil
		}
		interval := w.Interval
		if interval <= 0 {
			interval = 30 * time.Second
		}
		// A check per tick; the one that begins at or after the watch's end is the
		// last. When a check begins decides, not when it ends: a check that ends after
		// the end (a slow health endpoint) is followed by the one at the end.
		end := jr.now().Add(w.Watch)
		t := jr.clock.NewTicker(interval)
		defer t.Stop()
		for last := false; !last; {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-t.C():
			}
			last = !jr.now().Before(end)
			if v, ok := jr.after.verify(ctx, env); !ok {
				return "", fmt.Errorf("broke at %s: %s", jr.now().UTC().Format("15:04:05 UTC"), strings.TrimPrefix(v, ":x: "))
			}
		}
		return fmt.Sprintf("%s; it held for %s.", verdict, w.Watch), nil
	}}
}

// planText shows a plan as people read Terraform's: one line per resource.
func planText(p TerraformPlan) string {
	if p.NoChanges() {
		return "No changes: the infrastructure already matches."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Plan: %d to add, %d to change, %d to destroy.", p.Add, p.Change, p.Destroy)
	for i, c := range p.Changes {
		if i == 15 {
			fmt.Fprintf(&b, "\n…and %d more", len(p.Changes)-15)
			break
		}
		fmt.Fprintf(&b, "\n%s %s", changeSymbol(c.Actions), c.Address)
	}
	return b.String()
}

func changeSymbol(actions []string) string {
	switch strings.Join(actions, ",") {
	case "create":
		return "+"
	case "delete":
		return "-"
	case "update":
		return "~"
	case "delete,create", "create,delete":
		return "-/+"
	}
	return strings.Join(actions, ",")
}

// hexPrefix is the first n characters of a hex digest, for people to compare.
func hexPrefix(s string, n int) string { return s[:min(n, len(s))] }
