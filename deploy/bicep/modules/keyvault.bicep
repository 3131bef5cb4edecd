// Key Vault for the policy (every mode) and the app registration's
// credential (keyVaultSecret and keyVaultCertificate modes): RBAC only,
// soft delete and purge protection, and Key Vault Secrets User for
// graph-proxy's identity — nothing more. The policy is a secret the proxy
// polls for new versions (policy.keyVault.secretURI): a change is a new
// version, applied by every running replica without a new revision.
param name string
param location string
param identityPrincipalId string
@description('Name of the secret holding the policy.')
param policySecretName string
@description('The policy (YAML): stored as a new version of the secret when not empty; empty leaves the secret, and the versions an operator applied, as they are.')
param policyYaml string = ''
param tags object = {}

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2026-02-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

// Every deployment that sets a value stores a new version, which would
// replace a policy applied since with az keyvault secret set: only a
// deployment given a policy writes one.
resource policy 'Microsoft.KeyVault/vaults/secrets@2026-02-01' = if (!empty(policyYaml)) {
  parent: vault
  name: policySecretName
  properties: {
    value: policyYaml
  }
}

// On the vault, not the secret: the secret exists only once a deployment
// (or an operator) has stored a policy, and in the keyVault modes the
// identity reads the app credential from the same vault.
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output uri string = vault.properties.vaultUri
output name string = vault.name
@description('The policy secret without a version (vaultUri ends in /): the proxy follows its newest version.')
output policySecretUri string = '${vault.properties.vaultUri}secrets/${policySecretName}'
