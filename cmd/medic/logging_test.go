package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

type tokenHolder struct {
	Name  string
	Token string `json:"token"`
}

type stringer string

func (s stringer) String() string { return string(s) }

// TestLogsAreRedacted: whatever carries a credential into a log line (its message, a
// string, an error, a struct, a list, a Stringer, fields added with With) leaves
// without it.
func TestLogsAreRedacted(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := redactLogs(zap.New(core)).With(zap.String("token", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"))
	const url = "https://results.blob.core.windows.net/logs/1.txt?sv=2021&sig=SiGnAtUrE0123456789"
	log.Warn("download of "+url+" failed",
		zap.Error(errors.New("GET "+url+": 403")),
		zap.String("env", "DB_PASSWORD=hunter2-hunter2"),
		zap.Any("holder", tokenHolder{Name: "x", Token: "xoxb-1234-5678-abcdefghij"}),
		zap.Strings("lines", []string{"ok", "PGPASSWORD=battery-staple"}),
		zap.Stringer("s", stringer("Bearer abcdefgh12345678")),
		zap.ByteString("b", []byte("AKIAIOSFODNN7EXAMPLE")),
		zap.Int("n", 3))
	if logs.Len() != 1 {
		t.Fatalf("%d lines logged, want 1", logs.Len())
	}
	e := logs.All()[0]
	text := e.Message
	for k, v := range e.ContextMap() {
		text += " " + k + "=" + strings.TrimSpace(fmtAny(v))
	}
	for _, secret := range []string{"SiGnAtUrE0123456789", "hunter2-hunter2", "xoxb-1234", "battery-staple", "abcdefgh12345678", "AKIAIOSFODNN7EXAMPLE", "ghp_abcdefghij"} {
		if strings.Contains(text, secret) {
			t.Errorf("log line keeps %q: %s", secret, text)
		}
	}
	for _, kept := range []string{"download of https://results.blob.core.windows.net/logs/1.txt", "n=3", "403", "lines="} {
		if !strings.Contains(text, kept) {
			t.Errorf("log line lost %q: %s", kept, text)
		}
	}
}

func fmtAny(v any) string {
	switch t := v.(type) {
	case string:
		return t
	default:
		return strings.ReplaceAll(strings.TrimSpace(sprint(t)), "\n", " ")
	}
}

func sprint(v any) string { return fmt.Sprint(v) }
