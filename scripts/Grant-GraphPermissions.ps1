<#
.SYNOPSIS
Grants graph-proxy's identity exactly the Microsoft Graph application
permissions its policy needs.

.DESCRIPTION
A Marketplace or Bicep deployment cannot grant Graph permissions; this
script does, once the deployment has created the identity. It reads the
permissions from the policy file (through `graph-proxy policy permissions`,
the same list `graph-proxy check` compares the token with), grants those the
identity lacks, and reports — or with -RemoveExcess removes — those it holds
but the policy never uses. Running it twice changes nothing the second time.
Supports -WhatIf and -Confirm.

.PARAMETER PrincipalId
Object id of the service principal that calls Graph: the managed identity
(managedIdentity mode, the deployment's identityPrincipalId output) or the
app registration's service principal (the other modes).

.PARAMETER PolicyFile
The policy file the proxy runs with.

.PARAMETER GraphProxy
Path of the graph-proxy binary. Default: graph-proxy on the PATH.

.PARAMETER RemoveExcess
Remove Graph application permissions the policy does not use.

.EXAMPLE
./Grant-GraphPermissions.ps1 -PrincipalId 5f8c...-... -PolicyFile ./policy.yaml -WhatIf
#>
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $PrincipalId,

    [Parameter(Mandatory = $true)]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string] $PolicyFile,

    [string] $GraphProxy = 'graph-proxy',

    [switch] $RemoveExcess
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$graphAppId = '00000003-0000-0000-c000-000000000000'

# Everything is checked before anything changes.
if (-not (Get-Command $GraphProxy -ErrorAction SilentlyContinue)) {
    throw "graph-proxy was not found ('$GraphProxy'): pass -GraphProxy with the path of the binary."
}
$needed = @(& $GraphProxy policy permissions $PolicyFile)
if ($LASTEXITCODE -ne 0) {
    throw "The policy file '$PolicyFile' does not load; run: graph-proxy policy lint $PolicyFile"
}

foreach ($module in 'Microsoft.Graph.Authentication', 'Microsoft.Graph.Applications') {
    if (-not (Get-Module -ListAvailable -Name $module)) {
        throw "The PowerShell module $module is missing: Install-Module Microsoft.Graph -Scope CurrentUser"
    }
}
Import-Module 'Microsoft.Graph.Authentication', 'Microsoft.Graph.Applications'

Connect-MgGraph -Scopes 'AppRoleAssignment.ReadWrite.All', 'Application.Read.All' -NoWelcome

$graph = Get-MgServicePrincipal -Filter "appId eq '$graphAppId'"
if (-not $graph) {
    throw 'Microsoft Graph has no service principal in this tenant.'
}
$principal = Get-MgServicePrincipal -ServicePrincipalId $PrincipalId -ErrorAction SilentlyContinue
if (-not $principal) {
    throw "No service principal with object id $PrincipalId in this tenant: use the identity's principal id (the deployment output identityPrincipalId) or the app registration's service principal object id."
}

$roles = @{}
foreach ($role in $graph.AppRoles) {
    if ($role.AllowedMemberTypes -contains 'Application') {
        $roles[$role.Value] = $role
    }
}
$unknown = @($needed | Where-Object { -not $roles.ContainsKey($_) })
if ($unknown.Count -gt 0) {
    throw "Microsoft Graph has no application permission named $($unknown -join ', ')."
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

foreach ($permission in $held.Keys) {
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
