package filelink

import (
	"net/url"
	"slices"
	"strings"
)

// cloudHosts are the hosts each cloud serves file content from and takes
// it on, as Microsoft lists them for SharePoint Online and Exchange Online
// ("Microsoft 365 URLs and IP address ranges", and its pages for the
// U.S. Government GCC High and DoD and the cloud operated by 21Vianet):
// the tenants' SharePoint hosts (a "*." entry matches any one label or
// more before it: contoso.sharepoint.com, contoso-my.sharepoint.com), and
// Outlook's host of mail attachment upload sessions. Microsoft's own test
// rings (sharepoint-df.com) are no customer's tenant and are left out.
var cloudHosts = map[string][]string{
	"global":   {"*.sharepoint.com", "outlook.office.com", "outlook.office365.com"},
	"usgov":    {"*.sharepoint.us", "outlook.office365.us"},
	"usgovdod": {"*.sharepoint-mil.us", "outlook-dod.office365.us"},
	"china":    {"*.sharepoint.cn", "partner.outlook.cn"},
}

// Hosts are the hosts the proxy fetches file content from and sends it to.
// The zero value allows none.
type Hosts struct {
	entries []string // lower case; "*.suffix" or host[:port]
}

// CloudHosts returns the file hosts of a cloud named as graph.cloud names
// it ("global", "usgov", "usgovdod", "china"); an unknown name has none.
func CloudHosts(cloud string) Hosts {
	return Hosts{entries: slices.Clone(cloudHosts[cloud])}
}

// With returns h with more hosts: "host[:port]" exactly or "*.suffix".
// Only tests and the simulator add hosts; nothing adds one by default.
func (h Hosts) With(hosts ...string) Hosts {
	out := Hosts{entries: slices.Clone(h.entries)}
	for _, e := range hosts {
		out.entries = append(out.entries, strings.ToLower(e))
	}
	return out
}

// List returns the entries, for the docs and logs.
func (h Hosts) List() []string { return slices.Clone(h.entries) }

// Allows reports whether u is an https URL, without user information, on
// one of the hosts. An entry "*.sharepoint.com" matches
// contoso.sharepoint.com on the default port only; an entry with a port
// matches that host and port exactly.
func (h Hosts) Allows(u *url.URL) bool {
	if u == nil || u.Scheme != "https" || u.User != nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.HasSuffix(host, ".") {
		return false
	}
	for _, e := range h.entries {
		if suffix, ok := strings.CutPrefix(e, "*."); ok {
			if (port == "" || port == "443") && strings.HasSuffix(host, "."+suffix) && len(host) > len(suffix)+1 {
				return true
			}
			continue
		}
		if e == strings.ToLower(u.Host) || port == "" && e == host {
			return true
		}
	}
	return false
}
