// graph-proxy: Microsoft Graph egress control in the customer's own
// subscription. Deploys the identity, the Key Vault holding the policy (a
// secret the proxy polls for new versions) and, in the keyVault modes, the
// app credential, the audit log's workspace, table, data collection
// endpoint and rule, the container app and, with sharedLimits, the Azure
// Managed Redis its replicas share their limits in. Graph permissions are
// granted afterwards with scripts/Grant-GraphPermissions.ps1: a deployment
// cannot grant them.
//
// marketplace/mainTemplate.json is this template kept by hand in classic
// ARM JSON, the modules flattened into one template; it is not the output
// of `az bicep build` (which would turn each module into a nested
// deployment), so change both together. make test holds the two to the
// same parameters, resources (type@apiVersion), properties and literal
// values, and checks both against Azure's resource type data
// (deploy/azuretypes).
targetScope = 'resourceGroup'

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Prefix of every resource name, and the container app\'s name: lower-case letters, digits and single hyphens, starting with a letter and ending with a letter or digit.')
@minLength(3)
@maxLength(20)
param namePrefix string = 'graph-proxy'

@description('How the proxy obtains its Graph token: managedIdentity (the identity this template creates holds the Graph permissions), keyVaultSecret or keyVaultCertificate (an app registration whose credential is kept in the Key Vault this template creates), federated (an app registration that trusts the identity: no secret).')
@allowed([
  'managedIdentity'
  'keyVaultSecret'
  'keyVaultCertificate'
  'federated'
])
param upstreamMode string = 'managedIdentity'

@description('Client id of the app registration the proxy uses for Graph: your own, or the vendor\'s multi-tenant app consented in this tenant. Required in every upstreamMode but managedIdentity.')
param appClientId string = ''

@description('The Microsoft Graph the proxy calls (graph.cloud): auto for that of the Azure cloud deployed to (global, usgov or china); usgovdod (US Government DoD) is never chosen by auto.')
@allowed([
  'auto'
  'global'
  'usgov'
  'usgovdod'
  'china'
])
param graphCloud string = 'auto'

@description('Tenant ids whose vendor tokens the proxy accepts.')
param vendorTenantIds array

@description('Application id URI of the proxy\'s app registration: the audience of vendor tokens.')
param proxyAudience string

@description('The vendor\'s egress CIDRs; empty allows any address.')
param vendorCidrs array = []

@description('Client certificates at the ingress: ignore, accept or require.')
@allowed([
  'ignore'
  'accept'
  'require'
])
param clientCertificateMode string = 'ignore'

@description('PEM bundle of the CAs that issue vendor client certificates: required with accept or require.')
param vendorClientCaPem string = ''

@description('CIDRs the Container Apps ingress connects to the container from (with accept or require): the proxy believes a forwarded client certificate from these only and refuses it (401) from any other peer. Default: the ranges a workload profiles environment reserves for its infrastructure; see docs/installation.md.')
param trustedProxyCidrs array = [
  '100.100.0.0/17'
  '100.100.128.0/19'
  '100.100.160.0/19'
  '100.100.192.0/19'
]

@description('The container image.')
param containerImage string

@description('The policy (YAML): the allow-list, stored as a new version of the Key Vault secret policySecretName, which the proxy polls; required at the first deployment. Every value given becomes the newest version, over any version applied since with az keyvault secret set: on redeploy, leave policyYaml empty to keep the policy in force (or pass the policy in force). See docs/installation.md.')
param policyYaml string = ''

@description('Name of the Key Vault secret holding the policy (policy.keyVault.secretURI): the proxy follows its newest version.')
@minLength(1)
@maxLength(127)
param policySecretName string = 'graph-proxy-policy'

@description('How often the proxy reads the policy secret for a new version (policy.keyVault.pollInterval, a Go duration from 1s to 1h, e.g. 30s or 2m); empty leaves the proxy\'s default, 30s.')
param policyPollInterval string = ''

@description('Name of the Key Vault secret holding the app credential (keyVault modes).')
param keyVaultSecretName string = 'graph-proxy-credential'

@description('Ends the Key Vault\'s name (letters and digits). Keep it across redeployments, so that an upgrade keeps the vault; give a new value to reinstall while the previous vault is soft-deleted (the Marketplace wizard makes a new one unless given the old one). See docs/installation.md.')
@minLength(1)
@maxLength(13)
param keyVaultNameSuffix string = uniqueString(resourceGroup().id)

