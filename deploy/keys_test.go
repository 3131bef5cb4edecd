package deploy

import (
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/config"
)

// TestKeySecretsTemplate deploys mainTemplate.json on paper with and
// without the names of the key secrets: named, graph-proxy loads the
// template's environment with each key's secret URI in the deployment's
// vault; unnamed, it configures none (and its features refuse their calls
// rather than run without a key).
func TestKeySecretsTemplate(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	const vault = "https://graph-proxy-abc.vault.azure.net/"
	env := defaultEnv
	env.deployed = map[string]map[string]any{
		"microsoft.keyvault/vaults":                        {"vaultUri": vault},
		"microsoft.keyvault/vaults/keys":                   {"keyUri": vault + "keys/audit-checkpoint"},
		"microsoft.app/managedenvironments":                {"defaultDomain": "kindhill-0a1b2c3d.westeurope.azurecontainerapps.io"},
		"microsoft.insights/datacollectionendpoints":       {"logsIngestion": map[string]any{"endpoint": "https://graph-proxy-dce-x1y2.westeurope-1.ingest.monitor.azure.com"}},
		"microsoft.insights/datacollectionrules":           {"immutableId": "dcr-00000000000000000000000000000001"},
		"microsoft.managedidentity/userassignedidentities": {"clientId": "c0000000-0000-4000-8000-00000000000c", "principalId": "d0000000-0000-4000-8000-00000000000d"},
	}
	tests := []struct {
		name                                string
		over                                map[string]any
		wantPseudonym, wantNotify, wantFile string
	}{
		{name: "none named"},
		{name: "all three", over: map[string]any{"pseudonymKeySecretName": "gp-pseudonyms", "notificationKeySecretName": "gp-notify", "fileLinkKeySecretName": "gp-files"},
			wantPseudonym: vault + "secrets/gp-pseudonyms", wantNotify: vault + "secrets/gp-notify", wantFile: vault + "secrets/gp-files"},
		{name: "file links only", over: map[string]any{"fileLinkKeySecretName": "gp-files"}, wantFile: vault + "secrets/gp-files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := deployARM(tm, td, armArgs(tt.over), env)
			if err != nil {
				t.Fatal(err)
			}
			var list []string
			for name, v := range containerEnv(t, d) {
				list = append(list, name+"="+v.(string))
			}
			cfg, err := config.Load(config.Sources{Env: list})
			if err != nil {
				t.Fatalf("graph-proxy refuses the template's environment: %v", err)
			}
			if cfg.PseudonymKey.SecretURI != tt.wantPseudonym || cfg.Notifications.SecretURI != tt.wantNotify || cfg.Files.SecretURI != tt.wantFile {
				t.Errorf("keys %q %q %q; want %q %q %q", cfg.PseudonymKey.SecretURI, cfg.Notifications.SecretURI, cfg.Files.SecretURI,
					tt.wantPseudonym, tt.wantNotify, tt.wantFile)
			}
		})
	}
}
