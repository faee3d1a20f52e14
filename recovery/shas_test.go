package recovery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestValidSHA: a commit SHA as people type it is 7 to 40 lowercase hex digits.
func TestValidSHA(t *testing.T) {
	hex40 := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		sha  string
		want bool
	}{
		{"", false},
		{hex40[:6], false},
		{hex40[:7], true},
		{hex40[:12], true},
		{hex40, true},
		{hex40 + "8", false},
		{strings.ToUpper(hex40), false},
		{"abcdeF0", false},
		{"ABCDEF0", false},
		{"abcdefg", false},
		{"abc def0", false},
		{" " + hex40[:7], false},
		{hex40[:7] + "\n", false},
		{"HEAD~1x", false},
		{"main", false},
	}
	for _, tt := range tests {
		if got := ValidSHA(tt.sha); got != tt.want {
			t.Errorf("ValidSHA(%q) (%d chars): got %v, want %v", tt.sha, len(tt.sha), got, tt.want)
		}
	}
}

// TestShortSHA: SHAs are shown by their first 7 digits; shorter ones whole.
func TestShortSHA(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""}, {"abc123", "abc123"}, {"abc1234", "abc1234"}, {"abc12345", "abc1234"}, {shaGood1, "1111111"},
	} {
		if got := shortSHA(tt.in); got != tt.want {
			t.Errorf("shortSHA(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCommitRules: every SHA medic acts on must be on the protected branch (a short SHA
// becomes the full one); a rollback, emergency rollback or forced Lambda update must go
// to a version deployed to the environment before, unless an admin overrides it with a
// reason. Each refusal says which rule and that nothing was done.
func TestCommitRules(t *testing.T) {
	tests := []struct {
		name       string
		action     ActionID
		user       string
		params     RequestParams
		githubDown bool
		historyErr bool
		want       RequestParams
		wantErr    string
	}{
		{"no SHA: nothing to check, no override", ActRerun, "U0RESP", RequestParams{Override: true}, false, false, RequestParams{}, ""},
		{"a short SHA on main becomes the full one", ActRevert, "U0RESP", RequestParams{SHA: shaNever[:7]}, false, false, RequestParams{SHA: shaNever}, ""},
		{"a revert needs no deploy history, an override is dropped", ActRevert, "U0RESP", RequestParams{SHA: shaNever, Override: true}, false, false, RequestParams{SHA: shaNever}, ""},
		{"a plan needs no deploy history", ActTerraformPlan, "U0RESP", RequestParams{SHA: shaNever}, false, false, RequestParams{SHA: shaNever}, ""},
		{"a SHA the repository does not have", ActRevert, "U0RESP", RequestParams{SHA: "abcdef1"}, false, false, RequestParams{}, "The repository has no commit abcdef1"},
		{"a SHA off main", ActRollback, "U0ADMIN", RequestParams{SHA: shaFork, Override: true, Reason: "admin cannot override the branch"}, false, false, RequestParams{}, "eeeeeee is not on main (GitHub compares it as diverged)"},
		{"GitHub cannot say", ActRevert, "U0RESP", RequestParams{SHA: shaGood1}, true, false, RequestParams{}, "Could not check that 1111111 is on main (github: 502)"},
		{"a rollback to a version deployed before", ActRollback, "U0RESP", RequestParams{SHA: shaGood2}, false, false, RequestParams{SHA: shaGood2}, ""},
		{"an override of a version deployed before is dropped", ActRollback, "U0ADMIN", RequestParams{SHA: shaGood2, Override: true}, false, false, RequestParams{SHA: shaGood2}, ""},
		{"a rollback to a version never deployed", ActRollback, "U0RESP", RequestParams{SHA: shaNever}, false, false, RequestParams{}, "4444444 is on main but was never deployed successfully to prod (no successful run of deploy-prod.yml built it): Roll back to last good only goes to a version that ran there before"},
		{"an emergency rollback to a version never deployed", ActEmergencyRollback, "U0RESP", RequestParams{SHA: shaNever}, false, false, RequestParams{}, "never deployed successfully to prod"},
		{"a forced Lambda update to a version never deployed", ActForceLambdaUpdate, "U0RESP", RequestParams{SHA: shaNever, Reason: "x"}, false, false, RequestParams{}, "never deployed successfully to prod"},
		{"an approver's override", ActRollback, "U0APPR", RequestParams{SHA: shaNever, Override: true, Reason: "hotfix"}, false, false, RequestParams{}, "Only an admin of prod may override that"},
		{"an admin's override without a reason", ActRollback, "U0ADMIN", RequestParams{SHA: shaNever, Override: true}, false, false, RequestParams{}, "An override needs a reason"},
		{"an admin's override with a reason", ActRollback, "U0ADMIN", RequestParams{SHA: shaNever, Override: true, Reason: "hotfix"}, false, false, RequestParams{SHA: shaNever, Override: true, Reason: "hotfix"}, ""},
		{"prod's own admin overrides", ActForceLambdaUpdate, "U0PRODADMIN", RequestParams{SHA: shaNever, Override: true, Reason: "hotfix"}, false, false, RequestParams{SHA: shaNever, Override: true, Reason: "hotfix"}, ""},
		{"the deploy history cannot be read", ActRollback, "U0ADMIN", RequestParams{SHA: shaGood2}, false, true, RequestParams{}, "Could not read prod's deploy history to check 2222222 (github: 502)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, commits, deploys := ruleEngine()
			if tt.githubDown {
				commits.err = errors.New("github: 502")
			}
			if tt.historyErr {
				deploys.err = errors.New("github: 502")
			}
			got, err := e.checkTarget(context.Background(), ruleEnv("prod"), tt.action, tt.user, tt.params)
			if tt.wantErr != "" {
				var ue *UserError
				if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.wantErr) {
					t.Fatalf("got %+v, %v; want refused saying %q", got, err, tt.wantErr)
				}
				if !strings.Contains(ue.Msg, "nothing was done") && !strings.Contains(ue.Msg, "needs a reason") {
					t.Errorf("got %q, want it to say nothing was done", ue.Msg)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if tt.params.SHA != "" && (len(commits.asked) != 1 || commits.asked[0] != tt.params.SHA+"@main") {
				t.Errorf("GitHub asked %v, want [%s@main]", commits.asked, tt.params.SHA)
			}
		})
	}
}

// TestOverrideWhileSlackCannotSayWhoIsAdmin: an override granted through a user group
// Slack cannot resolve is refused with the resolver's error.
func TestOverrideWhileSlackCannotSayWhoIsAdmin(t *testing.T) {
	e, _, _ := ruleEngine()
	dir := &ruleGroups{err: errors.New("slack: down")}
	e.deps.Access = NewAccess(map[string]RoleMembers{"prod": {Admins: []string{"S0ADMINS"}}}, dir, time.Minute, time.Hour, time.Now)
	p, err := e.checkTarget(context.Background(), ruleEnv("prod"), ActRollback, "U0LEAD", RequestParams{SHA: shaNever, Override: true, Reason: "hotfix"})
	if !errors.Is(err, dir.err) {
		t.Errorf("got %+v, %v; want refused with %v", p, err, dir.err)
	}
}
