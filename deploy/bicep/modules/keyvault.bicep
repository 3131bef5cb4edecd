// Key Vault for the policy (every mode), the app registration's credential
// (keyVaultSecret and keyVaultCertificate modes) and the key that signs the
// audit log's checkpoints: RBAC only, soft delete and purge protection; Key
// Vault Secrets User on the vault and Key Vault Crypto User on the
// checkpoint key for graph-proxy's identity — nothing more — and, when
// asked, Key Vault Secrets Officer on the policy secret for whoever changes
// the policy. The policy is a secret the proxy polls for new versions
// (policy.keyVault.secretURI): a change is a new version, applied by every
// running replica without a new revision.
param name string
param location string
param identityPrincipalId string
@description('The identity\'s resource id: with the scope and the role, what names its role assignments (guid()), as mainTemplate.json names them, so that deploying one template over the other finds the same assignments.')
param identityId string
@description('Name of the secret holding the policy.')
param policySecretName string
@description('The policy (YAML): stored as a new version of the secret when not empty; empty leaves the secret, and the versions an operator applied, as they are.')
param policyYaml string = ''
@description('Name of the key that signs the audit log\'s checkpoints.')
param auditCheckpointKeyName string
@description('Object id of the user, group or service principal given Key Vault Secrets Officer on the policy secret; empty gives it to nobody.')
param policyOperatorPrincipalId string = ''
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param policyOperatorPrincipalType string = 'User'
param tags object = {}

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424'

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
  name: guid(vault.id, identityId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The key that signs the audit log's checkpoints (auditlog.Checkpoint):
// EC P-256 for ES256, for signing and verifying only. It never leaves the
// vault: the proxy asks Key Vault to sign a chain head and keeps no key
// material. A deployment creates the key's first version and nothing more
// (Key Vault's keys PUT is create-if-not-exist: it neither updates a key
// nor adds a version), so a version made since (az keyvault key rotate)
// stays the newest, which the proxy signs with.
resource checkpointKey 'Microsoft.KeyVault/vaults/keys@2026-02-01' = {
  parent: vault
  name: auditCheckpointKeyName
  tags: tags
  properties: {
    kty: 'EC'
    curveName: 'P-256'
    keyOps: [
      'sign'
      'verify'
    ]
  }
}

// Key Vault Crypto User on the checkpoint key, not on the vault: the
// narrowest built-in role with keys/sign/action (the key's keyOps refuse
// the role's other operations: encrypt, decrypt, wrap, unwrap), and on no
// other key a customer keeps in the vault. Microsoft's Key Vault guidance
// prefers roles on the vault; this one is on the key on purpose
// (docs/installation.md, "What each permission is for").
resource checkpointSigner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(checkpointKey.id, identityId, keyVaultCryptoUser)
  scope: checkpointKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets Officer for whoever changes the policy, on the policy
// secret alone: new versions of the policy, its history, nothing else —
// not the app credential the keyVault modes keep in the same vault. The
// secret must exist when this runs: written by this deployment (policyYaml
// given) or by an earlier one.
resource policyOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(policyOperatorPrincipalId)) {
  name: guid(policy.id, policyOperatorPrincipalId, keyVaultSecretsOfficer)
  scope: policy
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: policyOperatorPrincipalId
    principalType: policyOperatorPrincipalType
  }
}

output uri string = vault.properties.vaultUri
output name string = vault.name
@description('The policy secret without a version (vaultUri ends in /): the proxy follows its newest version.')
output policySecretUri string = '${vault.properties.vaultUri}secrets/${policySecretName}'
@description('The checkpoint key without a version (audit.checkpoint.keyID): the proxy signs with its newest version.')
output auditCheckpointKeyUri string = checkpointKey.properties.keyUri
