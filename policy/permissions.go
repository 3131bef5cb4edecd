package policy

import "fmt"

// Permissions are the Microsoft Graph application permissions a rule may
// name. A policy naming any other is rejected at load, with the nearest
// known name suggested, so that a typo cannot silently disable a rule.
//
// Each is the value of an app role of Microsoft Graph's service principal
// (appRoles[].value, allowedMemberTypes Application): the name `graph-proxy
// check` finds in the proxy's token and scripts/Grant-GraphPermissions.ps1
// grants by. Checked against the permissions reference
// (learn.microsoft.com/graph/permissions-reference, and its mirror
// graphpermissions.merill.net) and a dump of the app roles with their ids,
// e.g. Calendars.ReadBasic.All 8ba4a692-bc31-4128-9094-475872af8a53,
// Mail.ReadBasic 6be147d2-ea4f-4b5a-a3fa-3eab6f3c140a, Mail.ReadBasic.All
// 693c5e45-0940-467d-9b8a-1022fb9d42ef, MailboxSettings.Read
// 40f97065-369a-49f4-947c-6a255697ae91. Calendars.ReadBasic is not here:
// Graph has it as a delegated permission only (662d75ba-a364-42ad-adee-
// f5f880ea4878; no app role), though the API reference's tables write it
// under Application; see ApplicationAliases.
var Permissions = []string{
	"Application.Read.All",
	"AuditLog.Read.All",
	"Calendars.Read",
	"Calendars.ReadBasic.All",
	"Calendars.ReadWrite",
	"CallRecords.Read.All",
	"Channel.ReadBasic.All",
	"ChannelMessage.Read.All",
	"Chat.Create",
	"Chat.Read.All",
	"Chat.ReadBasic.All",
	"Chat.ReadWrite.All",
	"Contacts.Read",
	"Contacts.ReadWrite",
	"Directory.Read.All",
	"Files.Read.All",
	"Files.ReadWrite.All",
	"Group.Read.All",
	"Group.ReadWrite.All",
	"GroupMember.Read.All",
	"Mail.Read",
	"Mail.ReadBasic",
	"Mail.ReadBasic.All",
	"Mail.ReadWrite",
	"Mail.Send",
	"MailboxSettings.Read",
	"MailboxSettings.ReadWrite",
	"OnlineMeetingArtifact.Read.All",
	"OnlineMeetingRecording.Read.All",
	"OnlineMeetings.Read.All",
	"OnlineMeetings.ReadWrite.All",
	"OnlineMeetingTranscript.Read.All",
	"Place.Read.All",
	"Presence.Read.All",
	"Presence.ReadWrite.All",
	"Reports.Read.All",
	"Sites.Read.All",
	"Sites.ReadWrite.All",
	"Tasks.Read.All",
	"Tasks.ReadWrite.All",
	"Team.ReadBasic.All",
	"TeamMember.Read.All",
	"User.Read.All",
	"User.ReadBasic.All",
	"User.ReadWrite.All",
	"VirtualEvent.Read.All",
}

// ApplicationAliases read names that Microsoft Graph has as delegated
// permissions only, given where an application permission belongs (a
// rule's permission, a caller's permissions), as the application
// permission that grants the same access without a signed-in user. The
// policies shipped before this table wrote Calendars.ReadBasic for
// app-only rules, as the API reference does; they keep loading, and what
// the proxy's identity needs (Policy.Permissions, check, the Grant script)
// is the app role Graph really has. policy lint warns where an alias is
// used. scripts/Grant-GraphPermissions.ps1 holds the same table
// (deploy/scripts_test.go holds the two equal).
var ApplicationAliases = map[string]string{
	"Calendars.ReadBasic": "Calendars.ReadBasic.All",
}

var knownPermission = func() map[string]string {
	m := make(map[string]string, len(Permissions))
	for _, p := range Permissions {
		m[lowerASCII(p)] = p
	}
	return m
}()

var aliasedPermission = func() map[string]string {
	m := make(map[string]string, len(ApplicationAliases))
	for alias, canon := range ApplicationAliases {
		m[lowerASCII(alias)] = canon
	}
	return m
}()

// applicationPermission returns the application permission a policy's
// name stands for, spelt as Graph's app role, and whether the name was an
// alias of it (ApplicationAliases); ok is false for a name of neither.
func applicationPermission(name string) (canon string, aliased, ok bool) {
	key := lowerASCII(name)
	if canon, ok := knownPermission[key]; ok {
		return canon, false, true
	}
	if canon, ok := aliasedPermission[key]; ok {
		return canon, true, true
	}
	return "", false, false
}

// aliasReason is what policy lint says of a name read by its alias.
func aliasReason(name, canon string) string {
	return fmt.Sprintf("%s is a delegated permission only: Microsoft Graph has no application permission of that name; read as %s, its application counterpart, which the proxy's identity needs (write %s)", name, canon, canon)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}
