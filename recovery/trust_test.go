package recovery

import (
	"strings"
	"testing"
)

func TestRunTrust(t *testing.T) {
	trust := RunTrust{Repository: "traylorre/sentiment-analyzer-gsk", Branches: []string{"main", "release"},
		Events: append(DefaultTrustedEvents(), "pull_request_target")} // a misconfiguration: never trusted all the same
	own := "traylorre/sentiment-analyzer-gsk"
	tests := []struct {
		name string
		run  Run
		want string // "" trusted, else a part of the reason
	}{
		{"push to main", Run{HeadRepository: own, Event: "push", HeadBranch: "main"}, ""},
		{"dispatch on a deploy branch", Run{HeadRepository: own, Event: "workflow_dispatch", HeadBranch: "release"}, ""},
		{"schedule", Run{HeadRepository: own, Event: "schedule", HeadBranch: "main"}, ""},
		{"after another workflow", Run{HeadRepository: own, Event: "workflow_run", HeadBranch: "main"}, ""},
		{"repository names are case-insensitive", Run{HeadRepository: "Traylorre/Sentiment-Analyzer-GSK", Event: "push", HeadBranch: "main"}, ""},
		{"a fork's main", Run{HeadRepository: "mallory/sentiment-analyzer-gsk", Event: "push", HeadBranch: "main"}, "comes from mallory/sentiment-analyzer-gsk"},
		{"a fork's pull request", Run{HeadRepository: "mallory/sentiment-analyzer-gsk", Event: "pull_request", HeadBranch: "main"}, "mallory/"},
		{"a pull request from the repository", Run{HeadRepository: own, Event: "pull_request", HeadBranch: "feature/x"}, "pull_request event"},
		{"pull_request on main still", Run{HeadRepository: own, Event: "pull_request", HeadBranch: "main"}, "pull_request event"},
		{"pull_request_target, even when configured", Run{HeadRepository: own, Event: "pull_request_target", HeadBranch: "main"}, "pull_request_target event"},
		{"an event not configured", Run{HeadRepository: own, Event: "repository_dispatch", HeadBranch: "main"}, "repository_dispatch event"},
		{"another branch", Run{HeadRepository: own, Event: "push", HeadBranch: "someone/wip"}, "branch someone/wip"},
		{"a branch that only starts like main", Run{HeadRepository: own, Event: "push", HeadBranch: "main-old"}, "branch main-old"},
		{"no head repository known", Run{Event: "push", HeadBranch: "main"}, "did not say which repository"},
		{"no event known", Run{HeadRepository: own, HeadBranch: "main"}, "unknown event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trust.Untrusted(tt.run)
			switch {
			case tt.want == "" && got != "":
				t.Errorf("got untrusted (%s), want trusted", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("got %q, want untrusted because %q", got, tt.want)
			}
		})
	}
	if got := (RunTrust{}).Untrusted(Run{HeadRepository: own, Event: "push", HeadBranch: "main"}); got == "" {
		t.Error("a trust naming no repository trusted a run")
	}
}

func TestUntrustedTitle(t *testing.T) {
	tests := []struct {
		run  Run
		want string
	}{
		{Run{PullRequests: []int{12, 14}, Actor: "praman", Event: "pull_request", HeadRepository: "traylorre/x", HeadBranch: "feature/a"}, "Checks failed on PR #12 by praman"},
		{Run{Event: "pull_request", HeadRepository: "mallory/x", HeadBranch: "main", Actor: "mallory"}, "Checks failed on a pull request from mallory/x:main by mallory"},
		{Run{Event: "push", HeadRepository: "traylorre/x", HeadBranch: "someone/wip"}, "Checks failed on branch someone/wip"},
	}
	for _, tt := range tests {
		if got := untrustedTitle(tt.run); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
