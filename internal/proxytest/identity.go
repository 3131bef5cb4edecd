package proxytest

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// NewIdentity registers a user-assigned managed identity new to this
// process (MSAL caches managed-identity tokens process-wide, so a fresh one
// keeps tests apart) in the simulator's customer tenant, allowed tokens
// for resource, points the process's identity endpoint at the simulator,
// and returns a credential for it and its object id. It holds no role on
// any resource yet.
func NewIdentity(t testing.TB, sim *graphsim.Sim, resource string) (azcore.TokenCredential, string) {
	t.Helper()
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	id, oid := uuid.NewString(), uuid.NewString()
	sim.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: id, ObjectID: oid,
		Roles: map[string][]string{resource: nil}})
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(id),
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: sim.Entra.URL + "/"},
			Transport: sim.Client(),
			Retry:     azpolicy.RetryOptions{MaxRetries: -1},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return cred, oid
}

// StartSim starts a simulator of its own for the test, as New does,
// closed when the test ends.
func StartSim(t testing.TB) *graphsim.Sim {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Options{SigningKey: signingKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}
