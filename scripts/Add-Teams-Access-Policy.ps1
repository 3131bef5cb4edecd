<#
.SYNOPSIS
Lets graph-proxy's app create Teams meetings on behalf of the members of a
security group (Teams application access policy).

.DESCRIPTION
App-only onlineMeetings calls need OnlineMeetings.ReadWrite.All and a Teams
application access policy that names the app and covers the organiser.
This script creates the policy (or adds the app id to it) and grants it to
the group, so that the same group that scopes the proxy's policy
(callers[].users.group) can have meetings created. It is idempotent and
supports -WhatIf and -Confirm. It checks every parameter before it changes
anything.

.PARAMETER AppId
Client id of the app that calls Graph: the managed identity's client id
(managedIdentity mode) or the app registration's.

.PARAMETER GroupId
Object id of the security group whose members may organise meetings.

.PARAMETER PolicyName
Name of the application access policy. Default: graph-proxy-meetings.

.PARAMETER TenantId
The tenant to connect to; default: the signed-in user's.

.EXAMPLE
./Add-Teams-Access-Policy.ps1 -AppId 0c4b...-... -GroupId 9a1e...-... -WhatIf
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $AppId,

    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $GroupId,

    [ValidatePattern('^[A-Za-z0-9-]{1,64}$')]
    [string] $PolicyName = 'graph-proxy-meetings',

    [ValidatePattern('^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$')]
    [string] $TenantId = ''
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

foreach ($module in 'MicrosoftTeams', 'Microsoft.Graph.Groups') {
    if (-not (Get-Module -ListAvailable -Name $module)) {
        throw "The PowerShell module $module is missing: Install-Module $module -Scope CurrentUser"
    }
}
Import-Module 'MicrosoftTeams', 'Microsoft.Graph.Groups'

if ($TenantId) {
    Connect-MicrosoftTeams -TenantId $TenantId | Out-Null
    Connect-MgGraph -TenantId $TenantId -Scopes 'Group.Read.All' -NoWelcome
}
else {
    Connect-MicrosoftTeams | Out-Null
    Connect-MgGraph -Scopes 'Group.Read.All' -NoWelcome
}

$group = Get-MgGroup -GroupId $GroupId -ErrorAction SilentlyContinue
if (-not $group) {
    throw "No group with object id $GroupId in this tenant."
}
if (-not $group.SecurityEnabled) {
    throw "The group '$($group.DisplayName)' is not a security group; application access policies are granted to security groups."
}

$policy = Get-CsApplicationAccessPolicy -Identity $PolicyName -ErrorAction SilentlyContinue
if (-not $policy) {
    if ($PSCmdlet.ShouldProcess($PolicyName, "create the application access policy for app $AppId")) {
        New-CsApplicationAccessPolicy -Identity $PolicyName -AppIds $AppId -Description 'graph-proxy: Teams meetings for the scheduling vendor' | Out-Null
        Write-Host "created policy $PolicyName for app $AppId"
    }
}
elseif ($policy.AppIds -notcontains $AppId) {
    if ($PSCmdlet.ShouldProcess($PolicyName, "add app $AppId")) {
        Set-CsApplicationAccessPolicy -Identity $PolicyName -AppIds @{ Add = $AppId }
        Write-Host "added app $AppId to policy $PolicyName"
    }
}
else {
    Write-Host "ok: policy $PolicyName already names app $AppId"
}

$assignment = Get-CsGroupPolicyAssignment -GroupId $GroupId -PolicyType ApplicationAccessPolicy -ErrorAction SilentlyContinue
if ($assignment -and $assignment.PolicyName -eq $PolicyName) {
    Write-Host "ok: group '$($group.DisplayName)' already has policy $PolicyName"
}
elseif ($PSCmdlet.ShouldProcess($group.DisplayName, "grant application access policy $PolicyName")) {
    Grant-CsApplicationAccessPolicy -PolicyName $PolicyName -Group $GroupId -Rank 1
    Write-Host "granted policy $PolicyName to group '$($group.DisplayName)'; it can take up to 30 minutes to apply"
}
