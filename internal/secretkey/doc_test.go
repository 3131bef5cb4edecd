package secretkey_test

import (
	"context"
	"log"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/graph-proxy/graph-proxy/internal/secretkey"
)

// The pseudonym key in a Key Vault secret, read with the managed identity
// at start and every five minutes after: a new version of the secret
// rotates the key.
func ExampleNew() {
	ctx := context.Background()
	mi, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		log.Fatal(err)
	}
	key, err := secretkey.New(secretkey.Options{
		VaultURL:   "https://contoso-gp.vault.azure.net",
		Name:       "graph-proxy-pseudonym-key",
		Credential: mi,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := key.Load(ctx); err != nil { // fails closed: pseudonymised calls get 503
		log.Print(err)
	}
	go key.Run(ctx)
}
