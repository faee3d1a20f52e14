package testenv

import (
	"fmt"
	"testing"
)

func TestCIParsesLikeParseBool(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"", false},
		{"true", true}, {"True", true}, {"TRUE", true}, {"t", true}, {"T", true}, {"1", true},
		{"false", false}, {"0", false}, {"f", false},
		{"yes", false}, {"on", false}, {"tRuE", false}, {" true", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("CI=%q", tt.value), func(t *testing.T) {
			t.Setenv("CI", tt.value)
			if got := CI(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// recorder stands in for a test: it records Skip and Fatal instead of stopping.
type recorder struct {
	skipped, fatal string
}

func (r *recorder) Helper()           {}
func (r *recorder) Name() string      { return "TestRecorder" }
func (r *recorder) Skip(args ...any)  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }

func TestMissingFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	const why = "no terraform: run `make tools`"
	for _, tt := range []struct {
		ci, want string
	}{{"", "skip"}, {"false", "skip"}, {"true", "fatal"}, {"1", "fatal"}} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{}
			Missing(r, why)
			got := "none"
			switch {
			case r.fatal != "" && r.skipped != "":
				got = "both"
			case r.fatal != "":
				got = "fatal"
			case r.skipped != "":
				got = "skip"
			}
			if got != tt.want {
				t.Fatalf("got %s (fatal %q, skip %q), want %s", got, r.fatal, r.skipped, tt.want)
			}
			if msg := r.fatal + r.skipped; len(msg) < len(why) || msg[:len(why)] != why {
				t.Errorf("got message %q, want it to start with %q", msg, why)
			}
		})
	}
}
