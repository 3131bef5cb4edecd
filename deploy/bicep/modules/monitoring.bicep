// Where the audit records go: a Log Analytics workspace with the custom
// table GraphProxyAudit_CL (columns = the audit record's fields), and the
// data collection endpoint and rule the Logs Ingestion API writes through,
// with Monitoring Metrics Publisher for graph-proxy's identity on the rule.
param namePrefix string
param location string
param identityPrincipalId string
@description('The identity\'s resource id: what names its role assignment, with the scope and the role (guid()), as mainTemplate.json names it.')
param identityId string
param retentionInDays int = 365
param tags object = {}

var columns = loadJsonContent('audit-columns.json')
var streamName = 'Custom-GraphProxyAudit'
var tableName = 'GraphProxyAudit_CL'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2026-03-01' = {
  name: '${namePrefix}-logs'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource table 'Microsoft.OperationalInsights/workspaces/tables@2026-03-01' = {
  parent: workspace
  name: tableName
  properties: {
    plan: 'Analytics'
    retentionInDays: retentionInDays
    schema: {
      name: tableName
      columns: [for c in columns: {
        name: c.name
        type: c.type
        description: c.description
      }]
    }
  }
}

resource endpoint 'Microsoft.Insights/dataCollectionEndpoints@2024-03-11' = {
  name: '${namePrefix}-dce'
  location: location
  tags: tags
  properties: {
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource rule 'Microsoft.Insights/dataCollectionRules@2024-03-11' = {
  name: '${namePrefix}-dcr'
  location: location
  tags: tags
  properties: {
    dataCollectionEndpointId: endpoint.id
    streamDeclarations: {
      '${streamName}': {
        // The records carry time; the transformation derives TimeGenerated.
        columns: [for c in filter(columns, c => c.name != 'TimeGenerated'): {
          name: c.name
          type: c.type
        }]
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'audit'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          streamName
        ]
        destinations: [
          'audit'
        ]
        transformKql: 'source | extend TimeGenerated = todatetime([\'time\'])'
        outputStream: 'Custom-${tableName}'
      }
    ]
  }
  dependsOn: [
    table
  ]
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(rule.id, identityId, monitoringMetricsPublisher)
  scope: rule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output workspaceName string = workspace.name
output workspaceId string = workspace.id
output ingestionEndpoint string = endpoint.properties.logsIngestion.endpoint
output ruleImmutableId string = rule.properties.immutableId
output streamName string = streamName
