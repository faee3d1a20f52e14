package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/awsfake"
	"github.com/medic-ops/medic/sandbox/fault"
)

func mustProvider(tb testing.TB) (*awsfake.Server, *Provider) {
	tb.Helper()
	return mustProviderWith(tb, awsfake.Options{})
}

// mustProviderWith is mustProvider with the fake's options.
func mustProviderWith(tb testing.TB, opts awsfake.Options) (*awsfake.Server, *Provider) {
	tb.Helper()
	return mustProviderHTTP(tb, opts, nil)
}

// mustProviderHTTP is mustProviderWith with the SDK's HTTP client replaced by hc (nil
// keeps the SDK's own).
func mustProviderHTTP(tb testing.TB, opts awsfake.Options, hc *http.Client) (*awsfake.Server, *Provider) {
	tb.Helper()
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		tb.Setenv(k, "")
	}
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	if hc != nil {
		// The SDK adds a custom CA bundle only to its own HTTP client and fails on any
		// other; the fake is plain HTTP anyway.
		tb.Setenv("AWS_CA_BUNDLE", "")
	}
	srv := awsfake.New(opts)
	tb.Cleanup(srv.Close)
	p, err := NewProvider(context.Background(), Options{
		Endpoint:    srv.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "secret", ""),
		MaxAttempts: 1,
		HTTPClient:  hc,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, p
}

// lateLengthCheck is an http.RoundTripper that sends a request body of known length and,
// as net/http's Transport does after writing one, then copies what is left of it to
// io.Discard to check its length (net/http transfer.go, transferWriter.writeBody). It
// makes that check only after the response has come back and the SDK has closed the
// request body, as a busy Transport talking to a fast server can; if the check fails,
// the response body fails, as it does when the Transport then closes the connection
// (transport.go, persistConn.writeLoop).
type lateLengthCheck struct{ next http.RoundTripper }

func (t lateLengthCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.ContentLength <= 0 {
		return t.next.RoundTrip(req)
	}
	body := req.Body
	sent, err := io.ReadAll(io.LimitReader(body, req.ContentLength))
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Body, out.GetBody = io.NopCloser(bytes.NewReader(sent)), nil
	resp, err := t.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	resp.Body = &checkedBody{ReadCloser: resp.Body, check: func() error {
		_, err := io.Copy(io.Discard, body)
		return err
	}}
	return resp, nil
}

// checkedBody runs check before the first read and fails every read if it fails.
type checkedBody struct {
	io.ReadCloser
	check func() error
	once  sync.Once
	err   error
}

func (b *checkedBody) Read(p []byte) (int, error) {
	b.once.Do(func() { b.err = b.check() })
	if b.err != nil {
		return 0, fmt.Errorf("connection closed after the request write failed: %w", b.err)
	}
	return b.ReadCloser.Read(p)
}

// TestRequestBodyClosedBeforeLengthCheck: calls whose request body net/http checks only
// after the SDK has closed it still succeed (see addRequestBodyWithoutWriteTo). One call
// per protocol that sends a body: awsJson, awsQuery and rpcv2Cbor.
func TestRequestBodyClosedBeforeLengthCheck(t *testing.T) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	srv, p := mustProviderHTTP(t, awsfake.Options{}, &http.Client{Transport: lateLengthCheck{next: tr}})
	srv.PutSecret("prod/sentiment-analyzer/newsapi", "v1")
	srv.PutUserPolicy("medic-deployer", "Single", `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iam:*","Resource":"*"}}`)
	srv.SetAlarm(awsfake.Alarm{Name: "prod-dashboard-errors", State: "ALARM"})

	if got, err := p.SecretString(context.Background(), prod, "prod/sentiment-analyzer/newsapi"); err != nil || got != "v1" {
		t.Errorf("SecretString: got %q, %v; want v1", got, err)
	}
	if got, err := p.UserPolicy(context.Background(), prod, "medic-deployer", "Single"); err != nil || len(got) != 1 || got[0].Effect != "Deny" {
		t.Errorf("UserPolicy: got %+v, %v; want one Deny statement", got, err)
	}
	if got, err := p.AlarmsFiring(context.Background(), prod); err != nil || len(got) != 1 || got[0].Name != "prod-dashboard-errors" {
		t.Errorf("AlarmsFiring: got %+v, %v; want prod-dashboard-errors", got, err)
	}
}

