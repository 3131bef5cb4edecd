package proxy

import (
	"unicode/utf8"

	"github.com/graph-proxy/graph-proxy/internal/ascii"
	"github.com/graph-proxy/graph-proxy/proxy/response"
)

// Which members of a JSON answer hold links, by their names. One rule
// serves the link rewriter (links.go) and the response filter
// (response.go), so that an answer is read the same with or without a
// response section. Names are compared without ASCII case: some JSON
// readers match members so, and a reader that does not merely makes the
// check stricter than needed. Those readers fold more than ASCII: Go's
// encoding/json (ToUpper of ToLower) and .NET's case-insensitive binders
// read the Kelvin sign (U+212A) as k, a long s (U+017F) as s, and a
// dotted or dotless I (U+0130, U+0131) as i, so that
// "@odata.nextLin\u212a" is @odata.nextLink to them. A name is read with
// those four folded first (foldKey): Graph spells its names in ASCII, so
// this only makes more names link names, never fewer.
//
// Graph hands out pre-authenticated URLs — whoever holds one reaches data
// outside the audited path — under many names: uploadUrl, the download
// URLs, a preview's getUrl and postUrl, @odata.mediaReadLink, an action's
// bare {"value": "<SAS URL>"}, downloadUri, azureStorageUri, and more as
// Graph grows. A list of names would always trail Graph, so the rule
// goes by the class: every member whose name ends in Url, Uri or Link is
// read as a URL and withheld (unless the policy allows external links)
// when it is or holds an absolute URL of another host, as a header is
// (headerURLs); a Graph URL in it is moved to the proxy, a relative one
// kept. A few names are exceptions, each for a reason:
//
//   - pagingKeys: Graph's paging links, rewritten to the proxy, and
//     passed to other hosts only when the policy allows external links.
//   - externalKeys: always pre-authenticated, withheld whatever their
//     host (or replaced by a file link, content.go).
//   - credentialKeys: not URLs, yet carry a credential: a preview's
//     postParameters ("access_token=…"), a sharing link's webHtml (an
//     iframe with the link's authkey).
//   - signInKeys: links into Microsoft 365's own web apps that open only
//     after the user signs in, which vendors legitimately hand to their
//     users: they pass.
//   - callerKeys: a subscription's notification URLs, the caller's own
//     endpoints, checked against subscriptions.notificationUrls when it
//     was made (the relay restores its own to the caller's): they pass.
//   - webUrl inside a sharing link (an object under link or sharingLink:
//     a permission's, createLink's answer) is the sharing link itself,
//     usable by anyone when its scope is anonymous: always withheld.
//   - value, a string member of the answer's own object (or of a $batch
//     sub-response's body): an action's primitive answer
//     (createDownloadUrl, getDownloadUrl and the like), read as a URL.
//
// A list's strings are read as its member's name says: redirectUris,
// replyUrls, identifierUris (names ending in Urls, Uris or Links, or in
// Url, Uri or Link) hold URLs one by one. Any other string, sign-in links
// among them, is read for a URL that carries its credential in itself
// (credentialurls.go), whatever its name: no list of names foresees
// every member Graph puts a pre-authenticated URL in.

// pagingKeys are Graph's paging and delta links: moved to the proxy when
// they point at Graph; while links to other hosts are withheld, read as
// any link name's (withheld when they point elsewhere), and otherwise
// passed as they are.
var pagingKeys = []string{"@odata.nextlink", "@odata.deltalink"}

// externalKeys hold pre-authenticated URLs on hosts other than Graph:
// withheld (emptied) unless the policy allows external links. The
// spelling is the one the file links of content.go are minted for.
var externalKeys = []string{"uploadUrl", "@microsoft.graph.downloadUrl", "@content.downloadUrl"}

// credentialKeys carry a credential though they are not URLs: withheld
// as externalKeys are.
var credentialKeys = []string{"postparameters", "webhtml"}

// signInKeys are the links a vendor legitimately hands its users, each
// usable only after the user's own sign-in to Microsoft 365 (Microsoft
// Graph's resource documentation):
//
//   - webUrl: a driveItem, site, list, listItem, drive, group, team,
//     channel or chat opened in SharePoint, OneDrive or Teams (not
//     inside a sharing link: see scopeSharingLink);
//   - webLink: a message or event opened in Outlook on the web;
//   - joinUrl (an event's onlineMeeting, onlineMeetingInfo), joinWebUrl
//     (onlineMeeting, teamworkOnlineMeetingInfo) and onlineMeetingUrl
//     (event): joining a Teams meeting.
var signInKeys = []string{"weburl", "weblink", "joinurl", "joinweburl", "onlinemeetingurl"}

// callerKeys are URLs the caller gave Graph itself, each checked by the
// policy when it did: a subscription's notification URLs, where Graph
// delivers to the caller's endpoint (relayed subscriptions' are the
// proxy's, which the relay restores to the caller's own, notify.Relay).
var callerKeys = []string{"notificationurl", "lifecyclenotificationurl"}

