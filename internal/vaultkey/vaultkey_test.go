package vaultkey_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
	"github.com/graph-proxy/graph-proxy/internal/proxytest"
	"github.com/graph-proxy/graph-proxy/internal/vaultkey"
)

const keyName = "audit-checkpoint"

// setup starts a simulator with a checkpoint key and returns options that
// reach its vault as a managed identity new to this process, and that
// identity's object id. The identity holds no key role yet.
func setup(t *testing.T) (*graphsim.Sim, vaultkey.Options, string) {
	t.Helper()
	sim := proxytest.StartSim(t)
	mi, oid := proxytest.NewIdentity(t, sim, graphsim.VaultResource)
	return sim, vaultkey.Options{Credential: mi, Transport: sim.Client(), DisableChallengeResourceVerification: true}, oid
}

// TestCheckpointsSignedInVault runs the audit log's checkpoints through
// azkeys against the simulated Key Vault, rotates the key half-way, and
// verifies the log with the public keys read back from the vault.
func TestCheckpointsSignedInVault(t *testing.T) {
	sim, o, oid := setup(t)
	first := sim.Vault.CreateKey(keyName)
	ro := o
	ro.KeyRefresh = -1
	signer, err := vaultkey.NewSigner(sim.Vault.URL+"/keys/"+keyName, ro)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, _, err := signer.Sign(ctx, []byte("head")); err == nil || !strings.Contains(err.Error(), "keys/read") {
		t.Fatalf("sign without Key Vault Crypto User: %v; want the vault's 403 naming the action", err)
	}
	sim.Vault.SetSigner(oid, true)

	var buf proxytest.SyncBuffer
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{&auditlog.WriterSink{SinkName: "buf", W: &buf}},
		Linger: -1, Checkpoint: auditlog.CheckpointOptions{Signer: signer, Every: 4, Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	record := func(i int) {
		if err := l.Record(&auditlog.Record{Time: time.Now().UTC(), RequestID: uuid.NewString(), Decision: "allow", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		record(i)
	}
	waitFor(t, func() bool { return strings.Count(buf.String(), first) == 1 })
	second := sim.Vault.CreateKey(keyName) // rotated: signed with it once the signer reads the key again
	for i := range 4 {
		record(i)
	}
	waitFor(t, func() bool { return strings.Count(buf.String(), `"kind":"checkpoint"`) == 2 })
	if err := l.Close(ctx, &auditlog.Record{Time: time.Now().UTC(), Kind: "close"}); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats().Checkpoints; st.Signed != 3 || st.Failed != 0 {
		t.Fatalf("checkpoint stats %+v; want 3 signed", st)
	}

	// The auditor reads the public keys, every version, with a reader's
	// role only.
	sim.Vault.SetSigner(oid, false)
	sim.Vault.SetKeyReader(oid, true)
	keys, err := vaultkey.PublicKeys(ctx, sim.Vault.URL+"/keys/"+keyName, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != first || keys[1].ID != second {
		t.Fatalf("keys %v; want both versions, %s and %s", keys, first, second)
	}
	v := &auditlog.Verifier{Keys: keys}
	if err := v.Add("audit.jsonl", strings.NewReader(buf.String())); err != nil {
		t.Fatal(err)
	}
	res, err := v.Done()
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Chains[0]; c.Unsigned != 0 || len(c.KeyIDs) == 0 || c.KeyIDs[0] != first {
		t.Fatalf("chain %+v; want every record signed, first by %s", c, first)
	}
	// One version alone does not verify the other's checkpoints.
	one, err := vaultkey.PublicKeys(ctx, first, o)
	if err != nil || len(one) != 1 {
		t.Fatalf("keys of %s: %v, %v", first, one, err)
	}
	v = &auditlog.Verifier{Keys: one}
	if err := v.Add("audit.jsonl", strings.NewReader(buf.String())); err == nil || !strings.Contains(err.Error(), "none of the keys given") {
		t.Fatalf("verify with the first version only: %v; want the rotated key's checkpoints refused", err)
	}
}

// TestSignerVaultDown: a vault that cannot sign gives an error, which the
// log records in the checkpoint; the signer reads the key again after.
func TestSignerVaultDown(t *testing.T) {
	sim, o, oid := setup(t)
	sim.Vault.CreateKey(keyName)
	sim.Vault.SetSigner(oid, true)
	signer, err := vaultkey.NewSigner(sim.Vault.URL+"/keys/"+keyName, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, _, err := signer.Sign(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	sim.Vault.SetDown(true)
	if _, _, _, err := signer.Sign(ctx, []byte("b")); err == nil {
		t.Fatal("signed with the vault down")
	}
	sim.Vault.SetDown(false)
	kid, alg, sig, err := signer.Sign(ctx, []byte("c"))
	if err != nil || alg != "ES256" || len(sig) != 64 || !strings.HasPrefix(kid, sim.Vault.URL+"/keys/"+keyName+"/") {
		t.Fatalf("sign after recovery: %s %s %d bytes, %v", kid, alg, len(sig), err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParseKeyURI(t *testing.T) {
	for _, tc := range []struct {
		in, vault, name, version, err string
	}{
		{in: "https://gp.vault.azure.net/keys/audit-checkpoint", vault: "https://gp.vault.azure.net", name: "audit-checkpoint"},
		{in: "https://gp.vault.azure.net/keys/audit-checkpoint/", vault: "https://gp.vault.azure.net", name: "audit-checkpoint"},
		{in: "https://gp.vault.azure.net/keys/a/0123abcd", vault: "https://gp.vault.azure.net", name: "a", version: "0123abcd"},
		{in: "http://gp.vault.azure.net/keys/a", err: "not a Key Vault key identifier"},
		{in: "https://gp.vault.azure.net/secrets/a", err: "not a Key Vault key identifier"},
		{in: "https://gp.vault.azure.net/keys/", err: "not a Key Vault key identifier"},
		{in: "https://gp.vault.azure.net/keys/a/b/c", err: "not a Key Vault key identifier"},
		{in: "https://gp.vault.azure.net/keys/a?x=1", err: "not a Key Vault key identifier"},
	} {
		k, err := vaultkey.ParseKeyURI(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v; want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || k.Vault != tc.vault || k.Name != tc.name || k.Version != tc.version):
			t.Errorf("%s: %+v, %v", tc.in, k, err)
		}
	}
	if _, err := vaultkey.NewSigner("https://gp.vault.azure.net/keys/a/0123abcd", vaultkey.Options{}); err == nil || !strings.Contains(err.Error(), "without its version") {
		t.Errorf("a signer on a pinned version: %v", err)
	}
}

// keyFiles are the forms an auditor may hold a public key in.
func keyFiles(t testing.TB) (ec *ecdsa.PrivateKey, files map[string][]byte) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := ec.PublicKey.Bytes()
	b := base64.RawURLEncoding.EncodeToString
	jwk := map[string]any{"kid": "https://gp.vault.azure.net/keys/k/v1", "kty": "EC", "crv": "P-256", "x": b(pt[1:33]), "y": b(pt[33:])}
	show, _ := json.Marshal(map[string]any{"key": jwk, "attributes": map[string]any{"enabled": true}})
	single, _ := json.Marshal(jwk)
	set, _ := json.Marshal(map[string]any{"keys": []any{jwk}})
	return ec, map[string][]byte{
		"pem":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"key show": show,
		"jwk":      single,
		"jwk set":  set,
	}
}

func TestParsePublicKeys(t *testing.T) {
	ec, files := keyFiles(t)
	for name, data := range files {
		keys, err := vaultkey.ParsePublicKeys(data)
		if err != nil || len(keys) != 1 || !ec.PublicKey.Equal(keys[0].Public) {
			t.Errorf("%s: %v, %v; want the key", name, keys, err)
		}
		if name != "pem" && keys[0].ID != "https://gp.vault.azure.net/keys/k/v1" {
			t.Errorf("%s: kid %q; want the JWK's", name, keys[0].ID)
		}
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	for _, tc := range []struct{ name, data, err string }{
		{"empty", "", "no public key"},
		{"private key", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})), "want PUBLIC KEY or CERTIFICATE"},
		{"short RSA", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "shorter than 2048"},
		{"json without key", `{"attributes":{}}`, "no key in the JSON"},
		{"EC off curve", `{"kty":"EC","crv":"P-256","x":"AQ","y":"Ag"}`, "EC point"},
		{"unknown curve", `{"kty":"EC","crv":"P-256K","x":"AQ","y":"Ag"}`, "P-256K"},
		{"oct", `{"kty":"oct","k":"AQ"}`, "want EC or RSA"},
		{"bad base64", `{"kty":"EC","crv":"P-256","x":"*","y":"Ag"}`, "base64url"},
	} {
		if _, err := vaultkey.ParsePublicKeys([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.err)
		}
	}
}

// FuzzParsePublicKeys: whatever file an auditor is handed, the parser
// returns keys or an error, and every key it returns is one a checkpoint
// can be verified with.
func FuzzParsePublicKeys(f *testing.F) {
	_, files := keyFiles(f)
	for _, data := range files {
		f.Add(data)
	}
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMA==\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := vaultkey.ParsePublicKeys(data)
		if err != nil {
			return
		}
		for _, k := range keys {
			switch p := k.Public.(type) {
			case *ecdsa.PublicKey:
				if !p.Curve.IsOnCurve(p.X, p.Y) { //nolint:staticcheck // checking what the parser built
					t.Fatalf("a point off its curve from %q", data)
				}
			case *rsa.PublicKey:
				if p.N.BitLen() < 2048 {
					t.Fatalf("a short RSA key from %q", data)
				}
			default:
				t.Fatalf("a %T from %q", p, data)
			}
		}
	})
}
