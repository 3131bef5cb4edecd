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

It needs the MicrosoftTeams and Microsoft.Graph.Groups PowerShell modules
and, to read a deployment, the Azure CLI (az); not the graph-proxy binary.
What it does not get as a parameter it reads from the deployment
(-ResourceGroup): the app id is the managed identity's client id (output
identityClientId) in managedIdentity mode, the app registration's
(parameter appClientId) otherwise; the group is the one the policy scopes
its callers to (users.group), from -PolicyFile or the policy in force: the
newest version of the deployment's Key Vault secret (outputs keyVaultName
and policySecretUri), which reading takes Key Vault Secrets User (or
Secrets Officer) on the vault.

.PARAMETER AppId
Client id of the app that calls Graph: the managed identity's client id
(managedIdentity mode) or the app registration's.

.PARAMETER GroupId
Object id of the security group whose members may organise meetings.

.PARAMETER ResourceGroup
The resource group of the deployment, to read the app id and the group
from when not given.

.PARAMETER DeploymentName
The deployment to read. Default: the latest deployment in -ResourceGroup
with an identityPrincipalId output.

.PARAMETER PolicyFile
A policy file to read the group from; default: the policy in force, read
from the deployment's Key Vault secret.

.PARAMETER PolicyName
Name of the application access policy. Default: graph-proxy-meetings.

.PARAMETER TenantId
The tenant to connect to; default: the signed-in user's.

.EXAMPLE
./Add-Teams-Access-Policy.ps1 -AppId 0c4b...-... -GroupId 9a1e...-... -WhatIf

.EXAMPLE
./Add-Teams-Access-Policy.ps1 -ResourceGroup rg-graph-proxy
#>
#Requires -Version 7.2
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [ValidatePattern('^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$')]
    [string] $AppId = '',

    [ValidatePattern('^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$')]
    [string] $GroupId = '',

    [ValidatePattern('^([-\w\.\(\)]{1,90})?$')]
    [string] $ResourceGroup = '',

    [ValidatePattern('^([-\w\.\(\)]{1,64})?$')]
    [string] $DeploymentName = '',

    [ValidateScript({ $_ -eq '' -or (Test-Path -LiteralPath $_ -PathType Leaf) })]
    [string] $PolicyFile = '',

    [ValidatePattern('^[A-Za-z0-9-]{1,64}$')]
    [string] $PolicyName = 'graph-proxy-meetings',

    [ValidatePattern('^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$')]
    [string] $TenantId = ''
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# A caller's group in a policy (users.group, an object id), as
# Grant-GraphPermissions.ps1 reads it; a YAML comment starts with # at the
# line's start or after white space.
$policyComment = '(^|\s)#.*$'
$policyGroup = '(?:^|[\s{,])group:\s*["'']?([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\b'

function Get-PolicyGroup([string] $Yaml) {
    $found = [System.Collections.Generic.SortedSet[string]]::new([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($line in $Yaml -split '\r?\n') {
        foreach ($m in [regex]::Matches(($line -replace $policyComment, ''), $policyGroup)) {
            [void] $found.Add($m.Groups[1].Value.ToLowerInvariant())
        }
    }
    return @($found)
}

# The value at a path of names in what ConvertFrom-Json returned, or $null
# (under Set-StrictMode a missing property is an error).
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

# 1. The app and the group, from the parameters or the deployment.
$groups = $null
if ((-not $AppId -or -not $GroupId) -and $ResourceGroup) {
    if (-not (Get-Command -Name 'az' -ErrorAction SilentlyContinue)) {
        throw 'Reading the deployment needs the Azure CLI (az): install it and run az login, or pass -AppId and -GroupId.'
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
    $app = Get-Field $deployment 'parameters', 'namePrefix', 'value'
    if (-not $app) {
        $app = 'graph-proxy'
    }
    if (-not $AppId -and (-not $upstreamMode -or $upstreamMode -eq 'managedIdentity')) {
        $AppId = Get-Field $deployment 'outputs', 'identityClientId', 'value'
    }
    elseif (-not $AppId) {
        $AppId = Get-Field $deployment 'parameters', 'appClientId', 'value'
    }
    if (-not $GroupId -and -not $PolicyFile) {
        # The policy in force: the newest version of the Key Vault secret
        # the proxy polls (the vault is an output, the secret's name a
        # parameter).
        $vaultName = [string] (Get-Field $deployment 'outputs', 'keyVaultName', 'value')
        $policySecretName = Get-Field $deployment 'parameters', 'policySecretName', 'value'
        if (-not $policySecretName) {
            $policySecretName = 'graph-proxy-policy'
        }
        if (-not $vaultName) {
            throw "Deployment $DeploymentName names no Key Vault holding its policy (output keyVaultName): a template from before the policy moved to Key Vault kept it in container app $app. Redeploy, or pass -PolicyFile or -GroupId."
        }
        $policyYaml = ConvertFrom-Az (az keyvault secret show --vault-name $vaultName --name $policySecretName --query value --output json --only-show-errors) "reading the policy (secret $policySecretName of Key Vault $vaultName, which takes Key Vault Secrets User or Secrets Officer on the vault, or pass -PolicyFile or -GroupId instead)"
        $groups = @(Get-PolicyGroup ([string] $policyYaml))
    }
}
if (-not $GroupId -and $PolicyFile) {
    $groups = @(Get-PolicyGroup (Get-Content -LiteralPath $PolicyFile -Raw))
}
if (-not $GroupId -and $null -ne $groups) {
    switch ($groups.Count) {
        0 { throw 'The policy scopes no caller to a group (users.group): pass -GroupId.' }
        1 { $GroupId = $groups[0] }
        default { throw "The policy scopes callers to several groups ($($groups -join ', ')): pass -GroupId." }
    }
}
if (-not $AppId -or -not $GroupId) {
    throw 'Name the app and the group: -AppId and -GroupId, or -ResourceGroup (and -PolicyFile) to read them from the deployment.'
}

foreach ($module in 'MicrosoftTeams', 'Microsoft.Graph.Groups') {
    if (-not (Get-Module -ListAvailable -Name $module)) {
        throw "The PowerShell module $module is missing: Install-Module $module -Scope CurrentUser"
    }
}
Import-Module -Name 'MicrosoftTeams', 'Microsoft.Graph.Groups'

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

# 2. The policy names the app; the group holds the policy.
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
