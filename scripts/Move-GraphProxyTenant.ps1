<#
.SYNOPSIS
Moves a graph-proxy deployment to another Entra ID tenant (for example
after a subscription transfer).

.DESCRIPTION
When a subscription moves to another tenant, every identity-bound piece of
graph-proxy breaks: the managed identity, its role assignments, Key Vault's
tenant, the federated credential, the Graph permission grants and the Teams
application access policy. This script redoes them in the new tenant and
destroys nothing before its replacement works:

  1. creates a new user-assigned identity (identities do not move);
  2. moves Key Vault to the new tenant and grants the new identity Key
     Vault Secrets User, Key Vault Crypto User on the audit checkpoint key
     (GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID), and Monitoring Metrics
     Publisher on the data collection rule;
  3. (federated mode) says which federated credential to add;
  4. grants the Graph permissions (Grant-GraphPermissions.ps1) and the
     Teams application access policy (Add-Teams-Access-Policy.ps1);
  5. attaches the new identity to the container app next to the old one,
     and points the app at it (GRAPH_PROXY_UPSTREAM_MANAGEDIDENTITYCLIENTID,
     GRAPH_PROXY_UPSTREAM_TENANTID): a new revision;
  6. waits for that revision to be ready — /readyz passes only with a Graph
     token, the vendors' keys and the audit log — then runs
     `graph-proxy check` in it for you to read;
  7. only then, once you confirm the check ended with "all is well"
     (or with -Force), detaches and deletes the old identity.

A step that fails stops the script with the old identity in place; fix the
cause and run it again: every step is idempotent. -WhatIf shows the plan
without changing anything; with ConfirmImpact High, each change asks first
unless -Confirm:$false. It uses the Azure CLI (az), signed in to the target
tenant, and for the Graph and Teams steps the Microsoft.Graph and
MicrosoftTeams PowerShell modules. docs/tenant-migration.md describes the
procedure.

.PARAMETER ResourceGroup
The resource group of the deployment.

.PARAMETER TargetTenantId
The tenant the subscription now belongs to; az must be signed in to it.

.PARAMETER PolicyFile
The policy file the proxy runs with, for the Graph grants; default: the
policy in force, read from the deployment's Key Vault secret, which takes
Key Vault Secrets User or Secrets Officer on the vault. Role assignments do
not survive the move to another tenant: pass the policy file unless you
have been granted one of those roles again.

.PARAMETER NamePrefix
The deployment's namePrefix: the container app's name. Default: graph-proxy.

.PARAMETER AppClientId
The app registration the proxy uses (keyVault and federated modes); empty
in managedIdentity mode.

.PARAMETER TeamsGroupId
The security group whose members may organise Teams meetings; empty to
skip the Teams policy.

.PARAMETER ReadyTimeoutMinutes
How long to wait for the new revision to be ready. Default: 10.

.PARAMETER Force
Remove the old identity once the new revision is ready, without asking
whether `graph-proxy check` ended with "all is well".

.EXAMPLE
./Move-GraphProxyTenant.ps1 -ResourceGroup rg-gp -TargetTenantId 2f0e...-... -WhatIf
#>
#Requires -Version 7.2
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[-\w\.\(\)]{1,90}$')]
    [string] $ResourceGroup,

    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $TargetTenantId,

    [ValidateScript({ $_ -eq '' -or (Test-Path -LiteralPath $_ -PathType Leaf) })]
    [string] $PolicyFile = '',

    [ValidatePattern('^[a-z0-9-]{3,20}$')]
    [string] $NamePrefix = 'graph-proxy',

    [ValidatePattern('^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$')]
    [string] $AppClientId = '',

    [ValidatePattern('^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})?$')]
    [string] $TeamsGroupId = '',

    [ValidateRange(1, 60)]
    [int] $ReadyTimeoutMinutes = 10,

    [switch] $Force
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
$keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424'
$monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
$clientIdVariable = 'GRAPH_PROXY_UPSTREAM_MANAGEDIDENTITYCLIENTID'
$tenantIdVariable = 'GRAPH_PROXY_UPSTREAM_TENANTID'

