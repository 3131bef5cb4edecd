package auditlog

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha256" // the hashes algHash names
	_ "crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// A hash chain shows that no record was changed, removed or inserted — to
// anyone who did not rewrite it. Whoever can write the file (or the
// table) can also remove records and compute every hash after them anew,
// and the chain verifies again. A checkpoint closes that gap: every so
// many records or seconds, and at shutdown, the proxy has a key in the
// customer's Key Vault sign its chain head — replica, sequence number and
// hash — and writes the signature into the chain as a record of kind
// "checkpoint" ("close" carries one for the last record before it). The
// key never leaves the vault, so nobody with the log alone can sign a
// rewritten head: every record up to the last signed head is proven as
// written.

// Record kinds of the proxy's own that carry a Checkpoint.
const (
	KindCheckpoint = "checkpoint"
	KindClose      = "close"
)

// Checkpoint is a chain head signed by the checkpoint key: the record at
// Seq in the same chain has hash Hash. It is written by a record after that
// one — how far after depends on how long the signing took, as records go
// on being written meanwhile.
type Checkpoint struct {
	// Seq and Hash are the head's. (Not "seq" and "hash": a line holds
	// exactly one "hash" field, its own.)
	Seq  uint64 `json:"headSeq"`
	Hash string `json:"headHash"`
	// KeyID is the key version that signed (a Key Vault key identifier),
	// Alg the JWS algorithm, Signature the JWS signature, base64url
	// without padding (for ES256, R‖S).
	KeyID     string `json:"keyId"`
	Alg       string `json:"alg"`
	Signature string `json:"signature"`
	// Error says why the head could not be signed (Key Vault unreachable,
	// a role missing): then KeyID, Alg and Signature are empty.
	Error string `json:"error"`
}

// Signer signs a checkpoint's message with a key held elsewhere: Key
// Vault's keys Sign operation, with the proxy's managed identity.
type Signer interface {
	// Sign returns the signature of msg (the signer hashes it as its
	// algorithm says), the algorithm and the identifier of the key
	// version that made it.
	Sign(ctx context.Context, msg []byte) (keyID, alg string, sig []byte, err error)
}

// CheckpointOptions turn checkpoints on.
type CheckpointOptions struct {
	// Signer signs the chain heads; nil writes no checkpoints.
	Signer Signer
	// Every is how many records (checkpoints not counted) are written
	// between two checkpoints at most. Default 10000.
	Every int
	// Interval is how long the chain may grow without a checkpoint.
	// Default 5m. A replica that writes nothing writes no checkpoint
	// either.
	Interval time.Duration
	// Timeout bounds one signing. Default 10s.
	Timeout time.Duration
}

// CheckpointMessage is what a checkpoint's signature covers: the record
// kind that carries it (so that a periodic checkpoint cannot be passed off
// as a signed close at a cut tail), the replica, and the head it signs.
// Its JSON form is unambiguous whatever the replica's name holds.
func CheckpointMessage(kind, replica string, seq uint64, hash string) []byte {
	msg, _ := json.Marshal([]any{"graph-proxy audit checkpoint/1", kind, replica, seq, hash})
	return msg
}

// maxCheckpointLag bounds how many records a checkpoint may come after the
// head it signs. The writer drops a signature that came back later (it
// signs again at once); the verifier keeps twice as many recent hashes
// per chain to find the head.
const maxCheckpointLag = 8192

// CheckpointStats describe the checkpoints a Log wrote.
type CheckpointStats struct {
	// Last is when the newest signed checkpoint was written, LastSeq the
	// head it signed.
	Last    time.Time `json:"last,omitzero"`
	LastSeq uint64    `json:"lastSeq"`
	Signed  uint64    `json:"signed"`
	// Failed counts heads that could not be signed; LastError says why
	// the newest did.
	Failed    uint64 `json:"failed"`
	LastError string `json:"lastError,omitempty"`
}

// checkpoints signs the chain head every Interval, or sooner when Every
// records were written since the last one, until stop is closed.
func (l *Log) checkpoints(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	tick := time.NewTicker(l.o.Checkpoint.Interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		case <-l.cpKick:
		}
		l.checkpoint(ctx)
	}
}

