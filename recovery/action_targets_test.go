package recovery

import (
	"context"
	"errors"
	"fmt"
	"go.uber.org/zap"
	"strings"
	"testing"
)

// ruleSHA is a full commit SHA made of one hex digit.
func ruleSHA(c byte) string { return strings.Repeat(string(c), 40) }

// The commits of the tests: the failing one, three good deploys (newest first) and one
// off the protected branch.
var (
	shaFailing = ruleSHA('f')
	shaGood1   = ruleSHA('1')
	shaGood2   = ruleSHA('2')
	shaGood3   = ruleSHA('3')
	shaNever   = ruleSHA('4') // on main, never deployed
	shaFork    = ruleSHA('e') // not on main
)

// ruleCommits answers GitHub's compare: the commits on main, the ones off it, and an
// error while GitHub is down. A SHA matches a commit it is a prefix of.
type ruleCommits struct {
	onMain, offMain []string
	err             error
	asked           []string
}

func (c *ruleCommits) CommitOnBranch(_ context.Context, sha, branch string) (CommitPlace, error) {
	c.asked = append(c.asked, sha+"@"+branch)
	if c.err != nil {
		return CommitPlace{}, c.err
	}
	for _, full := range c.onMain {
		if strings.HasPrefix(full, sha) {
			return CommitPlace{SHA: full, Status: "behind", Reachable: true}, nil
		}
	}
	for _, full := range c.offMain {
		if strings.HasPrefix(full, sha) {
			return CommitPlace{Status: "diverged"}, nil
		}
	}
	return CommitPlace{}, fmt.Errorf("compare %s...%s: %w", branch, sha, ErrNotFound)
}

// ruleDeploys is an environment's deploy history: its successful deploys, newest
// first, what its functions run, and the SHAs deployed before.
type ruleDeploys struct {
	RunHistory // only SuccessfulDeploys is used
	deploys    []Deploy
	running    []string
	deployed   map[string]bool
	err        error
}

func (d *ruleDeploys) SuccessfulDeploys(context.Context, Environment, int) ([]Deploy, error) {
	return d.deploys, d.err
}

func (d *ruleDeploys) Functions(context.Context, Environment) ([]FunctionStatus, error) {
	var out []FunctionStatus
	for i, v := range d.running {
		out = append(out, FunctionStatus{Name: fmt.Sprintf("fn-%d", i), Version: v})
	}
	return out, nil
}

func (d *ruleDeploys) DeployedBefore(_ context.Context, _ Environment, sha string) (bool, error) {
	return d.deployed[sha], d.err
}

// ruleEngine is an engine with only what resolving an action's inputs needs: the
// commits on main, the deploy history and the access roles.
func ruleEngine() (*requester, *ruleCommits, *ruleDeploys) {
	commits := &ruleCommits{onMain: []string{shaFailing, shaGood1, shaGood2, shaGood3, shaNever}, offMain: []string{shaFork}}
	deploys := &ruleDeploys{
		deploys:  []Deploy{{SHA: shaGood1}, {SHA: shaGood2}, {SHA: shaGood3}},
		deployed: map[string]bool{shaGood1: true, shaGood2: true, shaGood3: true},
	}
	access := NewAccess(ruleRoles(), nil, 0, 0, nil)
	e := &Engine{deps: EngineDeps{Commits: commits, History: deploys, Actions: &ActionDeps{
		Access: access, Branch: "main", Deployed: deploys, Functions: deploys,
	}}, log: zap.NewNop()}
	e.esc = e.newEscalator()
	rq, _ := e.newActions(nil)
	return rq, commits, deploys
}

// ruleEnv is an environment as the runbook names its resources.
func ruleEnv(name string) Environment {
	return Environment{Name: name, Table: name + "-sentiment-items", AlarmPrefix: name + "-", DeployWorkflow: "deploy-" + name + ".yml",
		Protected: name == "prod", AllowDestructive: name == "preprod"}
}