@description('Name of the Key Vault key that signs the audit log\'s checkpoints (audit.checkpoint.keyID): EC P-256, sign and verify only; the identity holds Key Vault Crypto User on this key alone. A deployment creates its first version and leaves an existing key as it is.')
@minLength(1)
@maxLength(127)
param auditCheckpointKeyName string = 'audit-checkpoint'

@description('Object id of a user, group or service principal to hold Key Vault Secrets Officer on the policy secret, to change the policy (az keyvault secret set); empty grants nobody. The secret must exist: give policyYaml, or deploy after a deployment that did.')
param policyOperatorPrincipalId string = ''

@description('What policyOperatorPrincipalId is: User, Group or ServicePrincipal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param policyOperatorPrincipalType string = 'User'

@description('Days the audit log is kept.')
@minValue(30)
@maxValue(730)
param auditRetentionInDays int = 365

@description('Also write every audit record to the container\'s console, which Container Apps ships to ContainerAppConsoleLogs_CL: a second, untyped copy, billed again. Off, the records go to GraphProxyAudit_CL alone, and calls are refused (503) while Logs Ingestion cannot take them. See docs/operator-guide.md.')
param auditToConsole bool = false

@description('Deploy the alert rules on the audit table (refusal spikes, new routes, permissions and mailboxes, audit chain gaps, stale checkpoints, token failures): see docs/audit.md, "In Azure". The workbook and the query pack are deployed either way.')
param alertRules bool = true

@description('Resource id of an existing action group the alert rules notify; empty deploys the rules without actions, and their alerts appear in Azure Monitor only.')
param alertActionGroupId string = ''

@description('Also alert on Microsoft Graph calls by the proxy\'s identity that the proxy has no record of. Needs Microsoft Graph activity logs (Entra diagnostic setting MicrosoftGraphActivityLogs) sent to this deployment\'s workspace first: the rule\'s query is validated against the table when the rule is created.')
param graphActivityAlert bool = false

@description('Fewest replicas of the proxy; 0 lets Container Apps stop them all when no call comes (the next call then waits for one to start).')
@minValue(0)
@maxValue(5)
param minReplicas int = 1

@description('Most replicas Container Apps runs under load (the scale rule adds one per scaleConcurrentRequests calls in flight). With more than one, deploy sharedLimits too: otherwise each replica enforces the policy\'s rate and concurrency limits on its own, and N replicas admit N times them.')
@minValue(1)
@maxValue(300)
param maxReplicas int = 5

@description('Calls in flight per replica above which Container Apps adds a replica (the HTTP concurrency scale rule).')
@minValue(1)
@maxValue(1000)
param scaleConcurrentRequests int = 50

@description('Deploy an Azure Managed Redis in which every replica counts the policy\'s rate and concurrency limits (limits.store: redis), so that they hold for the deployment as a whole; the identity signs in with its Entra token (no access keys). While Redis is down or slow each replica counts its own calls against the limits divided by the replica count. Off, each replica limits its own calls.')
param sharedLimits bool = false

@description('The Azure Managed Redis SKU with sharedLimits: Balanced_B0 (the smallest) is plenty for the proxy\'s keys; see Azure Managed Redis pricing for others (Balanced_B1, MemoryOptimized_M10, ...).')
param redisSkuName string = 'Balanced_B0'

@description('Give the proxy one static outbound IP address (output egressIpAddress): a virtual network, a NAT gateway with a public IP, and a workload profiles environment in the network, so that a Conditional Access policy can hold the proxy\'s service principal to that address (deploy/conditional-access). Choose at installation: an environment\'s network cannot be changed later.')
param staticEgress bool = false

@description('With staticEgress: the address space of the virtual network created for it, and the environment\'s subnet inside it (/27 or larger). Neither may overlap a network yours is peered with.')
param egressAddressPrefix string = '10.90.0.0/26'
param egressSubnetPrefix string = '10.90.0.0/27'

@description('Instead of staticEgress: a subnet of your own (delegated to Microsoft.App/environments, /27 or larger) for the environment, whose egress you control (your NAT gateway or firewall). Choose at installation.')
param infrastructureSubnetId string = ''

@description('Key Vault secrets, in the deployment\'s vault, holding keys the proxy follows (docs/installation.md, "Keys in Key Vault"): the pseudonym key (a rule\'s response.pseudonymise), the secret that seals relayed notification URLs (callers[].notifications: relay) and the one that seals file links (a rule\'s content). Each is a name; empty configures none. Create each secret first (az keyvault secret set --value "$(openssl rand -base64 48)"): a named secret the proxy cannot read stops its start.')
param pseudonymKeySecretName string = ''
param notificationKeySecretName string = ''
param fileLinkKeySecretName string = ''

@description('Tags for every resource.')
param tags object = {}

var cloudNames = {
  AzureCloud: 'global'
  AzureUSGovernment: 'usgov'
  AzureChinaCloud: 'china'
}
var cloud = graphCloud == 'auto' ? cloudNames[?environment().name] ?? 'global' : graphCloud
// The Key Vault is created in every mode: it holds the policy. usesVault
// says whether it also holds the app credential.
var usesVault = upstreamMode == 'keyVaultSecret' || upstreamMode == 'keyVaultCertificate'
// namePrefix is the container app's name and begins every other name:
// lower-case letters, digits and single hyphens, starting with a letter and
// ending with a letter or digit (Container Apps' rule; a vault name must
// start with a letter too). keyVaultNameSuffix ends the vault's name:
// letters and digits. Parameter decorators can only bound their length, so
// the rest is checked here, when ARM validates the template, before
// anything is created (namePrefix 1proxy made the vault name 1proxy-…,
// which Key Vault refuses).
var namePrefixValid = contains('abcdefghijklmnopqrstuvwxyz', take(namePrefix, 1)) && !endsWith(namePrefix, '-') && !contains(namePrefix, '--') && empty(filter(range(0, length(namePrefix)), i => !contains('abcdefghijklmnopqrstuvwxyz0123456789-', substring(namePrefix, i, 1))))
var keyVaultNameSuffixValid = empty(filter(range(0, length(keyVaultNameSuffix)), i => !contains('abcdefghijklmnopqrstuvwxyz0123456789', substring(toLower(keyVaultNameSuffix), i, 1))))
// A deleted vault keeps its name for its soft-delete retention (90 days;
// purge protection forbids purging it sooner), so a reinstall into the same
// resource group needs either the vault recovered or a new suffix
// (docs/installation.md). The prefix loses its hyphens and is cut so that
// the whole suffix fits in the 24 characters a vault name may have; it
// starts with a letter, so the name does.
var vaultName = !namePrefixValid
  ? fail('namePrefix ${namePrefix}: use lower-case letters, digits and single hyphens, starting with a letter and ending with a letter or digit (it is the container app\'s name and begins the Key Vault\'s).')
  : !keyVaultNameSuffixValid
      ? fail('keyVaultNameSuffix ${keyVaultNameSuffix}: use letters and digits only (it ends the Key Vault\'s name).')
      : '${take(replace(namePrefix, '-', ''), 23 - length(keyVaultNameSuffix))}-${keyVaultNameSuffix}'

// Combinations graph-proxy refuses at every start (exit 2, a revision that
// never becomes ready) fail the deployment instead: ARM evaluates these
// variables when it validates the template, before it creates anything.
var upstreamClientId = upstreamMode == 'managedIdentity' || !empty(appClientId)
  ? appClientId
  : fail('upstreamMode ${upstreamMode} needs appClientId: the client id of the app registration the proxy uses for Graph.')
// Container Apps refuses a minimum above the maximum; said here, before
// anything is created.
var replicas = minReplicas <= maxReplicas
  ? maxReplicas
  : fail('minReplicas ${minReplicas} is above maxReplicas ${maxReplicas}.')
var clientCaFile = clientCertificateMode == 'ignore'
  ? ''
  : contains(vendorClientCaPem, '-----BEGIN CERTIFICATE-----')
      ? '/etc/graph-proxy/secrets/client-ca'
      : fail('clientCertificateMode ${clientCertificateMode} needs vendorClientCaPem: the PEM bundle of the CAs that issue the vendor client certificates.')

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: '${namePrefix}-id'
    location: location
    tags: tags
  }
}