// checkpoint signs the head and appends the checkpoint record, unless
// nothing but checkpoints was written since the last one.
func (l *Log) checkpoint(ctx context.Context) {
	l.mu.Lock()
	if l.sinceCheckpoint == 0 || l.closed || l.chain.prev == "" {
		l.mu.Unlock()
		return
	}
	replica, seq, hash := l.chain.replica, l.chain.seq-1, l.chain.prev
	since := l.sinceCheckpoint
	l.sinceCheckpoint = 0
	l.mu.Unlock()

	cp := l.sign(ctx, KindCheckpoint, replica, seq, hash)
	if ctx.Err() != nil {
		return // shutting down: the close record signs the head
	}
	l.mu.Lock()
	if l.chain.seq-1-seq > maxCheckpointLag {
		// Too far behind for a verifier to find the head it signed.
		l.sinceCheckpoint += since
		l.mu.Unlock()
		l.log.Warn("audit checkpoint dropped: the chain moved on too far while it was signed", "seq", seq)
		select {
		case l.cpKick <- struct{}{}:
		default:
		}
		return
	}
	l.mu.Unlock()
	if err := l.Record(&Record{Time: time.Now().UTC(), Kind: KindCheckpoint, Checkpoint: cp}); err != nil {
		l.log.Warn("audit checkpoint not written", "error", err)
	}
}

// sign has the signer sign the head, or returns a checkpoint that says
// why it could not.
func (l *Log) sign(ctx context.Context, kind, replica string, seq uint64, hash string) *Checkpoint {
	ctx, cancel := context.WithTimeout(ctx, l.o.Checkpoint.Timeout)
	defer cancel()
	cp := &Checkpoint{Seq: seq, Hash: hash}
	kid, alg, sig, err := l.o.Checkpoint.Signer.Sign(ctx, CheckpointMessage(kind, replica, seq, hash))
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		cp.Error = clip(err.Error())
		l.cpStats.Failed++
		l.cpStats.LastError = cp.Error
		l.log.Error("audit checkpoint: signing failed", "seq", seq, "error", cp.Error)
		return cp
	}
	cp.KeyID, cp.Alg, cp.Signature = kid, alg, base64.RawURLEncoding.EncodeToString(sig)
	l.cpStats.Signed++
	l.cpStats.Last, l.cpStats.LastSeq, l.cpStats.LastError = time.Now().UTC(), seq, ""
	return cp
}

// CheckpointKey is a public key that verifies checkpoint signatures.
type CheckpointKey struct {
	// ID is the key's identifier (a Key Vault key version's kid), or ""
	// for a key known by its public half alone.
	ID     string
	Public crypto.PublicKey
}

// errBadSignature is why a checkpoint does not verify.
var errBadSignature = errors.New("the signature does not verify")

// verifyCheckpoint checks sig, made with alg, over msg against the keys;
// a key with an ID is tried only for the checkpoint that names it.
func verifyCheckpoint(keys []CheckpointKey, keyID, alg string, msg []byte, sig string) error {
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("the signature is not base64url: %w", err)
	}
	h, ok := algHash[alg]
	if !ok {
		return fmt.Errorf("unknown algorithm %q", alg)
	}
	d := h.New()
	d.Write(msg)
	digest := d.Sum(nil)
	tried := false
	for _, k := range keys {
		if k.ID != "" && k.ID != keyID {
			continue
		}
		tried = true
		if verifyDigest(k.Public, alg, h, digest, raw) {
			return nil
		}
	}
	if !tried {
		return fmt.Errorf("signed by %s, which is none of the keys given", keyID)
	}
	return errBadSignature
}

// algHash are the JWS algorithms Key Vault signs with (EC and RSA keys),
// by the hash each signs.
var algHash = map[string]crypto.Hash{
	"ES256": crypto.SHA256, "ES384": crypto.SHA384, "ES512": crypto.SHA512,
	"PS256": crypto.SHA256, "PS384": crypto.SHA384, "PS512": crypto.SHA512,
	"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512,
}

func verifyDigest(pub crypto.PublicKey, alg string, h crypto.Hash, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg[0] != 'E' {
			return false
		}
		// JWS's form: R and S, each the curve's size, one after the other.
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(k, digest, r, s)
	case *rsa.PublicKey:
		switch alg[0] {
		case 'P':
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		case 'R':
			return rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
		}
	}
	return false
}
