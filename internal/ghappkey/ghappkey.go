// Package ghappkey reads a GitHub App's private key: the PEM file GitHub generates on
// the app's settings page ("Private keys" → "Generate a private key"), an RSA key in
// PKCS #1 form ("-----BEGIN RSA PRIVATE KEY-----"); PKCS #8 ("-----BEGIN PRIVATE
// KEY-----") holding an RSA key is accepted too. Its errors say what is wrong and
// never quote the key.
package ghappkey

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Normalize turns a key given in one line with escaped newlines ("\n", as some
// secret stores and .env files hold it) back into PEM; any other text is returned
// trimmed.
func Normalize(key []byte) []byte {
	key = bytes.TrimSpace(key)
	if !bytes.Contains(key, []byte("\n")) && bytes.Contains(key, []byte(`\n`)) {
		key = bytes.ReplaceAll(key, []byte(`\n`), []byte("\n"))
	}
	return key
}

// Parse returns the RSA private key in the PEM text key (after Normalize).
func Parse(key []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(Normalize(key))
	if block == nil {
		return nil, errors.New("is not a PEM key: it should hold the .pem file GitHub generated for the app, starting with -----BEGIN RSA PRIVATE KEY-----")
	}
	// An encrypted key: PKCS #8's own type, or the legacy Proc-Type header (RFC 1423).
	if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, errors.New("is an encrypted key: give the key unencrypted, as GitHub generated it")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		// x509's own errors are left out: they describe the key's bytes.
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("holds an RSA PRIVATE KEY block that does not parse: use the .pem file GitHub generated, unchanged")
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("holds a PRIVATE KEY block that does not parse: use the .pem file GitHub generated, unchanged")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("holds an %s key, not RSA: GitHub App keys are RSA; use the .pem file GitHub generated", keyKind(k))
		}
		return rk, nil
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		return nil, errors.New("holds a public key: medic needs the app's private key (the .pem file GitHub generated)")
	case "OPENSSH PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY":
		return nil, fmt.Errorf("holds an %s, not an RSA PEM key: use the .pem file GitHub generated for the app", strings.ToLower(block.Type))
	case "CERTIFICATE":
		return nil, errors.New("holds a certificate, not a private key: use the .pem file GitHub generated for the app")
	}
	return nil, fmt.Errorf("holds a PEM block of type %q, not an RSA private key: use the .pem file GitHub generated for the app", block.Type)
}

func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}
