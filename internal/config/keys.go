package config

import (
	"strings"
	"time"
)

// KeyVaultSecret is one Key Vault secret the proxy follows with the
// managed identity (upstream.managedIdentityClientID), which needs the Key
// Vault Secrets User role on the secret or its vault: the policy, and the
// keys of pseudonyms, relayed notification URLs and file links.
type KeyVaultSecret struct {
	// SecretURI is the secret without a version, e.g.
	// https://contoso-gp.vault.azure.net/secrets/graph-proxy-pseudonym-key:
	// the proxy follows its newest version. Empty: not configured.
	SecretURI string `mapstructure:"secretURI"`
	// PollInterval is how often the secret is read for a new version (a
	// rotation), between 1s and 1h.
	PollInterval time.Duration `mapstructure:"pollInterval"`
	// DisableChallengeResourceVerification accepts a vault outside the
	// cloud's vault domain (the simulator). Default false.
	DisableChallengeResourceVerification bool `mapstructure:"disableChallengeResourceVerification"`
}

// Secret returns the vault URL and the secret name of SecretURI. Call it
// only on a validated configuration.
func (k KeyVaultSecret) Secret() (vaultURL, name string) {
	vaultURL, name, _ = splitSecretURI(k.SecretURI)
	return vaultURL, name
}

// checkKeyVaultSecret checks a secret's URI and poll interval, named
// under section.
func (ps *problems) checkKeyVaultSecret(section string, k KeyVaultSecret) {
	if k.SecretURI != "" {
		if _, _, err := splitSecretURI(k.SecretURI); err != nil {
			ps.add(section+".secretURI", "%q %v", k.SecretURI, err)
		}
	}
	if k.PollInterval < time.Second || k.PollInterval > time.Hour {
		ps.add(section+".pollInterval", "%v is not between 1s and 1h", k.PollInterval)
	}
}

// Files configures file content (policy rules[].content, docs/policy.md):
// the secret that seals the proxy's file links — download URLs and upload
// sessions' URLs handed to callers in place of the file host's — which
// every replica reads from one Key Vault secret. Without it, calls whose
// answers carry such a URL keep it withheld and content downloads and
// upload sessions are refused; simple uploads need no key.
type Files struct {
	// The secret, e.g.
	// https://contoso-gp.vault.azure.net/secrets/graph-proxy-file-link-key.
	// Poll interval default 5m.
	KeyVaultSecret `mapstructure:",squash"`
	// ExtraHosts are file hosts beyond the cloud's own (the simulator's
	// SharePoint, "host:port"): the proxy fetches content from and sends
	// it to these too. Never needed in Azure; every entry widens where
	// file content may go.
	ExtraHosts []string `mapstructure:"extraHosts"`
}

func (ps *problems) checkFiles(f Files) {
	ps.checkKeyVaultSecret("files", f.KeyVaultSecret)
	for _, h := range f.ExtraHosts {
		if h == "" || strings.ContainsAny(h, "/?#@ ") {
			ps.add("files.extraHosts", "%q is not a host[:port]", h)
		}
	}
}
