// The user-assigned managed identity graph-proxy runs as: it reads the app
// credential from Key Vault, writes audit records to the data collection
// rule, and (managedIdentity mode) holds the Graph application permissions.
param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
