// Azure Managed Redis, where the proxy's replicas share the policy's rate
// and concurrency limits and group membership answers (limits.store:
// redis, docs/configuration.md "Several replicas"): TLS only, Microsoft
// Entra authentication only (no access keys), and the proxy's identity
// granted data access by an access policy assignment, so that it signs in
// with its managed identity's token. Nothing is persisted: leases and
// rates live seconds to minutes, and a Redis that restarts empty costs the
// proxy a fallback to local limits, not its limits. NoEviction: a full
// Redis refuses writes, which the proxy takes as Redis failing (local
// limits), rather than evicting leases and admitting more than the limits.
param name string
param location string
param tags object = {}
@description('The Azure Managed Redis SKU, e.g. Balanced_B0.')
param skuName string
@description('The proxy identity\'s principal (object) id: its Redis user.')
param identityPrincipalId string

resource redis 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    // Container Apps without a virtual network reach the cache over its
    // public endpoint, TLS and Entra tokens only.
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: redis
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    // One endpoint, the cluster routing each key: the proxy's scripts
    // touch one caller's keys at a time, all in one hash slot.
    clusteringPolicy: 'EnterpriseCluster'
    evictionPolicy: 'NoEviction'
    accessKeysAuthentication: 'Disabled'
  }
}

resource access 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = {
  parent: database
  name: 'graphproxy'
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: identityPrincipalId
    }
  }
}

@description('host:port of the database (limits.redis.address).')
output address string = '${redis.properties.hostName}:10000'
