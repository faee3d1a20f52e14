package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medic-ops/medic/recovery"
)

func TestGitHubAppFromEnv(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}))
	p8, _ := x509.MarshalPKCS8PrivateKey(rk)
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	pub, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	public := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e8, _ := x509.MarshalPKCS8PrivateKey(ek)
	ecKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: e8}))
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(keyFile, []byte(pkcs1), 0o600); err != nil {
		t.Fatal(err)
	}
	slack := map[string]string{EnvSlackAppToken: "xapp-1-A", EnvSlackBotToken: "xoxb-1"}
	with := func(kv map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := kv[k]; ok {
				return v
			}
			return slack[k]
		}
	}
	tests := []struct {
		name     string
		vars     map[string]string
		wantApp  *GitHubApp // ID and InstallationID compared
		wantKeys []string
		wantMsg  string
	}{
		{"none", map[string]string{}, nil, nil, ""},
		{"key in the environment", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKey: pkcs1}, &GitHubApp{ID: 123}, nil, ""},
		{"key file and installation", map[string]string{EnvGitHubAppID: " 123 ", EnvGitHubAppPrivateKeyFile: keyFile, EnvGitHubAppInstallationID: "456"}, &GitHubApp{ID: 123, InstallationID: 456}, nil, ""},
		{"PKCS #8", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKey: pkcs8}, &GitHubApp{ID: 123}, nil, ""},
		{"key on one line with \\n", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKey: strings.ReplaceAll(pkcs1, "\n", `\n`)}, &GitHubApp{ID: 123}, nil, ""},
		{"and GITHUB_TOKEN", map[string]string{EnvGitHubToken: "ghp_x", EnvGitHubAppID: "123", EnvGitHubAppPrivateKey: pkcs1}, nil,
			[]string{EnvGitHubToken + " and " + EnvGitHubAppID}, "are both set: medic acts either with the token or as the GitHub App, not both (fix: unset GITHUB_TOKEN to act as the app"},
		{"client ID for the app ID", map[string]string{EnvGitHubAppID: "Iv1.8a61f9b3a7aba766", EnvGitHubAppPrivateKey: pkcs1}, nil,
			[]string{EnvGitHubAppID}, "GITHUB_APP_ID: is not a number (it holds the Client ID, Iv…) (fix: set it to the numeric App ID"},
		{"no app ID", map[string]string{EnvGitHubAppPrivateKeyFile: keyFile}, nil, []string{EnvGitHubAppID}, "is not set, but other GITHUB_APP_* variables are"},
		{"no key", map[string]string{EnvGitHubAppID: "123"}, nil, []string{EnvGitHubAppPrivateKeyFile}, "is not set (nor GITHUB_APP_PRIVATE_KEY)"},
		{"both keys", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKey: pkcs1, EnvGitHubAppPrivateKeyFile: keyFile}, nil,
			[]string{EnvGitHubAppPrivateKey + " and " + EnvGitHubAppPrivateKeyFile}, "are both set"},
		{"key not PEM", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKey: "MIIEowIBAAKCAQEAsecretsecret"}, nil, []string{EnvGitHubAppPrivateKey}, "is not a PEM key"},
		{"public key", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKey: public}, nil, []string{EnvGitHubAppPrivateKey}, "holds a public key"},
		{"EC key", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKey: ecKey}, nil, []string{EnvGitHubAppPrivateKey}, "holds an ECDSA key, not RSA"},
		{"key file missing", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKeyFile: filepath.Join(dir, "nope.pem")}, nil,
			[]string{EnvGitHubAppPrivateKeyFile}, "nope.pem, which cannot be read: no such file or directory"},
		{"key where Terraform reads", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKeyFile: "/etc/ssl/private/medic-app.pem"}, nil,
			[]string{EnvGitHubAppPrivateKeyFile}, "names a file under /etc/ssl, which Terraform's sandbox may read"},
		{"key in the file variable", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKeyFile: pkcs1}, nil, []string{EnvGitHubAppPrivateKeyFile}, "holds a key, not a file's path"},
		{"installation not a number", map[string]string{EnvGitHubAppID: "123", EnvGitHubAppPrivateKey: pkcs1, EnvGitHubAppInstallationID: "acme"}, nil,
			[]string{EnvGitHubAppInstallationID}, "is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ps := SecretsFromEnv(with(tt.vars))
			var keys []string
			for _, p := range ps {
				keys = append(keys, p.Key)
			}
			if strings.Join(keys, ",") != strings.Join(tt.wantKeys, ",") {
				t.Errorf("got problems %v, want them for %v", ps, tt.wantKeys)
			}
			if tt.wantMsg != "" && !strings.Contains(ps.Error(), tt.wantMsg) {
				t.Errorf("got %v, want it to say %q", ps, tt.wantMsg)
			}
			// No message quotes a key: not its armour's body, not a line of it.
			for _, line := range strings.Split(pkcs1+pkcs8+ecKey, "\n") {
				if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(ps.Error(), line) {
					t.Errorf("a problem quotes the key: %v", ps)
				}
			}
			if strings.Contains(ps.Error(), "secretsecret") {
				t.Errorf("a problem quotes the value: %v", ps)
			}
			if tt.wantApp == nil {
				if len(ps) == 0 && s.GitHubApp != nil {
					t.Errorf("got app %+v, want none", s.GitHubApp)
				}
				return
			}
			if s.GitHubApp == nil || s.GitHubApp.ID != tt.wantApp.ID || s.GitHubApp.InstallationID != tt.wantApp.InstallationID ||
				!strings.HasPrefix(string(s.GitHubApp.PrivateKey), "-----BEGIN ") {
				t.Fatalf("got app %+v, want ID %d, installation %d and the key in PEM", s.GitHubApp, tt.wantApp.ID, tt.wantApp.InstallationID)
			}
		})
	}
}

// TestAppKeyIsASecretValue: the key, whole and line by line, is among the values
// redacted wherever text leaves medic.
func TestAppKeyIsASecretValue(t *testing.T) {
	key := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAlineone\nAAAAlinetwo==\nQQ==\n-----END RSA PRIVATE KEY-----"
	vs := Secrets{GitHubApp: &GitHubApp{ID: 1, PrivateKey: []byte(key)}}.Values()
	if n := recovery.KnownSecret(vs...); n != 0 {
		t.Errorf("%d of the key's values are too short to redact, want none: start-up would warn of them", n)
	}
	for _, want := range []string{key, "MIIEowIBAAKCAQEAlineone", "AAAAlinetwo=="} {
		found := false
		for _, v := range vs {
			found = found || v == want
		}
		if !found {
			t.Errorf("Values() = %q, want it to hold %q", vs, want)
		}
	}
}

func TestGitHubAppPrintsNoKey(t *testing.T) {
	app := &GitHubApp{ID: 7, InstallationID: 8, PrivateKey: []byte("-----BEGIN RSA PRIVATE KEY-----\nMIIsecret\n-----END RSA PRIVATE KEY-----")}
	for _, format := range []string{"%v", "%+v", "%s", "%#v"} {
		if got := fmt.Sprintf(format, app); strings.Contains(got, "MIIsecret") || strings.Contains(got, "45, 45") || !strings.Contains(got, "ID: 7") {
			t.Errorf("%s: got %q, want the IDs and no key", format, got)
		}
	}
}
