// Package policysource reads the allow-list from places other than a file,
// for a policy.Store: a Key Vault secret, read with the proxy's managed
// identity and polled for new versions.
//
// Package policy stays pure (no network, no Azure SDK); this package is
// only a policy.Source: it fetches a secret version and says when to look
// again. Loading, rejecting a version that does not load, keeping the
// policy in force and auditing are the Store's and the proxy's, the same as
// for a file.
//
// Failure direction: a read that fails is an error for the Store, which
// keeps the policy in force while running and refuses to start without
// one (fail closed at start, fail static while running). The policy text
// is never logged; errors name the vault, the secret and the version only.
package policysource
