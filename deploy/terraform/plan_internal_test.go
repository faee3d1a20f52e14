package terraform

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadPlanTakesOnlyARegularFile: what Terraform started could put a link (to
// /proc/self/environ, medic's) or a FIFO where the plan should be; medic reads neither.
func TestReadPlanTakesOnlyARegularFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tfplan")
	if err := os.WriteFile(good, []byte("PK plan"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := readPlan(good); err != nil || string(b) != "PK plan" {
		t.Fatalf("a plan file: got %q, %v", b, err)
	}
	link := filepath.Join(dir, "link.tfplan")
	if err := os.Symlink("/proc/self/environ", link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.tfplan")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, fifo, dir} {
		if b, err := readPlan(p); err == nil {
			t.Errorf("%s: read %d bytes, want it refused", filepath.Base(p), len(b))
		}
	}
}

// TestCheckPlanArchive: a plan that is not a zip, or that unpacks to more than medic
// would hold in memory when Terraform shows it, is refused before show runs.
func TestCheckPlanArchive(t *testing.T) {
	mk := func(size int) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("tfplan")
		chunk := make([]byte, 1<<20)
		for n := 0; n < size; n += len(chunk) {
			w.Write(chunk[:min(len(chunk), size-n)])
		}
		zw.Close()
		return buf.Bytes()
	}
	if err := checkPlanArchive(mk(1 << 20)); err != nil {
		t.Errorf("a 1 MiB plan: %v", err)
	}
	bomb := mk(maxPlanUnpacked + 1)
	if len(bomb) > 2<<20 {
		t.Fatalf("the bomb is %d bytes compressed", len(bomb))
	}
	if err := checkPlanArchive(bomb); err == nil || !strings.Contains(err.Error(), "unpacks to more than") {
		t.Errorf("a plan unpacking past the limit: got %v", err)
	}
	if err := checkPlanArchive([]byte("not a zip")); err == nil {
		t.Error("a file that is not a plan was taken")
	}
}
