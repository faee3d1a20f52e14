package awsfake_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/medic-ops/medic/sandbox/awsfake"
)

func TestSecretsManager(t *testing.T) {
	srv := mustServer(t, awsfake.Options{})
	sm := secretsmanager.NewFromConfig(mustConfig(t, srv))
	ctx := context.Background()
	const value = `{"password":"hunter2-do-not-log"}`
	srv.PutSecret("prod/sentiment/db", value)
	srv.PutSecret("prod/sentiment/api-key", "k-123")
	srv.PutSecret("preprod/sentiment/db", "pre")
	srv.PutSecret("prod/sentiment/denied", "nope")
	srv.DenySecret("prod/sentiment/denied")

	t.Run("GetSecretValue by name and ARN", func(t *testing.T) {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/sentiment/db")})
		mustNoErr(t, err, "GetSecretValue")
		if aws.ToString(out.SecretString) != value || !slices.Equal(out.VersionStages, []string{"AWSCURRENT"}) {
			t.Errorf("got %q %v, want the value, AWSCURRENT", aws.ToString(out.SecretString), out.VersionStages)
		}
		byARN, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN})
		mustNoErr(t, err, "GetSecretValue by ARN")
		if aws.ToString(byARN.Name) != "prod/sentiment/db" {
			t.Errorf("by ARN: got %q, want prod/sentiment/db", aws.ToString(byARN.Name))
		}
	})

	t.Run("GetSecretValue denied", func(t *testing.T) {
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/sentiment/denied")})
		wantCode(t, err, "AccessDeniedException")
	})

	t.Run("GetSecretValue unknown", func(t *testing.T) {
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
		var nf *smtypes.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("got %v, want *types.ResourceNotFoundException", err)
		}
	})

	t.Run("ListSecrets by prefix with paging", func(t *testing.T) {
		var names []string
		p := secretsmanager.NewListSecretsPaginator(sm, &secretsmanager.ListSecretsInput{
			Filters:    []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"prod/"}}},
			MaxResults: aws.Int32(2),
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			mustNoErr(t, err, "ListSecrets")
			for _, s := range out.SecretList {
				names = append(names, aws.ToString(s.Name))
			}
		}
		want := []string{"prod/sentiment/api-key", "prod/sentiment/db", "prod/sentiment/denied"}
		if !slices.Equal(names, want) {
			t.Errorf("got %v, want %v", names, want)
		}
	})

	t.Run("DescribeSecret", func(t *testing.T) {
		out, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("prod/sentiment/db")})
		mustNoErr(t, err, "DescribeSecret")
		if aws.ToString(out.Name) != "prod/sentiment/db" || len(out.VersionIdsToStages) != 1 || out.LastAccessedDate == nil {
			t.Errorf("got %q, stages %v, last accessed %v; want the secret, one version, accessed today", aws.ToString(out.Name), out.VersionIdsToStages, out.LastAccessedDate)
		}
	})

	t.Run("deleted secret", func(t *testing.T) {
		srv.DeleteSecret("preprod/sentiment/db")
		_, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("preprod/sentiment/db")})
		wantCode(t, err, "ResourceNotFoundException")
	})

	for _, m := range srv.Mutations() {
		if strings.Contains(m.Input, "hunter2") {
			t.Errorf("mutation log holds the secret value: %+v", m)
		}
	}
}

