package awsfake_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/medic-ops/medic/internal/tftest"
	"github.com/medic-ops/medic/sandbox/awsfake"
)

func TestS3BackendConfig(t *testing.T) {
	const url = "http://127.0.0.1:4566"
	common := []string{"bucket=tfstate", "key=prod/terraform.tfstate", "region=us-east-1", "dynamodb_table=locks"}
	skips := []string{"skip_metadata_api_check=true", "skip_region_validation=true"}
	flat := []string{
		"endpoint=" + url, "dynamodb_endpoint=" + url, "sts_endpoint=" + url, "iam_endpoint=" + url, "force_path_style=true",
	}
	endpoints := []string{
		`endpoints={s3="` + url + `",dynamodb="` + url + `",sts="` + url + `",iam="` + url + `"}`, "use_path_style=true",
	}
	tests := []struct {
		version string
		want    []string
	}{
		{"1.5.7", slices.Concat(common, flat, skips)},
		{"v1.5.7", slices.Concat(common, flat, skips)},
		{"1.6.0-alpha20230816", slices.Concat(common, endpoints, skips)},
		{"1.6.0", slices.Concat(common, endpoints, skips)},
		{"1.11.4", slices.Concat(common, endpoints, skips)},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			got, err := awsfake.S3BackendConfig(tt.version, url, "tfstate", "prod/terraform.tfstate", "locks", "us-east-1")
			mustNoErr(t, err, "S3BackendConfig")
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}

	t.Run("no lock table", func(t *testing.T) {
		got, err := awsfake.S3BackendConfig("1.11.4", url, "tfstate", "k", "", "us-east-1")
		mustNoErr(t, err, "S3BackendConfig")
		for _, kv := range got {
			if strings.HasPrefix(kv, "dynamodb_table=") {
				t.Errorf("got %q, want no dynamodb_table", got)
			}
		}
	})

	bad := []struct {
		name                                   string
		version, endpoint, bucket, key, region string
	}{
		{"bad version", "latest", url, "b", "k", "r"},
		{"relative endpoint", "1.5.7", "127.0.0.1:4566", "b", "k", "r"},
		{"ftp endpoint", "1.5.7", "ftp://127.0.0.1", "b", "k", "r"},
		{"quote in endpoint", "1.11.4", `http://127.0.0.1/"x`, "b", "k", "r"},
		{"template in endpoint", "1.11.4", "http://127.0.0.1/${x}", "b", "k", "r"},
		{"no bucket", "1.5.7", url, "", "k", "r"},
		{"no key", "1.5.7", url, "b", "", "r"},
		{"no region", "1.5.7", url, "b", "k", ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := awsfake.S3BackendConfig(tt.version, tt.endpoint, tt.bucket, tt.key, "locks", tt.region); err == nil {
				t.Errorf("got %q, want an error", got)
			}
		})
	}
}

// TestS3BackendLockItem pins the bytes of a lock item's Info: those of Terraform's and
// OpenTofu's statemgr.LockInfo.Marshal, which OpenTofu compares before deleting it.
func TestS3BackendLockItem(t *testing.T) {
	item, err := awsfake.S3BackendLock{
		ID: "4f1c2a9e", Operation: "OperationTypeApply", Who: "ci@runner-7", Version: "1.12.6",
		Created: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Path: "medic-tfstate/prod/terraform.tfstate",
	}.Item()
	mustNoErr(t, err, "Item")
	want := awsfake.Item{
		"LockID": awsfake.S("medic-tfstate/prod/terraform.tfstate"),
		"Info": awsfake.S(`{"ID":"4f1c2a9e","Operation":"OperationTypeApply","Info":"","Who":"ci@runner-7",` +
			`"Version":"1.12.6","Created":"2026-01-02T03:04:05.123456789Z","Path":"medic-tfstate/prod/terraform.tfstate"}`),
	}
	if !reflect.DeepEqual(item, want) {
		t.Errorf("got %v, want %v", item, want)
	}
}

