package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/medic-ops/medic"
	"github.com/medic-ops/medic/sandbox/slackfake"
	"github.com/medic-ops/medic/store"
)

// productionStagingConfig is the example config with its environments named
// production and staging instead of prod and preprod, every reference to them renamed
// (the pipeline's workflows and jobs, the escalation matrix, self-service). production
// is protected by its own key (protected: true, as the example spells it) and rated
// MEDIUM, not HIGH, so that only protected can make a second person necessary there;
// Roll back to last good is self-service on both, which would let it run on a click
// anywhere protection is not honoured. Their resources keep the example's names (the
// sandbox's Terraform configuration deploys prod's and preprod's functions through
// prod.tfvars and preprod.tfvars): only the environments' names change.
func productionStagingConfig(t *testing.T) []byte {
	t.Helper()
	src := string(medic.ExampleConfig)
	for _, r := range [][2]string{
		{"    build-and-promote.yml: preprod\n    deploy-prod.yml: prod\n", "    build-and-promote.yml: staging\n    deploy-prod.yml: production\n"},
		{`    "Deploy to Preprod": preprod` + "\n", `    "Deploy to Preprod": staging` + "\n"},
		{`    "Preprod Integration Tests": preprod` + "\n", `    "Preprod Integration Tests": staging` + "\n"},
		{`    "Deploy to Production": prod` + "\n", `    "Deploy to Production": production` + "\n"},
		{`    "Production Canary Test": prod` + "\n", `    "Production Canary Test": production` + "\n"},
		{`    "Rollback on Failure": prod` + "\n", `    "Rollback on Failure": production` + "\n"},
		{"      envs: [prod]\n", "      envs: [production]\n"},
		{"      envs: [preprod]\n", "      envs: [staging]\n"},
		{"    preprod: [rerun-failed, rerun, tf-plan]\n", "    staging: [rerun-failed, rerun, tf-plan, rollback]\n    production: [rollback]\n"},
		{"\n  prod:\n", "\n  production:\n"},
		{"\n  preprod:\n", "\n  staging:\n"},
		{"    severity: HIGH\n", "    severity: MEDIUM\n"},
		{"    protected: true\n", "    protected: true\n"}, // production's, spelled out
	} {
		if n := strings.Count(src, r[0]); n != 1 {
			t.Fatalf("the example config holds %q %d times, want once", r[0], n)
		}
		src = strings.Replace(src, r[0], r[1], 1)
	}
	return []byte(src)
}

