// Static egress: the Container Apps environment's outbound traffic leaves
// through a NAT gateway with one static public IP address, so that a
// Conditional Access policy for workload identities can hold the proxy's
// service principal to that address (docs/operator-guide.md, "Proving the
// vendor cannot go around the proxy"). A NAT gateway serves only a
// workload profiles environment in a virtual network: this module creates
// the network, a subnet of its own for the environment (/27 at least,
// delegated to Microsoft.App/environments) and the gateway on that subnet.
param namePrefix string
param location string
param tags object = {}

@description('Address space of the virtual network created for the environment.')
param addressPrefix string

@description('The environment\'s subnet, inside addressPrefix: /27 or larger (a workload profiles environment\'s minimum).')
param subnetPrefix string

var subnetName = 'container-apps'

resource egressIp 'Microsoft.Network/publicIPAddresses@2025-09-01' = {
  name: '${namePrefix}-egress-ip'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource nat 'Microsoft.Network/natGateways@2025-09-01' = {
  name: '${namePrefix}-nat'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [
      {
        id: egressIp.id
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2025-09-01' = {
  name: '${namePrefix}-vnet'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: subnetName
        properties: {
          addressPrefix: subnetPrefix
          delegations: [
            {
              name: 'container-apps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          natGateway: {
            id: nat.id
          }
        }
      }
    ]
  }
}

output subnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, subnetName)
output egressIpAddress string = egressIp.properties.ipAddress
