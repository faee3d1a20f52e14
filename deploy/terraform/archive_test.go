package terraform

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// TarEntry is one entry of a test archive (exported for the package's external tests).
type TarEntry struct {
	Name, Body, Link string
	// Type is the tar type flag; default a regular file.
	Type byte
}

// MustTarball builds a gzip'd tar of entries.
func MustTarball(tb testing.TB, entries ...TarEntry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.Name, Typeflag: typ, Mode: 0o644, Linkname: e.Link, ModTime: time.Unix(1700000000, 0)}
		if typ == tar.TypeXGlobalHeader {
			// git archive's header: the commit SHA as a comment, nothing else.
			h = &tar.Header{Name: e.Name, Typeflag: typ}
		}
		switch typ {
		case tar.TypeReg:
			h.Size = int64(len(e.Body))
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeXGlobalHeader:
			h.PAXRecords, h.Format = map[string]string{"comment": e.Body}, tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatalf("writing %s: %v", e.Name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				tb.Fatalf("writing %s: %v", e.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnpack(t *testing.T) {
	const top = "acme-repo-1111111/"
	dir := func(name string) TarEntry { return TarEntry{Name: name, Type: tar.TypeDir} }
	link := func(name, to string) TarEntry { return TarEntry{Name: name, Link: to, Type: tar.TypeSymlink} }
	hard := func(name, to string) TarEntry { return TarEntry{Name: name, Link: to, Type: tar.TypeLink} }
	file := func(name, body string) TarEntry { return TarEntry{Name: name, Body: body} }
	lim := limits{maxBytes: 1 << 20, maxFiles: 20}
	tests := []struct {
		name    string
		entries []TarEntry
		lim     limits
		// wantErr is a fragment of the error; "" means success.
		wantErr string
		// wantFiles are files (below the top directory) and their contents after success.
		wantFiles map[string]string
		// wantSkipped are the working-data paths left out.
		wantSkipped []string
	}{
		{name: "Terraform working data is left out", entries: []TarEntry{
			dir(top), dir(top + "infra/"), file(top+"infra/main.tf", "x"),
			dir(top + "infra/terraform.d/"), file(top+"infra/terraform.d/plugins/registry.terraform.io/evil/probe/1.0.0/linux_amd64/terraform-provider-probe", "#!/bin/sh"),
			file(top+"infra/.terraform/providers/registry.terraform.io/hashicorp/aws/5.0.0/linux_amd64/terraform-provider-aws", "binary"),
			file(top+"infra/.terraform.lock.hcl", "lock"), file(top+"terraform.d/credentials.tfrc.json", "{}"),
		}, wantFiles: map[string]string{"infra/main.tf": "x", "infra/.terraform.lock.hcl": "lock"},
			wantSkipped: []string{"infra/terraform.d", "infra/.terraform", "terraform.d"}},
		{name: "GitHub layout", entries: []TarEntry{
			{Name: "pax_global_header", Type: tar.TypeXGlobalHeader, Body: "1111111111111111111111111111111111111111"},
			dir(top), dir(top + "infra/"), file(top+"infra/main.tf", "x"), file(top+"README.md", "r"),
			link(top+"infra/readme", "../README.md"), hard(top+"infra/copy.tf", top+"infra/main.tf"),
		}, wantFiles: map[string]string{"infra/main.tf": "x", "README.md": "r", "infra/readme": "r", "infra/copy.tf": "x"}},
		{name: "no directory entries", entries: []TarEntry{file(top+"a/b/c.tf", "c")}, wantFiles: map[string]string{"a/b/c.tf": "c"}},
		{name: "absolute path", entries: []TarEntry{dir(top), file("/etc/cron.d/x", "x")}, wantErr: "absolute"},
		{name: "dot-dot", entries: []TarEntry{dir(top), file(top+"../escape", "x")}, wantErr: "has a .. component"},
		{name: "symlink out", entries: []TarEntry{dir(top), link(top+"out", "../../etc")}, wantErr: "outside"},
		{name: "absolute symlink", entries: []TarEntry{dir(top), link(top+"passwd", "/etc/passwd")}, wantErr: "absolute"},
		{name: "symlink chain out", entries: []TarEntry{dir(top), link(top+"d", "."), link(top+"e", "d/../x")}, wantErr: "does not resolve inside"},
		{name: "dangling symlink", entries: []TarEntry{dir(top), link(top+"d", "nothing")}, wantErr: "does not resolve inside"},
		{name: "write through a symlink", entries: []TarEntry{dir(top), dir(top + "sub/"), link(top+"l", "sub"), file(top+"l/x", "x")}, wantErr: "beneath the symlink"},
		{name: "hard link out", entries: []TarEntry{dir(top), hard(top+"h", "/etc/passwd")}, wantErr: "hard link"},
		{name: "hard link to another tree", entries: []TarEntry{dir(top), hard(top+"h", "other/x")}, wantErr: "not a file of the archive"},
		{name: "device", entries: []TarEntry{dir(top), {Name: top + "tty", Type: tar.TypeChar}}, wantErr: "character device"},
		{name: "fifo", entries: []TarEntry{dir(top), {Name: top + "p", Type: tar.TypeFifo}}, wantErr: "FIFO"},
		{name: "two top directories", entries: []TarEntry{file(top+"a", "a"), file("other/b", "b")}, wantErr: "outside the top directory"},
		{name: "file at the root", entries: []TarEntry{file("main.tf", "x")}, wantErr: "not a directory"},
		{name: "duplicate file", entries: []TarEntry{file(top+"a", "a"), file(top+"a", "b")}, wantErr: "appears twice"},
		{name: "too many entries", entries: []TarEntry{dir(top), file(top+"a", ""), file(top+"b", ""), file(top+"c", "")}, lim: limits{maxBytes: 100, maxFiles: 3}, wantErr: "more than 3 entries"},
		{name: "too large", entries: []TarEntry{dir(top), file(top+"a", "123456"), file(top+"b", "123456")}, lim: limits{maxBytes: 10, maxFiles: 10}, wantErr: "more than 10 bytes"},
		{name: "empty", entries: nil, wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.lim
			if l.maxFiles == 0 {
				l = lim
			}
			dest := filepath.Join(t.TempDir(), "src")
			skipped, err := unpack(bytes.NewReader(MustTarball(t, tt.entries...)), dest, l)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, errUnsafe) {
					t.Errorf("got %v, want an error wrapping errUnsafe", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			for name, want := range tt.wantFiles {
				got, err := os.ReadFile(filepath.Join(dest, name))
				if err != nil || string(got) != want {
					t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
				}
			}
			if !slices.Equal(skipped, tt.wantSkipped) {
				t.Errorf("left out %q, want %q", skipped, tt.wantSkipped)
			}
			for _, s := range tt.wantSkipped {
				if _, err := os.Lstat(filepath.Join(dest, s)); !os.IsNotExist(err) {
					t.Errorf("%s: got %v, want it not unpacked", s, err)
				}
			}
			if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("dest mode: got %v, %v; want 0700", fi.Mode().Perm(), err)
			}
		})
	}
}

func TestUnpackNotGzip(t *testing.T) {
	_, err := unpack(strings.NewReader("plain text"), filepath.Join(t.TempDir(), "src"), limits{maxBytes: 100, maxFiles: 10})
	if err == nil || !strings.Contains(err.Error(), "reading the archive") {
		t.Errorf("got %v, want a gzip error", err)
	}
}

func TestCheckConfig(t *testing.T) {
	ok := recovery.TerraformConfig{Dir: "infrastructure/terraform", VarFile: "prod.tfvars", BackendConfig: []string{"backend-prod.hcl"}, VersionVar: "model_version", LockTimeout: time.Minute}
	tests := []struct {
		name    string
		mutate  func(c *recovery.TerraformConfig)
		wantErr string
	}{
		{name: "valid", mutate: func(*recovery.TerraformConfig) {}},
		{name: "no dir", mutate: func(c *recovery.TerraformConfig) { c.Dir = "" }, wantErr: "no Terraform directory"},
		{name: "absolute dir", mutate: func(c *recovery.TerraformConfig) { c.Dir = "/etc" }, wantErr: "not a relative path"},
		{name: "dir with ..", mutate: func(c *recovery.TerraformConfig) { c.Dir = "infra/../../x" }, wantErr: "leaves its directory"},
		{name: "dir with inner ..", mutate: func(c *recovery.TerraformConfig) { c.Dir = "infra/../infra" }, wantErr: "has a .. component"},
		{name: "dashed dir", mutate: func(c *recovery.TerraformConfig) { c.Dir = "-chdir=x" }, wantErr: "dash"},
		{name: "var file with ..", mutate: func(c *recovery.TerraformConfig) { c.VarFile = "../prod.tfvars" }, wantErr: "var file"},
		{name: "backend file absolute", mutate: func(c *recovery.TerraformConfig) { c.BackendConfig = []string{"/etc/backend.hcl"} }, wantErr: "backend config file"},
		{name: "backend key=value", mutate: func(c *recovery.TerraformConfig) { c.BackendConfig = []string{"address=http://127.0.0.1/x"} }},
		{name: "bad version var", mutate: func(c *recovery.TerraformConfig) { c.VersionVar = "model version" }, wantErr: "not a Terraform variable name"},
		{name: "negative timeout", mutate: func(c *recovery.TerraformConfig) { c.LockTimeout = -time.Second }, wantErr: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			_, err := checkConfig(c)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	got, _ := checkConfig(recovery.TerraformConfig{Dir: "infra"})
	if got.VersionVar != "model_version" || got.LockTimeout != DefaultLockTimeout {
		t.Errorf("defaults: got %q %s, want model_version %s", got.VersionVar, got.LockTimeout, DefaultLockTimeout)
	}
}
