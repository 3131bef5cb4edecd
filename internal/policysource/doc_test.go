package policysource_test

import (
	"context"
	"log"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/graph-proxy/graph-proxy/internal/policysource"
	"github.com/graph-proxy/graph-proxy/policy"
)

// The policy in a Key Vault secret, read with the managed identity and
// polled every 30 seconds: a new version that loads is swapped in, one
// that does not is rejected and the policy in force stays.
func ExampleNewSecret() {
	ctx := context.Background()
	mi, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		log.Fatal(err)
	}
	src, err := policysource.NewSecret(policysource.SecretOptions{
		VaultURL:   "https://contoso-gp.vault.azure.net",
		Name:       "graph-proxy-policy",
		Credential: mi,
	})
	if err != nil {
		log.Fatal(err)
	}
	store, err := policy.OpenStore(ctx, src) // fails closed: no policy, no start
	if err != nil {
		log.Fatal(err)
	}
	store.OnReload = func(ev policy.ReloadEvent) {
		log.Println(ev.Outcome, ev.Revision.Name, ev.Err)
	}
	go store.Watch(ctx, nil)
}
