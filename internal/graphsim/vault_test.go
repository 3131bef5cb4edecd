package graphsim_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// vaultClient is an azsecrets client acting as a new user-assigned
// managed identity; it returns the client and the identity's object id.
func vaultClient(t *testing.T, s *graphsim.Sim) (*azsecrets.Client, string) {
	t.Helper()
	// An identity unknown to MSAL's process-wide token cache.
	id, oid := uuid.NewString(), uuid.NewString()
	s.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: id, ObjectID: oid,
		Roles: map[string][]string{graphsim.VaultResource: nil}})
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: clientOptions(s), ID: azidentity.ClientID(id)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azsecrets.NewClient(s.Vault.URL, cred, &azsecrets.ClientOptions{
		ClientOptions:                        clientOptions(s),
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, oid
}

// TestVaultSecretVersions drives the simulated vault with the real
// azsecrets client over TLS, as an operator's az keyvault secret commands
// and graph-proxy would: an officer sets versions, a reader gets the newest
// with its version id and lists them all, and a disabled newest version is
// refused.
func TestVaultSecretVersions(t *testing.T) {
	s := start(t)
	t.Setenv("IDENTITY_ENDPOINT", s.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", s.Identity.Header)
	officer, officerOID := vaultClient(t, s)
	reader, readerOID := vaultClient(t, s)
	s.Vault.SetWriter(officerOID, true)
	s.Vault.SetReader(readerOID, true)
	const name = "graph-proxy-policy"

	var set []string
	for _, value := range []string{"version: 1 # first", "version: 1 # second"} {
		res, err := officer.SetSecret(t.Context(), name, azsecrets.SetSecretParameters{Value: to.Ptr(value)}, nil)
		if err != nil {
			t.Fatalf("SetSecret: %v", err)
		}
		if res.ID == nil || res.ID.Name() != name || *res.Value != value {
			t.Fatalf("SetSecret answered %+v", res)
		}
		set = append(set, res.ID.Version())
	}
	if got := s.Vault.Versions(name); strings.Join(got, ",") != strings.Join(set, ",") {
		t.Errorf("Versions = %v; want %v", got, set)
	}

	got, err := reader.GetSecret(t.Context(), name, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Value != "version: 1 # second" || got.ID.Version() != set[1] ||
		string(*got.ID) != s.Vault.URL+"/secrets/"+name+"/"+set[1] {
		t.Errorf("newest: %q, id %s; want the second value, version %s", *got.Value, *got.ID, set[1])
	}

	var listed []string
	pager := reader.NewListSecretPropertiesVersionsPager(name, nil)
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			if p.Attributes == nil || p.Attributes.Created == nil {
				t.Errorf("version %s listed without its creation time", p.ID.Version())
			}
			listed = append(listed, p.ID.Version())
		}
	}
	if strings.Join(listed, ",") != strings.Join(set, ",") {
		t.Errorf("listed versions %v; want %v", listed, set)
	}

	_, err = reader.SetSecret(t.Context(), name, azsecrets.SetSecretParameters{Value: to.Ptr("version: 1 # mine")}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 403 || !strings.Contains(err.Error(), "setSecret") {
		t.Errorf("a Secrets User setting a version: %v; want 403 naming setSecret", err)
	}

	if !s.Vault.SetEnabled(name, set[1], false) {
		t.Fatal("SetEnabled: no such version")
	}
	_, err = reader.GetSecret(t.Context(), name, "", nil)
	if !errors.As(err, &re) || re.StatusCode != 403 || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("a disabled newest version: %v; want 403 SecretDisabled", err)
	}
	if old, err := reader.GetSecret(t.Context(), name, set[0], nil); err != nil || *old.Value != "version: 1 # first" {
		t.Errorf("the older version: %v", err)
	}
}