function Step([string] $Text) {
    Write-Host ''
    Write-Host "== $Text"
}

function ConvertFrom-Az([AllowNull()] [object[]] $Output, [string] $What) {
    if ($LASTEXITCODE -ne 0) {
        throw "The Azure CLI failed $What (exit code $LASTEXITCODE; its message is above). Nothing after this step was changed; fix it and run the script again."
    }
    $text = ($Output -join "`n").Trim()
    if (-not $text) {
        return $null
    }
    return $text | ConvertFrom-Json
}

# Grants a role to a principal at a scope unless it already holds it.
function Grant-Role([string] $PrincipalId, [string] $RoleId, [string] $Scope, [string] $RoleName) {
    $existing = ConvertFrom-Az (az role assignment list --scope $Scope --query "[?principalId=='$PrincipalId' && ends_with(roleDefinitionId, '$RoleId')].id" --output json --only-show-errors) "listing the role assignments on $Scope"
    if (@($existing).Count -gt 0) {
        Write-Host "ok: $RoleName already granted"
        return
    }
    if ($PSCmdlet.ShouldProcess($Scope, "grant $RoleName to principal $PrincipalId")) {
        # The principal type spares Azure a directory lookup that can fail
        # for a just-created identity.
        ConvertFrom-Az (az role assignment create --assignee-object-id $PrincipalId --assignee-principal-type ServicePrincipal --role $RoleId --scope $Scope --output json --only-show-errors) "granting $RoleName" | Out-Null
        Write-Host "granted $RoleName"
    }
}

# 0. Preconditions: nothing changes until all of them hold.
if (-not (Get-Command -Name 'az' -ErrorAction SilentlyContinue)) {
    throw 'The Azure CLI (az) is missing: https://learn.microsoft.com/cli/azure/install-azure-cli'
}
$account = ConvertFrom-Az (az account show --query "{tenant: tenantId, subscription: name}" --output json --only-show-errors) 'reading the signed-in account'
if (-not $account -or $account.tenant -ne $TargetTenantId) {
    throw "Sign in to the target tenant first: az login --tenant $TargetTenantId"
}
$rg = ConvertFrom-Az (az group show --name $ResourceGroup --output json --only-show-errors) "reading resource group $ResourceGroup"
$app = ConvertFrom-Az (az containerapp show --resource-group $ResourceGroup --name $NamePrefix --query "{id: id, latest: properties.latestRevisionName, identities: identity.userAssignedIdentities, env: properties.template.containers[0].env}" --output json --only-show-errors) "reading container app $NamePrefix (pass the deployment's -NamePrefix)"
$appEnv = @{}
foreach ($e in @($app.env | Where-Object { $null -ne $_ })) {
    if ($e.PSObject.Properties['value']) {
        $appEnv[$e.name] = $e.value
    }
}
$mode = if ($appEnv.ContainsKey('GRAPH_PROXY_UPSTREAM_MODE')) { $appEnv['GRAPH_PROXY_UPSTREAM_MODE'] } else { 'managedIdentity' }
if ($mode -ne 'managedIdentity' -and -not $AppClientId) {
    throw "The proxy runs in $mode mode: pass -AppClientId, the app registration it uses."
}

