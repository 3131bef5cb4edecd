// Package vaultkey signs the audit log's checkpoints with a key in the
// customer's Azure Key Vault, and reads the public keys that verify them:
// from the vault (every version of the key) or from a file an auditor was
// given (PEM, a JWK, or the output of az keyvault key show).
//
// The private key never leaves the vault: the proxy sends a digest to Key
// Vault's keys Sign operation with its managed identity, which needs the
// Key Vault Crypto User role on that key alone.
package vaultkey