var prod = recovery.Environment{
	Name: "prod", Region: "us-east-1", AlarmPrefix: "prod-",
	Functions: []string{"prod-sentiment-ingestion", "prod-sentiment-dashboard", "prod-sentiment-missing"},
	Version:   recovery.VersionSource{Kind: recovery.VersionFromTag, Key: "model_version"},
}

func TestFunctionsReadsStateAndVersion(t *testing.T) {
	srv, p := mustProvider(t)
	srv.PutFunction(awsfake.Function{Name: "prod-sentiment-ingestion", Tags: map[string]string{"model_version": "abc123"}, Env: map[string]string{"MODEL_VERSION": "env456"}})
	srv.PutFunction(awsfake.Function{Name: "prod-sentiment-dashboard", State: "Failed", StateReason: "InvalidImage", LastUpdateStatus: "Failed"})
	got, err := p.Functions(context.Background(), prod)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d functions, want 3 in config order", len(got))
	}
	if got[0].Name != "prod-sentiment-ingestion" || got[0].State != "Active" || got[0].LastUpdateStatus != "Successful" || got[0].Version != "abc123" {
		t.Errorf("ingestion: got %+v", got[0])
	}
	if got[1].State != "Failed" || got[1].StateReason != "InvalidImage" || got[1].Version != "" || got[1].VersionNote != "no tag model_version" {
		t.Errorf("dashboard: got %+v", got[1])
	}
	if got[2].State != "NotFound" {
		t.Errorf("missing function: got %+v, want State NotFound", got[2])
	}
	env := prod
	env.Functions = env.Functions[:1]
	env.Version = recovery.VersionSource{Kind: recovery.VersionFromEnv, Key: "MODEL_VERSION"}
	got, err = p.Functions(context.Background(), env)
	if err != nil || got[0].Version != "env456" {
		t.Errorf("version from env: got %+v, %v", got, err)
	}
}

func TestFunctionsVersionFromArtifactChecksum(t *testing.T) {
	srv, p := mustProvider(t)
	ctx := context.Background()
	if err := srv.CreateBucket("prod-sentiment-lambda-deployments"); err != nil {
		t.Fatal(err)
	}
	// The pipeline uploads each artifact with its SHA-256, as `aws s3 cp
	// --checksum-algorithm SHA256` does.
	s3c := s3.NewFromConfig(p.base.Copy(), func(o *s3.Options) { o.UsePathStyle = true; o.Region = "us-east-1" })
	var deployed string
	for _, sha := range []string{"1111111", "2222222", "3333333"} {
		body := []byte("zip of ingestion at " + sha)
		sum := sha256.Sum256(body)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: sdkaws.String("prod-sentiment-lambda-deployments"),
			Key: sdkaws.String("ingestion/lambda-" + sha + ".zip"), Body: bytes.NewReader(body), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
			t.Fatal(err)
		}
		if sha == "2222222" {
			deployed = base64.StdEncoding.EncodeToString(sum[:])
		}
	}
	srv.PutFunction(awsfake.Function{Name: "prod-sentiment-ingestion", CodeSha256: deployed})
	env := prod
	env.Functions = []string{"prod-sentiment-ingestion"}
	env.ArtifactsBucket = "prod-sentiment-lambda-deployments"
	env.Version = recovery.VersionSource{Kind: recovery.VersionFromS3Key, Key: "{short}/lambda-{sha}.zip", ShortPrefix: "prod-sentiment-"}
	got, err := p.Functions(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Version != "2222222" {
		t.Errorf("got version %q (%s), want 2222222", got[0].Version, got[0].VersionNote)
	}
}

func TestFunctionsAccessDeniedIsSummarized(t *testing.T) {
	srv, p := mustProvider(t)
	srv.PutFunction(awsfake.Function{Name: "prod-sentiment-ingestion"})
	srv.Faults().Set("lambda:GetFunction", fault.Rule{Err: &fault.Error{Status: 403, Code: "AccessDeniedException", Message: "not authorized"}})
	_, err := p.Functions(context.Background(), prod)
	var sum recovery.Summarizer
	if !errors.As(err, &sum) || !strings.HasPrefix(sum.Summary(), "Lambda: AccessDeniedException on GetFunction (prod-sentiment-") {
		t.Fatalf("got %v, want a Lambda AccessDeniedException summary", err)
	}
}