# The identities to replace: the one the app is configured with, and those
# the template or an earlier run of this script attached (<prefix>-id,
# <prefix>-id-<tenant>), but never the new one: a second run after the
# configuration changed still finds the old identity.
$identityName = "$NamePrefix-id-$($TargetTenantId.Substring(0, 8).ToLowerInvariant())"
$oldIdentityIds = @()
if ($app.identities) {
    foreach ($p in $app.identities.PSObject.Properties) {
        $name = ($p.Name -split '/')[-1]
        $configured = $appEnv.ContainsKey($clientIdVariable) -and $p.Value.clientId -eq $appEnv[$clientIdVariable]
        if ($name -ne $identityName -and ($configured -or $name -eq "$NamePrefix-id" -or $name -like "$NamePrefix-id-*")) {
            $oldIdentityIds += $p.Name
        }
    }
}
$vault = ConvertFrom-Az (az keyvault list --resource-group $ResourceGroup --query "[0].{name: name, id: id, tenant: properties.tenantId}" --output json --only-show-errors) "listing the Key Vaults of $ResourceGroup"
$rule = ConvertFrom-Az (az resource list --resource-group $ResourceGroup --resource-type 'Microsoft.Insights/dataCollectionRules' --query '[0].id' --output json --only-show-errors) "finding the data collection rule in $ResourceGroup"
Write-Host "container app $NamePrefix ($mode mode) in $ResourceGroup, subscription $($account.subscription)"
Write-Host "identities to replace: $(if ($oldIdentityIds) { $oldIdentityIds -join ', ' } else { 'none' })"

Step "1. Create the user-assigned identity $identityName (identities do not move between tenants)"
$identity = ConvertFrom-Az (az identity list --resource-group $ResourceGroup --query "[?name=='$identityName'] | [0].{id: id, clientId: clientId, principalId: principalId}" --output json --only-show-errors) 'listing the identities'
if ($identity) {
    Write-Host "ok: $identityName exists (client id $($identity.clientId))"
}
elseif ($PSCmdlet.ShouldProcess($identityName, "create a user-assigned identity in $($rg.location)")) {
    $identity = ConvertFrom-Az (az identity create --resource-group $ResourceGroup --name $identityName --location $rg.location --query "{id: id, clientId: clientId, principalId: principalId}" --output json --only-show-errors) "creating identity $identityName"
    Write-Host "created $identityName (client id $($identity.clientId), principal $($identity.principalId))"
}
# Under -WhatIf there is no new identity: the steps below say what they
# would do with it.
$newPrincipal = if ($identity) { $identity.principalId } else { "<principal id of $identityName>" }

Step '2. Key Vault in the new tenant, Key Vault Secrets User, Key Vault Crypto User on the checkpoint key and Monitoring Metrics Publisher for the new identity'
if ($vault) {
    if ($vault.tenant -eq $TargetTenantId) {
        Write-Host "ok: vault $($vault.name) is in tenant $TargetTenantId"
    }
    elseif ($PSCmdlet.ShouldProcess($vault.name, "set the vault's tenant to $TargetTenantId")) {
        ConvertFrom-Az (az keyvault update --resource-group $ResourceGroup --name $vault.name --set "Properties.tenantId=$TargetTenantId" --output json --only-show-errors) "moving vault $($vault.name) to the new tenant" | Out-Null
        Write-Host "vault $($vault.name) moved to tenant $TargetTenantId"
    }
    # The audit checkpoint key, on which alone the identity signs: its
    # name is the last segment of the key's URI the app is configured with.
    $checkpointKey = ''
    if ($appEnv.ContainsKey('GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID')) {
        $checkpointKey = "$($vault.id)/keys/$(($appEnv['GRAPH_PROXY_AUDIT_CHECKPOINT_KEYID'].TrimEnd('/') -split '/')[-1])"
    }
    if ($identity) {
        Grant-Role $identity.principalId $keyVaultSecretsUser $vault.id 'Key Vault Secrets User'
        if ($checkpointKey) {
            Grant-Role $identity.principalId $keyVaultCryptoUser $checkpointKey 'Key Vault Crypto User'
        }
    }
    else {
        Write-Host "would grant Key Vault Secrets User on $($vault.name) to $newPrincipal"
        if ($checkpointKey) {
            Write-Host "would grant Key Vault Crypto User on $checkpointKey to $newPrincipal"
        }
    }
}
else {
    Write-Host 'no Key Vault in the resource group (a deployment from before the policy moved to Key Vault, in managedIdentity or federated mode): skipped'
}
if ($rule -and $identity) {
    Grant-Role $identity.principalId $monitoringMetricsPublisher $rule 'Monitoring Metrics Publisher'
}
elseif ($rule) {
    Write-Host "would grant Monitoring Metrics Publisher on $rule to $newPrincipal"
}

