package auditlog_test

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/ingestion/azlogs"
	"github.com/google/uuid"

	"github.com/graph-proxy/graph-proxy/auditlog"
	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// TestMonitorSink ships records through the real Logs Ingestion client,
// authenticated by the managed identity, to the simulated data collection
// endpoint, through server errors and throttling: every record arrives
// once, in order, and the chain verifies from what arrived.
func TestMonitorSink(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	sim, err := graphsim.Start(graphsim.Options{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	t.Setenv("IDENTITY_ENDPOINT", sim.Identity.Endpoint())
	t.Setenv("IDENTITY_HEADER", sim.Identity.Header)
	id := uuid.NewString()
	sim.Entra.Register(&graphsim.App{Tenant: graphsim.CustomerTenant, ClientID: id, ObjectID: uuid.NewString(),
		Roles: map[string][]string{graphsim.MonitorResource: nil}})
	opts := azcore.ClientOptions{Transport: sim.Client(), Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond}}
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts, ID: azidentity.ClientID(id)})
	if err != nil {
		t.Fatal(err)
	}
	client, err := azlogs.NewClient(sim.Monitor.URL, cred, &azlogs.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	sink := &auditlog.MonitorSink{Client: client, RuleID: sim.Monitor.RuleID, Stream: sim.Monitor.Stream}
	l, err := auditlog.New(auditlog.Options{Replica: "r1", Sinks: []auditlog.Sink{sink}, BatchSize: 10, RetryBudget: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// More failures than the SDK's own retries: the pipeline retries too.
	sim.Monitor.FailNext(4, 503, "")
	sim.Monitor.FailNext(3, 429, "1")
	fill(t, l, 25)
	rows := sim.Monitor.Rows()
	if len(rows) != 27 {
		t.Fatalf("%d rows arrived; want 27, each once", len(rows))
	}
	// What arrived is rows, each with the exact line: read as an export,
	// the columns are checked against it.
	var export strings.Builder
	export.WriteByte('[')
	for i, r := range rows {
		if i > 0 {
			export.WriteByte(',')
		}
		export.Write(r)
	}
	export.WriteByte(']')
	v := &auditlog.Verifier{}
	if err := v.Add("ingested", strings.NewReader(export.String())); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Done(); err != nil {
		t.Fatalf("the ingested chain: %v", err)
	}
	if sim.Monitor.Calls() < 8 {
		t.Errorf("%d upload attempts; the injected failures were not met", sim.Monitor.Calls())
	}
}