// tfS3Run is a terraform working directory whose backend is the sandbox's S3 and
// DynamoDB, run with nothing but the environment it is given.
type tfS3Run struct {
	t   *testing.T
	srv *awsfake.Server
	bin string
	dir string
	env []string
}

// tfResult is one terraform command: its exit error, output and the calls it made.
type tfResult struct {
	err   error
	out   string
	calls []awsfake.Call
}

func (r *tfS3Run) run(args ...string) tfResult {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	before := len(r.srv.Calls())
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	res := tfResult{err: err, out: string(out), calls: r.srv.Calls()[before:]}
	r.t.Logf("terraform %s: %v; calls %v", args[0], err, opsOf(res.calls))
	return res
}

func (r *tfS3Run) mustRun(args ...string) tfResult {
	r.t.Helper()
	res := r.run(args...)
	if res.err != nil {
		r.t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), res.err, res.out)
	}
	return res
}

func opsOf(calls []awsfake.Call) []string {
	var ops []string
	for _, c := range calls {
		ops = append(ops, c.Op)
	}
	return ops
}

// wantSignedBy checks that terraform made calls and signed every one with the
// temporary credentials of role.
func wantSignedBy(t *testing.T, res tfResult, role string) {
	t.Helper()
	if len(res.calls) == 0 {
		t.Errorf("terraform made no calls on the sandbox")
	}
	for _, c := range res.calls {
		if c.Role != role {
			t.Errorf("call %s signed by key %q (role %q), want role %s", c.Op, c.AccessKeyID, c.Role, role)
		}
	}
}

// lockItem returns the item of the lock table whose LockID is id.
func lockItem(t *testing.T, srv *awsfake.Server, table, id string) (awsfake.Item, bool) {
	t.Helper()
	tb, ok := srv.Table(table)
	if !ok {
		t.Fatalf("lock table %s is gone", table)
	}
	for _, it := range tb.Items {
		if it["LockID"].(map[string]any)["S"] == id {
			return it, true
		}
	}
	return nil, false
}

// TestTerraformS3Backend runs the real terraform and tofu with `backend "s3"` and a
// DynamoDB lock table against the sandbox, with credentials from the sandbox's STS
// AssumeRole. Run it against given binaries with MEDIC_TERRAFORM=/path/to/terraform and
// MEDIC_TOFU=/path/to/tofu.
func TestTerraformS3Backend(t *testing.T) {
	for _, cli := range tftest.CLIs() {
		t.Run(cli.Name, func(t *testing.T) { testTerraformS3Backend(t, cli.Binary(t)) })
	}
}