// The vault, the policy secret (a new version only when policyYaml is
// given), the checkpoint key, and the identity's roles: Key Vault Secrets
// User on the vault, Key Vault Crypto User on the key. The container app
// reads the module's outputs, so it is deployed after all of them: its
// first start finds the roles, the secret and the key in place.
module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: vaultName
    location: location
    identityPrincipalId: identity.outputs.principalId
    identityId: identity.outputs.id
    policySecretName: policySecretName
    policyYaml: policyYaml
    auditCheckpointKeyName: auditCheckpointKeyName
    policyOperatorPrincipalId: policyOperatorPrincipalId
    policyOperatorPrincipalType: policyOperatorPrincipalType
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    namePrefix: namePrefix
    location: location
    identityPrincipalId: identity.outputs.principalId
    identityId: identity.outputs.id
    retentionInDays: auditRetentionInDays
    tags: tags
  }
}

// The security team's workbook, saved queries and alert rules on the
// audit table. The workspace's name comes from the monitoring module, so
// they are created once the table is: the rules' queries are validated
// against it.
module views 'modules/views.bicep' = {
  name: 'views'
  params: {
    namePrefix: namePrefix
    location: location
    tags: tags
    workspaceName: monitoring.outputs.workspaceName
    alertRules: alertRules
    actionGroupId: alertActionGroupId
    graphActivityAlert: graphActivityAlert
    // Graph logs a managed identity's calls under its client id.
    proxyAppId: upstreamMode == 'managedIdentity' ? identity.outputs.clientId : appClientId
  }
}

