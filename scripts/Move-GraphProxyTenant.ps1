<#
.SYNOPSIS
Moves a graph-proxy deployment to another Entra ID tenant (for example
after a subscription transfer).

.DESCRIPTION
When a subscription moves to another tenant, every identity-bound piece of
graph-proxy breaks: the managed identity, its role assignments, Key Vault's
tenant, the federated credential, the Graph permission grants and the Teams
application access policy. This script redoes them in the new tenant, in
order, and ends by running `graph-proxy check` in the container. Each step
says what it does; -WhatIf shows the plan without changing anything.
docs/tenant-migration.md describes the procedure.

.PARAMETER ResourceGroup
The resource group of the deployment.

.PARAMETER TargetTenantId
The tenant the subscription now belongs to; you must be signed in to it.

.PARAMETER PolicyFile
The policy file the proxy runs with (for the Graph grants).

.PARAMETER NamePrefix
The deployment's namePrefix. Default: graph-proxy.

.PARAMETER AppClientId
The app registration the proxy uses (keyVault and federated modes); empty
in managedIdentity mode.

.PARAMETER TeamsGroupId
The security group whose members may organise Teams meetings; empty to
skip the Teams policy.

.EXAMPLE
./Move-GraphProxyTenant.ps1 -ResourceGroup rg-gp -TargetTenantId 2f0e...-... -PolicyFile ./policy.yaml -WhatIf
#>
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[-\w\.\(\)]{1,90}$')]
    [string] $ResourceGroup,

    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $TargetTenantId,

    [Parameter(Mandatory = $true)]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string] $PolicyFile,

    [ValidatePattern('^[a-z0-9-]{3,20}$')]
    [string] $NamePrefix = 'graph-proxy',

    [ValidatePattern('^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$')]
    [string] $AppClientId = '',

    [ValidatePattern('^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$')]
    [string] $TeamsGroupId = ''
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
$monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

function Step([string] $Text) {
    Write-Host ''
    Write-Host "== $Text"
}

# 0. Preconditions: nothing changes until all of them hold.
foreach ($module in 'Az.Accounts', 'Az.Resources', 'Az.KeyVault', 'Az.ManagedServiceIdentity', 'Az.App') {
    if (-not (Get-Module -ListAvailable -Name $module)) {
        throw "The PowerShell module $module is missing: Install-Module Az -Scope CurrentUser"
    }
}
$context = Get-AzContext
if (-not $context -or $context.Tenant.Id -ne $TargetTenantId) {
    throw "Sign in to the target tenant first: Connect-AzAccount -Tenant $TargetTenantId"
}
$rg = Get-AzResourceGroup -Name $ResourceGroup -ErrorAction SilentlyContinue
if (-not $rg) {
    throw "No resource group $ResourceGroup in subscription $($context.Subscription.Name)."
}
$app = Get-AzContainerApp -ResourceGroupName $ResourceGroup -Name $NamePrefix -ErrorAction SilentlyContinue
if (-not $app) {
    throw "No container app $NamePrefix in $ResourceGroup: pass the deployment's -NamePrefix."
}
$vault = Get-AzKeyVault -ResourceGroupName $ResourceGroup | Select-Object -First 1

Step '1. Recreate the user-assigned managed identity (identities do not move between tenants)'
$identityName = "$NamePrefix-id"
if ($PSCmdlet.ShouldProcess($identityName, 'recreate the managed identity in the new tenant')) {
    Remove-AzUserAssignedIdentity -ResourceGroupName $ResourceGroup -Name $identityName -ErrorAction SilentlyContinue
    $identity = New-AzUserAssignedIdentity -ResourceGroupName $ResourceGroup -Name $identityName -Location $rg.Location
    Update-AzContainerApp -ResourceGroupName $ResourceGroup -Name $NamePrefix -IdentityType UserAssigned `
        -IdentityUserAssignedIdentity @{ $identity.Id = @{} } | Out-Null
    Write-Host "identity $($identity.ClientId) (principal $($identity.PrincipalId)); set GRAPH_PROXY_UPSTREAM_MANAGEDIDENTITYCLIENTID to its client id"
}

Step '2. Move Key Vault to the new tenant and re-grant Key Vault Secrets User'
if ($vault) {
    if ($PSCmdlet.ShouldProcess($vault.VaultName, "set the tenant to $TargetTenantId")) {
        $resource = Get-AzResource -ResourceId $vault.ResourceId -ExpandProperties
        $resource.Properties.tenantId = $TargetTenantId
        $resource | Set-AzResource -Force | Out-Null
        New-AzRoleAssignment -ObjectId $identity.PrincipalId -RoleDefinitionId $keyVaultSecretsUser -Scope $vault.ResourceId | Out-Null
    }
}
else {
    Write-Host 'no Key Vault in the resource group (managedIdentity mode): skipped'
}

Step '3. Re-grant Monitoring Metrics Publisher on the data collection rule'
$rule = Get-AzResource -ResourceGroupName $ResourceGroup -ResourceType 'Microsoft.Insights/dataCollectionRules' | Select-Object -First 1
if ($rule -and $PSCmdlet.ShouldProcess($rule.Name, 'grant Monitoring Metrics Publisher')) {
    New-AzRoleAssignment -ObjectId $identity.PrincipalId -RoleDefinitionId $monitoringMetricsPublisher -Scope $rule.ResourceId | Out-Null
}

Step '4. Federated identity credential (federated mode)'
if ($AppClientId) {
    Write-Host "On app $AppClientId, add a federated credential: issuer https://login.microsoftonline.com/$TargetTenantId/v2.0, subject $($identity.PrincipalId), audience api://AzureADTokenExchange (multi-tenant apps: in the vendor's tenant)."
}
else {
    Write-Host 'managedIdentity mode: skipped'
}

Step '5. Graph permissions'
$principal = if ($AppClientId) { (Get-AzADServicePrincipal -ApplicationId $AppClientId).Id } else { $identity.PrincipalId }
& (Join-Path $PSScriptRoot 'Grant-GraphPermissions.ps1') -PrincipalId $principal -PolicyFile $PolicyFile -WhatIf:$WhatIfPreference

Step '6. Teams application access policy'
if ($TeamsGroupId) {
    $teamsApp = if ($AppClientId) { $AppClientId } else { $identity.ClientId }
    & (Join-Path $PSScriptRoot 'Add-Teams-Access-Policy.ps1') -AppId $teamsApp -GroupId $TeamsGroupId -TenantId $TargetTenantId -WhatIf:$WhatIfPreference
}
else {
    Write-Host 'no -TeamsGroupId: skipped'
}

Step '7. Verify'
Write-Host "Update GRAPH_PROXY_UPSTREAM_TENANTID to $TargetTenantId and the vendor tenants if they changed, then run:"
Write-Host "  az containerapp exec -g $ResourceGroup -n $NamePrefix --command 'graph-proxy check'"