func testTerraformS3Backend(t *testing.T, bin string) {
	tfVersion, err := tftest.Version(bin)
	mustNoErr(t, err, "terraform version")
	t.Logf("terraform %s at %s", tfVersion, bin)

	const (
		bucket   = "medic-tfstate"
		key      = "prod/terraform.tfstate"
		table    = "medic-tf-locks"
		region   = "us-east-1"
		role     = "arn:aws:iam::123456789012:role/medic-terraform"
		lockPath = bucket + "/" + key
	)
	srv := mustServer(t, awsfake.Options{})
	mustNoErr(t, srv.CreateS3Backend(bucket, table), "CreateS3Backend")
	ctx := context.Background()
	base := mustConfig(t, srv)
	assumed, err := sts.NewFromConfig(base).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String("medic-terraform"),
	})
	mustNoErr(t, err, "AssumeRole")

	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "main.tf"), `terraform {
  backend "s3" {}
}

resource "terraform_data" "deploy" {
  input = "v42"
}
`)
	cliConfig := filepath.Join(t.TempDir(), "terraformrc")
	mustWrite(t, cliConfig, "")
	creds := assumed.Credentials
	r := &tfS3Run{t: t, srv: srv, bin: bin, dir: dir, env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"TF_CLI_CONFIG_FILE=" + cliConfig,
		"CHECKPOINT_DISABLE=1",
		"AWS_ACCESS_KEY_ID=" + aws.ToString(creds.AccessKeyId),
		"AWS_SECRET_ACCESS_KEY=" + aws.ToString(creds.SecretAccessKey),
		"AWS_SESSION_TOKEN=" + aws.ToString(creds.SessionToken),
		"AWS_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
	}}

	backend, err := awsfake.S3BackendConfig(tfVersion, srv.URL(), bucket, key, table, region)
	mustNoErr(t, err, "S3BackendConfig")
	initArgs := []string{"init", "-input=false", "-no-color"}
	for _, kv := range backend {
		initArgs = append(initArgs, "-backend-config="+kv)
	}
	var all []awsfake.Call
	for _, args := range [][]string{
		initArgs,
		{"plan", "-input=false", "-no-color", "-out=tfplan"},
		{"apply", "-input=false", "-no-color", "tfplan"},
	} {
		res := r.mustRun(args...)
		wantSignedBy(t, res, role)
		all = append(all, res.calls...)
	}

	// The state landed in the bucket, and its digest in the lock table.
	obj, err := srv.Backend().GetObject(bucket, key, nil)
	mustNoErr(t, err, "reading the state object")
	body, err := io.ReadAll(obj.Contents)
	mustNoErr(t, err, "reading the state object")
	var state struct {
		TerraformVersion string `json:"terraform_version"`
		Resources        []struct{ Type, Name string }
	}
	mustNoErr(t, json.Unmarshal(body, &state), "decoding the state")
	if state.TerraformVersion != tfVersion || len(state.Resources) != 1 ||
		state.Resources[0].Type != "terraform_data" || state.Resources[0].Name != "deploy" {
		t.Errorf("state: got %+v, want terraform %s with terraform_data.deploy", state, tfVersion)
	}
	sum := md5.Sum(body)
	if it, ok := lockItem(t, srv, table, lockPath+"-md5"); !ok || it["Digest"].(map[string]any)["S"] != hex.EncodeToString(sum[:]) {
		t.Errorf("digest item %s-md5: got %v, want Digest %x", lockPath, it, sum)
	}
	if it, ok := lockItem(t, srv, table, lockPath); ok {
		t.Errorf("lock item after apply: got %v, want none", it)
	}

	// Terraform's own lock item: LockID "<bucket>/<key>" and Info, the JSON of its lock
	// info, which a holder faked below copies.
	var lockInfo map[string]string
	for _, m := range srv.Mutations() {
		var in struct {
			ConditionExpression string
			Item                map[string]map[string]string
		}
		mustNoErr(t, json.Unmarshal([]byte(m.Input), &in), "decoding "+m.Op)
		if m.Op == "dynamodb:PutItem" && m.Status == 200 && in.ConditionExpression == "attribute_not_exists(LockID)" {
			if in.Item["LockID"]["S"] != lockPath {
				t.Errorf("lock item: got LockID %q, want %q", in.Item["LockID"]["S"], lockPath)
			}
			mustNoErr(t, json.Unmarshal([]byte(in.Item["Info"]["S"]), &lockInfo), "decoding the lock Info")
			break
		}
	}
	if got, want := slices.Sorted(maps.Keys(lockInfo)), []string{"Created", "ID", "Info", "Operation", "Path", "Version", "Who"}; !slices.Equal(got, want) ||
		lockInfo["Version"] != tfVersion || lockInfo["Path"] != lockPath || lockInfo["Operation"] != "OperationTypePlan" {
		t.Errorf("terraform's first lock Info: got %v, want keys %v, Version %s, Path %s, Operation OperationTypePlan", lockInfo, want, tfVersion, lockPath)
	}

	// A lock held by someone else: plan waits a second, then names the holder.
	// Written as the backend writes it: OpenTofu deletes the item only while its Info
	// is byte for byte what it reads and encodes again (S3BackendLock).
	holderLock := awsfake.S3BackendLock{
		ID: "4f1c2a9e-0d3b-4c55-9a77-holder000001", Operation: "OperationTypeApply",
		Who: "ci@runner-7", Version: tfVersion, Created: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Path: lockPath,
	}
	holder := map[string]string{"ID": holderLock.ID, "Who": holderLock.Who}
	item, err := holderLock.Item()
	mustNoErr(t, err, "encoding lock info")
	info := item["Info"].(map[string]any)["S"].(string)
	_, err = dynamodb.NewFromConfig(base).PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			"LockID": &types.AttributeValueMemberS{Value: lockPath},
			"Info":   &types.AttributeValueMemberS{Value: info},
		},
		ConditionExpression: aws.String("attribute_not_exists(LockID)"),
	})
	mustNoErr(t, err, "holding the lock")

	res := r.run("plan", "-input=false", "-no-color", "-lock-timeout=1s")
	wantSignedBy(t, res, role)
	all = append(all, res.calls...)
	if res.err == nil || !strings.Contains(res.out, "Error acquiring the state lock") ||
		!regexp.MustCompile(`ID:\s+`+regexp.QuoteMeta(holder["ID"])).MatchString(res.out) ||
		!strings.Contains(res.out, holder["Who"]) {
		t.Errorf("plan with a held lock: got %v\n%s\nwant an error acquiring the state lock naming ID %s and %s",
			res.err, res.out, holder["ID"], holder["Who"])
	}
	t.Logf("plan with a held lock said:\n%s", res.out)
	refused := 0
	for _, m := range srv.Mutations() {
		if m.Op == "dynamodb:PutItem" && m.Status == 400 {
			refused++
			if m.Role != role {
				t.Errorf("refused lock attempt signed for role %q, want %s", m.Role, role)
			}
		}
	}
	if refused == 0 {
		t.Errorf("mutations: got no refused dynamodb:PutItem, want terraform's lock attempt refused")
	}
	if it, ok := lockItem(t, srv, table, lockPath); !ok || it["Info"].(map[string]any)["S"] != info {
		t.Errorf("lock item after a refused plan: got %v, want the holder's", it)
	}

	// force-unlock checks the ID it is given against the holder's before deleting.
	res = r.run("force-unlock", "-force", "-no-color", "not-the-holder")
	wantSignedBy(t, res, role)
	all = append(all, res.calls...)
	if res.err == nil || !strings.Contains(res.out, holder["ID"]) {
		t.Errorf("force-unlock with a wrong ID: got %v\n%s\nwant an error naming the holder's ID %s", res.err, res.out, holder["ID"])
	}
	t.Logf("force-unlock with a wrong ID said:\n%s", res.out)
	if _, ok := lockItem(t, srv, table, lockPath); !ok {
		t.Errorf("lock item after force-unlock with a wrong ID: gone, want it kept")
	}

	res = r.mustRun("force-unlock", "-force", "-no-color", holder["ID"])
	wantSignedBy(t, res, role)
	all = append(all, res.calls...)
	if !strings.Contains(res.out, "successfully unlocked") {
		t.Errorf("force-unlock output: got %q, want it to say the state was successfully unlocked", res.out)
	}
	if it, ok := lockItem(t, srv, table, lockPath); ok {
		t.Errorf("lock item after force-unlock: got %v, want none", it)
	}

	res = r.mustRun("plan", "-input=false", "-no-color", "-lock-timeout=1s", "-detailed-exitcode")
	wantSignedBy(t, res, role)
	all = append(all, res.calls...)
	if !strings.Contains(res.out, "No changes.") {
		t.Errorf("plan after force-unlock: got\n%s\nwant No changes.", res.out)
	}
	if it, ok := lockItem(t, srv, table, lockPath); ok {
		t.Errorf("lock item after the last plan: got %v, want none", it)
	}

	// The operations the backend needs, whatever the version.
	seen := map[string]bool{}
	for _, c := range all {
		seen[c.Op] = true
	}
	t.Logf("operations terraform %s made: %v", tfVersion, slices.Sorted(maps.Keys(seen)))
	for _, op := range []string{
		"s3:PutObject", "s3:GetObject", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem",
	} {
		if !seen[op] {
			t.Errorf("terraform made no %s call; made %v", op, slices.Sorted(maps.Keys(seen)))
		}
	}
}

func mustWrite(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatalf("writing %s: %v", path, err)
	}
}
