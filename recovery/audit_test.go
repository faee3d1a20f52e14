package recovery

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryAuditEventHasItsReading: each audit event medic writes (the constants, the
// clicks on read-only buttons, each job end and decision) has an entry in auditEvents,
// saying what it means for the report or that the report leaves it out; a new event
// written without one fails here, not in a report nobody reads.
func TestEveryAuditEventHasItsReading(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "audit.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var written []AuditAction
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "AuditAction" {
			s, err := strconv.Unquote(vs.Values[0].(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			written = append(written, AuditAction(s))
		}
		return true
	})
	if len(written) < 40 {
		t.Fatalf("read %d audit constants from audit.go, want all of them (40 or more)", len(written))
	}
	for _, s := range actionTable() {
		if s.Kind == ReadOnly {
			written = append(written, auditClick(s.ID))
		}
	}
	for _, st := range []JobState{JobSucceeded, JobFailed, JobCancelled, JobInterrupted} {
		written = append(written, auditJobEnd(st))
	}
	for _, st := range []RequestState{RequestApproved, RequestRejected} {
		written = append(written, auditDecision(st))
	}
	for _, o := range []FollowOutcome{FollowPassed, FollowFailed, FollowCancelled} {
		written = append(written, auditFollowEnd(o))
	}
	written = append(written, auditDecisionRefused("approve"), auditDecisionRefused("reject"))
	for _, a := range written {
		if _, ok := auditEvents[a]; !ok {
			t.Errorf("audit event %q has no entry in auditEvents", a)
		}
	}
}

// TestAuditCallsUseTypedEvents: every audit call names its event by an AuditAction
// constant or helper, never by a string typed at the call, so the report's table knows
// every event written.
func TestAuditCallsUseTypedEvents(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	calls := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			arg := -1
			switch sel.Sel.Name {
			case "audit":
				arg = 3
			case "auditEnv":
				arg = 5
			}
			if arg < 0 || len(call.Args) <= arg {
				return true
			}
			calls++
			if _, lit := call.Args[arg].(*ast.BasicLit); lit {
				t.Errorf("%s: an audit event typed as a string: use an AuditAction constant", fset.Position(call.Pos()))
			}
			return true
		})
	}
	if calls < 40 {
		t.Fatalf("found %d audit calls, want all of them (40 or more)", calls)
	}
}