// TestPolicyFollowsConfigNotNames: protection and self-service follow the
// environments' config, whatever they are named. On production (protected: true) the
// requester's own approval of a self-service action is refused and nothing runs until
// another approver approves; on staging the same action runs on the requester's click.
func TestPolicyFollowsConfigNotNames(t *testing.T) {
	e, _ := mustStartStaged(t, "", withConfig(productionStagingConfig(t)))
	needTerraform(t, e)
	if names := envNames(e.cfg); !slices.Equal(names, []string{"dev", "production", "staging"}) {
		t.Fatalf("medic runs environments %v, want dev, production and staging", names)
	}
	good := map[string][]string{}
	for _, w := range worldFromConfig(e.cfg).Envs {
		good[w.Name] = w.GoodDeploys // oldest first; each runs its newest
	}

	// production: a second person, though the action is self-service there and the
	// environment rated MEDIUM.
	before := e.ephemeralCount(userAlice)
	e.command(userAlice, sandboxChannel, "/rollback", "production")
	wantContains(t, e.nextEphemeral(userAlice, before), "Requested Roll back to last good on production", "an approver other than you must approve it")
	req, text := e.waitMessage("production's request with its preview", func(m slackfake.Message) bool {
		text := slackfake.Render(m)
		return !m.Ephemeral && strings.Contains(text, "requests *Roll back to last good* on *production*") && strings.Contains(text, "[ Approve")
	})
	wantContains(t, text, good["production"][1][:7], "Waiting for an approver other than <@U0ALICE>")
	if strings.Contains(text, "Self-service") {
		t.Errorf("production's request is self-service:\n%s", text)
	}
	wantContains(t, e.press(req, userAlice, "approve:request"), "You requested this: a second person must approve it.")
	// Nothing ran: no job, production still on its newest deploy.
	if a := e.envAudit("production"); strings.Contains(a, "job.created") || strings.Contains(a, "request.approved") ||
		!strings.Contains(a, "U0ALICE:request.approve.refused") {
		t.Errorf("after the requester's own approval, production's audit is %q: want the approval refused and no job", a)
	}
	if v := deployedVersion(t, e, "production"); v != "" {
		t.Errorf("production's Terraform state holds version %q after the requester's own approval, want nothing applied", v)
	}
	e.wantRunning("production", good["production"][2])
	wantContains(t, e.press(req, userBob, "approve:request"), "You approved", "runs as job JOB-")
	e.waitMessage("production's job's end", func(m slackfake.Message) bool {
		return m.ThreadTS == req.TS && strings.Contains(m.Text, "succeeded.")
	})
	if v := deployedVersion(t, e, "production"); v != good["production"][1] {
		t.Errorf("production's Terraform state holds version %q, want the last known good %q", v, good["production"][1])
	}
	e.wantRunning("production", good["production"][1])
	wantContains(t, e.envAudit("production"), "U0ALICE:request.created", "U0ALICE:request.approve.refused", "U0BOB:request.approved", "U0BOB:job.created", "medic:job.succeeded")

	// staging: self-service, on the requester's click alone. The SHA is given: staging
	// shares its deploy workflow with dev (as preprod does in the example), so its last
	// known good is the newest successful run of either.
	before = e.ephemeralCount(userAlice)
	e.command(userAlice, sandboxChannel, "/rollback", "staging "+good["staging"][1])
	wantContains(t, e.nextEphemeral(userAlice, before), "Roll back to last good on staging runs without approval (self-service)")
	sreq, _ := e.waitMessage("staging's request", func(m slackfake.Message) bool {
		return !m.Ephemeral && strings.Contains(slackfake.Render(m), "requests *Roll back to last good* on *staging*")
	})
	e.waitMessage("staging's job's end", func(m slackfake.Message) bool {
		return m.ThreadTS == sreq.TS && strings.Contains(m.Text, "succeeded.")
	})
	_, text = e.waitMessage("staging's request approved by policy", func(m slackfake.Message) bool {
		return m.TS == sreq.TS && strings.Contains(slackfake.Render(m), "Approved by policy (self-service)")
	})
	if strings.Contains(text, "[ Approve") {
		t.Errorf("staging's self-service request asks for an approval:\n%s", text)
	}
	if v := deployedVersion(t, e, "staging"); v != good["staging"][1] {
		t.Errorf("staging's Terraform state holds version %q, want %q", v, good["staging"][1])
	}
	e.wantRunning("staging", good["staging"][1])
	a := e.envAudit("staging")
	wantContains(t, a, "U0ALICE:request.created", "U0ALICE:request.approved", "job.created", "medic:job.succeeded")
	if strings.Contains(a, "U0BOB") || strings.Contains(a, "refused") {
		t.Errorf("staging's audit %q: want nobody else involved and nothing refused", a)
	}
}

// envAudit is env's audit log as actor:action, oldest first.
func (e *e2e) envAudit(env string) string {
	e.t.Helper()
	return e.auditOf(store.AuditFilter{Env: env})
}

// wantRunning checks that every Lambda function of env runs version, by the tag the
// config reads it from.
func (e *e2e) wantRunning(env, version string) {
	e.t.Helper()
	for _, w := range worldFromConfig(e.cfg).Envs {
		if w.Name != env {
			continue
		}
		for _, fn := range w.Functions {
			if f, _ := e.sb.AWS.Function(fn); f.Tags[w.VersionTag] != version {
				e.t.Errorf("%s's %s runs %q, want %q", env, fn, f.Tags[w.VersionTag], version)
			}
		}
		return
	}
	e.t.Errorf("no environment %s", env)
}
