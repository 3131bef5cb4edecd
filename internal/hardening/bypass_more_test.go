package hardening

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/graph-proxy/graph-proxy/internal/graphsim"
)

// morePolicy is bypassPolicy with the rules a scheduling or mail
// vendor plausibly adds: actions on events (and their occurrences), an
// event update, actions on messages in folders, inbox rules and mailbox
// settings, drive item actions and thumbnails, group conversations, and
// answers minimised by response sections, and a calendar's collections
// by a variable beside its events, whose answers are.
var morePolicy = strings.Replace(strings.Replace(bypassPolicy,
	"User.ReadWrite.All, Files.ReadWrite.All]", "User.ReadWrite.All, Files.ReadWrite.All, MailboxSettings.ReadWrite, Group.ReadWrite.All, User.Read.All]", 1),
	"rules:\n", `rules:
  - { id: event-actions, method: POST, path: "/users/{user}/events/{id}/{action}", permission: Calendars.ReadWrite }
  - { id: instance-actions, method: POST, path: "/users/{user}/events/{id}/instances/{iid}/{action}", permission: Calendars.ReadWrite }
  - { id: calview-actions, method: POST, path: "/users/{user}/calendarView/{id}/{action}", permission: Calendars.ReadWrite }
  - { id: event-update, method: [PATCH, DELETE], path: "/users/{user}/events/{id}", permission: Calendars.ReadWrite }
  - { id: folder-message-actions, method: POST, path: "/users/{user}/mailFolders/{f}/messages/{id}/{action}", permission: Mail.Send }
  - { id: inbox-rules, method: POST, path: "/users/{user}/mailFolders/{f}/messageRules", permission: MailboxSettings.ReadWrite }
  - { id: mailbox-settings, method: PATCH, path: "/users/{user}/mailboxSettings", permission: MailboxSettings.ReadWrite }
  - { id: drive-actions, method: POST, path: "/users/{user}/drive/items/{id}/{action}", permission: Files.ReadWrite.All }
  - { id: drive-thumbs, method: GET, path: "/users/{user}/drive/items/{id}/thumbnails", permission: Files.ReadWrite.All }
  - { id: drive-item, method: GET, path: "/users/{user}/drive/items/{id}", permission: Files.ReadWrite.All }
  - { id: group-threads, method: POST, path: "/groups/{g}/threads/{t}/{action}", permission: Group.ReadWrite.All }
  - { id: group-posts, method: POST, path: "/groups/{g}/threads/{t}/posts/{p}/{action}", permission: Group.ReadWrite.All }
  - id: manager-pseudo
    method: GET
    path: "/users/{user}/manager"
    permission: User.Read.All
    response: { pseudonymise: [id, mail, userPrincipalName] }
  - id: manager-redact
    method: GET
    path: "/users/{user}/directReports"
    permission: User.Read.All
    response: { redact: [id, mail, userPrincipalName] }
  - id: calendar-fields
    method: GET
    path: "/users/{user}/calendar"
    permission: Calendars.ReadBasic.All
    response: { fields: [name, color] }
  - { id: calendar-items, method: GET, path: "/users/{user}/calendar/{collection}", permission: Calendars.ReadBasic.All }
  - id: calendar-events-when
    method: GET
    path: "/users/{user}/calendar/events"
    query: [$filter, $orderby, $search]
    permission: Calendars.ReadBasic.All
    response: { fields: [id, start, end, showAs] }
`, 1)

const morePseudonymKey = "redteam2-pseudonym-key-0123456789-abcdefghijkl"

