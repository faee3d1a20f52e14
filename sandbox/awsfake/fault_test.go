package awsfake_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/medic-ops/medic/sandbox/awsfake"
	"github.com/medic-ops/medic/sandbox/fault"
)

// serviceCall is one read call per service, against the world seedWorld builds.
type serviceCall struct {
	op   string
	call func(ctx context.Context, cfg aws.Config) error
}

var serviceCalls = []serviceCall{
	{"lambda:GetFunction", func(ctx context.Context, cfg aws.Config) error {
		_, err := lambda.NewFromConfig(cfg).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
		return err
	}},
	{"cloudwatch:DescribeAlarms", func(ctx context.Context, cfg aws.Config) error {
		_, err := cloudwatch.NewFromConfig(cfg).DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
		return err
	}},
	{"logs:FilterLogEvents", func(ctx context.Context, cfg aws.Config) error {
		_, err := cloudwatchlogs.NewFromConfig(cfg).FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/g")})
		return err
	}},
	{"dynamodb:Scan", func(ctx context.Context, cfg aws.Config) error {
		_, err := dynamodb.NewFromConfig(cfg).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("t")})
		return err
	}},
	{"secretsmanager:GetSecretValue", func(ctx context.Context, cfg aws.Config) error {
		_, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
		return err
	}},
	{"s3:ListObjectsV2", func(ctx context.Context, cfg aws.Config) error {
		c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b")})
		return err
	}},
	{"iam:GetUserPolicy", func(ctx context.Context, cfg aws.Config) error {
		_, err := iam.NewFromConfig(cfg).GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("p")})
		return err
	}},
	{"sts:AssumeRole", func(ctx context.Context, cfg aws.Config) error {
		_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String("arn:aws:iam::123456789012:role/r"), RoleSessionName: aws.String("medic"),
		})
		return err
	}},
}

func seedWorld(tb testing.TB, srv *awsfake.Server) {
	tb.Helper()
	srv.PutFunction(awsfake.Function{Name: "fn"})
	srv.SetAlarm(awsfake.Alarm{Name: "a", State: "ALARM"})
	srv.CreateLogGroup("/g")
	srv.PutTable(awsfake.Table{Name: "t", HashKey: "id"})
	srv.PutSecret("s", "v")
	mustNoErr(tb, srv.PutObject("b", "k", []byte("x")), "PutObject")
	srv.PutUserPolicy("u", "p", "{}")
}

func TestThrottlingFaultReachesCallerAsAPIError(t *testing.T) {
	for _, sc := range serviceCalls {
		t.Run(sc.op, func(t *testing.T) {
			faults := fault.New()
			srv := mustServer(t, awsfake.Options{Faults: faults})
			seedWorld(t, srv)
			cfg := mustConfig(t, srv)
			ctx := context.Background()
			faults.Set(sc.op, fault.Rule{Times: 1, Err: &fault.Error{
				Status: 400, Code: "ThrottlingException", Message: "Rate exceeded", RetryAfter: 2 * time.Second,
			}})
			err := sc.call(ctx, cfg)
			wantCode(t, err, "ThrottlingException")
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != 400 || re.Response.Header.Get("Retry-After") != "2" {
				t.Errorf("got %v, want an HTTP 400 response error with Retry-After 2", err)
			}
			if err := sc.call(ctx, cfg); err != nil {
				t.Errorf("after the fault's one time: got %v, want success", err)
			}
			if got := faults.Calls(sc.op); got != 2 {
				t.Errorf("calls of %s: got %d, want 2", sc.op, got)
			}
		})
	}
}

func TestLatencyFaultHitsCallerDeadline(t *testing.T) {
	tests := []struct {
		name string
		rule fault.Rule
	}{
		{"latency", fault.Rule{Latency: time.Hour}},
		{"hang", fault.Rule{Hang: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			faults := fault.New()
			srv := mustServer(t, awsfake.Options{Faults: faults})
			seedWorld(t, srv)
			cfg := mustConfig(t, srv)
			faults.Set("lambda:GetFunction", tt.rule)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := serviceCalls[0].call(ctx, cfg)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

func TestEveryServiceThroughAWSEndpointURL(t *testing.T) {
	srv := mustServer(t, awsfake.Options{})
	seedWorld(t, srv)
	isolateEnv(t)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL())
	cfg := loadConfig(t)
	if got := aws.ToString(cfg.BaseEndpoint); got != srv.URL() {
		t.Fatalf("base endpoint read from the environment: got %q, want %q", got, srv.URL())
	}
	for _, sc := range serviceCalls {
		t.Run(sc.op, func(t *testing.T) {
			before := srv.Faults().Calls(sc.op)
			if err := sc.call(context.Background(), cfg); err != nil {
				t.Fatalf("got %v, want success", err)
			}
			if got := srv.Faults().Calls(sc.op) - before; got != 1 {
				t.Errorf("calls of %s reaching the fake: got %d, want 1", sc.op, got)
			}
		})
	}
	// With an IP-address endpoint the S3 client falls back to path-style addressing
	// even without UsePathStyle (a host name such as localhost would need it).
	t.Run("s3 without UsePathStyle", func(t *testing.T) {
		_, err := s3.NewFromConfig(cfg).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
	})
}

func TestConcurrentCalls(t *testing.T) {
	srv := mustServer(t, awsfake.Options{})
	seedWorld(t, srv)
	cfg := mustConfig(t, srv)
	const workers, rounds = 8, 5
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				for _, sc := range serviceCalls {
					record(sc.call(context.Background(), cfg))
				}
				record(dynamoPut(cfg, w*rounds+r))
				srv.SetAlarm(awsfake.Alarm{Name: "a", State: []string{"OK", "ALARM"}[r%2]})
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
	if got, want := len(errs), workers*rounds*(len(serviceCalls)+1); got != want {
		t.Errorf("calls made: got %d, want %d", got, want)
	}
	tb, _ := srv.Table("t")
	if got := len(tb.Items); got != workers*rounds {
		t.Errorf("items: got %d, want %d", got, workers*rounds)
	}
	if got := srv.Faults().Calls("lambda:GetFunction"); got != workers*rounds {
		t.Errorf("GetFunction calls: got %d, want %d", got, workers*rounds)
	}
}

func dynamoPut(cfg aws.Config, n int) error {
	_, err := dynamodb.NewFromConfig(cfg).PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String("t"),
		Item:      map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprint(n)}},
	})
	return err
}
