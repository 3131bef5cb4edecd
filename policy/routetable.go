package policy

// The route model's table (routes.go): every kind of Graph call whose body
// the policy reads a way of its own, in the order routeOf tries them.

var (
	post  = []string{"POST"}
	patch = []string{"PATCH"}
	write = []string{"POST", "PATCH", "PUT"}
)

// routes are matched in order; the first that matches applies.
var routes = []route{
	{name: "getSchedule", methods: post, tail: []string{"getschedule"},
		people: "schedules[] (mailbox addresses)", check: needsSchedules},
	{name: "sendMail", methods: post, tail: []string{"sendmail"}, media: mediaJSONOrMIME, mail: true, sends: true,
		people: "message: toRecipients, ccRecipients, bccRecipients, replyTo, from, sender, mentions; MIME: To, Cc, Bcc, From, Sender, Reply-To, Resent-*", check: needsMessage},
	{name: "message reply", methods: post, action: true, tail: []string{"messages", "*", "reply"}, mail: true, sends: true, resolve: LookupReply,
		people: "message's recipients, from, sender, mentions; and the message's replyTo, or from and sender (read from Graph)"},
	{name: "message replyAll", methods: post, action: true, tail: []string{"messages", "*", "replyall"}, mail: true, sends: true, resolve: LookupReplyAll,
		people: "message's recipients, from, sender, mentions; and the message's replyTo, or from and sender, toRecipients and ccRecipients (read from Graph)"},
	{name: "message forward", methods: post, action: true, tail: []string{"messages", "*", "forward"}, media: mediaJSONOrMIME, mail: true, sends: true,
		people: "toRecipients and message's recipients, from, sender; MIME headers"},
	{name: "draft reply or forward", methods: post, action: true, tail: []string{"messages", "*", "createreply|createreplyall|createforward"}, media: mediaJSONOrMIME, mail: true,
		people: "toRecipients and message's recipients, from, sender; MIME headers"},
	{name: "draft send", methods: post, action: true, tail: []string{"messages", "*", "send"}, mail: true, sends: true, resolve: LookupDraft,
		people: "the draft's toRecipients, ccRecipients, bccRecipients (read from Graph)"},
	// Teams messages are not mail: matched before the mailbox's messages.
	{name: "chat message", methods: write, tail: []string{"chats|channels", "*", "messages"}, people: "mentions[].mentioned.user.id"},
	{name: "chat message update", methods: write, tail: []string{"chats|channels", "*", "messages", "*"}, people: "mentions[].mentioned.user.id"},
	{name: "channel reply", methods: write, tail: []string{"messages", "*", "replies"}, people: "mentions[].mentioned.user.id"},
	{name: "draft", methods: post, tail: []string{"messages"}, media: mediaJSONOrMIME, mail: true,
		people: "toRecipients, ccRecipients, bccRecipients, replyTo, from, sender, mentions; MIME headers"},
	{name: "draft update", methods: patch, tail: []string{"messages", "*"}, mail: true,
		people: "toRecipients, ccRecipients, bccRecipients, replyTo, from, sender, mentions"},
	{name: "event forward", methods: post, action: true, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*", "forward"}, mail: true, sends: true,
		people: "toRecipients", check: needsRecipients},
	{name: "group post forward", methods: post, action: true, tail: []string{"posts", "*", "forward"}, mail: true, sends: true,
		people: "toRecipients", check: needsRecipients},
	{name: "group conversation", methods: post, action: true, tail: []string{"conversations|threads|posts", "*", "reply"},
		refuse: "a reply in a group's conversation goes to the group's members, who are not in this call, so the policy cannot check them"},
	{name: "group conversation start", methods: post, tail: []string{"conversations|threads"},
		refuse: "a post in a group's conversation goes to the group's members, who are not in this call, so the policy cannot check them"},
	{name: "message unsubscribe", methods: post, action: true, tail: []string{"messages", "*", "unsubscribe"},
		refuse: "unsubscribing sends mail to the address the message's List-Unsubscribe header names, which is not in this call, so the policy cannot check it"},
	{name: "inbox rule", methods: post, tail: []string{"mailfolders", "*", "messagerules"}, mail: true, sends: true,
		people: "actions.forwardTo, forwardAsAttachmentTo, redirectTo"},
	{name: "inbox rule update", methods: patch, tail: []string{"mailfolders", "*", "messagerules", "*"}, mail: true, sends: true,
		people: "actions.forwardTo, forwardAsAttachmentTo, redirectTo"},
	// Files shared, copied and moved: where they go must be the path's.
	{name: "sharing link", methods: post, tail: []string{"createlink"}, check: needsNoAnonymousLink, people: "recipients[].email", sharingText: true},
	// An invitation reads only its body: it is one however the item is
	// addressed (items/{id}, root, root:/path:, special/{name}, a list
	// item's driveItem, shares/{id}/driveItem, bundles/{id}).
	{name: "sharing invitation", methods: post, action: true, tail: []string{"invite"}, people: "recipients[].email", check: needsInvitees, sharingText: true},
	{name: "mail item move or copy", methods: post, tail: []string{"messages|mailfolders|childfolders|contactfolders", "*", "move|copy"}, check: needsOwnFolder},
	// Any other copy is a drive item's, however addressed.
	{name: "drive item copy", methods: post, tail: []string{"copy"}, check: needsOwnDrive},
	{name: "drive item move", methods: patch, tail: []string{"items", "*"}, check: needsOwnDrive},
	// Automatic replies are read wherever automaticRepliesSetting stands
	// in a body (autoreplies.go); written at its own path, the body is
	// the setting, and a member of it alone is refused.
	{name: "automatic replies", methods: write, tail: []string{"automaticrepliessetting"}, check: needsNoExternalReplies},
	{name: "automatic replies member", methods: write, tail: []string{"automaticrepliessetting", "*"},
		refuse: "automaticRepliesSetting is written whole (status and externalAudience together, as …/mailboxSettings takes it), so that the policy can tell whom automatic replies go to"},
	{name: "event cancel", methods: post, action: true, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*", "cancel"}, resolve: LookupAttendees,
		people: "the event's attendees (read from Graph)"},
	{name: "event response", methods: post, action: true, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*", "accept|decline|tentativelyaccept"}, resolve: LookupOrganizer,
		people: "the event's organizer (read from Graph), unless sendResponse is false"},
	// Graph does not say whether permanentDelete of a meeting its
	// organizer holds cancels it with its attendees, as DELETE does: it
	// is taken to.
	{name: "event permanent delete", methods: post, action: true, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*", "permanentdelete"}, resolve: LookupAttendees,
		people: "the event's attendees (read from Graph)"},
	{name: "mail item permanent delete", methods: post, action: true, tail: []string{"messages|mailfolders|childfolders|contacts|contactfolders", "*", "permanentdelete"}},
	// A meeting message's event (messages/{id}/event) is the event, read
	// at that path.
	{name: "event cancel (a message's)", methods: post, action: true, tail: []string{"messages", "*", "event", "cancel|permanentdelete"}, resolve: LookupAttendees,
		people: "the event's attendees (read from Graph)"},
	{name: "event response (a message's)", methods: post, action: true, tail: []string{"messages", "*", "event", "accept|decline|tentativelyaccept"}, resolve: LookupOrganizer,
		people: "the event's organizer (read from Graph), unless sendResponse is false"},
	{name: "event forward (a message's)", methods: post, action: true, tail: []string{"messages", "*", "event", "forward"}, mail: true, sends: true,
		people: "toRecipients", check: needsRecipients},
	{name: "event update (a message's)", methods: patch, tail: []string{"messages", "*", "event"}, resolve: LookupAttendees, resolveSelf: true,
		people: "attendees, organizer, exceptionOccurrences[].attendees, location(s).locationEmailAddress; and the event's attendees (read from Graph)"},
	{name: "event delete (a message's)", methods: []string{"DELETE"}, tail: []string{"messages", "*", "event"}, resolve: LookupAttendees, resolveSelf: true,
		people: "the event's attendees (read from Graph)"},
	{name: "event", methods: post, tail: []string{"events"},
		people: "attendees, organizer, exceptionOccurrences[].attendees, location(s).locationEmailAddress, calendar@odata.bind"},
	// An organizer's update or deletion of an event sends it to every
	// attendee, those the call names and those it does not.
	{name: "event update", methods: patch, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*"}, resolve: LookupAttendees, resolveSelf: true,
		people: "attendees, organizer, exceptionOccurrences[].attendees, location(s).locationEmailAddress; and the event's attendees (read from Graph)"},
	{name: "event delete", methods: []string{"DELETE"}, tail: []string{"events|instances|calendarview|exceptionoccurrences", "*"}, resolve: LookupAttendees, resolveSelf: true,
		people: "the event's attendees (read from Graph)"},
	{name: "findMeetingTimes", methods: post, tail: []string{"findmeetingtimes"},
		people: "attendees, locationConstraint.locations[].locationEmailAddress"},
	{name: "online meeting", methods: write, tail: []string{"onlinemeetings"},
		people: "participants.attendees[] and participants.organizer (upn, identity.user.id)"},
	{name: "online meeting update", methods: write, tail: []string{"onlinemeetings", "*"},
		people: "participants.attendees[] and participants.organizer (upn, identity.user.id)"},
	{name: "contact", methods: write, tail: []string{"contacts"}, people: "emailAddresses[]"},
	{name: "contact update", methods: write, tail: []string{"contacts", "*"}, people: "emailAddresses[]"},
	{name: "chat", methods: post, tail: []string{"chats"}, whole: true, people: "members[].user@odata.bind"},
	{name: "chat members", methods: post, tail: []string{"chats", "*", "members"}, people: "user@odata.bind"},
	{name: "subscription", methods: write, tail: []string{"subscriptions"}, whole: true,
		people: "resource (the users it reads)", check: subscriptionChecks},
	{name: "subscription update", methods: patch, tail: []string{"subscriptions", "*"}, whole: true,
		people: "resource (the users it reads, read from Graph)", check: subscriptionChecks, resolve: LookupSubscription, resolveSelf: true},
	{name: "subscription by id", methods: []string{"GET", "DELETE"}, tail: []string{"subscriptions", "*"}, whole: true,
		people: "resource (the users it reads, read from Graph)", resolve: LookupSubscription, resolveSelf: true},
	// A OneNote page's content is not a file's bytes but commands: JSON,
	// or multipart with HTML parts, whose images and objects Graph fetches
	// from the URLs they name. Neither is read by the proxy.
	{name: "OneNote page content", methods: write, tail: []string{"pages", "*", "content"},
		refuse: "a OneNote page's content is HTML, whose images and objects Graph fetches from the URLs it names, in commands the proxy does not read"},
	// A message's $value is its MIME, whose headers say whom it goes to:
	// Graph's MIME form of mail is a draft or a mail sent (text/plain,
	// base64), where the model reads it, never a file's bytes.
	{name: "message MIME", methods: write, tail: []string{"messages", "*", "$value"},
		refuse: "a message's MIME ($value) names whom the message goes to, which the proxy reads only in Graph's MIME form of a draft or a mail sent (POST …/messages, sendMail)"},
	// File content passes unread only where it is a file's bytes (a drive
	// item's, a profile photo's: contentpaths.go); under any other item
	// Graph may read it as more, which the proxy does not: refused.
	{name: "file content", methods: write, tail: []string{"content|$value"}, exact: true, paths: fileContentPath, media: mediaContent},
	{name: "content of another item", methods: write, tail: []string{"content|$value"}, exact: true, refuse: otherContent},
}
