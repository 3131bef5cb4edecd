package policy

// Permissions are the Microsoft Graph application permissions a rule may
// name. A policy naming any other is rejected at load, with the nearest
// known name suggested, so that a typo cannot silently disable a rule.
var Permissions = []string{
	"Application.Read.All",
	"AuditLog.Read.All",
	"Calendars.Read",
	"Calendars.ReadBasic",
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

var knownPermission = func() map[string]string {
	m := make(map[string]string, len(Permissions))
	for _, p := range Permissions {
		m[lowerASCII(p)] = p
	}
	return m
}()

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