func TestS3(t *testing.T) {
	srv := mustServer(t, awsfake.Options{})
	s3c := s3.NewFromConfig(mustConfig(t, srv), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	mustNoErr(t, srv.PutObject("artifacts", "sentiment/v41.zip", []byte("v41")), "seeding")
	mustNoErr(t, srv.PutObject("artifacts", "sentiment/v42.zip", []byte("v42!")), "seeding")
	mustNoErr(t, srv.PutObject("artifacts", "other/readme", []byte("x")), "seeding")

	t.Run("HeadObject found", func(t *testing.T) {
		out, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("sentiment/v42.zip")})
		mustNoErr(t, err, "HeadObject")
		if aws.ToInt64(out.ContentLength) != 4 {
			t.Errorf("length: got %d, want 4", aws.ToInt64(out.ContentLength))
		}
	})

	t.Run("HeadObject NotFound", func(t *testing.T) {
		_, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("sentiment/v99.zip")})
		var nf *s3types.NotFound
		if !errors.As(err, &nf) {
			t.Fatalf("got %v, want *types.NotFound", err)
		}
	})

	t.Run("ListObjectsV2", func(t *testing.T) {
		out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("artifacts"), Prefix: aws.String("sentiment/")})
		mustNoErr(t, err, "ListObjectsV2")
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if !slices.Equal(keys, []string{"sentiment/v41.zip", "sentiment/v42.zip"}) {
			t.Errorf("got %v, want the two sentiment packages", keys)
		}
	})

	t.Run("PutObject through the SDK", func(t *testing.T) {
		body := []byte("uploaded by medic")
		_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String("medic/note.txt"), Body: bytes.NewReader(body)})
		mustNoErr(t, err, "PutObject")
		obj, err := srv.Backend().GetObject("artifacts", "medic/note.txt", nil)
		mustNoErr(t, err, "backend GetObject")
		defer obj.Contents.Close()
		got, _ := io.ReadAll(obj.Contents)
		if !bytes.Equal(got, body) {
			t.Errorf("stored: got %q, want %q", got, body)
		}
		ms := srv.Mutations()
		if len(ms) != 1 || ms[0].Op != "s3:PutObject" || ms[0].Input != `{"Bucket":"artifacts","Key":"medic/note.txt"}` {
			t.Errorf("mutations: got %+v, want one s3:PutObject of artifacts/medic/note.txt", ms)
		}
	})
}

func TestIAM(t *testing.T) {
	srv := mustServer(t, awsfake.Options{})
	ic := iam.NewFromConfig(mustConfig(t, srv))
	ctx := context.Background()
	doc := `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:prod/*"}]}`
	srv.PutUserPolicy("ci-deployer", "read-secrets", doc)
	srv.PutUserPolicy("ci-deployer", "deploy-lambda", `{"Version":"2012-10-17","Statement":[]}`)
	srv.PutUser("nobody")

	t.Run("GetUserPolicy document stays URL-encoded", func(t *testing.T) {
		out, err := ic.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("ci-deployer"), PolicyName: aws.String("read-secrets")})
		mustNoErr(t, err, "GetUserPolicy")
		raw := aws.ToString(out.PolicyDocument)
		if raw == doc || !strings.HasPrefix(raw, "%7B%22Version%22%3A%20%222012-10-17%22") {
			t.Errorf("document: got %q, want it percent-encoded", raw)
		}
		decoded, err := url.QueryUnescape(raw)
		mustNoErr(t, err, "QueryUnescape")
		if decoded != doc {
			t.Errorf("decoded: got %q, want %q", decoded, doc)
		}
	})

	t.Run("ListUserPolicies", func(t *testing.T) {
		out, err := ic.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("ci-deployer")})
		mustNoErr(t, err, "ListUserPolicies")
		if !slices.Equal(out.PolicyNames, []string{"deploy-lambda", "read-secrets"}) || out.IsTruncated {
			t.Errorf("got %v truncated=%v, want both policies, not truncated", out.PolicyNames, out.IsTruncated)
		}
		page, err := ic.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("ci-deployer"), MaxItems: aws.Int32(1)})
		mustNoErr(t, err, "ListUserPolicies")
		if !page.IsTruncated || page.Marker == nil {
			t.Errorf("MaxItems 1: got truncated=%v marker=%v, want a marker", page.IsTruncated, page.Marker)
		}
		empty, err := ic.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("nobody")})
		mustNoErr(t, err, "ListUserPolicies")
		if len(empty.PolicyNames) != 0 {
			t.Errorf("user without policies: got %v, want none", empty.PolicyNames)
		}
	})

	t.Run("NoSuchEntity", func(t *testing.T) {
		_, err := ic.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("ci-deployer"), PolicyName: aws.String("nope")})
		var nse *iamtypes.NoSuchEntityException
		if !errors.As(err, &nse) || nse.ErrorCode() != "NoSuchEntity" || !strings.Contains(nse.ErrorMessage(), "nope") {
			t.Fatalf("got %v, want *types.NoSuchEntityException (NoSuchEntity) naming the policy", err)
		}
		_, err = ic.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("ghost")})
		wantCode(t, err, "NoSuchEntity")
	})
}

