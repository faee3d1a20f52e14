package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

var drillReportMu sync.Mutex

// drillReport records a fault drill's figures: in the test log, and appended as one
// line to the file MEDIC_DRILL_REPORT names (make test prints that file at the end,
// so CI shows the figures of every run).
func drillReport(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("DRILL %s: %s", t.Name(), fmt.Sprintf(format, args...))
	t.Log(line)
	path := os.Getenv("MEDIC_DRILL_REPORT")
	if path == "" {
		return
	}
	drillReportMu.Lock()
	defer drillReportMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("recording the drill's figures in %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Errorf("recording the drill's figures in %s: %v", path, err)
	}
}
