package recovery

import (
	"context"
	"fmt"
	"strings"
)

// preview works out what a request will do, for people to read before approving. A
// preview that cannot be made says why in Problem, and the request cannot be approved.
// The Terraform actions plan without the state lock and save the plan (in the store,
// under the request's ID): their job applies that plan and nothing else.
func (rq *requester) preview(ctx context.Context, env Environment, in *Incident, r Request) Preview {
	s, ok := specOf(r.Action)
	if !ok || s.preview == nil {
		return Preview{}
	}
	return s.preview(rq, ctx, env, in, r)
}

// The actions' previews (see actionTable).

func (rq *requester) previewRun(ctx context.Context, env Environment, in *Incident, r Request) Preview {
	p := r.Params
	pv := Preview{Title: fmt.Sprintf("Run %d", p.RunID)}
	jobs, err := rq.runs.RunJobs(ctx, p.RunID)
	if err != nil {
		pv.Problem = oneLine(err)
		return pv
	}
	running := false
	for _, j := range jobs {
		running = running || (r.Action != ActCancelRun && j.Status != "" && j.Status != "completed")
		state := orWord(j.Conclusion, strings.ReplaceAll(j.Status, "_", " "))
		mark := ""
		if r.Action == ActRerunFailed && j.Failed() {
			mark = " ← re-run"
		}
		pv.Lines = append(pv.Lines, fmt.Sprintf("%s: %s%s", j.Name, state, mark))
	}
	if running {
		pv.Lines = append(pv.Lines, ":warning: The run is still going: GitHub re-runs only a finished run. Cancel it first.")
	}
	return pv
}

func (rq *requester) previewRevert(ctx context.Context, env Environment, in *Incident, r Request) Preview {
	p := r.Params
	pv := Preview{Title: "Commit to revert"}
	c, err := rq.deps.Reverter.Commit(ctx, p.SHA, rq.deps.Branch)
	if err != nil {
		pv.Problem = oneLine(err)
		return pv
	}
	subject, _, _ := strings.Cut(c.Message, "\n")
	pv.Lines = append(pv.Lines, fmt.Sprintf("%s %s — by %s", shortSHA(c.SHA), Redact(subject), c.Author))
	for i, f := range c.Files {
		if i == 10 {
			pv.Lines = append(pv.Lines, fmt.Sprintf("…and %d more files", len(c.Files)-10))
			break
		}
		pv.Lines = append(pv.Lines, "changed "+f)
	}
	if c.IsTip && len(c.Parents) == 1 {
		pv.Lines = append(pv.Lines, fmt.Sprintf("It is the tip of %s: medic pushes a revert commit (no force).", rq.deps.Branch))
	} else {
		pv.Lines = append(pv.Lines, fmt.Sprintf("It is not the tip of %s: medic opens a revert pull request.", rq.deps.Branch))
	}
	return pv
}

func (rq *requester) previewTerraform(ctx context.Context, env Environment, in *Incident, r Request) Preview {
	p := r.Params
	destroy := r.Action == ActDestroyRecreate
	pv := Preview{Title: fmt.Sprintf("terraform plan of %s at %s", env.Name, shortSHA(p.SHA))}
	if destroy {
		pv.Title = fmt.Sprintf("terraform plan -destroy of %s (sources at %s)", env.Name, shortSHA(p.SHA))
	}
	if p.Planned {
		pv.Lines = append(pv.Lines, fmt.Sprintf("Planned rollback: %s has no open incident; this rolls it back to %s.", env.Name, shortSHA(p.SHA)))
	}
	ws, err := rq.deps.Terraform.Workspace(ctx, env, p.SHA)
	if err != nil {
		pv.Problem = oneLine(err)
		return pv
	}
	defer ws.Close()
	plan, err := ws.Plan(ctx, PlanOptions{Destroy: destroy, NoLock: true})
	if err != nil {
		pv.Problem = oneLine(err)
		if d := errorDetail(err); d != "" {
			pv.Detail = Redact(d)
		}
		return pv
	}
	pv.Detail = planText(plan)
	pv.Lines = append(pv.Lines, strings.SplitN(pv.Detail, "\n", 2)[0])
	if r.Action == ActTerraformPlan {
		return pv // nothing is applied: the job shows the plan
	}
	if err := rq.deps.Plans.SavePlan(ctx, r.ID, plan.File); err != nil {
		pv.Problem = "could not keep the plan: " + oneLine(err)
		return pv
	}
	pv.PlanSHA256 = plan.SHA256
	pv.Lines = append(pv.Lines, fmt.Sprintf("Saved plan sha256 %s: the job applies exactly this plan, and stops if %s's state changes before it runs.", hexPrefix(plan.SHA256, 16), env.Name))
	if destroy {
		pv.Lines = append(pv.Lines, fmt.Sprintf("then %s runs on %s to deploy it again", env.DeployWorkflow, rq.deps.Branch))
	}
	return pv
}

