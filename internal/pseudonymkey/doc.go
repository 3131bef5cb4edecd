// Package pseudonymkey reads the key graph-proxy pseudonymises answers
// with (policy response.pseudonymise) from a Key Vault secret the
// customer holds, with the proxy's managed identity, and reads it again
// every poll interval so that a new version (a rotation) takes over
// without a restart.
//
// The secret's value is the key: at least MinKeyBytes bytes of text (for
// example `openssl rand -base64 48`), used as it is. A rotation changes
// every pseudonym: what a vendor joined on before no longer matches.
//
// Failure direction: without a key read, Key fails and the proxy refuses
// every call whose answer would be pseudonymised (503) before forwarding
// it; a read that fails later keeps the key in force (fail static), and a
// version too short to be a key is not taken. The key is never logged;
// errors name the vault, the secret and Key Vault's status only.
package pseudonymkey
