package tfstate_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/medic-ops/medic/deploy/terraform"
	"github.com/medic-ops/medic/internal/tftest"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/tfstate"
)

// stateV4 is a minimal state as Terraform writes it.
const stateV4 = `{"version":4,"terraform_version":"1.5.7","serial":3,"lineage":"l-1","outputs":{},"resources":[
 {"mode":"managed","type":"terraform_data","name":"lambda","provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[
  {"index_key":"ingestion","schema_version":0,"attributes":{"id":"a1","input":{"value":{"function":"prod-sentiment-ingestion","s3_key":"ingestion/lambda-abc.zip"},"type":["object",{"function":"string","s3_key":"string"}]}}}]},
 {"mode":"managed","type":"terraform_data","name":"gate","provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[
  {"index_key":0,"schema_version":0,"attributes":{"id":"g0","input":null}}]},
 {"module":"module.net","mode":"managed","type":"terraform_data","name":"vpc","provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[
  {"schema_version":0,"attributes":{"id":"v1","input":{"value":"10.0.0.0/16","type":"string"}}}]},
 {"mode":"data","type":"terraform_remote_state","name":"shared","provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[
  {"schema_version":0,"attributes":{"backend":"http"}}]}
]}`

// call is one HTTP request of a protocol step and the status it must get.
type call struct {
	method, path, body string
	header             map[string]string
	wantStatus         int
	// wantHolder, when set, is the lock ID the answer's LockInfo body must name.
	wantHolder string
	// wantBody, when set, is the exact answer body.
	wantBody string
}

func lockBody(id string) string {
	b, _ := json.Marshal(tfstate.LockInfo{ID: id, Operation: "OperationTypeApply", Who: "me@host", Version: "1.5.7", Created: time.Unix(1700000000, 0).UTC()})
	return string(b)
}

// tofuForceUnlockBody is what `tofu force-unlock <id>` sends: OpenTofu's
// statemgr.LockInfo{ID: id}, marshalled with its zero fields.
func tofuForceUnlockBody(id string) string {
	return `{"ID":"` + id + `","Operation":"","Info":"","Who":"","Version":"","Created":"0001-01-01T00:00:00Z","Path":""}`
}

func md5Header(body string) map[string]string {
	sum := md5.Sum([]byte(body))
	return map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}
}

