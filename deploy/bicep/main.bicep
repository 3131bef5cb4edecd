// graph-proxy: Microsoft Graph egress control in the customer's own
// subscription. Deploys the identity, Key Vault, the audit log's
// workspace, table, data collection endpoint and rule, and the container
// app. Graph permissions are granted afterwards with
// scripts/Grant-GraphPermissions.ps1: a deployment cannot grant them.
//
// marketplace/mainTemplate.json is this template in ARM JSON: after a
// change here, run `az bicep build --file deploy/bicep/main.bicep --outfile
// marketplace/mainTemplate.json` on a machine with the Bicep CLI (make test
// checks that their parameters agree).
targetScope = 'resourceGroup'

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Prefix of every resource name.')
@minLength(3)
@maxLength(20)
param namePrefix string = 'graph-proxy'

@description('singleTenant: the proxy\'s own app registration in this tenant. multiTenant: the vendor\'s multi-tenant app, trusted through workload identity federation or a credential in Key Vault.')
@allowed([
  'singleTenant'
  'multiTenant'
])
param deploymentMode string = 'singleTenant'

@description('How the proxy obtains its Graph token.')
@allowed([
  'managedIdentity'
  'keyVaultSecret'
  'keyVaultCertificate'
  'federated'
])
param upstreamMode string = 'managedIdentity'

@description('Client id of the app registration the proxy uses for Graph (all modes but managedIdentity).')
param appClientId string = ''

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

@description('PEM bundle of the CAs that issue vendor client certificates (with accept or require).')
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

@description('The policy file (YAML): the allow-list.')
param policyYaml string

@description('Name of the Key Vault secret holding the app credential (keyVault modes).')
param keyVaultSecretName string = 'graph-proxy-credential'

@description('Days the audit log is kept.')
@minValue(30)
@maxValue(730)
param auditRetentionInDays int = 365

@description('Tags for every resource.')
param tags object = {}

var cloudNames = {
  AzureCloud: 'global'
  AzureUSGovernment: 'usgov'
  AzureChinaCloud: 'china'
}
var graphCloud = cloudNames[?environment().name] ?? 'global'
var usesVault = upstreamMode == 'keyVaultSecret' || upstreamMode == 'keyVaultCertificate'
var suffix = uniqueString(resourceGroup().id)

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: '${namePrefix}-id'
    location: location
    tags: tags
  }
}

module vault 'modules/keyvault.bicep' = if (usesVault) {
  name: 'keyvault'
  params: {
    name: take('${namePrefix}-${suffix}', 24)
    location: location
    identityPrincipalId: identity.outputs.principalId
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    namePrefix: namePrefix
    location: location
    identityPrincipalId: identity.outputs.principalId
    retentionInDays: auditRetentionInDays
    tags: tags
  }
}

var vaultEnv = usesVault ? [
  {
    name: 'GRAPH_PROXY_UPSTREAM_KEYVAULT_URL'
    value: vault!.outputs.uri
  }
  {
    name: 'GRAPH_PROXY_UPSTREAM_KEYVAULT_SECRETNAME'
    value: keyVaultSecretName
  }
] : []

var mtlsEnv = clientCertificateMode != 'ignore' ? [
  {
    name: 'GRAPH_PROXY_INBOUND_MTLS_CLIENTCERTHEADER'
    value: 'X-Forwarded-Client-Cert'
  }
  {
    name: 'GRAPH_PROXY_INBOUND_MTLS_TRUSTEDCAS'
    value: '/etc/graph-proxy/policy/client-ca'
  }
  {
    name: 'GRAPH_PROXY_INBOUND_TRUSTEDPROXIES'
    value: join(trustedProxyCidrs, ',')
  }
] : []

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
    policyYaml: policyYaml
    clientCaPem: vendorClientCaPem
    vendorCidrs: vendorCidrs
    clientCertificateMode: clientCertificateMode
    env: concat([
      {
        name: 'GRAPH_PROXY_LISTEN'
        value: ':8080'
      }
      {
        name: 'GRAPH_PROXY_GRAPH_CLOUD'
        value: graphCloud
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
        value: appClientId
      }
      {
        name: 'GRAPH_PROXY_AUDIT_SINKS'
        value: 'stdout,azureMonitor'
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
    ], vaultEnv, mtlsEnv)
  }
}

@description('The URL vendors set as their Graph base URL.')
output proxyUrl string = 'https://${app.outputs.fqdn}'

@description('The managed identity: grant it the Graph permissions the policy needs (scripts/Grant-GraphPermissions.ps1).')
output identityPrincipalId string = identity.outputs.principalId

@description('The managed identity\'s client id (subject of a federated credential in federated mode).')
output identityClientId string = identity.outputs.clientId

@description('The Key Vault to store the app credential in (keyVault modes).')
output keyVaultName string = usesVault ? vault!.outputs.name : ''

@description('The deployment mode, echoed for the operator scripts.')
output deploymentMode string = deploymentMode