// The policy: the Key Vault secret, never a file (the proxy refuses a
// policy file beside it).
var policyEnv = concat([
  {
    name: 'GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI'
    value: vault.outputs.policySecretUri
  }
], empty(policyPollInterval) ? [] : [
  {
    name: 'GRAPH_PROXY_POLICY_KEYVAULT_POLLINTERVAL'
    value: policyPollInterval
  }
])

// One copy of each record in Log Analytics by default: the typed,
// hash-chained GraphProxyAudit_CL, through the data collection rule.
// Container Apps ships the console to ContainerAppConsoleLogs_CL as well,
// so stdout beside it would have every record ingested, and billed, twice
// (docs/operator-guide.md, "Where the audit records go").
var auditSinks = auditToConsole ? 'stdout,azureMonitor' : 'azureMonitor'

var vaultEnv = usesVault ? [
  {
    name: 'GRAPH_PROXY_UPSTREAM_KEYVAULT_URL'
    value: vault.outputs.uri
  }
  {
    name: 'GRAPH_PROXY_UPSTREAM_KEYVAULT_SECRETNAME'
    value: keyVaultSecretName
  }
] : []

// The keys the proxy follows in Key Vault, each when named.
var keyEnv = concat(empty(pseudonymKeySecretName) ? [] : [
  {
    name: 'GRAPH_PROXY_PSEUDONYMKEY_SECRETURI'
    value: '${vault.outputs.uri}secrets/${pseudonymKeySecretName}'
  }
], empty(notificationKeySecretName) ? [] : [
  {
    name: 'GRAPH_PROXY_NOTIFICATIONS_SECRETURI'
    value: '${vault.outputs.uri}secrets/${notificationKeySecretName}'
  }
], empty(fileLinkKeySecretName) ? [] : [
  {
    name: 'GRAPH_PROXY_FILES_SECRETURI'
    value: '${vault.outputs.uri}secrets/${fileLinkKeySecretName}'
  }
])

var mtlsEnv = clientCertificateMode != 'ignore' ? [
  {
    name: 'GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER'
    value: 'X-Forwarded-Client-Cert'
  }
  {
    name: 'GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS'
    value: clientCaFile
  }
  {
    name: 'GRAPH_PROXY_INBOUND_TRUSTEDPROXIES'
    value: join(trustedProxyCidrs, ',')
  }
] : []

// The replicas' shared limits: Azure Managed Redis, with the identity
// granted data access.
module redis 'modules/redis.bicep' = if (sharedLimits) {
  name: 'redis'
  params: {
    name: '${namePrefix}-redis'
    location: location
    tags: tags
    skuName: redisSkuName
    identityPrincipalId: identity.outputs.principalId
  }
}