// TestMoreAllowListBypasses sends a second corpus of hostile requests
// through the real binary, by class: mail that leaves by calls the route
// model once did not know, references in body members (parentReference,
// destinationId), odd spellings of actions, annotations past a response
// section, pre-authenticated URLs under other keys. A request that should
// be refused and reached Graph, or an answer that carries what it should
// not, is an error; headers sent are logged.
func TestMoreAllowListBypasses(t *testing.T) {
	sim := startSim(t, graphsim.Options{})
	for _, id := range []string{graphsim.SystemIdentityClientID, graphsim.ManagedIdentityClientID} {
		roles := sim.Entra.App(graphsim.CustomerTenant, id).Roles[graphsim.GraphResource]
		sim.Entra.SetRoles(graphsim.CustomerTenant, id, graphsim.GraphResource, append(slices.Clone(roles),
			"Mail.Send", "Mail.ReadWrite", "User.ReadWrite.All", "MailboxSettings.ReadWrite", "Group.ReadWrite.All", "Files.ReadWrite.All"))
	}
	sim.Vault.SetSecret("graph-proxy-pseudonym-key", morePseudonymKey, "")
	p := startProxy(t, sim, procOptions{Policy: morePolicy, Env: []string{
		"GRAPH_PROXY_PSEUDONYMKEY_SECRETURI=" + sim.Vault.URL + "/secrets/graph-proxy-pseudonym-key",
		"GRAPH_PROXY_PSEUDONYMKEY_DISABLECHALLENGERESOURCEVERIFICATION=true",
	}})
	ids, upns := sim.Graph.Users()
	member, member2, outsider, outsiderID := upns[0], upns[1], upns[3], ids[3]
	for _, u := range []string{member, member2} {
		sim.Graph.SetGroupMember(scopedGroup, u, true)
	}
	u := "/v1.0/users/" + member
	att := func(a string) string { return `{"emailAddress":{"address":"` + a + `"}}` }
	batch := func(subs ...string) string { return `{"requests":[` + strings.Join(subs, ",") + `]}` }
	guest := "guest@vendor.example" // exempt from the group, outside mail.recipientDomains
	toGuest := `{"toRecipients":[` + att(guest) + `],"comment":"exfiltrated text"}`

	probes := []bypass{
		// --- OData spellings of a refused action ---------------------------
		{name: "send, percent-encoded dots", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/microsoft%2Egraph%2Esend", refuse: true},
		{name: "send, percent-encoded parens", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/send%28%29", refuse: true},
		{name: "send, mixed case qualified", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/Microsoft.Graph.SEND", refuse: true},
		{name: "send, key-as-parens message", class: "operation spelling", method: "POST", path: u + "/messages('AAMkAD')/send", refuse: true},
		{name: "send, parameter with a quoted paren", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/send(x=')')", refuse: true},
		{name: "send, matrix parameter", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/send;x=1", refuse: true},
		{name: "send, trailing space", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/send%20", refuse: true},
		{name: "send, namespace with a long s", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/micro%C5%BFoft.graph.send", refuse: true},
		{name: "send, long s and a trailing space", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/%C5%BFend%20", refuse: true},
		{name: "send, a full-width letter (NFKC)", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/%EF%BD%93end", refuse: true},
		{name: "event cancel, full-width (NFKC)", class: "operation spelling", method: "POST", path: u + "/events/AAMkAD/%EF%BD%83%EF%BD%81%EF%BD%8E%EF%BD%83%EF%BD%85%EF%BD%8C", ct: "application/json", body: `{"comment":"x"}`, refuse: true},
		{name: "unsubscribe, long s and a parameter", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/un%C5%BFubscribe;x=1", refuse: true},
		{name: "send, trailing /$value", class: "operation spelling", method: "POST", path: u + "/messages/AAMkAD/send/$value", refuse: true},
		{name: "send, in a folder", class: "operation spelling", method: "POST", path: u + "/mailFolders/inbox/messages/AAMkAD/microsoft.graph.send", refuse: true},
		{name: "reply, in a folder", class: "operation spelling", method: "POST", path: u + "/mailFolders/inbox/messages/AAMkAD/reply", ct: "application/json", body: `{"comment":"x"}`, refuse: true},
		{name: "send, $batch with a query", class: "operation spelling", method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"POST","url":"users/` + member + `/messages/AAMkAD/microsoft.graph.send?x=1"}`), refuse: true},

		// --- Actions that send mail to people the call does not name ------
		{name: "message unsubscribe (mail to the List-Unsubscribe address)", class: "mail to recipients not in the call",
			method: "POST", path: u + "/messages/AAMkAD/unsubscribe", refuse: true},
		{name: "event update as organizer (update mail to every attendee)", class: "mail to recipients not in the call",
			method: "PATCH", path: u + "/events/AAMkAD", ct: "application/json", body: `{"body":{"contentType":"text","content":"exfiltrated text"}}`, refuse: true},
		{name: "event delete as organizer (cancellation to every attendee)", class: "mail to recipients not in the call",
			method: "DELETE", path: u + "/events/AAMkAD", refuse: true},
		{name: "group thread reply (mail to every group member)", class: "mail to recipients not in the call",
			method: "POST", path: "/v1.0/groups/G1/threads/T1/reply", ct: "application/json", body: `{"post":{"body":{"contentType":"text","content":"exfiltrated text"}}}`, refuse: true},

		// --- Mail-sending calls the route model does not know -------------
		{name: "event forward to a guest (control)", class: "control", method: "POST", path: u + "/events/AAMkAD/forward", ct: "application/json", body: toGuest, refuse: true},
		{name: "event forward to a guest via instances", class: "route model: mail call not known",
			method: "POST", path: u + "/events/AAMkAD/instances/I1/forward", ct: "application/json", body: toGuest, refuse: true},
		{name: "event forward to a guest via calendarView", class: "route model: mail call not known",
			method: "POST", path: u + "/calendarView/AAMkAD/forward", ct: "application/json", body: toGuest, refuse: true},
		{name: "event forward to a guest via instances, in $batch", class: "route model: mail call not known",
			method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"POST","url":"users/` + member + `/events/AAMkAD/instances/I1/forward","headers":{"Content-Type":"application/json"},"body":` + toGuest + `}`), refuse: true},
		{name: "occurrence cancel (control)", class: "control", method: "POST", path: u + "/events/AAMkAD/instances/I1/microsoft.graph.cancel", ct: "application/json", body: `{"comment":"x"}`, refuse: true},
		{name: "inbox rule forwarding all mail to a guest", class: "route model: mail call not known",
			method: "POST", path: u + "/mailFolders/inbox/messageRules", ct: "application/json",
			body: `{"displayName":"r","sequence":1,"isEnabled":true,"conditions":{},"actions":{"forwardTo":[` + att(guest) + `]}}`, refuse: true},
		{name: "inbox rule redirecting all mail to a guest", class: "route model: mail call not known",
			method: "POST", path: u + "/mailFolders/inbox/messageRules", ct: "application/json",
			body: `{"displayName":"r","sequence":1,"isEnabled":true,"conditions":{},"actions":{"redirectTo":[` + att(guest) + `]}}`, refuse: true},
		{name: "automatic replies to every external sender", class: "route model: mail call not known",
			method: "PATCH", path: u + "/mailboxSettings", ct: "application/json",
			body: `{"automaticRepliesSetting":{"status":"alwaysEnabled","externalAudience":"all","externalReplyMessage":"exfiltrated text"}}`, refuse: true},
		{name: "group post forward to a guest", class: "route model: mail call not known",
			method: "POST", path: "/v1.0/groups/G1/threads/T1/posts/P1/forward", ct: "application/json", body: toGuest, refuse: true},
		{name: "POST MIME to a message's $value under an {action} rule", class: "route model: content route via a variable",
			method: "POST", path: u + "/messages/AAMkAD/$value", ct: "text/plain",
			body: mimeMail("From: " + member + "\r\nTo: x@evil.example\r\n"), refuse: true},
		{name: "forward with an item attachment naming a guest (control)", class: "control",
			method: "POST", path: u + "/messages/AAMkAD/forward", ct: "application/json",
			body: `{"toRecipients":[` + att(member2) + `],"message":{"attachments":[{"@odata.type":"#microsoft.graph.itemAttachment","name":"x","item":{"@odata.type":"#microsoft.graph.message","toRecipients":[` + att(guest) + `]}}]}}`, refuse: true},
		{name: "sendMail, Reply-To set by MAPI tag (PidTagReplyRecipientNames)", class: "people by extended property",
			method: "POST", path: u + "/sendMail", ct: "application/json",
			body: `{"message":{"subject":"x","toRecipients":[` + att(member2) + `],"singleValueExtendedProperties":[{"id":"String 0x0050","value":"x@evil.example"}]}}`, refuse: true},

		// --- References the proxy resolves to the wrong user --------------
		{name: "@odata.id to a member's directReports/{outsider}", class: "reference resolved by its first user",
			method: "PUT", path: u + "/manager/$ref", ct: "application/json",
			body: `{"@odata.id":"https://graph.microsoft.com/v1.0/users/` + member2 + `/directReports/` + outsiderID + `"}`, refuse: true},
		{name: "@odata.id to a member's manager", class: "reference resolved by its first user",
			method: "PUT", path: u + "/manager/$ref", ct: "application/json",
			body: `{"@odata.id":"users/` + member2 + `/manager"}`, refuse: true},
		{name: "drive item copy into an outsider's drive", class: "reference not read (parentReference)",
			method: "POST", path: u + "/drive/items/I1/copy", ct: "application/json",
			body: `{"parentReference":{"driveId":"b!outsider-drive","id":"root"},"name":"x.docx"}`, refuse: true},
		{name: "drive item copy to an outsider's drive by path", class: "reference not read (parentReference)",
			method: "POST", path: u + "/drive/items/I1/copy", ct: "application/json",
			body: `{"parentReference":{"path":"/users/` + outsider + `/drive/root:"}}`, refuse: true},
		{name: "message move to another mailbox's folder", class: "reference not read (destinationId)",
			method: "POST", path: u + "/messages/AAMkAD/move", ct: "application/json",
			body: `{"destinationId":"/users/` + outsider + `/mailFolders/inbox"}`, refuse: true},

		// --- Queries reading what the answers withhold ---------------------
		{name: "$filter on a withheld subject", class: "query reads withheld", method: "GET", path: u + "/calendar/events?$filter=startswith(subject,%27Merger%27)", refuse: true},
		{name: "$orderby on a withheld subject", class: "query reads withheld", method: "GET", path: u + "/calendar/events?$orderby=subject", refuse: true},
		{name: "$filter through a lambda on attendees", class: "query reads withheld", method: "GET", path: u + "/calendar/events?$filter=attendees/any(a:a/emailAddress/address%20eq%20%27ceo@contoso.example%27)", refuse: true},
		{name: "$search under a response section", class: "query reads withheld", method: "GET", path: u + "/calendar/events?$search=%22merger%22", refuse: true},
		{name: "$filter on a withheld subject, in $batch", class: "query reads withheld", method: "POST", path: "/v1.0/$batch", ct: "application/json",
			body: batch(`{"id":"1","method":"GET","url":"users/` + member + `/calendar/events?$filter=contains(subject,'x')"}`), refuse: true},

		// --- A path read otherwise: a cast Graph ignores, a segment a ------
		// --- lenient server trims, under {collection} beside the literal --
		{name: "calendar events, matrix parameter", class: "path read otherwise", method: "GET", path: u + "/calendar/events;x=1", refuse: true},
		{name: "calendar events, trailing space", class: "path read otherwise", method: "GET", path: u + "/calendar/events%20", refuse: true},
		{name: "calendar events, trailing dot", class: "path read otherwise", method: "GET", path: u + "/calendar/events.", refuse: true},
		{name: "calendar cast to its own type", class: "path read otherwise", method: "GET", path: u + "/calendar/microsoft.graph.calendar", refuse: true},
		{name: "calendar events, a full-width letter (NFKC)", class: "path read otherwise", method: "GET", path: u + "/calendar/%EF%BD%85vents", refuse: true},
		{name: "calendar events, a full-width dot (NFKC)", class: "path read otherwise", method: "GET", path: u + "/calendar/events%EF%BC%8E", refuse: true},
		{name: "calendar events, a full-width solidus before (NFKC)", class: "path read otherwise", method: "GET", path: u + "/calendar/%EF%BC%8Fevents", refuse: true},

		// --- Subscriptions -------------------------------------------------
		{name: "subscription: resource with $filter", class: "subscription", method: "POST", path: "/v1.0/subscriptions", ct: "application/json",
			body: `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/` + member + `/events?$filter=x","expirationDateTime":"2030-01-01T00:00:00Z"}`, refuse: true},
		{name: "subscription: resource /me", class: "subscription", method: "POST", path: "/v1.0/subscriptions", ct: "application/json",
			body: `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"me/events","expirationDateTime":"2030-01-01T00:00:00Z"}`, refuse: true},
		{name: "subscription: resource an absolute URL", class: "subscription", method: "POST", path: "/v1.0/subscriptions", ct: "application/json",
			body: `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"https://graph.microsoft.com/v1.0/users/` + outsider + `/events","expirationDateTime":"2030-01-01T00:00:00Z"}`, refuse: true},
		{name: "subscription: resource with a cast to messages", class: "subscription", method: "POST", path: "/v1.0/subscriptions", ct: "application/json",
			body: `{"changeType":"created","notificationUrl":"https://hooks.vendor.example/graph/n","resource":"users/` + member + `/events/microsoft.graph.eventMessage","expirationDateTime":"2030-01-01T00:00:00Z"}`, refuse: true},
	}

	sendProbes(t, p, sim, probes)

	answers(t, p, sim, member, outsiderID)
	headersSent(t, p, sim, member)
	notifications(t, p, sim)
	p.Stop()
}

// answerProbe is a call whose answer Graph (a fault) gives as body, and a
// string that must not reach the caller.
type answerProbe struct {
	name, class      string
	method, path     string
	prefix           string // the fault's path after the version
	ct, body, accept string
	answer           string
	answerCT         string // the answer's Content-Type; application/json when empty
	mustNot          string
}

// answers probes response minimisation and link withholding with answers
// Graph gives (a fault's body).
func answers(t *testing.T, p *proc, sim *graphsim.Sim, member, oid string) {
	u := "/v1.0/users/" + member
	full := "application/json;odata.metadata=full"
	userAnswer := `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#directoryObjects/$entity",` +
		`"@odata.type":"#microsoft.graph.user","@odata.id":"https://graph.microsoft.com/v2/` + graphsim.CustomerTenant + `/directoryObjects/` + oid + `/Microsoft.DirectoryServices.User",` +
		`"@odata.editLink":"directoryObjects/` + oid + `/Microsoft.DirectoryServices.User",` +
		`"id":"` + oid + `","displayName":"Boss","mail":"boss@contoso.example","userPrincipalName":"boss@contoso.example"}`
	preauth := "tempauth=SECRET-PREAUTH"
	probes := []answerProbe{
		{name: "pseudonymised id, @odata.id under odata.metadata=full", class: "response: annotations carry removed values",
			method: "GET", path: u + "/manager", prefix: "/users/" + member + "/manager", accept: full, answer: userAnswer, mustNot: oid},
		{name: "redacted id, @odata.editLink", class: "response: annotations carry removed values",
			method: "GET", path: u + "/directReports", prefix: "/users/" + member + "/directReports", accept: full,
			answer: `{"value":[` + userAnswer + `]}`, mustNot: oid},
		{name: "fields-only section, @odata.id (control)", class: "control",
			method: "GET", path: u + "/calendar", prefix: "/users/" + member + "/calendar", accept: full,
			answer: `{"@odata.id":"users('` + oid + `')/calendar","name":"Calendar","color":"auto","owner":{"address":"boss@contoso.example"}}`, mustNot: oid},
		{name: "pseudonymised id in $batch, @odata.id", class: "response: annotations carry removed values",
			method: "POST", path: "/v1.0/$batch", prefix: "/$batch", ct: "application/json",
			body:   `{"requests":[{"id":"1","method":"GET","url":"users/` + member + `/manager"}]}`,
			answer: `{"responses":[{"id":"1","status":200,"headers":{"Content-Type":"application/json"},"body":` + userAnswer + `}]}`, mustNot: oid},
		{name: "thumbnail URLs", class: "links: pre-authenticated URL under a key not listed",
			method: "GET", path: u + "/drive/items/I1/thumbnails", prefix: "/users/" + member + "/drive/items/I1/thumbnails",
			answer: `{"value":[{"id":"0","large":{"height":800,"width":800,"url":"https://contoso-my.sharepoint.com/_api/v2.0/drives/b!x/items/I1/thumbnails/0/large/content?` + preauth + `"}}]}`, mustNot: preauth},
		{name: "createLink anonymous webUrl", class: "links: pre-authenticated URL under a key not listed",
			method: "POST", path: u + "/drive/items/I1/createLink", prefix: "/users/" + member + "/drive/items/I1/createLink", ct: "application/json",
			body:   `{"type":"view","scope":"anonymous"}`,
			answer: `{"id":"p1","roles":["read"],"link":{"scope":"anonymous","type":"view","webUrl":"https://contoso-my.sharepoint.com/:w:/g/personal/x/E` + preauth + `"}}`, mustNot: preauth},
		{name: "downloadUrl without the annotation prefix", class: "links: pre-authenticated URL under a key not listed",
			method: "GET", path: u + "/drive/items/I1", prefix: "/users/" + member + "/drive/items/I1",
			answer: `{"id":"I1","name":"x","downloadUrl":"https://contoso.blob.core.windows.net/x?sig=` + preauth + `"}`, mustNot: preauth},
		{name: "preview getUrl, postUrl, postParameters", class: "links: pre-authenticated URL under a key not listed",
			method: "POST", path: u + "/drive/items/I1/preview", prefix: "/users/" + member + "/drive/items/I1/preview", ct: "application/json", body: `{}`,
			answer: `{"getUrl":"https://contoso-my.sharepoint.com/embed.aspx?access_token=` + preauth + `","postUrl":"https://contoso-my.sharepoint.com/WopiFrame.aspx","postParameters":"access_token=` + preauth + `"}`, mustNot: preauth},
		{name: "an item's sharing links: webUrl, webHtml", class: "links: pre-authenticated URL under a key not listed",
			method: "GET", path: u + "/drive/items/I4", prefix: "/users/" + member + "/drive/items/I4",
			answer: `{"id":"I4","webUrl":"https://contoso-my.sharepoint.com/personal/x/Documents/a.docx","permissions":[{"id":"p2","link":{"scope":"anonymous","type":"embed","webHtml":"<iframe src=\"https://onedrive.live.com/embed?authkey=!` + preauth + `\"></iframe>","webUrl":"https://1drv.ms/w/s!` + preauth + `"}}]}`, mustNot: preauth},
		{name: "@odata.mediaReadLink on the file host", class: "links: pre-authenticated URL under a key not listed",
			method: "GET", path: u + "/drive/items/I3", prefix: "/users/" + member + "/drive/items/I3",
			answer: `{"id":"I3","@odata.mediaReadLink":"https://contoso-my.sharepoint.com/dl?tempauth=` + preauth + `","UploadURL":"https://contoso-my.sharepoint.com/up?` + preauth + `"}`, mustNot: preauth},
		{name: "an action's primitive answer", class: "links: pre-authenticated URL under a key not listed",
			method: "POST", path: u + "/drive/items/I1/createDownloadUrl", prefix: "/users/" + member + "/drive/items/I1/createDownloadUrl", ct: "application/json", body: `{}`,
			answer: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Edm.String","value":"https://contoso.blob.core.windows.net/x?sig=` + preauth + `"}`, mustNot: preauth},
		{name: "URLs carrying a credential under names no rule reads, in lists", class: "links: pre-authenticated URL under a key not listed",
			method: "GET", path: u + "/drive/items/I5", prefix: "/users/" + member + "/drive/items/I5",
			answer: `{"id":"I5","contentLocation":"https://contoso.blob.core.windows.net/x?sv=1&` + preauth + `","source":{"href":"https://contoso-my.sharepoint.com/dl?` + preauth + `"},"alternates":["https://contoso-my.sharepoint.com/a?access_token=1&` + preauth + `"],"redirectUris":["https://e.example/` + preauth + `"]}`, mustNot: preauth},
		{name: "paging link to Graph's host spelled otherwise", class: "links: paging link elsewhere",
			method: "GET", path: u + "/drive/items/I1/thumbnails", prefix: "/users/" + member + "/drive/items/I1/thumbnails",
			answer: `{"value":[],"@odata.nextLink":"https://graph.microsoft.com.:443/v1.0/users/` + member + `/drive/items/I1/thumbnails?$skiptoken=` + preauth + `"}`, mustNot: preauth},
		{name: "JSON labelled text/json", class: "links: answer read as what it is labelled",
			method: "GET", path: u + "/drive/items/I6", prefix: "/users/" + member + "/drive/items/I6", answerCT: "text/json",
			answer: `{"id":"I6","uploadUrl":"https://contoso-my.sharepoint.com/up?` + preauth + `"}`, mustNot: preauth},
		{name: "JSON under two labels", class: "links: answer read as what it is labelled",
			method: "GET", path: u + "/drive/items/I7", prefix: "/users/" + member + "/drive/items/I7", answerCT: "text/plain, application/json",
			answer: `{"id":"I7","uploadUrl":"https://contoso-my.sharepoint.com/up?` + preauth + `"}`, mustNot: preauth},
		{name: "@microsoft.graph.downloadUrl (control)", class: "control",
			method: "GET", path: u + "/drive/items/I2", prefix: "/users/" + member + "/drive/items/I2",
			answer: `{"id":"I2","@microsoft.graph.downloadUrl":"https://contoso-my.sharepoint.com/download.aspx?` + preauth + `"}`, mustNot: preauth},
	}
	for _, pr := range probes {
		sim.Graph.ClearFaults()
		sim.Graph.ResetRequests()
		sim.Graph.Inject(&graphsim.Fault{Method: pr.method, PathPrefix: pr.prefix, Body: pr.answer, ContentType: pr.answerCT})
		var hdr []string
		if pr.ct != "" {
			hdr = append(hdr, "Content-Type", pr.ct)
		}
		if pr.accept != "" {
			hdr = append(hdr, "Accept", pr.accept)
		}
		r := p.Do(pr.method, pr.path, pr.body, hdr...)
		if r.Err != nil {
			t.Logf("%-60s transport error %v", pr.name, r.Err)
			continue
		}
		saw := graphSaw(sim)
		rec := p.Record(r.RequestID)
		accept := ""
		if len(saw) > 0 {
			accept = saw[0].Header.Get("Accept")
		}
		line := fmt.Sprintf("%-60s status %d graphSaw %d (Accept %q) record %s rule %q reason %q\n    caller got %s",
			pr.name, r.Status, len(saw), accept, rec.Decision, rec.Rule, rec.Reason, truncate(string(r.Body), 600))
		t.Log(line)
		if strings.Contains(string(r.Body), pr.mustNot) {
			t.Errorf("[%s] the caller got %q: %s", pr.class, pr.mustNot, line)
		}
	}
	sim.Graph.ClearFaults()
}

// notifications sends deliveries no subscription of the proxy's made.
func notifications(t *testing.T, p *proc, sim *graphsim.Sim) {
	for _, path := range []string{"/notifications/forged", "/notifications/", "/notifications/x/../../v1.0/users"} {
		sim.Graph.ResetRequests()
		r := p.DoToken("", "POST", path, `{"value":[{"subscriptionId":"s","clientState":"c","changeType":"created","resource":"users/x/events/y","tenantId":"`+graphsim.CustomerTenant+`"}]}`)
		t.Logf("delivery to %-45s status %d graphSaw %d body %s", path, r.Status, len(graphSaw(sim)), truncate(string(r.Body), 200))
		if r.Status < 400 || len(graphSaw(sim)) > 0 {
			t.Errorf("[notifications] forged delivery to %s: status %d, Graph saw %d", path, r.Status, len(graphSaw(sim)))
		}
	}
}

// headersSent logs which of the caller's headers Graph received: those
// that change what Graph does or answers (Prefer, Accept), and hop-by-hop
// tricks.
func headersSent(t *testing.T, p *proc, sim *graphsim.Sim, member string) {
	for _, h := range [][]string{
		{"Prefer", `outlook.allow-unsafe-html`},
		{"Prefer", `IdType="ImmutableId"`},
		{"Prefer", `odata.include-annotations="*"`},
		{"Prefer", `return=minimal`},
		{"Accept", `application/json;odata.metadata=full;odata.streaming=true`},
		{"Accept", `text/csv`},
		{"If-Match", `*`},
		{"Te", `trailers`},
	} {
		sim.Graph.ResetRequests()
		r := p.Do("GET", "/v1.0/users/"+member+"/calendar", "", h...)
		saw := graphSaw(sim)
		got := "(not sent)"
		if len(saw) > 0 {
			got = fmt.Sprintf("%q", saw[0].Header.Values(h[0]))
		}
		t.Logf("header %-8s %-60q status %d graph got %s", h[0], h[1], r.Status, got)
	}
}