// TestDestructiveActionsOnlyTouchPreprod: Clean test data and Destroy & recreate run
// only where allow_destructive is set (preprod in the runbook's config, whatever the
// name), Clean test data only in the environment's own table (named preprod-…); every
// other environment is refused, saying so, before anything is asked of GitHub.
func TestDestructiveActionsOnlyTouchPreprod(t *testing.T) {
	withTable := func(env Environment, table string) Environment { env.Table = table; return env }
	destructive := func(env Environment) Environment { env.AllowDestructive = true; return env }
	notDestructive := func(env Environment) Environment { env.AllowDestructive = false; return env }
	tests := []struct {
		name    string
		action  ActionID
		env     Environment
		wantErr string // "" allowed
	}{
		{"clean test data in preprod", ActCleanTestData, ruleEnv("preprod"), ""},
		{"clean test data in dev", ActCleanTestData, ruleEnv("dev"), "dev's table \"dev-sentiment-items\" is refused"},
		{"clean test data in prod", ActCleanTestData, ruleEnv("prod"), "prod's table \"prod-sentiment-items\" is refused"},
		{"clean test data in staging", ActCleanTestData, ruleEnv("staging"), "environments.staging.allow_destructive"},
		{"clean test data in a staging allowing destructive actions", ActCleanTestData, destructive(ruleEnv("staging")), ""},
		{"clean test data in a preprod not allowing them", ActCleanTestData, notDestructive(ruleEnv("preprod")), "preprod's table \"preprod-sentiment-items\" is refused"},
		{"clean test data of preprod pointed at prod's table", ActCleanTestData, withTable(ruleEnv("preprod"), "prod-sentiment-items"), "preprod's table \"prod-sentiment-items\" is refused"},
		{"clean test data of preprod without the prefix's dash", ActCleanTestData, withTable(ruleEnv("preprod"), "preprodsentiment-items"), "is refused"},
		{"clean test data of preprod with no table", ActCleanTestData, withTable(ruleEnv("preprod"), ""), "is refused"},
		{"clean test data of another env with a preprod- table", ActCleanTestData, withTable(ruleEnv("preprod2"), "preprod-sentiment-items"), "preprod2's table"},
		{"destroy & recreate preprod", ActDestroyRecreate, ruleEnv("preprod"), ""},
		{"destroy & recreate dev", ActDestroyRecreate, ruleEnv("dev"), "Destroy & recreate only runs where allow_destructive is set (config: environments.dev.allow_destructive), never dev."},
		{"destroy & recreate prod", ActDestroyRecreate, ruleEnv("prod"), "Destroy & recreate only runs where allow_destructive is set (config: environments.prod.allow_destructive), never prod."},
		{"destroy & recreate staging", ActDestroyRecreate, ruleEnv("staging"), "never staging"},
		{"destroy & recreate a staging allowing destructive actions", ActDestroyRecreate, destructive(ruleEnv("staging")), ""},
		{"destroy & recreate a preprod not allowing them", ActDestroyRecreate, notDestructive(ruleEnv("preprod")), "never preprod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, commits, _ := ruleEngine()
			in := &Incident{ID: "INC-1", Env: tt.env.Name, Scenario: PreprodTestsFail, SHA: shaFailing, RunID: 7}
			p, err := e.resolveParams(context.Background(), tt.env, in, ActionRequest{Action: tt.action, User: "U0RESP", Params: RequestParams{Reason: "test rows left behind"}})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				// Destroy & recreate redeploys the newest deploy before what runs now.
				if tt.action == ActDestroyRecreate && p.SHA != shaGood2 {
					t.Errorf("destroy & recreate at %s, want the last good %s", shortSHA(p.SHA), shortSHA(shaGood2))
				}
				return
			}
			var ue *UserError
			if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.wantErr) {
				t.Fatalf("got %v (params %+v), want refused saying %q", err, p, tt.wantErr)
			}
			if len(commits.asked) != 0 {
				t.Errorf("GitHub asked about %v, want nothing asked for a refused target", commits.asked)
			}
		})
	}
}

// TestRestrictedActionsNeedAReason: a destructive action asks why; a reason of spaces
// is none; reasons are kept to 500 bytes.
func TestRestrictedActionsNeedAReason(t *testing.T) {
	in := &Incident{ID: "INC-1", Env: "preprod", Scenario: PreprodDeployFail, SHA: shaFailing, RunID: 7,
		Lock: &StateLock{ID: "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"}, AlarmName: "preprod-errors"}
	for id, a := range actions {
		if a.Kind != Mutating {
			continue
		}
		t.Run(string(id), func(t *testing.T) {
			e, _, _ := ruleEngine()
			_, err := e.resolveParams(context.Background(), ruleEnv("preprod"), in, ActionRequest{Action: id, User: "U0ADMIN", Params: RequestParams{Reason: " \t "}})
			var ue *UserError
			asked := errors.As(err, &ue) && ue.Msg == a.Label+" needs a reason."
			if asked != a.Restricted {
				t.Errorf("without a reason: got %v, want a reason asked: %v", err, a.Restricted)
			}
		})
	}
	e, _, _ := ruleEngine()
	long := "  " + strings.Repeat("é", 300) + "  " // 600 bytes
	p, err := e.resolveParams(context.Background(), ruleEnv("preprod"), in, ActionRequest{Action: ActCleanTestData, User: "U0RESP", Params: RequestParams{Reason: long}})
	if err != nil || len(p.Reason) != 500 || !strings.HasPrefix(p.Reason, "é") {
		t.Errorf("a 600-byte reason: got %d bytes starting %q (%v), want 500 bytes, trimmed", len(p.Reason), p.Reason[:min(len(p.Reason), 4)], err)
	}
}