// sharingParents are the members whose object is a sharingLink.
var sharingParents = []string{"link", "sharinglink"}

// linkSuffixes end the names of members read as URLs.
var linkSuffixes = []string{"url", "uri", "link", "urls", "uris", "links"}

const (
	scopePlain       response.LinkScope = iota
	scopeSharingLink                    // a sharingLink: its webUrl is the link itself
)

// scopeOf is the scope of a container opened under the member named key
// (decoded); a list's elements take the list's.
func scopeOf(key []byte) response.LinkScope {
	var buf [foldBytes]byte
	key = foldKey(&buf, key)
	for _, p := range sharingParents {
		if ascii.EqualFold(key, p) {
			return scopeSharingLink
		}
	}
	return scopePlain
}

// memberKind is what the string value of the member named key (decoded)
// is, in an object of scope; top says the object is the answer's own or a
// $batch sub-response's body; withhold, that links to other hosts are
// withheld.
func memberKind(key []byte, scope response.LinkScope, top, withhold bool) valueKind {
	var buf [foldBytes]byte
	key = foldKey(&buf, key)
	if anyFold(key, pagingKeys) {
		if withhold {
			// Moved to the proxy at Graph's origin; withheld when they
			// lead anywhere else, Graph's host spelled otherwise (a
			// port, a trailing dot, a userinfo) included: the SDKs
			// follow them with the caller's token.
			return headerValue
		}
		return linkValue
	}
	if !withhold {
		return plainValue
	}
	switch {
	case externalKey(key) != "", anyFold(key, credentialKeys):
		return externalValue
	case scope == scopeSharingLink && ascii.EqualFold(key, "weburl"):
		return externalValue
	case anyFold(key, callerKeys):
		return plainValue
	case anyFold(key, signInKeys):
		return credentialValue
	case top && ascii.EqualFold(key, "value"):
		return topValue
	case linkName(key):
		return headerValue
	}
	return credentialValue
}

// stringKind is what a string is, held by a member or a list of kind k:
// an answer's own value is read as a URL when it is a string, and its
// list's strings (a collection of primitives) as any other name's.
func stringKind(k valueKind, list bool) valueKind {
	switch {
	case k != topValue:
		return k
	case list:
		return credentialValue
	}
	return headerValue
}

// externalKey is the one of externalKeys key spells, or "".
func externalKey(key []byte) string {
	for _, k := range externalKeys {
		if len(key) == len(k) && ascii.HasSuffixFold(key, k) {
			return k
		}
	}
	return ""
}

// linkName reports whether a member named key is read as a URL: its name
// ends in Url, Uri or Link, or for a list, Urls, Uris or Links.
func linkName(key []byte) bool {
	if len(key) == 0 {
		return false
	}
	// Every suffix ends in l, i, k or s: most names (every key is asked)
	// are ruled out by their last letter.
	switch key[len(key)-1] | 0x20 {
	case 'l', 'i', 'k', 's':
	default:
		return false
	}
	for _, s := range linkSuffixes {
		if ascii.HasSuffixFold(key, s) {
			return true
		}
	}
	return false
}

func anyFold(key []byte, words []string) bool {
	for _, w := range words {
		if ascii.EqualFold(key, w) {
			return true
		}
	}
	return false
}

// foldBytes bounds the name foldKey folds whole: every name the rules
// spell is far shorter, spelled with any of asciiFold's letters too (a
// few bytes more). Small, as it is on the stack of every key's reading.
const foldBytes = 64

// foldKey is key with each of the four non-ASCII letters case-insensitive
// readers take for ASCII ones (asciiFold) written as that letter, in buf;
// key itself when it is ASCII, as Graph's names are. Of a key longer than
// buf only the end is folded: no name the rules spell whole is that long,
// even spelled with those letters, and its end is what linkName reads.
func foldKey(buf *[foldBytes]byte, key []byte) []byte {
	i := 0
	for i < len(key) && key[i] < utf8.RuneSelf {
		i++
	}
	if i == len(key) {
		return key
	}
	if len(key) > len(buf) {
		key = key[len(key)-len(buf):]
	}
	out := buf[:0] // folding only shortens: out stays in buf
	for k := 0; k < len(key); {
		r, n := utf8.DecodeRune(key[k:])
		if c, ok := asciiFold(r); ok {
			out = append(out, c)
		} else {
			out = append(out, key[k:k+n]...)
		}
		k += n
	}
	return out
}

// asciiFold is the ASCII letter a non-ASCII r is read as by readers that
// fold Unicode case (unicode.SimpleFold, ToUpper(ToLower(r)), .NET's
// ToUpperInvariant): the only four that reach ASCII.
func asciiFold(r rune) (byte, bool) {
	switch r {
	case '\u212a': // KELVIN SIGN
		return 'k', true
	case '\u017f': // LATIN SMALL LETTER LONG S
		return 's', true
	case '\u0130', '\u0131': // LATIN CAPITAL LETTER I WITH DOT ABOVE, SMALL LETTER DOTLESS I
		return 'i', true
	}
	return 0, false
}
