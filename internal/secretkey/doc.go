// Package secretkey follows a key graph-proxy holds in a Key Vault secret
// of the customer's, read with the proxy's managed identity at start and
// again every poll interval, so that a new version (a rotation) takes
// over without a restart. Three keys are held this way: the pseudonym key
// (policy response.pseudonymise), and the secrets that seal the proxy's
// file links and relayed notification URLs (internal/seal).
//
// The secret's value is the key: at least MinKeyBytes bytes of text (for
// example `openssl rand -base64 48`), used as it is. Key is the newest
// version: a pseudonym key's rotation changes every pseudonym, what a
// vendor joined on before no longer matches. With Options.Keep above one,
// Keys also gives the versions before it (enabled ones, newest first), so
// that a sealed link or URL handed out before a rotation still opens
// until its version is disabled.
//
// Failure direction: without a key read, Key and Keys fail and the proxy
// refuses every call that needs the key (503) before forwarding it; a
// read that fails later keeps the keys in force (fail static), and a
// newest version too short to be a key is not taken. Keys are never
// logged; errors name the vault, the secret and Key Vault's status only.
package secretkey
