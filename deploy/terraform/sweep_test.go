package terraform_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/medic-ops/medic/deploy/terraform"
)

// TestWorkRootIsSweptAndPrivate: a Runner starting sweeps the workspaces of processes
// that are gone (their lock is free, or they never took one and are old), keeps those in
// use and those being made, and refuses a work root others may write in or that is
// another user's.
func TestWorkRootIsSweptAndPrivate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "work")
	mk := func(name string, lock bool, age time.Duration) string {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(dir, "out"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "out", "medic.tfplan"), []byte("state with secrets"), 0o600); err != nil {
			t.Fatal(err)
		}
		if lock {
			if err := os.WriteFile(filepath.Join(dir, ".lock"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dead := mk("prod-1111111-dead", true, time.Minute)
	live := mk("prod-2222222-live", true, time.Hour)
	f, err := os.OpenFile(filepath.Join(live, ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	stale := mk("prod-3333333-nolock", false, time.Hour)
	young := mk("prod-4444444-making", false, 0)
	if err := os.Chmod(root, 0o700); err != nil {
		t.Fatal(err)
	}
	mustRunner(t, terraform.Options{ExecPath: mustFakeTerraform(t, "1.5.7"), Archives: mapArchives{}, WorkRoot: root})
	for dir, want := range map[string]bool{dead: false, live: true, stale: false, young: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
	if fi, _ := os.Stat(root); fi.Mode().Perm() != 0o700 {
		t.Errorf("work root mode %o, want 700", fi.Mode().Perm())
	}

	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err = terraform.New(terraform.Options{ExecPath: mustFakeTerraform(t, "1.5.7"), Archives: mapArchives{}, WorkRoot: root})
	if err == nil || !strings.Contains(err.Error(), "others may write in it") {
		t.Errorf("a work root others may write in: got %v, want it refused", err)
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(t.TempDir(), "theirs")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		_, err := terraform.New(terraform.Options{ExecPath: mustFakeTerraform(t, "1.5.7"), Archives: mapArchives{}, WorkRoot: other})
		if err == nil || !strings.Contains(err.Error(), "belongs to user 65534") {
			t.Errorf("another user's work root: got %v, want it refused", err)
		}
	}
}
