package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/awsfake"
	"github.com/medic-ops/medic/sandbox/fault"
)

// preprod is the runbook's preprod as config gives it by default: destructive actions
// (Clean test data) allowed.
var preprod = recovery.Environment{Name: "preprod", Region: "us-east-1", AlarmPrefix: "preprod-", AllowDestructive: true}

// hookTransport shows every request (with its body, which it restores) to before, then
// sends it.
type hookTransport struct {
	before func(r *http.Request, body []byte)
}

func (h hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body.Close()
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	h.before(r, body)
	return http.DefaultTransport.RoundTrip(r)
}

// mustHookedProvider is mustProviderWith whose requests pass through before first.
func mustHookedProvider(tb testing.TB, opts awsfake.Options, before func(r *http.Request, body []byte)) (*awsfake.Server, *Provider) {
	tb.Helper()
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		tb.Setenv(k, "")
	}
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	// With AWS_CA_BUNDLE set, the config loader refuses a plain *http.Client ("unable
	// to add custom RootCAs HTTPClient, has no WithTransportOptions").
	tb.Setenv("AWS_CA_BUNDLE", "")
	srv := awsfake.New(opts)
	tb.Cleanup(srv.Close)
	p, err := NewProvider(context.Background(), Options{
		Endpoint:    srv.URL(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "secret", ""),
		MaxAttempts: 1,
		HTTPClient:  &http.Client{Transport: hookTransport{before: before}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, p
}

// isConfigRead reports whether r is Lambda's GetFunctionConfiguration,
// GET /2015-03-31/functions/{name}/configuration.
func isConfigRead(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configuration")
}

func b64sha(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestUpdateCodeAndWait(t *testing.T) {
	// The fake's clock moves 10 s each time medic reads the configuration; the update
	// takes 30 s of that clock, so WaitUpdated sees InProgress twice, then Successful.
	clk := &fakeClock{t: t0}
	srv, p := mustHookedProvider(t, awsfake.Options{Now: clk.Now, UpdateDelay: 30 * time.Second}, func(r *http.Request, _ []byte) {
		if isConfigRead(r) {
			clk.Set(clk.Now().Add(10 * time.Second))
		}
	})
	ctx := context.Background()
	zip := []byte("zip of ingestion at abc1234")
	if err := srv.PutObject("preprod-sentiment-lambda-deployments", "ingestion/lambda-abc1234.zip", zip); err != nil {
		t.Fatal(err)
	}
	srv.PutFunction(awsfake.Function{Name: "preprod-sentiment-ingestion", CodeSha256: b64sha([]byte("old"))})

	before, err := p.FunctionCode(ctx, preprod, "preprod-sentiment-ingestion")
	if err != nil {
		t.Fatal(err)
	}
	if before.CodeSha256 != b64sha([]byte("old")) || before.LastUpdateStatus != "Successful" || before.State != "Active" || before.Version != "$LATEST" {
		t.Errorf("before: got %+v, want the old code, Successful and Active", before)
	}

	v, err := p.UpdateCode(ctx, preprod, "preprod-sentiment-ingestion", "preprod-sentiment-lambda-deployments", "ingestion/lambda-abc1234.zip")
	if err != nil {
		t.Fatal(err)
	}
	if v != "1" {
		t.Errorf("got version %q, want 1", v)
	}
	muts := srv.Mutations()
	if len(muts) != 1 || muts[0].Op != "lambda:UpdateFunctionCode" {
		t.Fatalf("got mutations %+v, want one UpdateFunctionCode", muts)
	}
	var in struct {
		S3Bucket, S3Key string
		Publish         bool
	}
	if err := json.Unmarshal([]byte(muts[0].Input), &in); err != nil || in.S3Bucket != "preprod-sentiment-lambda-deployments" ||
		in.S3Key != "ingestion/lambda-abc1234.zip" || !in.Publish {
		t.Errorf("got input %s (%v), want the S3 object and Publish", muts[0].Input, err)
	}
	during, err := p.FunctionCode(ctx, preprod, "preprod-sentiment-ingestion")
	if err != nil || during.LastUpdateStatus != "InProgress" {
		t.Errorf("right after the update: got %+v, %v; want InProgress", during, err)
	}

	after, err := p.WaitUpdated(ctx, preprod, "preprod-sentiment-ingestion", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if after.LastUpdateStatus != "Successful" || after.CodeSha256 != b64sha(zip) || after.State != "Active" {
		t.Errorf("after: got %+v, want Successful with the new code's SHA-256", after)
	}
	if n := srv.Faults().Calls("lambda:GetFunctionConfiguration"); n != 3 {
		t.Errorf("got %d configuration reads, want 3 (InProgress at +10 s and +20 s, Successful at +30 s)", n)
	}

	// A missing object: Lambda answers InvalidParameterValueException.
	_, err = p.UpdateCode(ctx, preprod, "preprod-sentiment-ingestion", "preprod-sentiment-lambda-deployments", "ingestion/lambda-missing.zip")
	if s := mustSummary(t, err); s != "Lambda: InvalidParameterValueException on UpdateFunctionCode (preprod-sentiment-ingestion)" {
		t.Errorf("missing object: got %q", s)
	}
}

func TestWaitUpdatedFailed(t *testing.T) {
	srv, p := mustProviderWith(t, awsfake.Options{UpdateDelay: time.Hour})
	ctx := context.Background()
	if err := srv.PutObject("b", "k.zip", []byte("broken")); err != nil {
		t.Fatal(err)
	}
	srv.PutFunction(awsfake.Function{Name: "preprod-sentiment-analysis"})
	if _, err := p.UpdateCode(ctx, preprod, "preprod-sentiment-analysis", "b", "k.zip"); err != nil {
		t.Fatal(err)
	}
	// Lambda fails the update (the fake has no failing update of its own: it is seeded).
	f, _ := srv.Function("preprod-sentiment-analysis")
	f.LastUpdateStatus = "Failed"
	f.LastUpdateStatusReason = "Unzipped size must be smaller than 262144000 bytes"
	srv.PutFunction(f)

	got, err := p.WaitUpdated(ctx, preprod, "preprod-sentiment-analysis", time.Millisecond)
	var uf *UpdateFailedError
	if !errors.As(err, &uf) {
		t.Fatalf("got %v, want an *UpdateFailedError", err)
	}
	if s, want := mustSummary(t, err), "Lambda: update of preprod-sentiment-analysis failed: Unzipped size must be smaller than 262144000 bytes"; s != want {
		t.Errorf("got %q, want %q", s, want)
	}
	if got.LastUpdateStatus != "Failed" || got.CodeSha256 != b64sha([]byte("broken")) {
		t.Errorf("got %+v, want the failed code", got)
	}
}

func TestWaitUpdatedStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	reads := 0
	srv, p := mustHookedProvider(t, awsfake.Options{UpdateDelay: time.Hour}, func(r *http.Request, _ []byte) {
		if isConfigRead(r) {
			mu.Lock()
			defer mu.Unlock()
			if reads++; reads == 2 {
				cancel()
			}
		}
	})
	if err := srv.PutObject("b", "k.zip", []byte("slow")); err != nil {
		t.Fatal(err)
	}
	srv.PutFunction(awsfake.Function{Name: "f"})
	if _, err := p.UpdateCode(context.Background(), preprod, "f", "b", "k.zip"); err != nil {
		t.Fatal(err)
	}
	_, err := p.WaitUpdated(ctx, preprod, "f", time.Millisecond)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if s := mustSummary(t, err); !strings.HasPrefix(s, "Lambda: cancelled on ") {
		t.Errorf("got %q, want a cancelled summary", s)
	}
}

func TestArtifact(t *testing.T) {
	srv, p := mustProvider(t)
	ctx := context.Background()
	const bucket = "preprod-sentiment-lambda-deployments"
	if err := srv.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	// The pipeline uploads with the SHA-256 (`aws s3 cp --checksum-algorithm SHA256`).
	s3c := s3.NewFromConfig(p.base.Copy(), func(o *s3.Options) { o.UsePathStyle = true; o.Region = "us-east-1" })
	zip := []byte("zip with checksum")
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: sdkaws.String(bucket), Key: sdkaws.String("ingestion/lambda-aaaaaaa.zip"),
		Body: bytes.NewReader(zip), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatal(err)
	}
	if err := srv.PutObject(bucket, "ingestion/lambda-bbbbbbb.zip", []byte("no checksum")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, bucket, key string
		want              recovery.ArtifactInfo
	}{
		{"with checksum", bucket, "ingestion/lambda-aaaaaaa.zip",
			recovery.ArtifactInfo{Bucket: bucket, Key: "ingestion/lambda-aaaaaaa.zip", Exists: true, SHA256: b64sha(zip), Size: int64(len(zip))}},
		{"without checksum: read for it", bucket, "ingestion/lambda-bbbbbbb.zip",
			recovery.ArtifactInfo{Bucket: bucket, Key: "ingestion/lambda-bbbbbbb.zip", Exists: true, SHA256: b64sha([]byte("no checksum")), Size: int64(len("no checksum"))}},
		{"missing key", bucket, "ingestion/lambda-ccccccc.zip", recovery.ArtifactInfo{Bucket: bucket, Key: "ingestion/lambda-ccccccc.zip"}},
		{"missing bucket", "nope", "k.zip", recovery.ArtifactInfo{Bucket: "nope", Key: "k.zip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Artifact(ctx, preprod, tt.bucket, tt.key)
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	srv.Faults().Set("s3:HeadObject", fault.Rule{Times: 1, Err: &fault.Error{Status: 403, Code: "AccessDenied", Message: "denied"}})
	_, err := p.Artifact(ctx, preprod, bucket, "ingestion/lambda-aaaaaaa.zip")
	if s := mustSummary(t, err); !strings.HasPrefix(s, "S3: ") || !strings.Contains(s, "on HeadObject (s3://"+bucket+"/ingestion/lambda-aaaaaaa.zip)") {
		t.Errorf("403: got %q, want an S3 HeadObject error, not a missing artifact", s)
	}
}

func TestSetAlarmOK(t *testing.T) {
	srv, p := mustProvider(t)
	ctx := context.Background()
	srv.SetAlarm(awsfake.Alarm{Name: "preprod-dashboard-errors", State: "ALARM", Reason: "Threshold Crossed"})
	const reason = "medic: reset after the rollback to abc1234 (incident 42)"
	if err := p.SetAlarmOK(ctx, preprod, "preprod-dashboard-errors", reason); err != nil {
		t.Fatal(err)
	}
	out, err := cloudwatch.NewFromConfig(p.base.Copy()).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"preprod-dashboard-errors"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms) != 1 || out.MetricAlarms[0].StateValue != "OK" || sdkaws.ToString(out.MetricAlarms[0].StateReason) != reason {
		t.Errorf("got %+v, want the alarm OK with medic's reason", out.MetricAlarms)
	}

	long := strings.Repeat("é", 2000)
	if err := p.SetAlarmOK(ctx, preprod, "preprod-dashboard-errors", long); err != nil {
		t.Fatal(err)
	}
	if a, _ := srv.Alarm("preprod-dashboard-errors"); len([]rune(a.Reason)) != maxStateReason {
		t.Errorf("got a reason of %d characters, want it cut to %d", len([]rune(a.Reason)), maxStateReason)
	}

	err = p.SetAlarmOK(ctx, preprod, "preprod-missing", reason)
	if s := mustSummary(t, err); s != "CloudWatch: ResourceNotFound on SetAlarmState (preprod-missing)" {
		t.Errorf("missing alarm: got %q", s)
	}
	calls := srv.Faults().Calls("cloudwatch:SetAlarmState")
	for _, r := range []string{"", "  \n"} {
		err := p.SetAlarmOK(ctx, preprod, "preprod-dashboard-errors", r)
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Errorf("reason %q: got %v, want a *RefusedError", r, err)
		}
	}
	if n := srv.Faults().Calls("cloudwatch:SetAlarmState"); n != calls {
		t.Errorf("got %d SetAlarmState calls after the refusals, want %d", n, calls)
	}
}

// seedItems puts a preprod table keyed by id and timestamp (a reserved word) with n
// items of 5 KB each, more than one 1 MB Scan page for n ≥ 210.
func seedItems(srv *awsfake.Server, name string, n int) {
	var items []awsfake.Item
	for i := range n {
		items = append(items, awsfake.Item{
			"id":        awsfake.S(fmt.Sprintf("test-%04d", i)),
			"timestamp": awsfake.N(fmt.Sprint(1764115200 + i)),
			"text":      awsfake.S(strings.Repeat("x", 5000)),
			"sentiment": awsfake.S("positive"),
		})
	}
	srv.PutTable(awsfake.Table{Name: name, HashKey: "id", RangeKey: "timestamp", Items: items})
}

func TestCountAndDeleteAllItems(t *testing.T) {
	var mu sync.Mutex
	var scans []string
	srv, p := mustHookedProvider(t, awsfake.Options{}, func(r *http.Request, body []byte) {
		if r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.Scan" {
			mu.Lock()
			scans = append(scans, string(body))
			mu.Unlock()
		}
	})
	ctx := context.Background()
	seedItems(srv, "preprod-sentiment-items", 250)

	n, err := p.CountItems(ctx, preprod, "preprod-sentiment-items")
	if err != nil || n != 250 {
		t.Fatalf("count: got %d, %v; want 250", n, err)
	}
	n, err = p.DeleteAllItems(ctx, preprod, "preprod-sentiment-items")
	if err != nil || n != 250 {
		t.Fatalf("delete: got %d, %v; want 250", n, err)
	}
	if tbl, _ := srv.Table("preprod-sentiment-items"); len(tbl.Items) != 0 {
		t.Errorf("got %d items left, want none", len(tbl.Items))
	}

	// Only keys were asked for, across several pages.
	mu.Lock()
	defer mu.Unlock()
	if len(scans) < 4 {
		t.Errorf("got %d Scan calls, want at least 2 pages for each of count and delete", len(scans))
	}
	for _, s := range scans {
		var in struct {
			ProjectionExpression     string
			ExpressionAttributeNames map[string]string
		}
		if err := json.Unmarshal([]byte(s), &in); err != nil {
			t.Fatal(err)
		}
		if in.ProjectionExpression != "#k0, #k1" || len(in.ExpressionAttributeNames) != 2 ||
			in.ExpressionAttributeNames["#k0"] != "id" || in.ExpressionAttributeNames["#k1"] != "timestamp" {
			t.Errorf("got Scan %s, want a projection of the two keys only", s)
		}
	}
	deletes := 0
	for _, m := range srv.Mutations() {
		if m.Op != "dynamodb:DeleteItem" {
			t.Errorf("got mutation %s, want only DeleteItem", m.Op)
			continue
		}
		deletes++
		var in struct{ Key map[string]any }
		if err := json.Unmarshal([]byte(m.Input), &in); err != nil || len(in.Key) != 2 || in.Key["id"] == nil || in.Key["timestamp"] == nil {
			t.Errorf("got DeleteItem %s, want the key (id, timestamp) only", m.Input)
		}
	}
	if deletes != 250 {
		t.Errorf("got %d DeleteItem calls, want 250", deletes)
	}
}

func TestDeleteAllItemsReportsPartialProgress(t *testing.T) {
	var srv *awsfake.Server
	var once sync.Once
	var mu sync.Mutex
	deletes := 0
	srv, p := mustHookedProvider(t, awsfake.Options{}, func(r *http.Request, _ []byte) {
		if r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.DeleteItem" {
			mu.Lock()
			deletes++
			n := deletes
			mu.Unlock()
			if n == 10 {
				once.Do(func() {
					srv.Faults().Set("dynamodb:DeleteItem", fault.Rule{Times: 1, Err: &fault.Error{Status: 400, Code: "AccessDeniedException", Message: "not authorized"}})
				})
			}
		}
	})
	const total = 400
	seedItems(srv, "preprod-sentiment-items", total)
	n, err := p.DeleteAllItems(context.Background(), preprod, "preprod-sentiment-items")
	var pe *PartialDeleteError
	if !errors.As(err, &pe) {
		t.Fatalf("got %d, %v; want a *PartialDeleteError", n, err)
	}
	// The count is the items really gone. The 9 deletes sent before the failing one
	// succeed; deletes still in flight when it fails finish, and a few more may start
	// before medic has read the failure, but not the hundreds left.
	tbl, _ := srv.Table("preprod-sentiment-items")
	left := len(tbl.Items)
	if n != total-left || pe.Deleted != n || n < 9 {
		t.Errorf("got %d deleted (error says %d) with %d of %d items left, want the count of the items really gone, at least 9", n, pe.Deleted, left, total)
	}
	if sent := srv.Faults().Calls("dynamodb:DeleteItem"); sent >= total/4 {
		t.Errorf("got %d DeleteItem calls for %d items, want the deletes to stop soon after the failure", sent, total)
	}
	want := fmt.Sprintf("DynamoDB: %d items of preprod-sentiment-items deleted, then DynamoDB: AccessDeniedException on DeleteItem (preprod-sentiment-items)", n)
	if s := mustSummary(t, err); s != want {
		t.Errorf("got %q, want %q", s, want)
	}
}

// TestTableCleanerFollowsEnvironmentPolicy: the environment's policy, not its name,
// decides where items are deleted: an environment with allow_destructive, in its own
// tables only ("<name>-…").
func TestTableCleanerFollowsEnvironmentPolicy(t *testing.T) {
	staging := recovery.Environment{Name: "staging", Region: "us-east-1", AllowDestructive: true}
	srv, p := mustProvider(t)
	seedItems(srv, "staging-items", 3)
	ctx := context.Background()
	if n, err := p.CountItems(ctx, staging, "staging-items"); err != nil || n != 3 {
		t.Fatalf("count: got %d, %v; want 3", n, err)
	}
	if n, err := p.DeleteAllItems(ctx, staging, "staging-items"); err != nil || n != 3 {
		t.Fatalf("delete: got %d, %v; want 3", n, err)
	}
	if tbl, _ := srv.Table("staging-items"); len(tbl.Items) != 0 {
		t.Errorf("got %d items left, want none", len(tbl.Items))
	}
}

func TestTableCleanerRefusesWithoutAllowDestructive(t *testing.T) {
	prodEnv := recovery.Environment{Name: "prod", Region: "us-east-1", Protected: true}
	preprodKept := preprod
	preprodKept.AllowDestructive = false
	stagingProtected := recovery.Environment{Name: "staging", Region: "us-east-1", Protected: true, AllowDestructive: true}
	const notAllowed = "does not allow destructive actions (config: environments.%s.allow_destructive is not true)"
	const notItsTable = "only tables named %s-* are cleaned in environment %q (allow_destructive)"
	tests := []struct {
		name   string
		env    recovery.Environment
		table  string
		reason string
	}{
		{"prod table", preprod, "prod-sentiment-items", fmt.Sprintf(notItsTable, "preprod", "preprod")},
		{"prod environment", prodEnv, "preprod-sentiment-items", fmt.Sprintf(notAllowed, "prod")},
		{"both", prodEnv, "prod-sentiment-items", fmt.Sprintf(notAllowed, "prod")},
		{"unprefixed table", preprod, "sentiment-items", fmt.Sprintf(notItsTable, "preprod", "preprod")},
		{"preprod without allow_destructive", preprodKept, "preprod-sentiment-items", fmt.Sprintf(notAllowed, "preprod")},
		{"protected, whatever allow_destructive", stagingProtected, "staging-items", `environment "staging" is protected`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, p := mustProvider(t)
			seedItems(srv, tt.table, 3)
			for op, call := range map[string]func() (int, error){
				"CountItems":     func() (int, error) { return p.CountItems(context.Background(), tt.env, tt.table) },
				"DeleteAllItems": func() (int, error) { return p.DeleteAllItems(context.Background(), tt.env, tt.table) },
			} {
				n, err := call()
				var re *RefusedError
				if !errors.As(err, &re) || n != 0 {
					t.Fatalf("%s: got %d, %v; want 0 and a *RefusedError", op, n, err)
				}
				if s := re.Summary(); !strings.HasPrefix(s, "DynamoDB: "+op+" refused ("+tt.table+"): ") || !strings.Contains(s, tt.reason) {
					t.Errorf("%s: got %q, want it to say %q", op, s, tt.reason)
				}
			}
			if calls := srv.Calls(); len(calls) != 0 {
				t.Errorf("got AWS calls %+v, want none", calls)
			}
			if tbl, _ := srv.Table(tt.table); len(tbl.Items) != 3 {
				t.Errorf("got %d items, want the 3 untouched", len(tbl.Items))
			}
		})
	}
}