// TestActionInputs: what each action acts on, from the request or the incident, and
// what it refuses.
func TestActionInputs(t *testing.T) {
	lockID := "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"
	incident := func() *Incident {
		return &Incident{ID: "INC-1", Env: "prod", Scenario: CanaryFail, SHA: shaFailing, RunID: 7, AlarmName: "prod-lambda-errors"}
	}
	withLock := func(in *Incident) *Incident { in.Lock = &StateLock{ID: lockID}; return in }
	withRollback := func(in *Incident) *Incident { in.RollbackSHA = shaGood2; return in }
	tests := []struct {
		name    string
		action  ActionID
		in      *Incident
		params  RequestParams
		running []string // what the functions run
		want    RequestParams
		wantErr string
	}{
		{"re-run the incident's run", ActRerunFailed, incident(), RequestParams{}, nil, RequestParams{RunID: 7}, ""},
		{"re-run another run", ActRerun, incident(), RequestParams{RunID: 9}, nil, RequestParams{RunID: 9}, ""},
		{"cancel without a run", ActCancelRun, nil, RequestParams{}, nil, RequestParams{}, "no workflow run to act on"},
		{"revert the incident's commit", ActRevert, incident(), RequestParams{}, nil, RequestParams{SHA: shaFailing}, ""},
		{"revert by short SHA", ActRevert, nil, RequestParams{SHA: shaGood3[:7]}, nil, RequestParams{SHA: shaGood3}, ""},
		{"roll back to the incident's rollback target", ActRollback, withRollback(incident()), RequestParams{}, nil, RequestParams{SHA: shaGood2}, ""},
		{"roll back to the last good, never the failing commit", ActRollback, incident(), RequestParams{}, nil, RequestParams{SHA: shaGood1}, ""},
		{"a canary failing the newest deploy: roll back past it", ActRollback, func() *Incident { in := incident(); in.SHA = shaGood1; return in }(), RequestParams{}, []string{shaGood1}, RequestParams{SHA: shaGood2}, ""},
		{"roll back a healthy env: past what runs now", ActRollback, nil, RequestParams{}, []string{shaGood1, shaGood1, shaGood2}, RequestParams{SHA: shaGood2, Planned: true}, ""},
		{"roll back a healthy env running an older one: the newest other", ActRollback, nil, RequestParams{}, []string{shaGood2}, RequestParams{SHA: shaGood1, Planned: true}, ""},
		{"roll back a healthy env, version unknown: past the newest deploy", ActRollback, nil, RequestParams{}, nil, RequestParams{SHA: shaGood2, Planned: true}, ""},
		{"roll back a healthy env: functions of unknown version do not count", ActRollback, nil, RequestParams{}, []string{"", "", shaGood2}, RequestParams{SHA: shaGood1, Planned: true}, ""},
		{"roll back a healthy env to a given SHA", ActRollback, nil, RequestParams{SHA: shaGood3}, nil, RequestParams{SHA: shaGood3, Planned: true}, ""},
		{"roll back an incident to a given SHA", ActRollback, incident(), RequestParams{SHA: shaGood3}, nil, RequestParams{SHA: shaGood3}, ""},
		{"emergency rollback to the last good", ActEmergencyRollback, incident(), RequestParams{}, nil, RequestParams{SHA: shaGood1}, ""},
		{"force Lambda update: the rollback target", ActForceLambdaUpdate, withRollback(incident()), RequestParams{Reason: "tf broken"}, nil, RequestParams{SHA: shaGood2, Reason: "tf broken"}, ""},
		{"force Lambda update: never the failing commit", ActForceLambdaUpdate, incident(), RequestParams{Reason: "tf broken"}, nil, RequestParams{SHA: shaGood1, Reason: "tf broken"}, ""},
		{"plan at the rollback target", ActTerraformPlan, withRollback(incident()), RequestParams{}, nil, RequestParams{SHA: shaGood2}, ""},
		{"plan at the incident's commit", ActTerraformPlan, incident(), RequestParams{}, nil, RequestParams{SHA: shaFailing}, ""},
		{"plan without an incident: the last good", ActTerraformPlan, nil, RequestParams{}, []string{shaGood1}, RequestParams{SHA: shaGood2}, ""},
		{"force-unlock the incident's lock", ActForceUnlock, withLock(incident()), RequestParams{Reason: "runner died"}, nil, RequestParams{LockID: lockID, SHA: shaFailing, Reason: "runner died"}, ""},
		{"force-unlock a lock by ID without an incident: at the last good", ActForceUnlock, nil, RequestParams{LockID: lockID, Reason: "runner died"}, []string{shaGood1}, RequestParams{LockID: lockID, SHA: shaGood2, Reason: "runner died"}, ""},
		{"force-unlock without a lock", ActForceUnlock, incident(), RequestParams{Reason: "x"}, nil, RequestParams{}, "No state lock is known"},
		{"force-unlock a lock ID that is not one", ActForceUnlock, incident(), RequestParams{LockID: "x; rm -rf /", Reason: "x"}, nil, RequestParams{}, "is not a Terraform lock ID"},
		{"set the incident's alarm OK", ActSetAlarmOK, incident(), RequestParams{Reason: "fixed"}, nil, RequestParams{Alarm: "prod-lambda-errors", Reason: "fixed"}, ""},
		{"set another environment's alarm OK", ActSetAlarmOK, incident(), RequestParams{Alarm: "preprod-lambda-errors", Reason: "x"}, nil, RequestParams{}, "No alarm of prod to set"},
		{"set an alarm OK without one", ActSetAlarmOK, nil, RequestParams{Reason: "x"}, nil, RequestParams{}, "No alarm of prod to set"},
		{"set an alarm with a name that is not one", ActSetAlarmOK, nil, RequestParams{Alarm: "prod-x\nother", Reason: "x"}, nil, RequestParams{}, "No alarm of prod"},
		{"a SHA that is not one", ActRevert, nil, RequestParams{SHA: "HEAD~1"}, nil, RequestParams{}, "is not a commit SHA (7 to 40 hex digits)"},
		{"a SHA off main", ActRevert, nil, RequestParams{SHA: shaFork}, nil, RequestParams{}, "is not on main"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, deploys := ruleEngine()
			deploys.running = tt.running
			got, err := e.resolveParams(context.Background(), ruleEnv("prod"), tt.in, ActionRequest{Action: tt.action, User: "U0RESP", Params: tt.params})
			if tt.wantErr != "" {
				var ue *UserError
				if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.wantErr) {
					t.Fatalf("got %+v, %v; want refused saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestLastKnownGoodNeedsHistory: an action that goes to the last good version, with
// nothing earlier to go to or no history to read, says so and does nothing.
func TestLastKnownGoodNeedsHistory(t *testing.T) {
	for _, tt := range []struct {
		action ActionID
		env    string
		lockID string
	}{
		{ActRollback, "prod", ""}, {ActEmergencyRollback, "prod", ""}, {ActForceLambdaUpdate, "prod", ""},
		{ActTerraformPlan, "prod", ""}, {ActForceUnlock, "prod", "lock-1"}, {ActDestroyRecreate, "preprod", ""},
	} {
		e, commits, deploys := ruleEngine()
		deploys.err = errors.New("github: 502")
		ar := ActionRequest{Action: tt.action, User: "U0ADMIN", Params: RequestParams{LockID: tt.lockID, Reason: "needed"}}
		_, err := e.resolveParams(context.Background(), ruleEnv(tt.env), nil, ar)
		var ue *UserError
		if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "Could not read the deploy history: github: 502") || len(commits.asked) != 0 {
			t.Errorf("%s with the history unreadable: got %v (GitHub asked %v), want refused saying the history could not be read", tt.action, err, commits.asked)
		}
	}

	e, _, deploys := ruleEngine()
	deploys.deploys = []Deploy{{SHA: shaFailing}}
	in := &Incident{ID: "INC-1", Env: "prod", Scenario: CanaryFail, SHA: shaFailing}
	_, err := e.resolveParams(context.Background(), ruleEnv("prod"), in, ActionRequest{Action: ActRollback, User: "U0RESP"})
	var ue *UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "No earlier successful deploy of prod") {
		t.Errorf("got %v, want refused: no earlier deploy", err)
	}
	deploys.deploys, deploys.err = nil, errors.New("github: 502")
	_, err = e.resolveParams(context.Background(), ruleEnv("prod"), in, ActionRequest{Action: ActRollback, User: "U0RESP"})
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "Could not read the deploy history: github: 502") {
		t.Errorf("got %v, want refused: the history could not be read", err)
	}
}
