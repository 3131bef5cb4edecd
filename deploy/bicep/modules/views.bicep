// The security team's views of the audit table GraphProxyAudit_CL: an
// Azure Monitor workbook, a query pack holding the saved queries of
// docs/audit.md, and scheduled query alert rules (docs/audit.md, "In
// Azure"). Every query is one file: deploy/kql/*.kql, and the workbook
// deploy/workbook/audit.json. They are loaded here; mainTemplate.json
// carries the same text inline and docs/audit.md shows the saved queries,
// which deploy's tests hold equal, and `make syntax` parses every query
// with Kusto's own parser against the table's columns.
param namePrefix string
param location string
param tags object = {}

@description('The Log Analytics workspace holding GraphProxyAudit_CL (its table must exist: the alert rules\' queries are validated when the rules are created).')
param workspaceName string

@description('Deploy the alert rules.')
param alertRules bool = true

@description('Resource id of an existing action group every alert rule notifies; empty leaves the rules without actions (alerts appear in Azure Monitor only).')
param actionGroupId string = ''

@description('Deploy the rule that joins MicrosoftGraphActivityLogs, a table only workspaces receiving Microsoft Graph activity logs have.')
param graphActivityAlert bool = false

@description('The application (client) id Graph logs for the proxy\'s calls: the managed identity\'s, or the app registration\'s.')
param proxyAppId string

var actionGroups = empty(actionGroupId) ? [] : [
  actionGroupId
]
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource workspace 'Microsoft.OperationalInsights/workspaces@2026-03-01' existing = {
  name: workspaceName
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(workspace.id, 'graph-proxy audit workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'graph-proxy audit'
    category: 'workbook'
    sourceId: workspace.id
    version: 'Notebook/1.0'
    serializedData: loadTextContent('../../workbook/audit.json')
  }
}

resource pack 'Microsoft.OperationalInsights/queryPacks@2026-03-01' = {
  name: '${namePrefix}-queries'
  location: location
  tags: tags
  properties: {}
}

