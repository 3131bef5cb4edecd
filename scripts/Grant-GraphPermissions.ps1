<#
.SYNOPSIS
Grants graph-proxy's identity exactly the Microsoft Graph application
permissions its policy needs.

.DESCRIPTION
A Marketplace or Bicep deployment cannot grant Graph permissions; this
script does, once the deployment has created the identity. It needs
PowerShell 7, the Microsoft.Graph PowerShell modules and, to read a
deployment, the Azure CLI (az) signed in to the deployment's subscription
and, to read the deployed policy, Key Vault Secrets User (or Secrets
Officer) on the deployment's vault; not the graph-proxy binary nor a Go
toolchain.

What it grants, and to whom:
- the principal: -PrincipalId, or else the deployment's (-ResourceGroup):
  the managed identity (output identityPrincipalId) in managedIdentity mode,
  the app registration's service principal (parameter appClientId) in the
  other modes;
- the permissions: -Permissions, or else those the policy needs, as
  `graph-proxy policy permissions` and `graph-proxy check` count them: every
  rule's permission; the one with which the proxy reads the item a reply,
  a draft sent by id or an event change refers to (Mail.ReadBasic.All,
  Calendars.ReadBasic.All), unless a permission the policy names allows
  that read; and GroupMember.Read.All when a caller is scoped to a group
  (users.group); Calendars.ReadBasic, which Graph has as a delegated
  permission only, counts as the app role Calendars.ReadBasic.All, as
  graph-proxy reads it. The policy is -PolicyFile, or else the one in
  force: the newest version of the deployment's Key Vault secret (outputs
  keyVaultName and policySecretUri), which the proxy follows; and
  Directory.Read.All, with which the proxy looks for ways around it (Graph
  access the vendor's apps hold of their own; mediation.interval), unless
  -SkipMediationCheck.

Without -GraphProxy the policy is read without graph-proxy's route model:
a policy that may have rules whose calls the proxy reads an item for, and
names no permission that allows the read, is refused, and the script asks
for -GraphProxy (with -PolicyFile) or -Permissions instead of guessing.

It grants the permissions the principal lacks and reports — or with
-RemoveExcess removes — those it holds but the policy never uses. Running it
twice changes nothing the second time. Everything is read and checked
before anything changes. Supports -WhatIf and -Confirm.

.PARAMETER ResourceGroup
The resource group of the deployment: the principal and the policy are read
from it when not given.

.PARAMETER DeploymentName
The deployment to read (az deployment group list -g <rg>). Default: the
latest deployment in -ResourceGroup with an identityPrincipalId output
(a Marketplace deployment is named after the offer).

.PARAMETER PrincipalId
Object id of the service principal that calls Graph: the managed identity
(managedIdentity mode, the deployment's identityPrincipalId output) or the
app registration's service principal (the other modes).

.PARAMETER PolicyFile
A policy file; default: the policy in force, read from the deployment's Key
Vault secret.

.PARAMETER Permissions
The Graph application permissions to hold, instead of reading a policy
(Calendars.ReadBasic counts as Calendars.ReadBasic.All).

.PARAMETER GraphProxy
Path of a graph-proxy binary: optional; with it and -PolicyFile, the
permissions come from `graph-proxy policy permissions`, which also checks
that the policy loads.

.PARAMETER RemoveExcess
Remove Graph application permissions the policy does not use.

.PARAMETER SkipMediationCheck
Do not grant Directory.Read.All: the proxy (mediation.interval 0s) and
graph-proxy check then cannot tell whether the vendor's apps can call Graph
without the proxy.

.EXAMPLE
./Grant-GraphPermissions.ps1 -ResourceGroup rg-graph-proxy -WhatIf

.EXAMPLE
./Grant-GraphPermissions.ps1 -PrincipalId 5f8c...-... -PolicyFile ./policy.yaml
#>
#Requires -Version 7.2
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [ValidatePattern('^([-\w\.\(\)]{1,90})?$')]
    [string] $ResourceGroup = '',

    [ValidatePattern('^([-\w\.\(\)]{1,64})?$')]
    [string] $DeploymentName = '',

    [ValidatePattern('^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$')]
    [string] $PrincipalId = '',

    [ValidateScript({ $_ -eq '' -or (Test-Path -LiteralPath $_ -PathType Leaf) })]
    [string] $PolicyFile = '',

    [ValidatePattern('^[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z0-9-]+)+$')]
    [string[]] $Permissions = @(),

    [string] $GraphProxy = '',

    [switch] $RemoveExcess,

    [switch] $SkipMediationCheck
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$graphAppId = '00000003-0000-0000-c000-000000000000'

# How a policy names the permissions it needs: each rule's `permission:`
# (block or flow style) and, for a caller scoped to a group, `group:` (an
# object id).
# A YAML comment starts with # at the line's start or after white space.
# deploy/scripts_test.go checks these against `graph-proxy policy
# permissions` on every example and test policy.
$policyComment = '(^|\s)#.*$'
$policyPermission = '(?:^|[\s{,])permission:\s*["'']?([A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+)["'']?\s*(?:[,}]|$)'
$policyGroup = '(?:^|[\s{,])group:\s*["'']?([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\b'
# Names Microsoft Graph has as delegated permissions only, which a policy
# may give as an application permission (policies written before
# graph-proxy read them so), and the app role each stands for
# (policy.ApplicationAliases; deploy/scripts_test.go holds the two equal).
# A hashtable's keys compare without case, as graph-proxy reads names.
$permissionAliases = @{
    'Calendars.ReadBasic' = 'Calendars.ReadBasic.All'
}

# Calls the proxy decides by first reading the item they refer to, with
# its own token (graph-proxy's route model, policy/routes.go: a reply's or
# a sent draft's message, POST; a cancelled, permanently deleted or answered event's people,
# POST, an updated or deleted event's, PATCH or DELETE). Without the route
# model a rule is taken as such a call's whenever it could be one: a
# variable stands for any segment, a rule whose methods cannot be told
# (flow-style rules:, no method found) for every method, and a method's
# name anywhere in the rule (an id such as delete-event) as its method. A
# false alarm only refuses the fallback.
$policyRulesKey = '^rules:'
$policyItem = '^(\s*)-(\s|$)'
$policyPath = '(?:^|[\s{,])path:\s*(?:"([^"]*)"|''([^'']*)''|([^\s,]+))'
$policyMethod = '(?i)\b(GET|POST|PUT|PATCH|DELETE)\b'
$policyReadsMessage = '(?i)/(?:messages|\{[^/]*\})/[^/]+/(?:(?:microsoft\.)?graph\.)?(?:reply|replyall|send|\{[^/]*\})[^/]*$'
$policyReadsEvent = '(?i)/(?:events|instances|calendarview|exceptionoccurrences|\{[^/]*\})/[^/]+/(?:(?:microsoft\.)?graph\.)?(?:cancel|permanentdelete|accept|decline|tentativelyaccept|\{[^/]*\})[^/]*$'
$policyChangesEvent = '(?i)/(?:events|instances|calendarview|exceptionoccurrences|\{[^/]*\})/[^/]+$'
# The permissions that let the proxy read each kind of item
# (policy.ReferenceReads' Covering): with one of them in the policy, the
# read needs nothing more.
$messageReadCovering = 'Mail.ReadBasic.All Mail.ReadBasic Mail.Read Mail.ReadWrite Mail.Read.Shared Mail.ReadWrite.Shared'
$eventReadCovering = 'Calendars.ReadBasic.All Calendars.ReadBasic Calendars.Read Calendars.ReadWrite Calendars.Read.Shared Calendars.ReadWrite.Shared'

# The text of each item of the policy's rules: (block or flow style, one
# item a line or several); comments are gone.
function Get-PolicyRuleText([string[]] $Code) {
    $items = [System.Collections.Generic.List[string]]::new()
    $inRules = $false
    $indent = -1
    $item = $null
    foreach ($line in $Code) {
        if ($line -match $policyRulesKey) {
            $inRules = $true
            continue
        }
        if ($inRules -and $line -match '^[^\s-]') {
            $inRules = $false
        }
        if (-not $inRules) {
            continue
        }
        if ($line -match $policyItem -and ($indent -lt 0 -or $Matches[1].Length -eq $indent)) {
            $indent = $Matches[1].Length
            if ($null -ne $item) {
                $items.Add($item)
            }
            $item = ''
        }
        if ($null -ne $item) {
            $item += $line + "`n"
        }
    }
    if ($null -ne $item) {
        $items.Add($item)
    }
    return $items
}

# Whether a rule (its paths and methods) may be a call the proxy reads a
# message or an event for.
function Test-PolicyRead([string[]] $Paths, [string[]] $Methods, [string] $Item) {
    if ($Methods.Count -eq 0) {
        $Methods = @('POST', 'PATCH', 'DELETE')
    }
    foreach ($path in $Paths) {
        $post = $Methods -contains 'POST'
        $change = ($Methods -contains 'PATCH') -or ($Methods -contains 'DELETE')
        if ($Item -eq 'message' -and $post -and $path -match $policyReadsMessage) {
            return $true
        }
        if ($Item -eq 'event' -and (($post -and $path -match $policyReadsEvent) -or ($change -and $path -match $policyChangesEvent))) {
            return $true
        }
    }
    return $false
}

# The app role a permission name stands for: its alias's, else itself.
function Get-AppRoleName([string] $Name) {
    if ($permissionAliases.ContainsKey($Name)) {
        return $permissionAliases[$Name]
    }
    return $Name
}

function Get-PolicyPermission([string] $Yaml) {
    $found = [System.Collections.Generic.SortedSet[string]]::new([System.StringComparer]::Ordinal)
    $scoped = $false
    $code = @($Yaml -split '\r?\n' | ForEach-Object { $_ -replace $policyComment, '' })
    $allPaths = [System.Collections.Generic.List[string]]::new()
    foreach ($line in $code) {
        foreach ($m in [regex]::Matches($line, $policyPermission)) {
            [void] $found.Add((Get-AppRoleName $m.Groups[1].Value))
        }
        if ($line -match $policyGroup) {
            $scoped = $true
        }
        foreach ($m in [regex]::Matches($line, $policyPath)) {
            $allPaths.Add($m.Groups[1].Value + $m.Groups[2].Value + $m.Groups[3].Value)
        }
    }
    # Each rule's paths with its methods; paths outside the items found
    # count with every method.
    $rules = @(foreach ($text in Get-PolicyRuleText $code) {
            , @(
                @([regex]::Matches($text, $policyPath) | ForEach-Object { $_.Groups[1].Value + $_.Groups[2].Value + $_.Groups[3].Value }),
                @([regex]::Matches($text, $policyMethod) | ForEach-Object { $_.Groups[1].Value.ToUpperInvariant() })
            )
        })
    $itemPaths = @($rules | ForEach-Object { $_[0] }).Count
    if ($itemPaths -ne $allPaths.Count) {
        $rules = @(, @(@($allPaths), @()))
    }
    foreach ($read in @(@('message', $messageReadCovering), @('event', $eventReadCovering))) {
        $needed = @($rules | Where-Object { Test-PolicyRead $_[0] $_[1] $read[0] }).Count -gt 0
        $covered = @($found | Where-Object { ($read[1] -split ' ') -contains $_ }).Count -gt 0
        if ($needed -and -not $covered) {
            throw "The policy may have rules whose calls the proxy decides by reading the $($read[0]) they refer to (a reply's message, an event's attendees or organizer), and names no permission that allows that read; which permission it then needs takes graph-proxy's route model. Pass -GraphProxy with the path of the graph-proxy binary and -PolicyFile, or -Permissions with what graph-proxy policy permissions FILE prints (for the policy in force, save it first: az keyvault secret show --vault-name <vault> --name <secret> --query value --output tsv)."
        }
    }
    if ($scoped) {
        [void] $found.Add('GroupMember.Read.All')
    }
    return @($found)
}

# The value at a path of names in what ConvertFrom-Json returned, or $null:
# under Set-StrictMode a missing property is an error, and deployments
# carry only the outputs and parameters they were given.
function Get-Field([object] $Object, [string[]] $Path) {
    foreach ($name in $Path) {
        if ($null -eq $Object) {
            return $null
        }
        $property = $Object.PSObject.Properties[$name]
        if (-not $property) {
            return $null
        }
        $Object = $property.Value
    }
    return $Object
}

function ConvertFrom-Az([AllowNull()] [object[]] $Output, [string] $What) {
    if ($LASTEXITCODE -ne 0) {
        throw "The Azure CLI failed $What (exit code $LASTEXITCODE; its message is above)."
    }
    $text = ($Output -join "`n").Trim()
    if (-not $text) {
        return $null
    }
    return $text | ConvertFrom-Json
}

# 1. What to grant, and to whom: read and checked before anything changes.
$appClientId = ''
$app = ''
$vaultName = ''
$policySecretName = ''
if ($ResourceGroup) {
    if (-not (Get-Command -Name 'az' -ErrorAction SilentlyContinue)) {
        throw 'Reading the deployment needs the Azure CLI (az): install it and run az login, or pass -PrincipalId and -PolicyFile (or -Permissions).'
    }
    if (-not $DeploymentName) {
        $candidates = @(ConvertFrom-Az (az deployment group list --resource-group $ResourceGroup --query "[?properties.outputs.identityPrincipalId].{name: name, timestamp: properties.timestamp}" --output json --only-show-errors) "listing the deployments of $ResourceGroup")
        if ($candidates.Count -eq 0) {
            throw "No deployment of graph-proxy in $ResourceGroup (none has an identityPrincipalId output): pass -DeploymentName."
        }
        $DeploymentName = ($candidates | Sort-Object -Property timestamp | Select-Object -Last 1).name
    }
    $deployment = ConvertFrom-Az (az deployment group show --resource-group $ResourceGroup --name $DeploymentName --query properties --output json --only-show-errors) "reading deployment $DeploymentName"
    # The template's defaults (deploy/bicep/main.bicep) where the deployment
    # was not given a value.
    $upstreamMode = Get-Field $deployment 'parameters', 'upstreamMode', 'value'
    if (-not $upstreamMode) {
        $upstreamMode = 'managedIdentity'
    }
    $app = Get-Field $deployment 'parameters', 'namePrefix', 'value'
    if (-not $app) {
        $app = 'graph-proxy'
    }
    $appClientId = [string] (Get-Field $deployment 'parameters', 'appClientId', 'value')
    # Where the policy in force is: the vault (an output) and the secret's
    # name (a parameter).
    $vaultName = [string] (Get-Field $deployment 'outputs', 'keyVaultName', 'value')
    $policySecretName = Get-Field $deployment 'parameters', 'policySecretName', 'value'
    if (-not $policySecretName) {
        $policySecretName = 'graph-proxy-policy'
    }
    if (-not $PrincipalId -and $upstreamMode -eq 'managedIdentity') {
        $PrincipalId = Get-Field $deployment 'outputs', 'identityPrincipalId', 'value'
    }
    elseif (-not $PrincipalId -and -not $appClientId) {
        throw "Deployment $DeploymentName runs in $upstreamMode mode but names no appClientId: pass -PrincipalId (the app registration's service principal object id)."
    }
    Write-Host "deployment $DeploymentName in $ResourceGroup`: container app $app, $upstreamMode mode"
}
if (-not $PrincipalId -and -not $appClientId) {
    throw 'Name the principal: -PrincipalId, or -ResourceGroup to read it from the deployment.'
}

if ($GraphProxy -and -not $PolicyFile) {
    throw '-GraphProxy reads a policy file: pass -PolicyFile too.'
}
$source = ''
if ($Permissions.Count -gt 0) {
    $needed = @($Permissions | ForEach-Object { Get-AppRoleName $_ } | Sort-Object -Unique)
    $source = '-Permissions'
}
elseif ($PolicyFile -and $GraphProxy) {
    if (-not (Get-Command -Name $GraphProxy -ErrorAction SilentlyContinue)) {
        throw "graph-proxy was not found ('$GraphProxy'): pass -GraphProxy with the path of the binary, or leave it out to read the policy without it."
    }
    $needed = @(& $GraphProxy policy permissions $PolicyFile)
    if ($LASTEXITCODE -ne 0) {
        throw "The policy file '$PolicyFile' does not load; run: graph-proxy policy lint $PolicyFile"
    }
    $source = "$PolicyFile (graph-proxy policy permissions)"
}
elseif ($PolicyFile) {
    $needed = @(Get-PolicyPermission (Get-Content -LiteralPath $PolicyFile -Raw))
    $source = $PolicyFile
}
elseif ($ResourceGroup) {
    # The policy in force: the newest version of the Key Vault secret the
    # proxy polls. JSON keeps the value exact, lines and all.
    if (-not $vaultName) {
        throw "Deployment $DeploymentName names no Key Vault holding its policy (output keyVaultName): a template from before the policy moved to Key Vault kept it in the container app. Redeploy, or pass -PolicyFile."
    }
    $policyYaml = ConvertFrom-Az (az keyvault secret show --vault-name $vaultName --name $policySecretName --query value --output json --only-show-errors) "reading the policy (secret $policySecretName of Key Vault $vaultName, which takes Key Vault Secrets User or Secrets Officer on the vault, or pass -PolicyFile instead)"
    if (-not $policyYaml) {
        throw "Secret $policySecretName of Key Vault $vaultName holds no policy: pass -PolicyFile."
    }
    $needed = @(Get-PolicyPermission $policyYaml)
    $source = "the policy in force (Key Vault $vaultName, secret $policySecretName)"
}
else {
    throw 'Name the permissions: -PolicyFile, -Permissions, or -ResourceGroup to read the deployed policy.'
}
if ($needed.Count -eq 0) {
    throw "No Graph permission found in $source; a policy names one per rule (permission: ...)."
}
Write-Host "permissions from $source`: $($needed -join ', ')"
if (-not $SkipMediationCheck -and $needed -notcontains 'Directory.Read.All') {
    # The proxy reads the vendor apps' own Graph permissions and grants
    # with it (docs/operator-guide.md, "Proving the vendor cannot go
    # around the proxy").
    $needed = @($needed + 'Directory.Read.All' | Sort-Object -Unique)
    Write-Host 'and Directory.Read.All, to look for ways around the proxy (-SkipMediationCheck leaves it out)'
}

foreach ($module in 'Microsoft.Graph.Authentication', 'Microsoft.Graph.Applications') {
    if (-not (Get-Module -ListAvailable -Name $module)) {
        throw "The PowerShell module $module is missing: Install-Module Microsoft.Graph -Scope CurrentUser"
    }
}
Import-Module -Name 'Microsoft.Graph.Authentication', 'Microsoft.Graph.Applications'

Connect-MgGraph -Scopes 'AppRoleAssignment.ReadWrite.All', 'Application.Read.All' -NoWelcome

$graph = Get-MgServicePrincipal -Filter "appId eq '$graphAppId'"
if (-not $graph) {
    throw 'Microsoft Graph has no service principal in this tenant.'
}
if ($PrincipalId) {
    $principal = Get-MgServicePrincipal -ServicePrincipalId $PrincipalId -ErrorAction SilentlyContinue
    if (-not $principal) {
        throw "No service principal with object id $PrincipalId in this tenant: use the identity's principal id (the deployment output identityPrincipalId) or the app registration's service principal object id."
    }
}
else {
    $principal = Get-MgServicePrincipal -Filter "appId eq '$appClientId'"
    if (-not $principal) {
        throw "App $appClientId has no service principal in this tenant: a multi-tenant app must be consented here first (admin consent URL from the vendor)."
    }
}

$roles = @{}
foreach ($role in $graph.AppRoles) {
    if ($role.AllowedMemberTypes -contains 'Application') {
        $roles[$role.Value] = $role
    }
}
$unknown = @($needed | Where-Object { -not $roles.ContainsKey($_) })
if ($unknown.Count -gt 0) {
    throw "Microsoft Graph has no application permission named $($unknown -join ', ') (from $source)."
}

$assigned = @(Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $principal.Id -All |
        Where-Object { $_.ResourceId -eq $graph.Id })
$held = @{}
foreach ($a in $assigned) {
    $name = ($graph.AppRoles | Where-Object { $_.Id -eq $a.AppRoleId }).Value
    if ($name) {
        $held[$name] = $a
    }
}

# 2. Grant what is missing; report or remove what is not used.
foreach ($permission in $needed) {
    if ($held.ContainsKey($permission)) {
        Write-Host "ok      $permission"
        continue
    }
    if ($PSCmdlet.ShouldProcess($principal.DisplayName, "grant Microsoft Graph $permission")) {
        New-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $principal.Id -PrincipalId $principal.Id `
            -ResourceId $graph.Id -AppRoleId $roles[$permission].Id | Out-Null
        Write-Host "granted $permission"
    }
}

foreach ($permission in @($held.Keys)) {
    if ($needed -contains $permission) {
        continue
    }
    if (-not $RemoveExcess) {
        Write-Warning "$($principal.DisplayName) holds $permission, which the policy does not use (over-privilege); rerun with -RemoveExcess to remove it."
        continue
    }
    if ($PSCmdlet.ShouldProcess($principal.DisplayName, "remove Microsoft Graph $permission")) {
        Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $principal.Id -AppRoleAssignmentId $held[$permission].Id
        Write-Host "removed $permission"
    }
}
