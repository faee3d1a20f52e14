package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/awsfake"
	"github.com/medic-ops/medic/sandbox/fault"
)

// fakeClock is the fake's clock, moved by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var t0 = time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)

// mustSummary returns the one-line summary of err, failing when it has none.
func mustSummary(tb testing.TB, err error) string {
	tb.Helper()
	var sum recovery.Summarizer
	if !errors.As(err, &sum) {
		tb.Fatalf("got %v (%T), want an error with a Summary", err, err)
	}
	return sum.Summary()
}

func TestTable(t *testing.T) {
	srv, p := mustProvider(t)
	srv.PutTable(awsfake.Table{Name: "prod-sentiment-items", HashKey: "id", Items: []awsfake.Item{
		{"id": awsfake.S("a")}, {"id": awsfake.S("b")}, {"id": awsfake.S("c")},
	}})
	srv.PutTable(awsfake.Table{Name: "preprod-sentiment-items", HashKey: "id", Status: "DELETING"})
	tests := []struct {
		name string
		want recovery.TableStatus
	}{
		{"prod-sentiment-items", recovery.TableStatus{Name: "prod-sentiment-items", Exists: true, Status: "ACTIVE", ItemCount: 3}},
		{"preprod-sentiment-items", recovery.TableStatus{Name: "preprod-sentiment-items", Exists: true, Status: "DELETING"}},
		{"dev-sentiment-items", recovery.TableStatus{Name: "dev-sentiment-items"}},
	}
	for _, tt := range tests {
		got, err := p.Table(context.Background(), prod, tt.name)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
	srv.Faults().Set("dynamodb:DescribeTable", fault.Rule{Err: &fault.Error{Status: 400, Code: "AccessDeniedException", Message: "no"}, Times: 1})
	_, err := p.Table(context.Background(), prod, "prod-sentiment-items")
	if s := mustSummary(t, err); s != "DynamoDB: AccessDeniedException on DescribeTable (prod-sentiment-items)" {
		t.Errorf("got %q, want the DescribeTable summary", s)
	}
}

func TestBucketExists(t *testing.T) {
	srv, p := mustProvider(t)
	if err := srv.CreateBucket("prod-sentiment-lambda-deployments"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"prod-sentiment-lambda-deployments": true, "prod-sentiment-missing": false} {
		got, err := p.BucketExists(context.Background(), prod, name)
		if err != nil || got != want {
			t.Errorf("%s: got %v, %v; want %v", name, got, err, want)
		}
	}
	srv.Faults().Set("s3:HeadBucket", fault.Rule{Err: &fault.Error{Status: 403, Code: "AccessDenied"}, Times: 1})
	got, err := p.BucketExists(context.Background(), prod, "prod-sentiment-lambda-deployments")
	// HEAD answers carry no body, so the SDK names the error from the status.
	if s := mustSummary(t, err); got || s != "S3: Forbidden on HeadBucket (prod-sentiment-lambda-deployments)" {
		t.Errorf("got %v, %q; want false and the Forbidden summary", got, s)
	}
}

func TestSecretsMetadataOnly(t *testing.T) {
	clk := &fakeClock{t: t0}
	srv, p := mustProviderWith(t, awsfake.Options{Now: clk.Now})
	srv.PutSecret("prod/sentiment-analyzer/newsapi", "v1")
	srv.PutSecret("preprod/sentiment-analyzer/newsapi", "v1")
	srv.PutSecret("production-legacy", "v1")
	for i := range 104 { // more than one ListSecrets page of 100
		srv.PutSecret(fmt.Sprintf("prod/sentiment-analyzer/key-%03d", i), "k")
	}
	clk.Set(t0.Add(26 * time.Hour))
	srv.PutSecret("prod/sentiment-analyzer/newsapi", "v2") // rotated
	if _, err := p.SecretString(context.Background(), prod, "prod/sentiment-analyzer/newsapi"); err != nil {
		t.Fatal(err)
	}
	reads := srv.Faults().Calls("secretsmanager:GetSecretValue")

	got, err := p.Secrets(context.Background(), prod, "prod/")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 105 {
		t.Fatalf("got %d secrets, want the 105 under prod/", len(got))
	}
	i := slices.IndexFunc(got, func(s recovery.SecretMeta) bool { return s.Name == "prod/sentiment-analyzer/newsapi" })
	if i < 0 {
		t.Fatal("prod/sentiment-analyzer/newsapi missing")
	}
	want := recovery.SecretMeta{Name: "prod/sentiment-analyzer/newsapi", LastChanged: t0.Add(26 * time.Hour),
		LastAccessed: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Readable: true}
	if got[i] != want {
		t.Errorf("got %+v, want %+v", got[i], want)
	}
	if n := srv.Faults().Calls("secretsmanager:GetSecretValue"); n != reads {
		t.Errorf("got %d GetSecretValue calls during Secrets, want none", n-reads)
	}
	if n := srv.Faults().Calls("secretsmanager:DescribeSecret"); n != 105 {
		t.Errorf("got %d DescribeSecret calls, want one per secret", n)
	}
}

func TestSecretsDescribeDenied(t *testing.T) {
	srv, p := mustProvider(t)
	for _, n := range []string{"prod/a", "prod/b", "prod/c"} {
		srv.PutSecret(n, "x")
	}
	srv.Faults().Set("secretsmanager:DescribeSecret", fault.Rule{Err: &fault.Error{Status: 400, Code: "AccessDeniedException", Message: "not authorized"}, Times: 1})
	got, err := p.Secrets(context.Background(), prod, "prod/")
	if err != nil {
		t.Fatal(err)
	}
	var denied []recovery.SecretMeta
	for _, s := range got {
		if !s.Readable {
			denied = append(denied, s)
		}
	}
	if len(got) != 3 || len(denied) != 1 {
		t.Fatalf("got %+v, want 3 secrets of which one unreadable", got)
	}
	if want := "Secrets Manager: AccessDeniedException on DescribeSecret (" + denied[0].Name + ")"; denied[0].Problem != want {
		t.Errorf("problem: got %q, want %q", denied[0].Problem, want)
	}
	if denied[0].LastChanged.IsZero() {
		t.Error("denied secret: got no LastChanged, want the one ListSecrets gave")
	}

	tests := []struct {
		op, want string
	}{
		{"secretsmanager:ListSecrets", "Secrets Manager: ThrottlingException on ListSecrets (prod/)"},
		{"secretsmanager:DescribeSecret", "Secrets Manager: ThrottlingException on DescribeSecret (prod/"},
	}
	for _, tt := range tests {
		srv.Faults().Set(tt.op, fault.Rule{Err: &fault.Error{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"}, Times: 1})
		_, err := p.Secrets(context.Background(), prod, "prod/")
		if s := mustSummary(t, err); !strings.HasPrefix(s, tt.want) {
			t.Errorf("%s: got %q, want prefix %q", tt.op, s, tt.want)
		}
	}
}

func TestUserPolicy(t *testing.T) {
	srv, p := mustProvider(t)
	srv.PutUserPolicy("medic-deployer", "ProdDeploymentPolicy", `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Lambda", "Effect": "Allow", "Action": ["lambda:UpdateFunctionCode", "lambda:GetFunction"], "Resource": "arn:aws:lambda:us-east-1:123456789012:function:prod-sentiment-*"},
    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/*", "arn:aws:s3:::prod+artifacts/100%/*"]}
  ]
}`)
	srv.PutUserPolicy("medic-deployer", "Single", `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iam:*","Resource":"*"}}`)
	got, err := p.UserPolicy(context.Background(), prod, "medic-deployer", "ProdDeploymentPolicy")
	if err != nil {
		t.Fatal(err)
	}
	want := []recovery.PolicyStatement{
		{Sid: "Lambda", Effect: "Allow", Actions: []string{"lambda:UpdateFunctionCode", "lambda:GetFunction"},
			Resources: []string{"arn:aws:lambda:us-east-1:123456789012:function:prod-sentiment-*"}},
		{Effect: "Allow", Actions: []string{"secretsmanager:GetSecretValue"},
			Resources: []string{"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/*", "arn:aws:s3:::prod+artifacts/100%/*"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	got, err = p.UserPolicy(context.Background(), prod, "medic-deployer", "Single")
	if err != nil || len(got) != 1 || got[0].Effect != "Deny" || !slices.Equal(got[0].Actions, []string{"iam:*"}) {
		t.Errorf("single statement: got %+v, %v", got, err)
	}
	_, err = p.UserPolicy(context.Background(), prod, "medic-deployer", "Missing")
	if s := mustSummary(t, err); s != "IAM: NoSuchEntity on GetUserPolicy (medic-deployer/Missing)" {
		t.Errorf("got %q, want the NoSuchEntity summary", s)
	}
}

func TestParsePolicyDocument(t *testing.T) {
	tests := []struct {
		name, doc string
		want      string
		wantErr   bool
	}{
		{"plain", `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`, "[{ Allow [s3:GetObject] [*]}]", false},
		{"encoded", "%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22a%22%2C%22b%22%5D%7D%7D", "[{ Allow [a b] []}]", false},
		{"no statement", `{"Version":"2012-10-17"}`, "[]", false},
		{"bad escape", "%ZZ", "", true},
		{"bad JSON", `{"Statement":`, "", true},
		{"wrong type", `{"Statement":[{"Action":7}]}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePolicyDocument(tt.doc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && fmt.Sprint(got) != tt.want {
				t.Errorf("got %v, want %s", got, tt.want)
			}
		})
	}
}

func TestLogEvents(t *testing.T) {
	srv, p := mustProvider(t)
	const group = "/aws/lambda/prod-sentiment-analysis"
	srv.PutLogEvent(group, "s1", t0.Add(-time.Minute), "ERROR before the window")
	srv.PutLogEvent(group, "s2", t0.Add(3*time.Second), "ERROR model load failed")
	srv.PutLogEvent(group, "s1", t0, "ERROR at the start")
	srv.PutLogEvent(group, "s1", t0.Add(time.Second), "INFO fine")
	srv.PutLogEvent(group, "s2", t0.Add(5*time.Second), "ERROR timeout")
	got, err := p.LogEvents(context.Background(), prod, group, "ERROR", t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []recovery.LogEvent{
		{At: t0, Stream: "s1", Message: "ERROR at the start"},
		{At: t0.Add(3 * time.Second), Stream: "s2", Message: "ERROR model load failed"},
		{At: t0.Add(5 * time.Second), Stream: "s2", Message: "ERROR timeout"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	got, err = p.LogEvents(context.Background(), prod, group, "ERROR", t0, 2)
	if err != nil || len(got) != 2 || got[1].Message != "ERROR model load failed" {
		t.Errorf("limit 2: got %v, %v; want the first two matches", got, err)
	}
	_, err = p.LogEvents(context.Background(), prod, "/aws/lambda/missing", "", t0, 10)
	if s := mustSummary(t, err); s != "CloudWatch Logs: ResourceNotFoundException on FilterLogEvents (/aws/lambda/missing)" {
		t.Errorf("got %q, want the ResourceNotFoundException summary", s)
	}
}

func TestAlarmHistory(t *testing.T) {
	srv, p := mustProvider(t)
	states := []string{"OK", "ALARM"}
	for i := range 120 { // one creation item, then 120 state changes: two pages
		srv.SetAlarm(awsfake.Alarm{Name: "prod-analysis-errors", State: states[i%2], Reason: fmt.Sprint("change ", i), UpdatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	srv.SetAlarm(awsfake.Alarm{Name: "prod-other", State: "ALARM", UpdatedAt: t0.Add(time.Hour * 9)})
	got, err := p.AlarmHistory(context.Background(), prod, "prod-analysis-errors", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []recovery.AlarmHistoryItem{
		{At: t0.Add(119 * time.Minute), Type: "StateUpdate", Summary: "Alarm updated from OK to ALARM"},
		{At: t0.Add(118 * time.Minute), Type: "StateUpdate", Summary: "Alarm updated from ALARM to OK"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	got, err = p.AlarmHistory(context.Background(), prod, "prod-analysis-errors", 500)
	if err != nil || len(got) != 121 || got[120].Type != "ConfigurationUpdate" {
		t.Errorf("all: got %d items, %v; want 121 ending with the creation", len(got), err)
	}
	srv.Faults().Set("cloudwatch:DescribeAlarmHistory", fault.Rule{Err: &fault.Error{Status: 403, Code: "AccessDenied", Message: "no"}, Times: 1})
	_, err = p.AlarmHistory(context.Background(), prod, "prod-analysis-errors", 5)
	if s := mustSummary(t, err); s != "CloudWatch: AccessDenied on DescribeAlarmHistory (prod-analysis-errors)" {
		t.Errorf("got %q, want the AccessDenied summary", s)
	}
}

func TestStateLocks(t *testing.T) {
	srv, p := mustProvider(t)
	const state = "sentiment-tfstate/env/prod/terraform.tfstate"
	items := []awsfake.Item{
		{"LockID": awsfake.S(state + "-md5"), "Digest": awsfake.S("9f86d081884c7d659a2feaa0c55ad015")},
		{"LockID": awsfake.S(state), "Info": awsfake.S(`{"ID":"6a3c8a2e-7c6b-3d4e-9f10-2b1c3d4e5f60","Operation":"OperationTypeApply","Info":"","Who":"runner@fv-az123","Version":"1.5.7","Created":"2026-11-26T01:58:12.123456789Z","Path":"` + state + `"}`)},
		{"LockID": awsfake.S("sentiment-tfstate/env/preprod/terraform.tfstate"), "Info": awsfake.S("not json")},
	}
	// Enough digests of other states to pass DynamoDB's 1 MB Scan page.
	pad := strings.Repeat("x", 4000)
	for i := range 300 {
		items = append(items, awsfake.Item{"LockID": awsfake.S(fmt.Sprintf("sentiment-tfstate/env/x%03d/terraform.tfstate-md5", i)), "Digest": awsfake.S(pad)})
	}
	srv.PutTable(awsfake.Table{Name: "terraform-state-lock-prod", HashKey: "LockID", Items: items})
	got, err := p.StateLocks(context.Background(), prod, "terraform-state-lock-prod")
	if err != nil {
		t.Fatal(err)
	}
	want := []recovery.StateLock{
		{Path: "sentiment-tfstate/env/preprod/terraform.tfstate"},
		{ID: "6a3c8a2e-7c6b-3d4e-9f10-2b1c3d4e5f60", Path: state, Operation: "OperationTypeApply", Who: "runner@fv-az123",
			Version: "1.5.7", Created: time.Date(2026, 11, 26, 1, 58, 12, 123456789, time.UTC)},
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if n := srv.Faults().Calls("dynamodb:Scan"); n < 2 {
		t.Errorf("got %d Scan calls, want at least 2 (pages over 1 MB)", n)
	}
	_, err = p.StateLocks(context.Background(), prod, "terraform-state-lock-missing")
	if s := mustSummary(t, err); s != "DynamoDB: ResourceNotFoundException on Scan (terraform-state-lock-missing)" {
		t.Errorf("got %q, want the ResourceNotFoundException summary", s)
	}
}
