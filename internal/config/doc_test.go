package config_test

import (
	"fmt"

	"github.com/graph-proxy/graph-proxy/internal/config"
)

func ExampleLoad() {
	_, err := config.Load(config.Sources{Env: []string{
		"GRAPH_PROXY_PUBLICBASEURL=https://gp.contoso.example",
		"GRAPH_PROXY_POLICY_FILE=../../examples/policy-engage.yaml",
		"GRAPH_PROXY_INBOUND_ENTRA_TENANTS=d2b6628f-0000-4000-8000-000000000002",
		"GRAPH_PROXY_INBOUND_ENTRA_AUDIENCE=api://graph-proxy",
		"GRAPH_PROXY_GRAPH_CLOUD=moon",
		"GRAPH_PROXY_GRAPH_TIMEOUT=-1s",
	}})
	fmt.Println(err)
	// Output:
	// invalid configuration:
	//   env GRAPH_PROXY_GRAPH_CLOUD: graph.cloud: "moon" is not one of china, global, usgov, usgovdod
	//   env GRAPH_PROXY_GRAPH_TIMEOUT: graph.timeout: must be positive
}
