package fault

import (
	"context"
	"testing"
	"time"
)

func TestHitAppliesRuleTimesThenClears(t *testing.T) {
	in := New()
	in.Set("lambda:GetFunction", Rule{Err: &Error{Status: 500, Code: "ServiceException"}, Times: 2})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := in.Hit(ctx, "lambda:GetFunction"); err == nil || err.Code != "ServiceException" {
			t.Fatalf("call %d: got %v, want ServiceException", i, err)
		}
	}
	if err := in.Hit(ctx, "lambda:GetFunction"); err != nil {
		t.Fatalf("third call: got %v, want no error", err)
	}
	if got := in.Calls("lambda:GetFunction"); got != 3 {
		t.Fatalf("calls: got %d, want 3", got)
	}
	if got := in.Failed("lambda:GetFunction"); got != 2 {
		t.Fatalf("failed calls: got %d, want 2", got)
	}
}

func TestFailedCountsBrokenCallsOnly(t *testing.T) {
	in := New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in.Set("slow", Rule{Latency: time.Millisecond})
	in.Set("hung", Rule{Hang: true})
	in.Hit(ctx, "slow")
	in.Hit(ctx, "hung")
	in.Hit(ctx, "untouched")
	for op, want := range map[string]int{"slow": 0, "hung": 1, "untouched": 0} {
		if got := in.Failed(op); got != want {
			t.Errorf("%s: got %d failed calls, want %d", op, got, want)
		}
	}
}

func TestHitReturnsWhenCallerGivesUp(t *testing.T) {
	in := New()
	in.Set("cloudwatch:DescribeAlarms", Rule{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Hit(ctx, "cloudwatch:DescribeAlarms"); err != nil {
		t.Fatalf("got %v, want nil (latency only)", err)
	}
	in.Set("x", Rule{Hang: true})
	if err := in.Hit(ctx, "x"); err == nil {
		t.Fatal("hang on a cancelled context: got nil, want an error")
	}
}
