// Package filelink makes and reads the proxy's own file links, and says
// which hosts file content may be fetched from and sent to.
//
// Graph does not carry file content itself: GET …/content answers 302 to
// a pre-authenticated URL on a SharePoint host, driveItems carry such a
// URL in @microsoft.graph.downloadUrl, and an upload session's uploadUrl
// takes the content in ranges. A caller holding one of those URLs could
// move file bytes outside the audited path, so the proxy never shows one:
// it replaces each with a link of its own, a Link sealed with a key every
// replica holds (Sealer), which names the caller it was made for, the
// Graph call it stands for, the file host's URL and when it expires.
// Sealing is authenticated encryption: a caller can neither read the
// file host's URL from the link nor change anything in it.
//
// Hosts is the other half: the proxy fetches from and sends to the file
// hosts of its cloud only (CloudHosts), never anywhere a redirect or an
// answer points.
//
// Failure direction: a link that does not open — another key, changed,
// truncated, expired — is refused (ErrInvalid, ErrExpired); a host not on
// the list is refused.
package filelink