resource exportQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'audit-export')
  properties: {
    displayName: 'graph-proxy: export whole chains for audit verify'
    description: 'Every record\'s columns and line, by whole chain segments, for graph-proxy audit verify (set windowStart and windowEnd).'
    body: loadTextContent('../../kql/audit-export.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource vendorActivityQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'vendor-activity')
  properties: {
    displayName: 'graph-proxy: what each vendor app touched'
    description: 'Calls forwarded in the last 7 days by caller, app, method and route, with the people they touched.'
    body: loadTextContent('../../kql/vendor-activity.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource refusalsQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'refusals')
  properties: {
    displayName: 'graph-proxy: what was refused, and why'
    description: 'Calls denied (or that report-only mode would deny) and 401 and 403 answers in the last 7 days, by caller, reason and route.'
    body: loadTextContent('../../kql/refusals.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource callsPerUserQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'calls-per-user')
  properties: {
    displayName: 'graph-proxy: calls per user'
    description: 'Calls in the last 7 days per person touched (target) and caller.'
    body: loadTextContent('../../kql/calls-per-user.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource fileContentQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'file-content')
  properties: {
    displayName: 'graph-proxy: file content read and written'
    description: 'Files each caller read or wrote through the proxy in the last 7 days, with the bytes each way.'
    body: loadTextContent('../../kql/file-content.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource graphJoinQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'graph-join')
  properties: {
    displayName: 'graph-proxy: calls joined with Graph activity logs'
    description: 'Every call the proxy made in the last day beside Microsoft\'s record of it (MicrosoftGraphActivityLogs, by client-request-id).'
    body: loadTextContent('../../kql/graph-join.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource graphWithoutRecordQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'graph-without-record')
  properties: {
    displayName: 'graph-proxy: Graph calls without a proxy record'
    description: 'Calls Microsoft Graph logged for the proxy\'s app that the proxy has no record of (set proxyAppId); should be empty.'
    body: loadTextContent('../../kql/graph-without-record.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource graphActivityExportQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'graph-activity-export')
  properties: {
    displayName: 'graph-proxy: Graph activity for reconcile'
    description: 'Microsoft Graph activity logged for the proxy\'s app and the vendors\' own apps over a window (set windowStart, windowEnd, proxyApp): export it with the audit export over the same window for graph-proxy audit reconcile.'
    body: loadTextContent('../../kql/graph-activity-export.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource signedInUserQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'calls-per-signed-in-user')
  properties: {
    displayName: 'graph-proxy: what the vendor did as whom'
    description: 'Delegated calls (on behalf of a signed-in user) over the last 7 days, per user and caller: how many, how many refused, and on which routes.'
    body: loadTextContent('../../kql/calls-per-signed-in-user.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource chainGapsQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'chain-gaps')
  properties: {
    displayName: 'graph-proxy: gaps in a replica\'s chain'
    description: 'Records missing from each replica\'s hash chain in the last 7 days; should be empty.'
    body: loadTextContent('../../kql/chain-gaps.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource checkpointsQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'checkpoints')
  properties: {
    displayName: 'graph-proxy: checkpoints per replica'
    description: 'Each replica\'s newest signed checkpoint, its age, and checkpoints that failed to sign, over the last day.'
    body: loadTextContent('../../kql/checkpoints.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

resource throttlingQuery 'Microsoft.OperationalInsights/queryPacks/queries@2026-03-01' = {
  parent: pack
  name: guid(pack.id, 'throttling')
  properties: {
    displayName: 'graph-proxy: throttling by Graph'
    description: 'Graph\'s 429 answers over the last day, by 5 minutes and caller, with the Retry-After they asked for.'
    body: loadTextContent('../../kql/throttling.kql')
    related: {
      categories: [
        'audit'
      ]
      resourceTypes: [
        'microsoft.operationalinsights/workspaces'
      ]
    }
    tags: {
      labels: [
        'graph-proxy'
      ]
    }
  }
}

// The rules query the workspace as an identity of their own, which reads
// it and nothing else: without one, a rule queries with the rights of
// whoever last edited it, and stops when that person loses them.
resource alertIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = if (alertRules) {
  name: '${namePrefix}-alerts-id'
  location: location
  tags: tags
}

resource alertReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (alertRules) {
  name: guid(workspace.id, alertIdentity.id, reader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: alertIdentity!.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource refusalSpikeRule 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = if (alertRules) {
  name: '${namePrefix}-refusal-spike'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${alertIdentity.id}': {}
    }
  }
  properties: {
    displayName: 'graph-proxy: refusals spike'
    description: 'A caller was refused at least 10 times in 15 minutes, over three times its rate of the two days before. Open the workbook (Refusals) or the saved query "what was refused, and why": a vendor release calling routes the policy does not allow, a misconfigured caller, or someone probing with the vendor\'s credentials.'
    severity: 2
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../../kql/alert-refusal-spike.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'caller_name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
  dependsOn: [
    alertReader
  ]
}

resource newRouteRule 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = if (alertRules) {
  name: '${namePrefix}-new-route-or-permission'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${alertIdentity.id}': {}
    }
  }
  properties: {
    displayName: 'graph-proxy: a caller used a new route or permission'
    description: 'A caller made a call on a route (method and path template) or under a Graph permission it had not used in the two days before. Expected after a policy change or a vendor release; otherwise check the calls (workbook, Calls by caller) against what the vendor said it needs.'
    severity: 2
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../../kql/alert-new-route-or-permission.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'caller_name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: actionGroups
    }
  }
  dependsOn: [
    alertReader
  ]
}

resource newTargetRule 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = if (alertRules) {
  name: '${namePrefix}-new-target'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${alertIdentity.id}': {}
    }
  }
  properties: {
    displayName: 'graph-proxy: a caller touched a new mailbox'
    description: 'A caller\'s calls touched a person (mailbox, user id or address) they had not touched in the two days before. Usual for a scheduling vendor meeting new people; look for names outside the group or domains the policy means, or many at once.'
    severity: 3
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../../kql/alert-new-target.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'caller_name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: actionGroups
    }
  }
  dependsOn: [
    alertReader
  ]
}

resource chainGapsRule 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = if (alertRules) {
  name: '${namePrefix}-audit-chain-gaps'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${alertIdentity.id}': {}
    }
  }
  properties: {
    displayName: 'graph-proxy: records missing from the audit chain'
    description: 'A replica\'s chain skips records (seq) the table does not hold: the azureMonitor sink failed past its retry budget (the proxy logs "audit sink failing"), or rows were removed. Check the proxy\'s log and /status, then verify an export with graph-proxy audit verify (docs/audit.md).'
    severity: 1
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    overrideQueryTimeRange: 'PT35M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../../kql/alert-chain-gaps.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'replica'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: actionGroups
    }
  }
  dependsOn: [
    alertReader
  ]
}

resource staleCheckpointRule 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = if (alertRules) {
  name: '${namePrefix}-audit-stale-checkpoint'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${alertIdentity.id}': {}
    }
  }
  properties: {
    displayName: 'graph-proxy: audit records without a signed checkpoint'
    description: 'A replica wrote records that no signed checkpoint has covered for twice the checkpoint interval (10 minutes at the default 5), or a checkpoint failed to sign: the checkpoint key is unreachable (the proxy logs "audit checkpoint: signing failed"), the replica stopped without closing its chain, or its records stopped reaching the table. Check the proxy\'s log and the workbook (Audit health).'
    severity: 2
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    overrideQueryTimeRange: 'P1D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../../kql/alert-stale-checkpoint.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'replica'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
  dependsOn: [
    alertReader
  ]
}

resource tokenFailuresRule 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = if (alertRules) {
  name: '${namePrefix}-token-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${alertIdentity.id}': {}
    }
  }
  properties: {
    displayName: 'graph-proxy: the proxy cannot use its Graph token'
    description: 'Calls answered 503 graphProxy.tokenUnavailable (the proxy could not obtain its Graph token) or refused by Graph with 401. Read the proxy\'s log line "Graph token acquisition failed" and its fix, and run graph-proxy check in the container (docs/operator-guide.md).'
    severity: 1
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../../kql/alert-token-failures.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
  dependsOn: [
    alertReader
  ]
}

resource graphWithoutRecordRule 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = if (alertRules && graphActivityAlert) {
  name: '${namePrefix}-graph-without-record'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${alertIdentity.id}': {}
    }
  }
  properties: {
    displayName: 'graph-proxy: Graph calls by the proxy\'s identity without a proxy record'
    description: 'Microsoft Graph logged calls by the proxy\'s app that the proxy has no record of: its token or credential used elsewhere, or audit records lost. Look at IPAddress and UserAgent; if the calls are not the proxy\'s, rotate the credential (or remove the managed identity\'s Graph roles) and investigate.'
    severity: 0
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'PT3H'
    criteria: {
      allOf: [
        {
          query: replace(loadTextContent('../../kql/alert-graph-without-record.kql'), '__PROXY_APP_ID__', proxyAppId)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: actionGroups
    }
  }
  dependsOn: [
    alertReader
  ]
}

resource vendorDirectRule 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = if (alertRules && graphActivityAlert) {
  name: '${namePrefix}-vendor-direct'
  location: location
  tags: tags
  kind: 'LogAlert'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${alertIdentity.id}': {}
    }
  }
  properties: {
    displayName: 'graph-proxy: a vendor app calling Graph around the proxy'
    description: 'Microsoft Graph logged calls made with the token of an application that calls through the proxy: the vendor holds Graph access of its own in the tenant. Run graph-proxy check to list the permissions it holds and remove them (docs/operator-guide.md, "Proving the vendor cannot go around the proxy").'
    severity: 1
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../../kql/alert-vendor-direct.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: actionGroups
    }
  }
  dependsOn: [
    alertReader
  ]
}

output workbookId string = workbook.id
output queryPackId string = pack.id