Step '3. Federated identity credential (federated mode)'
if ($mode -eq 'federated') {
    Write-Host "On app $AppClientId, add a federated credential: issuer https://login.microsoftonline.com/$TargetTenantId/v2.0, subject $newPrincipal, audience api://AzureADTokenExchange (a multi-tenant app: in the vendor's tenant). The new revision is not ready until it exists."
}
else {
    Write-Host "$mode mode: skipped"
}

Step '4. Graph permissions and the Teams application access policy'
$grantee = ''
if ($mode -ne 'managedIdentity') {
    $grantee = ConvertFrom-Az (az ad sp show --id $AppClientId --query id --output json --only-show-errors) "finding the service principal of app $AppClientId"
}
elseif ($identity) {
    $grantee = $identity.principalId
}
if ($grantee -and $PolicyFile) {
    & (Join-Path -Path $PSScriptRoot -ChildPath 'Grant-GraphPermissions.ps1') -PrincipalId $grantee -PolicyFile $PolicyFile -WhatIf:$WhatIfPreference
}
elseif ($grantee) {
    # The policy in force, from the deployment's Key Vault secret.
    & (Join-Path -Path $PSScriptRoot -ChildPath 'Grant-GraphPermissions.ps1') -PrincipalId $grantee -ResourceGroup $ResourceGroup -WhatIf:$WhatIfPreference
}
else {
    Write-Host "would grant $newPrincipal the Graph permissions of the policy (Grant-GraphPermissions.ps1)"
}
$teamsApp = if ($mode -ne 'managedIdentity') { $AppClientId } elseif ($identity) { $identity.clientId } else { '' }
if (-not $TeamsGroupId) {
    Write-Host 'no -TeamsGroupId: Teams policy skipped'
}
elseif ($teamsApp) {
    & (Join-Path -Path $PSScriptRoot -ChildPath 'Add-Teams-Access-Policy.ps1') -AppId $teamsApp -GroupId $TeamsGroupId -TenantId $TargetTenantId -WhatIf:$WhatIfPreference
}
else {
    Write-Host "would add the client id of $identityName to the Teams application access policy of group $TeamsGroupId"
}

Step "5. Attach $identityName to the container app and point the app at it"
$attached = $identity -and $app.identities -and $app.identities.PSObject.Properties[$identity.id]
if ($attached) {
    Write-Host "ok: $identityName is attached"
}
elseif (-not $identity) {
    Write-Host "would attach $identityName next to the current identity"
}
elseif ($PSCmdlet.ShouldProcess($NamePrefix, "attach identity $identityName (the current one stays)")) {
    ConvertFrom-Az (az containerapp identity assign --resource-group $ResourceGroup --name $NamePrefix --user-assigned $identity.id --output json --only-show-errors) "attaching $identityName" | Out-Null
    Write-Host "attached $identityName"
    $attached = $true
}
$configured = $false
if ($identity -and $appEnv.ContainsKey($clientIdVariable) -and $appEnv.ContainsKey($tenantIdVariable)) {
    $configured = $appEnv[$clientIdVariable] -eq $identity.clientId -and $appEnv[$tenantIdVariable] -eq $TargetTenantId
}
if ($configured) {
    Write-Host "ok: the app is configured with $identityName and tenant $TargetTenantId"
}
elseif (-not $attached) {
    # The app cannot use an identity it does not have.
    Write-Host "would set $clientIdVariable to the client id of $identityName and $tenantIdVariable to $TargetTenantId (a new revision) once it is attached"
}
elseif ($PSCmdlet.ShouldProcess($NamePrefix, "set $clientIdVariable=$($identity.clientId) and $tenantIdVariable=$TargetTenantId (a new revision)")) {
    ConvertFrom-Az (az containerapp update --resource-group $ResourceGroup --name $NamePrefix --set-env-vars "$clientIdVariable=$($identity.clientId)" "$tenantIdVariable=$TargetTenantId" --output json --only-show-errors) 'updating the configuration' | Out-Null
    Write-Host 'configuration updated: a new revision starts'
    $configured = $true
}

