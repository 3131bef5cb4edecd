// The Container Apps environment and graph-proxy itself: user-assigned
// identity, external ingress limited to the vendor's egress addresses
// (optionally requiring client certificates), probes on /healthz and
// /readyz, HTTP scaling, and configuration through GRAPH_PROXY_* variables.
// The policy is not here: the proxy reads it from Key Vault
// (GRAPH_PROXY_POLICY_KEYVAULT_SECRETURI, set by main.bicep), because a
// revision keeps its Container Apps secrets as they were when it started.
// The one Container Apps secret is the vendor CAs' bundle, mounted as a
// file when given.
param namePrefix string
param location string
param tags object = {}
param image string
param identityId string
@description('The identity\'s client id, which the proxy selects it by.')
param identityClientId string
param workspaceName string
@description('Environment variables (GRAPH_PROXY_*) for the container.')
param env array
@description('PEM bundle of the vendor client certificates\' CAs; empty when unused.')
param clientCaPem string = ''

var secrets = empty(clientCaPem) ? [] : [
  {
    name: 'client-ca'
    value: clientCaPem
  }
]

@description('CIDRs of the vendor\'s egress; empty allows any address.')
param vendorCidrs array
@allowed([
  'ignore'
  'accept'
  'require'
])
param clientCertificateMode string = 'ignore'
param minReplicas int = 1
param maxReplicas int = 5
@description('Calls in flight per replica above which a replica is added.')
param concurrentRequests int = 50
@description('A subnet (delegated to Microsoft.App/environments, /27 or larger) the environment goes into, making it a workload profiles environment whose egress is that subnet\'s (a NAT gateway, a firewall); empty: the platform\'s own network and outbound addresses. A network cannot be added to or removed from an existing environment.')
param infrastructureSubnetId string = ''

resource workspace 'Microsoft.OperationalInsights/workspaces@2026-03-01' existing = {
  name: workspaceName
}

resource environment 'Microsoft.App/managedEnvironments@2026-01-01' = {
  name: '${namePrefix}-env'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
    // Outbound through a subnet of the customer's needs a workload
    // profiles environment; the proxy runs on its Consumption profile.
    vnetConfiguration: empty(infrastructureSubnetId) ? null : {
      internal: false
      infrastructureSubnetId: infrastructureSubnetId
    }
    workloadProfiles: empty(infrastructureSubnetId) ? null : [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

resource app 'Microsoft.App/containerApps@2026-01-01' = {
  name: namePrefix
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    // managedEnvironmentId is deprecated in the type data in favour of
    // environmentId.
    environmentId: environment.id
    workloadProfileName: empty(infrastructureSubnetId) ? null : 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 8080
        transport: 'auto'
        allowInsecure: false
        clientCertificateMode: clientCertificateMode
        ipSecurityRestrictions: [for (cidr, i) in vendorCidrs: {
          name: 'vendor-${i}'
          description: 'The vendor\'s egress'
          ipAddressRange: cidr
          action: 'Allow'
        }]
      }
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'graph-proxy'
          image: image
          args: [
            'serve'
          ]
          env: concat(env, [
            {
              name: 'GRAPH_PROXY_PUBLICBASEURL'
              value: 'https://${namePrefix}.${environment.properties.defaultDomain}'
            }
            {
              name: 'GRAPH_PROXY_UPSTREAM_MANAGEDIDENTITYCLIENTID'
              value: identityClientId
            }
          ])
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          // The vendor CAs' bundle at /etc/graph-proxy/secrets/client-ca
          // (main.bicep's clientCaFile).
          volumeMounts: empty(clientCaPem) ? [] : [
            {
              volumeName: 'secrets'
              mountPath: '/etc/graph-proxy/secrets'
            }
          ]
          probes: [
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
              periodSeconds: 10
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: 8080
              }
              periodSeconds: 5
            }
            {
              // Up to a minute for the first /readyz (a Graph token, the
              // vendors' signing keys, the audit log): 10 failures 6 s
              // apart. Container Apps allows failureThreshold 1-10 and
              // periodSeconds 1-240, so the minute comes from the period.
              type: 'Startup'
              httpGet: {
                path: '/readyz'
                port: 8080
              }
              periodSeconds: 6
              failureThreshold: 10
            }
          ]
        }
      ]
      volumes: empty(clientCaPem) ? [] : [
        {
          name: 'secrets'
          storageType: 'Secret'
          secrets: [
            {
              secretRef: 'client-ca'
              path: 'client-ca'
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequests)
              }
            }
          }
        ]
      }
    }
  }
}

output fqdn string = app.properties.configuration.ingress.fqdn
output name string = app.name
