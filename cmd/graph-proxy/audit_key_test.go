package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/internal/vaultkey"
)

// TestAuditVerifyKey: audit verify --key takes the checkpoint key from
// the vault (every version, with the auditor's sign-in) or from a PEM
// file, says what the signatures prove, and fails a log whose closing
// record is not signed unless --open.
func TestAuditVerifyKey(t *testing.T) {
	sim, err := graphsim.Start(graphsim.Options{SigningKey: simKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sim.Vault.CreateKey("audit-checkpoint")

	// The proxy's side: a log signed by the vault key with an identity
	// holding Key Vault Crypto User.
	mi, oid := proxytest.NewIdentity(t, sim, graphsim.VaultResource)
	o := vaultkey.Options{Credential: mi, Transport: sim.Client(), DisableChallengeResourceVerification: true}
	sim.Vault.SetSigner(oid, true)
	keyURI := sim.Vault.URL + "/keys/audit-checkpoint"
	signer, err := vaultkey.NewSigner(keyURI, o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	fs, err := auditlog.OpenFile(file, 1<<20, 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{fs}, Linger: -1,
		Checkpoint: auditlog.CheckpointOptions{Signer: signer, Every: 3, Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if err := l.Record(&auditlog.Record{Time: time.Now().UTC(), RequestID: uuid.NewString(), Path: "/users", Status: 200 + i}); err != nil {
			t.Fatal(err)
		}
	}
	data := func() string { b, _ := os.ReadFile(file); return string(b) }
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(data(), `"kind":"checkpoint"`) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	open := filepath.Join(dir, "open.jsonl")
	if err := os.WriteFile(open, []byte(data()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background(), &auditlog.Record{Time: time.Now().UTC(), Kind: "close"}); err != nil {
		t.Fatal(err)
	}

	// The auditor's side: Key Vault Reader on the key, az login.
	sim.Vault.SetSigner(oid, false)
	sim.Vault.SetKeyReader(oid, true)
	defer func(f func() (vaultkey.Options, error)) { vaultOptions = f }(vaultOptions)
	vaultOptions = func() (vaultkey.Options, error) { return o, nil }
	pem := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(pem, sim.Vault.PublicKeyPEM("audit-checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"from the vault", []string{"--key", keyURI, file}, 0, "signatures: every record signed, through the closing record's head"},
		{"from a PEM file", []string{"--key", pem, file}, 0, "every record signed"},
		{"without a key", []string{file}, 0, "checkpoint(s) NOT checked: give --key"},
		{"a live log", []string{"--key", pem, open}, 1, "without its closing record"},
		{"a live log, --open", []string{"--open", "--key", pem, open}, 0, "record(s) after it under no signature"},
		{"a key that is not one", []string{"--key", file, file}, 1, "--key: " + file + ": not a JWK"},
		{"a vault key not there", []string{"--key", sim.Vault.URL + "/keys/other", file}, 1, "key other has no versions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runCmd(t, append([]string{"audit", "verify"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d; want %d with %q:\n%s", code, tc.code, tc.want, out)
			}
		})
	}
}
