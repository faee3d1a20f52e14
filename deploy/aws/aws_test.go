package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
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
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		tb.Setenv(k, "")
	}
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	srv := awsfake.New(opts)
	tb.Cleanup(srv.Close)
	p, err := NewProvider(context.Background(), Options{
		Endpoint:    srv.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "secret", ""),
		MaxAttempts: 1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, p
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