// limits.redis.auth and tls keep their defaults (entra, true); until Redis
// has said how many replicas are alive, the fallback assumes the most.
var redisEnv = sharedLimits ? [
  {
    name: 'GRAPH_PROXY_LIMITS_STORE'
    value: 'redis'
  }
  {
    name: 'GRAPH_PROXY_LIMITS_REDIS_ADDRESS'
    value: redis.outputs.address
  }
  {
    name: 'GRAPH_PROXY_LIMITS_REDIS_ASSUMEDREPLICAS'
    value: string(replicas)
  }
] : []

module network 'modules/network.bicep' = if (staticEgress) {
  name: 'network'
  params: {
    namePrefix: namePrefix
    location: location
    tags: tags
    addressPrefix: egressAddressPrefix
    subnetPrefix: egressSubnetPrefix
  }
}

module app 'modules/containerapp.bicep' = {
  name: 'containerapp'
  params: {
    namePrefix: namePrefix
    location: location
    tags: tags
    image: containerImage
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    workspaceName: monitoring.outputs.workspaceName
    clientCaPem: vendorClientCaPem
    vendorCidrs: vendorCidrs
    clientCertificateMode: clientCertificateMode
    minReplicas: minReplicas
    maxReplicas: replicas
    concurrentRequests: scaleConcurrentRequests
    infrastructureSubnetId: staticEgress ? network!.outputs.subnetId : infrastructureSubnetId
    env: concat([
      {
        name: 'GRAPH_PROXY_LISTEN'
        value: ':8080'
      }
      {
        name: 'GRAPH_PROXY_GRAPH_CLOUD'
        value: cloud
      }
      {
        name: 'GRAPH_PROXY_INBOUND_ENTRA_TENANTS'
        value: join(vendorTenantIds, ',')
      }
      {
        name: 'GRAPH_PROXY_INBOUND_ENTRA_AUDIENCE'
        value: proxyAudience
      }
      {
        name: 'GRAPH_PROXY_UPSTREAM_MODE'
        value: upstreamMode
      }
      {
        name: 'GRAPH_PROXY_UPSTREAM_TENANTID'
        value: tenant().tenantId
      }
      {
        name: 'GRAPH_PROXY_UPSTREAM_CLIENTID'
        value: upstreamClientId
      }
      {
        name: 'GRAPH_PROXY_AUDIT_SINKS'
        value: auditSinks
      }
      {
        name: 'GRAPH_PROXY_AUDIT_AZUREMONITOR_ENDPOINT'
        value: monitoring.outputs.ingestionEndpoint
      }
      {
        name: 'GRAPH_PROXY_AUDIT_AZUREMONITOR_RULEID'
        value: monitoring.outputs.ruleImmutableId
      }
      {
        name: 'GRAPH_PROXY_AUDIT_AZUREMONITOR_STREAM'
        value: monitoring.outputs.streamName
      }
      {
        name: 'GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID'
        value: vault.outputs.auditCheckpointKeyUri
      }
    ], policyEnv, vaultEnv, keyEnv, mtlsEnv, redisEnv)
  }
}

@description('The URL vendors set as their Graph base URL.')
output proxyUrl string = 'https://${app.outputs.fqdn}'

@description('The managed identity\'s principal (object) id: in managedIdentity mode grant it the Graph permissions the policy needs (scripts/Grant-GraphPermissions.ps1); in federated mode it is the subject of the federated credential on the app registration.')
output identityPrincipalId string = identity.outputs.principalId

@description('The managed identity\'s client (application) id, which the proxy selects the identity by. Not the subject of a federated credential: that is identityPrincipalId.')
output identityClientId string = identity.outputs.clientId

@description('The Key Vault holding the policy (secret policySecretName) and, in the keyVault modes, the app credential.')
output keyVaultName string = vault.outputs.name

@description('The policy\'s Key Vault secret without a version (policy.keyVault.secretURI): a new version stored there is the policy the proxy applies next (docs/operator-guide.md).')
output policySecretUri string = vault.outputs.policySecretUri

@description('The key that signs the audit log\'s checkpoints, without a version (audit.checkpoint.keyID): its public versions verify them (docs/audit.md).')
output auditCheckpointKeyUri string = vault.outputs.auditCheckpointKeyUri

@description('With staticEgress: the proxy\'s one outbound IP address, for the Conditional Access named location (deploy/conditional-access); empty otherwise.')
output egressIpAddress string = staticEgress ? network!.outputs.egressIpAddress : ''