Step '6. Verify the new revision'
$verified = $false
if ($configured) {
    $deadline = (Get-Date).AddMinutes($ReadyTimeoutMinutes)
    do {
        $latest = ConvertFrom-Az (az containerapp show --resource-group $ResourceGroup --name $NamePrefix --query properties.latestRevisionName --output json --only-show-errors) 'reading the latest revision'
        $revision = ConvertFrom-Az (az containerapp revision show --resource-group $ResourceGroup --name $NamePrefix --revision $latest --query "{health: properties.healthState, provisioning: properties.provisioningState}" --output json --only-show-errors) "reading revision $latest"
        Write-Host "revision $latest`: $($revision.provisioning), $($revision.health)"
        if ($revision.health -eq 'Healthy') {
            $verified = $true
            break
        }
        if ($revision.provisioning -eq 'Failed') {
            break
        }
        Start-Sleep -Seconds 15
    } while ((Get-Date) -lt $deadline)
    if (-not $verified) {
        throw "Revision $latest is not ready: its log (az containerapp logs show -g $ResourceGroup -n $NamePrefix --revision $latest --type console) says what it waits for; the old identity is kept. Fix the cause and run the script again."
    }
    # Container Apps' exec cannot hand back the command's exit code (and
    # needs a terminal), so readiness is the gate and the check is for you
    # to read. /graph-proxy is the binary's path in the image (Dockerfile
    # ENTRYPOINT): it is not on PATH, and the image has no shell.
    Write-Host "revision $latest is ready; graph-proxy check in it:"
    az containerapp exec --resource-group $ResourceGroup --name $NamePrefix --revision $latest --command '/graph-proxy check'
}
else {
    Write-Host "would wait for the new revision to be ready, then run: az containerapp exec -g $ResourceGroup -n $NamePrefix --command '/graph-proxy check'"
}

Step '7. Remove the old identities'
if ($oldIdentityIds.Count -eq 0) {
    Write-Host 'no other identity to remove'
}
elseif (-not $verified) {
    Write-Host "would detach and delete $($oldIdentityIds -join ', ') once the new revision is ready"
}
elseif ($Force -or $PSCmdlet.ShouldContinue("Did graph-proxy check end with 'all is well'? Only then are $($oldIdentityIds -join ', ') removed.", 'Remove the old identities')) {
    foreach ($old in $oldIdentityIds) {
        if ($PSCmdlet.ShouldProcess($NamePrefix, "detach identity $old")) {
            ConvertFrom-Az (az containerapp identity remove --resource-group $ResourceGroup --name $NamePrefix --user-assigned $old --output json --only-show-errors) "detaching $old" | Out-Null
            Write-Host "detached $old"
            if ($PSCmdlet.ShouldProcess($old, 'delete the identity')) {
                ConvertFrom-Az (az identity delete --ids $old --output json --only-show-errors) "deleting $old" | Out-Null
                Write-Host "deleted $old"
            }
        }
    }
}
else {
    Write-Host "kept $($oldIdentityIds -join ', '): run the script again once graph-proxy check ends with 'all is well'"
}

Step 'Done'
Write-Host "The vendor tenants (GRAPH_PROXY_INBOUND_ENTRA_TENANTS) change only if the vendor moved too. Audit records already written stay where they are; check the chain with graph-proxy audit verify."
