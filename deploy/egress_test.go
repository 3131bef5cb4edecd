package deploy

import (
	"fmt"
	"strings"
	"testing"
)

// TestStaticEgressTemplate deploys mainTemplate.json on paper in the three
// ways the environment can reach the internet: the platform's own network
// (the default: no network resources, no workload profiles); staticEgress
// (a virtual network whose one subnet is delegated to Container Apps and
// goes out through a NAT gateway holding one static public IP, the
// environment in that subnet on its Consumption workload profile, the
// proxy on that profile, and the IP as an output for the Conditional
// Access named location); and a subnet of the customer's own (the
// environment in it, nothing created).
func TestStaticEgressTemplate(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	const ip = "20.61.0.7"
	const own = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/network/providers/Microsoft.Network/virtualNetworks/hub/subnets/graph-proxy"
	env := defaultEnv
	env.deployed = map[string]map[string]any{}
	for k, v := range defaultEnv.deployed {
		env.deployed[k] = v
	}
	env.deployed["microsoft.network/publicipaddresses"] = map[string]any{"ipAddress": ip}

	tests := []struct {
		name       string
		over       map[string]any
		wantNet    bool
		wantSubnet string // "" none; "created": the created network's subnet
		wantIP     string
	}{
		{name: "default: the platform's network"},
		{name: "static egress through a NAT gateway", over: map[string]any{"staticEgress": true}, wantNet: true, wantSubnet: "created", wantIP: ip},
		{name: "a subnet of the customer's", over: map[string]any{"infrastructureSubnetId": own}, wantSubnet: own},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := deployARM(tm, td, armArgs(tt.over), env)
			if err != nil {
				t.Fatal(err)
			}
			ips := resourcesOf(d, "Microsoft.Network/publicIPAddresses")
			nats := resourcesOf(d, "Microsoft.Network/natGateways")
			vnets := resourcesOf(d, "Microsoft.Network/virtualNetworks")
			if got := len(ips) + len(nats) + len(vnets); (got == 3) != tt.wantNet || (got != 0 && got != 3) {
				t.Fatalf("network resources deployed: %d IPs, %d NAT gateways, %d networks; want them: %v", len(ips), len(nats), len(vnets), tt.wantNet)
			}
			wantSubnet := tt.wantSubnet
			if tt.wantNet {
				ipID := resourceID{typ: "Microsoft.Network/publicIPAddresses", names: []string{ips[0].name}, env: d.env}.String()
				natID := resourceID{typ: "Microsoft.Network/natGateways", names: []string{nats[0].name}, env: d.env}.String()
				ipProps := ips[0].body["properties"].(map[string]any)
				if ipProps["publicIPAllocationMethod"] != "Static" || ips[0].body["sku"].(map[string]any)["name"] != "Standard" {
					t.Errorf("public IP %v, sku %v: want a static Standard address (a NAT gateway takes no other)", ipProps, ips[0].body["sku"])
				}
				if got := fmt.Sprint(nats[0].body["properties"].(map[string]any)["publicIpAddresses"]); got != fmt.Sprint([]any{map[string]any{"id": ipID}}) {
					t.Errorf("NAT gateway's addresses %s; want the one IP %s", got, ipID)
				}
				subnets := asSlice(vnets[0].body["properties"].(map[string]any)["subnets"])
				if len(subnets) != 1 {
					t.Fatalf("%d subnets; want the environment's one", len(subnets))
				}
				s := subnets[0].(map[string]any)
				sp := s["properties"].(map[string]any)
				if got := fmt.Sprint(sp["natGateway"]); got != fmt.Sprint(map[string]any{"id": natID}) {
					t.Errorf("subnet's NAT gateway %s; want %s", got, natID)
				}
				if got := fmt.Sprint(sp["delegations"]); !strings.Contains(got, "serviceName:Microsoft.App/environments") {
					t.Errorf("subnet's delegations %s; want Microsoft.App/environments", got)
				}
				if got := sp["addressPrefix"]; got != "10.90.0.0/27" {
					t.Errorf("subnet %v; want the /27 default", got)
				}
				wantSubnet = resourceID{typ: "Microsoft.Network/virtualNetworks/subnets", names: []string{vnets[0].name, s["name"].(string)}, env: d.env}.String()
			}

			envProps := findResource(t, d, "Microsoft.App/managedEnvironments").body["properties"].(map[string]any)
			appProps := findResource(t, d, "Microsoft.App/containerApps").body["properties"].(map[string]any)
			vnet, _ := envProps["vnetConfiguration"].(map[string]any)
			switch {
			case wantSubnet == "" && (vnet != nil || envProps["workloadProfiles"] != nil || appProps["workloadProfileName"] != nil):
				t.Errorf("environment network %v, profiles %v, app profile %v; want none", vnet, envProps["workloadProfiles"], appProps["workloadProfileName"])
			case wantSubnet != "":
				if vnet == nil || fmt.Sprint(vnet["infrastructureSubnetId"]) != wantSubnet || vnet["internal"] != false {
					t.Errorf("environment network %v; want external ingress in %s", vnet, wantSubnet)
				}
				if got := fmt.Sprint(envProps["workloadProfiles"]); got != fmt.Sprint([]any{map[string]any{"name": "Consumption", "workloadProfileType": "Consumption"}}) {
					t.Errorf("workload profiles %s; want Consumption", got)
				}
				if appProps["workloadProfileName"] != "Consumption" {
					t.Errorf("app's workload profile %v; want Consumption", appProps["workloadProfileName"])
				}
			}
			if got := d.outputs["egressIpAddress"]; got != tt.wantIP {
				t.Errorf("egressIpAddress %v; want %q", got, tt.wantIP)
			}
		})
	}
}
