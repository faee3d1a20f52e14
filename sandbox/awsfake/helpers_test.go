package awsfake_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/medic-ops/medic/sandbox/awsfake"
)

// testClock is a server clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	// Near the wall clock, so credentials issued by STS are not already expired for the
	// SDK, and at a whole millisecond, the precision AWS timestamps carry.
	return &testClock{now: time.Now().UTC().Truncate(time.Second)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustServer(tb testing.TB, opts awsfake.Options) *awsfake.Server {
	tb.Helper()
	srv := awsfake.New(opts)
	tb.Cleanup(srv.Close)
	return srv
}

// isolateEnv keeps the developer's AWS environment out of the SDK's config chain.
func isolateEnv(tb testing.TB) {
	tb.Helper()
	for _, k := range []string{
		"AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
	} {
		tb.Setenv(k, "")
	}
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// mustConfig returns an SDK config pointed at srv, with static credentials and no
// retries (so an injected error reaches the caller as it was answered).
func mustConfig(tb testing.TB, srv *awsfake.Server, extra ...func(*config.LoadOptions) error) aws.Config {
	tb.Helper()
	isolateEnv(tb)
	if srv != nil {
		extra = append(extra, config.WithBaseEndpoint(srv.URL()))
	}
	return loadConfig(tb, extra...)
}

// loadConfig loads an SDK config from the environment plus static credentials, no
// retries and no shared config files.
func loadConfig(tb testing.TB, extra ...func(*config.LoadOptions) error) aws.Config {
	tb.Helper()
	opts := []func(*config.LoadOptions) error{
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDSANDBOX", "secret", "")),
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), append(opts, extra...)...)
	if err != nil {
		tb.Fatalf("loading AWS config: %v", err)
	}
	return cfg
}

// logCapture collects what the SDK logs.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) logger() logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, string(c)+" "+fmt.Sprintf(format, v...))
	})
}

func (l *logCapture) matching(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(strings.ToLower(line), substr) {
			out = append(out, line)
		}
	}
	return out
}

// errorCode returns the smithy.APIError code of err, or "" when err is not one.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(tb testing.TB, err error, want string) {
	tb.Helper()
	if got := errorCode(err); got != want {
		tb.Fatalf("error code: got %q (err %v), want %q", got, err, want)
	}
}

func mustNoErr(tb testing.TB, err error, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}
