package awsfake_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/medic-ops/medic/sandbox/awsfake"
)

func TestLambda(t *testing.T) {
	clock := newTestClock()
	srv := mustServer(t, awsfake.Options{Now: clock.Now, UpdateDelay: time.Minute})
	cfg := mustConfig(t, srv)
	lc := lambda.NewFromConfig(cfg)
	ctx := context.Background()

	srv.PutFunction(awsfake.Function{
		Name:        "prod-sentiment-analysis",
		Runtime:     "python3.12",
		State:       "Failed",
		StateReason: "The function could not be created",
		CodeSha256:  "b2xk",
		CodeSize:    3,
		Env:         map[string]string{"MODEL_VERSION": "v41"},
		Tags:        map[string]string{"env": "prod"},
	})
	for _, n := range []string{"prod-sentiment-dashboard", "prod-sentiment-ingestion", "dev-sentiment-analysis", "dev-sentiment-ingestion"} {
		srv.PutFunction(awsfake.Function{Name: n, Runtime: "python3.12"})
	}

	t.Run("GetFunction", func(t *testing.T) {
		out, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("prod-sentiment-analysis")})
		mustNoErr(t, err, "GetFunction")
		c := out.Configuration
		if c.State != types.StateFailed || aws.ToString(c.StateReason) != "The function could not be created" {
			t.Errorf("state: got %q (%q), want Failed (The function could not be created)", c.State, aws.ToString(c.StateReason))
		}
		if got := aws.ToString(c.Version); got != "$LATEST" {
			t.Errorf("version: got %q, want $LATEST", got)
		}
		if c.Environment == nil || c.Environment.Variables["MODEL_VERSION"] != "v41" {
			t.Errorf("env: got %+v, want MODEL_VERSION=v41", c.Environment)
		}
		if got := out.Tags["env"]; got != "prod" {
			t.Errorf("tags: got %v, want env=prod", out.Tags)
		}
		if got, want := aws.ToString(c.FunctionArn), "arn:aws:lambda:us-east-1:123456789012:function:prod-sentiment-analysis"; got != want {
			t.Errorf("arn: got %q, want %q", got, want)
		}
		if c.LastUpdateStatus != types.LastUpdateStatusSuccessful {
			t.Errorf("last update status: got %q, want Successful", c.LastUpdateStatus)
		}
	})

	t.Run("GetFunctionConfiguration by ARN", func(t *testing.T) {
		out, err := lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{
			FunctionName: aws.String("arn:aws:lambda:us-east-1:123456789012:function:prod-sentiment-analysis"),
		})
		mustNoErr(t, err, "GetFunctionConfiguration")
		if got := aws.ToString(out.CodeSha256); got != "b2xk" {
			t.Errorf("code sha: got %q, want b2xk", got)
		}
	})

	t.Run("GetFunction unknown", func(t *testing.T) {
		_, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("nope")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("got %v, want *types.ResourceNotFoundException", err)
		}
		if !strings.Contains(nf.ErrorMessage(), "function:nope") {
			t.Errorf("message: got %q, want it to name the function ARN", nf.ErrorMessage())
		}
	})

	t.Run("ListFunctions paging", func(t *testing.T) {
		var names []string
		pages := 0
		p := lambda.NewListFunctionsPaginator(lc, &lambda.ListFunctionsInput{MaxItems: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			mustNoErr(t, err, "ListFunctions")
			pages++
			for _, f := range out.Functions {
				names = append(names, aws.ToString(f.FunctionName))
			}
		}
		want := []string{"dev-sentiment-analysis", "dev-sentiment-ingestion", "prod-sentiment-analysis", "prod-sentiment-dashboard", "prod-sentiment-ingestion"}
		if !slices.Equal(names, want) || pages != 3 {
			t.Errorf("got %v in %d pages, want %v in 3", names, pages, want)
		}
	})

	t.Run("ListFunctions path with trailing slash", func(t *testing.T) {
		resp, err := http.Get(srv.URL() + "/2015-03-31/functions/?MaxItems=1")
		mustNoErr(t, err, "GET /functions/")
		defer resp.Body.Close()
		var out struct {
			Functions  []map[string]any
			NextMarker string
		}
		mustNoErr(t, json.NewDecoder(resp.Body).Decode(&out), "decoding")
		if resp.StatusCode != 200 || len(out.Functions) != 1 || out.NextMarker == "" {
			t.Errorf("got status %d, %d functions, marker %q; want 200, 1, a marker", resp.StatusCode, len(out.Functions), out.NextMarker)
		}
	})

	t.Run("ListTags", func(t *testing.T) {
		out, err := lc.ListTags(ctx, &lambda.ListTagsInput{
			Resource: aws.String("arn:aws:lambda:us-east-1:123456789012:function:prod-sentiment-analysis"),
		})
		mustNoErr(t, err, "ListTags")
		if !maps.Equal(out.Tags, map[string]string{"env": "prod"}) {
			t.Errorf("got %v, want env=prod", out.Tags)
		}
	})

	t.Run("UpdateFunctionCode from S3 then GetFunction", func(t *testing.T) {
		pkg := []byte("PK\x03\x04 model v42")
		mustNoErr(t, srv.PutObject("artifacts", "sentiment/v42.zip", pkg), "PutObject")
		sum := sha256.Sum256(pkg)
		wantSha := base64.StdEncoding.EncodeToString(sum[:])

		up, err := lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: aws.String("prod-sentiment-ingestion"),
			S3Bucket:     aws.String("artifacts"),
			S3Key:        aws.String("sentiment/v42.zip"),
			Publish:      true,
		})
		mustNoErr(t, err, "UpdateFunctionCode")
		if aws.ToString(up.Version) != "1" || up.LastUpdateStatus != types.LastUpdateStatusInProgress {
			t.Errorf("update: got version %q status %q, want 1 InProgress", aws.ToString(up.Version), up.LastUpdateStatus)
		}

		_, err = lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: aws.String("prod-sentiment-ingestion"),
			S3Bucket:     aws.String("artifacts"),
			S3Key:        aws.String("sentiment/v42.zip"),
		})
		var conflict *types.ResourceConflictException
		if !errors.As(err, &conflict) {
			t.Errorf("second update while in progress: got %v, want *types.ResourceConflictException", err)
		}

		got, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("prod-sentiment-ingestion")})
		mustNoErr(t, err, "GetFunction")
		if aws.ToString(got.Configuration.CodeSha256) != wantSha || got.Configuration.CodeSize != int64(len(pkg)) {
			t.Errorf("code: got %q (%d bytes), want %q (%d bytes)", aws.ToString(got.Configuration.CodeSha256), got.Configuration.CodeSize, wantSha, len(pkg))
		}
		if got.Configuration.LastUpdateStatus != types.LastUpdateStatusInProgress {
			t.Errorf("before the delay: got %q, want InProgress", got.Configuration.LastUpdateStatus)
		}
		if loc := aws.ToString(got.Code.Location); !strings.HasSuffix(loc, "/artifacts/sentiment/v42.zip") {
			t.Errorf("code location: got %q, want the S3 object", loc)
		}

		clock.Advance(time.Minute)
		got, err = lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("prod-sentiment-ingestion")})
		mustNoErr(t, err, "GetFunction")
		if got.Configuration.LastUpdateStatus != types.LastUpdateStatusSuccessful {
			t.Errorf("after the delay: got %q, want Successful", got.Configuration.LastUpdateStatus)
		}

		v1, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("prod-sentiment-ingestion"), Qualifier: aws.String("1")})
		mustNoErr(t, err, "GetFunction:1")
		if aws.ToString(v1.Configuration.Version) != "1" || aws.ToString(v1.Configuration.CodeSha256) != wantSha {
			t.Errorf("version 1: got %q %q, want 1 %q", aws.ToString(v1.Configuration.Version), aws.ToString(v1.Configuration.CodeSha256), wantSha)
		}

		muts := srv.Mutations()
		var in map[string]any
		for _, m := range muts {
			if m.Op == "lambda:UpdateFunctionCode" && m.Status == 200 {
				mustNoErr(t, json.Unmarshal([]byte(m.Input), &in), "mutation input")
			}
		}
		if in["FunctionName"] != "prod-sentiment-ingestion" || in["S3Key"] != "sentiment/v42.zip" || in["Publish"] != true {
			t.Errorf("mutation input: got %v, want the function, S3 key and Publish", in)
		}
	})

	t.Run("UpdateFunctionCode missing object", func(t *testing.T) {
		_, err := lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: aws.String("dev-sentiment-analysis"),
			S3Bucket:     aws.String("artifacts"),
			S3Key:        aws.String("missing.zip"),
		})
		var bad *types.InvalidParameterValueException
		if !errors.As(err, &bad) || !strings.Contains(bad.ErrorMessage(), "NoSuchKey") {
			t.Fatalf("got %v, want *types.InvalidParameterValueException naming NoSuchKey", err)
		}
	})

	t.Run("PublishVersion", func(t *testing.T) {
		// Same code as version 1: Lambda returns the existing version.
		out, err := lc.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("prod-sentiment-ingestion")})
		mustNoErr(t, err, "PublishVersion")
		if got := aws.ToString(out.Version); got != "1" {
			t.Errorf("unchanged code: got version %q, want 1", got)
		}
		_, err = lc.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: aws.String("prod-sentiment-ingestion"),
			ZipFile:      []byte("PK\x03\x04 model v43"),
		})
		mustNoErr(t, err, "UpdateFunctionCode zip")
		clock.Advance(time.Minute)
		out, err = lc.PublishVersion(ctx, &lambda.PublishVersionInput{
			FunctionName: aws.String("prod-sentiment-ingestion"),
			Description:  aws.String("v43"),
		})
		mustNoErr(t, err, "PublishVersion")
		if got := aws.ToString(out.Version); got != "2" {
			t.Errorf("new code: got version %q, want 2", got)
		}
		f, ok := srv.Function("prod-sentiment-ingestion")
		if !ok || len(f.Published) != 2 || f.Published[1].Description != "v43" {
			t.Errorf("world: got %+v, want two published versions, the second v43", f.Published)
		}
	})
}

func TestLambdaErrorShapeWithoutSDK(t *testing.T) {
	srv := mustServer(t, awsfake.Options{})
	resp, err := http.Get(srv.URL() + "/2015-03-31/functions/nope")
	mustNoErr(t, err, "GET")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" {
		t.Errorf("got %d %q %s, want 404 with X-Amzn-ErrorType ResourceNotFoundException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
	}
	if !strings.Contains(string(body), fmt.Sprintf("%q", "Message")) {
		t.Errorf("body: got %s, want a Message field", body)
	}
}