func TestSTSAssumeRoleThenLambda(t *testing.T) {
	clock := newTestClock()
	srv := mustServer(t, awsfake.Options{Now: clock.Now})
	srv.PutFunction(awsfake.Function{Name: "prod-sentiment-analysis"})
	base := mustConfig(t, srv)
	ctx := context.Background()
	const role = "arn:aws:iam::123456789012:role/medic-prod"

	cfg := base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), role,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "medic-incident-42" }))
	lc := lambda.NewFromConfig(cfg)
	for range 2 {
		_, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("prod-sentiment-analysis")})
		mustNoErr(t, err, "GetFunction with assumed credentials")
	}
	if got := srv.AssumedRoles(); !slices.Equal(got, []string{role}) {
		t.Errorf("assumed roles: got %v, want [%s] (credentials cached)", got, role)
	}
	var lambdaCalls int
	for _, c := range srv.Calls() {
		if c.Op == "lambda:GetFunction" {
			lambdaCalls++
			if c.Role != role || !strings.HasPrefix(c.AccessKeyID, "ASIA") {
				t.Errorf("call %+v: got role %q key %q, want %s with an ASIA key", c, c.Role, c.AccessKeyID, role)
			}
		}
	}
	if lambdaCalls != 2 {
		t.Errorf("lambda calls: got %d, want 2", lambdaCalls)
	}

	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNoErr(t, err, "GetCallerIdentity")
	if got, want := aws.ToString(who.Arn), "arn:aws:sts::123456789012:assumed-role/medic-prod/medic-incident-42"; got != want {
		t.Errorf("caller: got %q, want %q", got, want)
	}

	srv.DenyRole("arn:aws:iam::123456789012:role/medic-denied")
	_, err = sts.NewFromConfig(base).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::123456789012:role/medic-denied"), RoleSessionName: aws.String("medic"),
	})
	wantCode(t, err, "AccessDenied")
}

// TestAccessKeyIDOnly: with Options.AccessKeyID, the server takes requests signed with
// that key or with the keys its STS issued for it, and answers any other 403.
func TestAccessKeyIDOnly(t *testing.T) {
	srv := mustServer(t, awsfake.Options{AccessKeyID: "AKIADRILLONLY0000001"})
	srv.PutFunction(awsfake.Function{Name: "prod-sentiment-analysis"})
	ctx := context.Background()
	get := func(cfg aws.Config) error {
		_, err := lambda.NewFromConfig(cfg).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("prod-sentiment-analysis")})
		return err
	}
	other := mustConfig(t, srv) // signed with AKIDSANDBOX
	if err := get(other); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("another key: got %v, want 403", err)
	}
	if n := len(srv.Mutations()); n != 0 {
		t.Errorf("%d mutations recorded for a refused key", n)
	}
	own := mustConfig(t, srv, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIADRILLONLY0000001", "secret", "")))
	mustNoErr(t, get(own), "GetFunction with the server's key")
	assumed := own.Copy()
	assumed.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(own), "arn:aws:iam::123456789012:role/medic-prod"))
	mustNoErr(t, get(assumed), "GetFunction with credentials its STS issued")
}