func TestAlarmsFiringOnlyThePrefixAndState(t *testing.T) {
	srv, p := mustProvider(t)
	since := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	srv.SetAlarm(awsfake.Alarm{Name: "prod-dashboard-errors", State: "ALARM", Reason: "Threshold Crossed", UpdatedAt: since})
	srv.SetAlarm(awsfake.Alarm{Name: "prod-analysis-errors", State: "OK"})
	srv.SetAlarm(awsfake.Alarm{Name: "preprod-dashboard-errors", State: "ALARM"})
	for i := 0; i < 120; i++ { // more than one page
		srv.SetAlarm(awsfake.Alarm{Name: "prod-extra-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), State: "ALARM"})
	}
	got, err := p.AlarmsFiring(context.Background(), prod)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 121 {
		t.Fatalf("got %d alarms, want 121 (prod- in ALARM, across pages)", len(got))
	}
	found := false
	for _, a := range got {
		if strings.HasPrefix(a.Name, "preprod-") || a.Name == "prod-analysis-errors" {
			t.Errorf("unexpected alarm %s", a.Name)
		}
		if a.Name == "prod-dashboard-errors" {
			found = true
			if a.Reason != "Threshold Crossed" || !a.Since.Equal(since) {
				t.Errorf("got %+v", a)
			}
		}
	}
	if !found {
		t.Error("prod-dashboard-errors missing")
	}
}

func TestAssumesTheEnvironmentRole(t *testing.T) {
	srv, p := mustProvider(t)
	srv.PutSecret("prod/sentiment-analyzer/dashboard-api-key", "k")
	env := prod
	env.RoleARN = "arn:aws:iam::111111111111:role/medic-prod"
	v, err := p.SecretString(context.Background(), env, "prod/sentiment-analyzer/dashboard-api-key")
	if err != nil || v != "k" {
		t.Fatalf("got %q, %v", v, err)
	}
	roles := srv.AssumedRoles()
	if len(roles) != 1 || roles[0] != env.RoleARN {
		t.Errorf("assumed roles: got %v, want [%s]", roles, env.RoleARN)
	}
	calls := srv.Calls()
	last := calls[len(calls)-1]
	if last.Op != "secretsmanager:GetSecretValue" || last.Role != env.RoleARN {
		t.Errorf("last call: got %+v, want GetSecretValue signed by the role", last)
	}
}

func TestThrottlingIsRetriedWithinBounds(t *testing.T) {
	srv := awsfake.New(awsfake.Options{})
	defer srv.Close()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	p, err := NewProvider(context.Background(), Options{Endpoint: srv.URL(), Credentials: credentials.NewStaticCredentialsProvider("A", "s", ""), MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAlarm(awsfake.Alarm{Name: "prod-x", State: "ALARM"})
	srv.Faults().Set("cloudwatch:DescribeAlarms", fault.Rule{Err: &fault.Error{Status: 400, Code: "Throttling", Message: "Rate exceeded"}, Times: 2})
	got, err := p.AlarmsFiring(context.Background(), prod)
	if err != nil || len(got) != 1 {
		t.Fatalf("after two throttles: got %v, %v; want the alarm", got, err)
	}
	if n := srv.Faults().Calls("cloudwatch:DescribeAlarms"); n != 3 {
		t.Errorf("calls: got %d, want 3", n)
	}
}

// TestARoleThatCannotBeAssumedIsNamed: when STS refuses the environment's role, every
// call that needed it fails with a *recovery.CredentialsError naming the environment,
// the role and STS's answer, not with an error that blames the call.
func TestARoleThatCannotBeAssumedIsNamed(t *testing.T) {
	srv, p := mustProvider(t)
	env := prod
	env.RoleARN = "arn:aws:iam::111111111111:role/medic-prod"
	srv.DenyRole(env.RoleARN)
	ctx := context.Background()
	_, ferr := p.Functions(ctx, env)
	_, aerr := p.AlarmsFiring(ctx, env)
	_, serr := p.SecretString(ctx, env, "prod/sentiment-analyzer/dashboard-api-key")
	for name, err := range map[string]error{"Functions": ferr, "AlarmsFiring": aerr, "SecretString": serr} {
		var cred *recovery.CredentialsError
		if !errors.As(err, &cred) {
			t.Errorf("%s: got %v (%T), want a *recovery.CredentialsError", name, err, err)
			continue
		}
		if cred.Env != "prod" || cred.Role != env.RoleARN || !strings.HasPrefix(cred.Cause, "STS AccessDenied: ") {
			t.Errorf("%s: got %+v, want prod, the role and STS's AccessDenied", name, cred)
		}
		// What a reader of the error's one-line summary (the status report, a
		// diagnostic) shows.
		var sum recovery.Summarizer
		if !errors.As(err, &sum) {
			t.Fatalf("%s: %v has no summary", name, err)
		}
		if s := sum.Summary(); !strings.HasPrefix(s, "assuming role "+env.RoleARN+" for prod failed: STS AccessDenied") || strings.Contains(s, "GetFunction") || strings.Contains(s, "DescribeAlarms") {
			t.Errorf("%s: summary %q, want the role named and no call blamed", name, s)
		}
	}
	for _, c := range srv.Calls() {
		if c.Op != "sts:AssumeRole" {
			t.Errorf("a call was made without the role's credentials: %+v", c)
		}
	}
}

// TestArtifactSHA256WithoutAChecksum: most uploads leave S3 without a SHA-256 of the
// object (no x-amz-checksum-sha256, no sha256 metadata). medic then reads the object
// to compute it, only for artifacts of the code's size, once per ETag, so the
// deployed version is found and a forced update's preview shows the artifact's SHA-256.
func TestArtifactSHA256WithoutAChecksum(t *testing.T) {
	srv, p := mustProvider(t)
	ctx := context.Background()
	const bucket = "prod-sentiment-lambda-deployments"
	var deployed []byte
	for i, sha := range []string{"1111111", "2222222", "3333333"} {
		body := []byte(strings.Repeat("z", i+1) + "ip of ingestion at " + sha) // each of another size
		if err := srv.PutObject(bucket, "ingestion/lambda-"+sha+".zip", body); err != nil {
			t.Fatal(err)
		}
		if sha == "2222222" {
			deployed = body
		}
	}
	sum := sha256.Sum256(deployed)
	srv.PutFunction(awsfake.Function{Name: "prod-sentiment-ingestion", CodeSha256: base64.StdEncoding.EncodeToString(sum[:]), CodeSize: int64(len(deployed))})
	env := prod
	env.Functions = []string{"prod-sentiment-ingestion"}
	env.ArtifactsBucket = bucket
	env.Version = recovery.VersionSource{Kind: recovery.VersionFromS3Key, Key: "{short}/lambda-{sha}.zip", ShortPrefix: "prod-sentiment-"}
	gets := func() int {
		n := 0
		for _, c := range srv.Calls() {
			if c.Op == "s3:GetObject" {
				n++
			}
		}
		return n
	}
	for round := 1; round <= 2; round++ {
		got, err := p.Functions(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Version != "2222222" {
			t.Fatalf("round %d: got version %q (%s), want 2222222", round, got[0].Version, got[0].VersionNote)
		}
		if n := gets(); n != 1 {
			t.Errorf("round %d: %d GetObject calls, want 1 (the artifact of the code's size, read once)", round, n)
		}
	}
	info, err := p.Artifact(ctx, env, bucket, "ingestion/lambda-3333333.zip")
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("zzzip of ingestion at 3333333"))
	if !info.Exists || info.SHA256 != base64.StdEncoding.EncodeToString(want[:]) {
		t.Errorf("artifact: got %+v, want its SHA-256 computed", info)
	}
	// A new upload under the same key (another ETag) is read again.
	if err := srv.PutObject(bucket, "ingestion/lambda-3333333.zip", []byte("rebuilt")); err != nil {
		t.Fatal(err)
	}
	info, err = p.Artifact(ctx, env, bucket, "ingestion/lambda-3333333.zip")
	want = sha256.Sum256([]byte("rebuilt"))
	if err != nil || info.SHA256 != base64.StdEncoding.EncodeToString(want[:]) {
		t.Errorf("artifact after a new upload: got %+v, %v; want the new bytes' SHA-256", info, err)
	}
}
