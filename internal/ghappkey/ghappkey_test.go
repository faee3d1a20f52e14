package ghappkey

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p1 := x509.MarshalPKCS1PrivateKey(rk)
	p8, _ := x509.MarshalPKCS8PrivateKey(rk)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e8, _ := x509.MarshalPKCS8PrivateKey(ek)
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	ed8, _ := x509.MarshalPKCS8PrivateKey(edk)
	block := func(typ string, b []byte, h map[string]string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b, Headers: h})
	}
	tests := []struct {
		name string
		key  []byte
		want string // "" parses
	}{
		{"PKCS #1, as GitHub generates it", block("RSA PRIVATE KEY", p1, nil), ""},
		{"PKCS #8", block("PRIVATE KEY", p8, nil), ""},
		{"escaped newlines", []byte(strings.ReplaceAll(string(block("RSA PRIVATE KEY", p1, nil)), "\n", `\n`)), ""},
		{"surrounding space", append(append([]byte("  \n"), block("RSA PRIVATE KEY", p1, nil)...), "\n\n"...), ""},
		{"empty", nil, "is not a PEM key"},
		{"base64 without armour", p1[:40], "is not a PEM key"},
		{"legacy encryption", block("RSA PRIVATE KEY", p1, map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}), "is an encrypted key"},
		{"PKCS #8 encrypted", block("ENCRYPTED PRIVATE KEY", p8, nil), "is an encrypted key"},
		{"ECDSA", block("PRIVATE KEY", e8, nil), "holds an ECDSA key, not RSA"},
		{"Ed25519", block("PRIVATE KEY", ed8, nil), "holds an Ed25519 key, not RSA"},
		{"OpenSSH", block("OPENSSH PRIVATE KEY", []byte("openssh-key-v1"), nil), "holds an openssh private key"},
		{"public", block("PUBLIC KEY", []byte("x"), nil), "holds a public key"},
		{"certificate", block("CERTIFICATE", []byte("x"), nil), "holds a certificate"},
		{"PKCS #1 damaged", block("RSA PRIVATE KEY", p1[:100], nil), "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(tt.key)
			switch {
			case tt.want == "" && (err != nil || k.N.Cmp(rk.N) != 0):
				t.Fatalf("got %v, want the key", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "MII") {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
}