func (rq *requester) previewLambda(ctx context.Context, env Environment, in *Incident, r Request) Preview {
	p := r.Params
	pv := Preview{Title: fmt.Sprintf("Lambda code of %s → %s", env.Name, shortSHA(p.SHA))}
	for _, fn := range env.Functions {
		key := artifactKey(env, fn, p.SHA)
		cur, err := rq.deps.Lambda.FunctionCode(ctx, env, fn)
		now := "unknown (" + oneLineOr(err) + ")"
		if err == nil {
			now = fmt.Sprintf("code %s, version %s", cutText(cur.CodeSha256, 12), cur.Version)
		}
		art, err := rq.deps.Lambda.Artifact(ctx, env, env.ArtifactsBucket, key)
		to := "s3://" + env.ArtifactsBucket + "/" + key
		switch {
		case err != nil:
			to += " (" + oneLine(err) + ")"
		case !art.Exists:
			to += " (MISSING)"
			pv.Problem = "an artifact is missing: the update would fail for it"
		case art.SHA256 != "":
			to += " (sha256 " + cutText(art.SHA256, 12) + ")"
		}
		pv.Lines = append(pv.Lines, fmt.Sprintf("%s: now %s → %s", fn, now, to))
	}
	return pv
}

func (rq *requester) previewUnlock(ctx context.Context, env Environment, in *Incident, r Request) Preview {
	p := r.Params
	pv := Preview{Title: "State lock to remove"}
	lock := StateLock{ID: p.LockID}
	if in != nil && in.Lock != nil && in.Lock.ID == p.LockID {
		lock = *in.Lock
	}
	if env.LockTable != "" && lock.Who == "" {
		if locks, err := rq.deps.StateLocks.StateLocks(ctx, env, env.LockTable); err == nil {
			for _, l := range locks {
				if l.ID == p.LockID {
					lock = l
				}
			}
		}
	}
	pv.Lines = append(pv.Lines, lockLine(lock, rq.now()))
	if lock.Path != "" {
		pv.Lines = append(pv.Lines, "State "+lock.Path)
	}
	pv.Lines = append(pv.Lines, "If the holder is still running, unlocking lets two runs write the state at once: make sure it is gone.")
	return pv
}

func (rq *requester) previewAlarm(ctx context.Context, env Environment, in *Incident, r Request) Preview {
	p := r.Params
	return Preview{Title: "Alarm", Lines: []string{fmt.Sprintf("%s → OK, reason: %s", p.Alarm, p.Reason), "CloudWatch sets it back to ALARM at the next evaluation if the metric still breaches."}}
}

func (rq *requester) previewClean(ctx context.Context, env Environment, in *Incident, r Request) Preview {
	pv := Preview{Title: "Test data to delete"}
	n, err := rq.deps.Tables.CountItems(ctx, env, env.Table)
	if err != nil {
		pv.Problem = oneLine(err)
		return pv
	}
	pv.Lines = []string{fmt.Sprintf("%d items of %s, deleted by key", n, env.Table)}
	return pv
}

func oneLineOr(err error) string {
	if err == nil {
		return ""
	}
	return oneLine(err)
}
