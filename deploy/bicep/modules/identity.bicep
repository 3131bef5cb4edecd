// The user-assigned managed identity graph-proxy runs as: it reads the app
// credential from Key Vault, writes audit records to the data collection
// rule, and (managedIdentity mode) holds the Graph application permissions.
param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
@description('The principal (object) id: what roles and Graph permissions are granted to, and the subject of a federated credential that trusts the identity.')
output principalId string = identity.properties.principalId
@description('The client (application) id: what the proxy selects the identity by (GRAPH_PROXY_UPSTREAM_MANAGEDIDENTITYCLIENTID).')
output clientId string = identity.properties.clientId