func TestProtocol(t *testing.T) {
	tests := []struct {
		name  string
		calls []call
		// wantLock is the lock held at the end ("" for none); wantForced the forced
		// unlocks; wantState the stored state.
		wantLock   string
		wantForced int
		wantState  string
	}{
		{name: "empty state is 204", calls: []call{{method: "GET", path: "/state/prod", wantStatus: 204}}},
		{name: "store and read back", calls: []call{
			{method: "POST", path: "/state/prod", body: `{"version":4}`, header: md5Header(`{"version":4}`), wantStatus: 200},
			{method: "GET", path: "/state/prod", wantStatus: 200, wantBody: `{"version":4}`},
		}, wantState: `{"version":4}`},
		{name: "lock, write with the ID, unlock", calls: []call{
			{method: "LOCK", path: "/state/prod", body: lockBody("a"), wantStatus: 200},
			{method: "POST", path: "/state/prod?ID=a", body: `{"version":4}`, wantStatus: 200},
			{method: "UNLOCK", path: "/state/prod", body: lockBody("a"), wantStatus: 200},
		}, wantState: `{"version":4}`},
		{name: "a contender gets 423 and the holder's LockInfo", calls: []call{
			{method: "LOCK", path: "/state/prod", body: lockBody("a"), wantStatus: 200},
			{method: "LOCK", path: "/state/prod", body: lockBody("b"), wantStatus: 423, wantHolder: "a"},
		}, wantLock: "a"},
		{name: "writes without the holder's ID are refused", calls: []call{
			{method: "LOCK", path: "/state/prod", body: lockBody("a"), wantStatus: 200},
			{method: "POST", path: "/state/prod?ID=b", body: `{"version":4}`, wantStatus: 423, wantHolder: "a"},
			{method: "POST", path: "/state/prod", body: `{"version":4}`, wantStatus: 423, wantHolder: "a"},
		}, wantLock: "a"},
		{name: "unlock by another ID is refused", calls: []call{
			{method: "LOCK", path: "/state/prod", body: lockBody("a"), wantStatus: 200},
			{method: "UNLOCK", path: "/state/prod", body: lockBody("b"), wantStatus: 409, wantHolder: "a"},
		}, wantLock: "a"},
		{name: "force-unlock (empty body) releases any lock", calls: []call{
			{method: "LOCK", path: "/state/prod", body: lockBody("a"), wantStatus: 200},
			{method: "UNLOCK", path: "/state/prod", wantStatus: 200},
			{method: "LOCK", path: "/state/prod", body: lockBody("b"), wantStatus: 200},
		}, wantLock: "b", wantForced: 1},
		// OpenTofu's force-unlock sends its LockInfo with only the ID set.
		{name: "OpenTofu's force-unlock (the holder's bare ID) releases it", calls: []call{
			{method: "LOCK", path: "/state/prod", body: lockBody("a"), wantStatus: 200},
			{method: "UNLOCK", path: "/state/prod", body: tofuForceUnlockBody("a"), wantStatus: 200},
		}, wantForced: 1},
		{name: "OpenTofu's force-unlock with another ID is refused", calls: []call{
			{method: "LOCK", path: "/state/prod", body: lockBody("a"), wantStatus: 200},
			{method: "UNLOCK", path: "/state/prod", body: tofuForceUnlockBody("b"), wantStatus: 409, wantHolder: "a"},
		}, wantLock: "a"},
		{name: "force-unlock without a lock changes nothing", calls: []call{
			{method: "UNLOCK", path: "/state/prod", wantStatus: 200},
		}},
		{name: "locks are per environment", calls: []call{
			{method: "LOCK", path: "/state/preprod", body: lockBody("p"), wantStatus: 200},
			{method: "LOCK", path: "/state/prod", body: lockBody("a"), wantStatus: 200},
		}, wantLock: "a"},
		{name: "bad requests", calls: []call{
			{method: "LOCK", path: "/state/prod", body: `{}`, wantStatus: 400},
			{method: "LOCK", path: "/state/prod", body: `not json`, wantStatus: 400},
			{method: "POST", path: "/state/prod", body: `{"version":4}`, header: map[string]string{"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}, wantStatus: 400},
			{method: "POST", path: "/state/prod", body: `not json`, wantStatus: 400},
			{method: "PUT", path: "/state/prod", body: `{}`, wantStatus: 405},
			{method: "GET", path: "/state/a/b", wantStatus: 404},
			{method: "GET", path: "/other", wantStatus: 404},
		}},
		{name: "delete", calls: []call{
			{method: "POST", path: "/state/prod", body: `{"version":4}`, wantStatus: 200},
			{method: "DELETE", path: "/state/prod", wantStatus: 200},
			{method: "GET", path: "/state/prod", wantStatus: 204},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tfstate.New(nil)
			defer srv.Close()
			for i, c := range tt.calls {
				status, body := mustDo(t, srv.URL(), c)
				if status != c.wantStatus {
					t.Fatalf("call %d %s %s: got status %d (%s), want %d", i, c.method, c.path, status, body, c.wantStatus)
				}
				if c.wantHolder != "" {
					var info tfstate.LockInfo
					if err := json.Unmarshal([]byte(body), &info); err != nil || info.ID != c.wantHolder {
						t.Errorf("call %d %s: got body %s, want the holder's LockInfo with ID %q", i, c.method, body, c.wantHolder)
					}
				}
				if c.wantBody != "" && body != c.wantBody {
					t.Errorf("call %d %s: got body %q, want %q", i, c.method, body, c.wantBody)
				}
			}
			lock, held := srv.Lock("prod")
			if got := map[bool]string{true: lock.ID}[held]; got != tt.wantLock {
				t.Errorf("got lock %q (held %v), want %q", lock.ID, held, tt.wantLock)
			}
			if got := srv.ForcedUnlocks("prod"); got != tt.wantForced {
				t.Errorf("got %d forced unlocks, want %d", got, tt.wantForced)
			}
			if got := string(srv.State("prod")); got != tt.wantState {
				t.Errorf("got state %q, want %q", got, tt.wantState)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	faults := fault.New()
	srv := tfstate.New(faults)
	defer srv.Close()
	faults.Set("tfstate:LOCK", fault.Rule{Err: &fault.Error{Status: 503, Code: "Unavailable", Message: "try later", RetryAfter: 1500 * time.Millisecond}, Times: 1})

	req, _ := http.NewRequest("LOCK", srv.Address("prod"), strings.NewReader(lockBody("a")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("faulted LOCK: got %d Retry-After %q, want 503 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if _, held := srv.Lock("prod"); held {
		t.Errorf("faulted LOCK took the lock, want it refused before any work")
	}
	status, body := mustDo(t, srv.URL(), call{method: "LOCK", path: "/state/prod", body: lockBody("a")})
	if status != 200 {
		t.Errorf("LOCK after the one-time fault: got %d (%s), want 200", status, body)
	}
	if got := faults.Calls("tfstate:LOCK"); got != 2 {
		t.Errorf("got %d tfstate:LOCK calls, want 2", got)
	}
}

func TestHoldAndResources(t *testing.T) {
	srv := tfstate.New(nil)
	defer srv.Close()
	held := srv.Hold("prod", tfstate.LockInfo{Who: "runner@ci-7"})
	if held.ID == "" || held.Operation != "OperationTypeApply" || held.Created.IsZero() || held.Who != "runner@ci-7" {
		t.Errorf("Hold: got %+v, want an ID, OperationTypeApply, a creation time and the given Who", held)
	}
	status, body := mustDo(t, srv.URL(), call{method: "LOCK", path: "/state/prod", body: lockBody("mine")})
	if status != 423 || !strings.Contains(body, held.ID) {
		t.Errorf("LOCK against a held lock: got %d %s, want 423 naming %s", status, body, held.ID)
	}

	srv.PutState("prod", []byte(stateV4))
	rs, err := srv.Resources("prod")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Address+"="+r.ID)
	}
	want := []string{`terraform_data.lambda["ingestion"]=a1`, `terraform_data.gate[0]=g0`, `module.net.terraform_data.vpc=v1`, `data.terraform_remote_state.shared=`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Resources: got %v, want %v", got, want)
	}
	if rs[0].InputString("s3_key") != "ingestion/lambda-abc.zip" || rs[2].Input != "10.0.0.0/16" || rs[1].Input != nil {
		t.Errorf("inputs: got %v, %v, %v; want the object, nil and the string", rs[0].Input, rs[1].Input, rs[2].Input)
	}
	if _, err := tfstate.ParseResources([]byte(`{"version":3}`)); err == nil {
		t.Errorf("ParseResources of a version 3 state: got no error, want one")
	}
	if rs, err := srv.Resources("dev"); err != nil || rs != nil {
		t.Errorf("Resources without a state: got %v, %v; want nil, nil", rs, err)
	}
}

// TestConcurrentLockers has many clients race for one lock: exactly one wins.
func TestConcurrentLockers(t *testing.T) {
	srv := tfstate.New(nil)
	defer srv.Close()
	const n = 16
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := mustDo(t, srv.URL(), call{method: "LOCK", path: "/state/prod", body: lockBody(string(rune('a' + i)))})
			statuses <- status
		}()
	}
	wg.Wait()
	close(statuses)
	granted := 0
	for s := range statuses {
		if s == 200 {
			granted++
		}
	}
	if granted != 1 {
		t.Errorf("got %d granted locks, want 1", granted)
	}
}

// TestRealTerraform runs the real terraform and tofu binaries against the server: apply stores a
// state, a held lock makes apply fail naming the holder after "ID=", and force-unlock
// sends an empty UNLOCK that releases it.
func TestRealTerraform(t *testing.T) {
	for _, cli := range tftest.CLIs() {
		t.Run(cli.Name, func(t *testing.T) { testRealTerraform(t, cli, cli.Binary(t)) })
	}
}

func testRealTerraform(t *testing.T, cli tftest.CLI, bin string) {
	faults := fault.New()
	srv := tfstate.New(faults)
	defer srv.Close()
	dir := t.TempDir()
	main := `terraform {
  backend "http" {}
}
variable "v" { type = string }
resource "terraform_data" "x" {
  input = { version = var.v }
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(rc, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := tfexec.NewTerraform(dir, bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := tf.SetEnv(map[string]string{"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": rc}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var opts []tfexec.InitOption
	for _, kv := range srv.BackendConfig("dev") {
		opts = append(opts, tfexec.BackendConfig(kv))
	}
	if err := tf.Init(ctx, opts...); err != nil {
		t.Fatalf("init: %v", err)
	}
	if err := tf.Apply(ctx, tfexec.Var("v=one")); err != nil {
		t.Fatalf("apply: %v", err)
	}
	rs, err := srv.Resources("dev")
	if err != nil || len(rs) != 1 || rs[0].Address != "terraform_data.x" || rs[0].InputString("version") != "one" {
		t.Fatalf("state after apply: got %+v, %v; want terraform_data.x with version one", rs, err)
	}
	if _, held := srv.Lock("dev"); held {
		t.Errorf("after apply: the lock is still held, want it released")
	}
	for _, op := range []string{"tfstate:GET", "tfstate:LOCK", "tfstate:POST", "tfstate:UNLOCK"} {
		if faults.Calls(op) == 0 {
			t.Errorf("terraform made no %s call, want at least one", op)
		}
	}

	held := srv.Hold("dev", tfstate.LockInfo{})
	err = tf.Apply(ctx, tfexec.Var("v=two"))
	if err == nil || !strings.Contains(err.Error(), "already locked:\nID="+held.ID) {
		t.Fatalf("apply under a held lock: got %v, want the holder's ID after \"already locked:\\nID=\"", err)
	}
	// Terraform's force-unlock does not send the ID it was given (the server releases
	// any lock); OpenTofu's sends it, and a wrong one is refused.
	if cli.Product == terraform.CLIOpenTofu {
		if err := tf.ForceUnlock(ctx, "0e9a5c1b-2d3f-4a6b-8c7d-000000000000"); err == nil {
			t.Errorf("tofu force-unlock with another ID: got no error, want it refused")
		}
		if _, stillHeld := srv.Lock("dev"); !stillHeld || srv.ForcedUnlocks("dev") != 0 {
			t.Errorf("after tofu force-unlock with another ID: held %v, forced %d; want still held, 0", stillHeld, srv.ForcedUnlocks("dev"))
		}
	}
	if err := tf.ForceUnlock(ctx, held.ID); err != nil {
		t.Fatalf("force-unlock: %v", err)
	}
	if _, stillHeld := srv.Lock("dev"); stillHeld || srv.ForcedUnlocks("dev") != 1 {
		t.Errorf("after force-unlock: held %v, forced %d; want released and 1", stillHeld, srv.ForcedUnlocks("dev"))
	}
	if err := tf.Apply(ctx, tfexec.Var("v=two")); err != nil {
		t.Fatalf("apply after force-unlock: %v", err)
	}
	if rs, _ := srv.Resources("dev"); len(rs) != 1 || rs[0].InputString("version") != "two" {
		t.Errorf("state after the second apply: got %+v, want version two", rs)
	}
}

func mustDo(tb testing.TB, base string, c call) (int, string) {
	tb.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		tb.Errorf("building %s %s: %v", c.method, c.path, err)
		return 0, ""
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Errorf("%s %s: %v", c.method, c.path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(b))
}

// TestRequireCredentials: with credentials required, a request without them (or with
// others) is answered 401 and changes nothing; the backend config carries them.
func TestRequireCredentials(t *testing.T) {
	srv := tfstate.New(nil)
	t.Cleanup(srv.Close)
	srv.RequireCredentials("medic", "drill-password")
	post := func(user, password string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.Address("prod"), strings.NewReader(stateV4))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range [][2]string{{"", ""}, {"medic", "wrong"}, {"other", "drill-password"}} {
		if got := post(c[0], c[1]); got != http.StatusUnauthorized {
			t.Errorf("POST as %q/%q: %d, want 401", c[0], c[1], got)
		}
	}
	if len(srv.State("prod")) != 0 {
		t.Fatal("a refused POST wrote the state")
	}
	if got := post("medic", "drill-password"); got != http.StatusOK {
		t.Errorf("POST with the credentials: %d, want 200", got)
	}
	cfg := strings.Join(srv.BackendConfig("prod"), " ")
	if !strings.Contains(cfg, "username=medic") || !strings.Contains(cfg, "password=drill-password") {
		t.Errorf("backend config %q lacks the credentials", cfg)
	}
}
