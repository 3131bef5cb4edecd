package config

import "net/url"

// Cloud holds the hosts of one Microsoft cloud.
type Cloud struct {
	// GraphURL is the Graph endpoint, scheme and host only.
	GraphURL string
	// LoginURL is the Entra ID authority host.
	LoginURL string
	// GraphResource is the token audience Graph expects in this cloud; the
	// scope requested for Graph is GraphResource + "/.default".
	GraphResource string
	// STSURL is the issuer host of v1 access tokens.
	STSURL string
}

// Clouds are the national clouds graph.cloud may name.
var Clouds = map[string]Cloud{
	"global":   {GraphURL: "https://graph.microsoft.com", LoginURL: "https://login.microsoftonline.com", GraphResource: "https://graph.microsoft.com", STSURL: "https://sts.windows.net"},
	"usgov":    {GraphURL: "https://graph.microsoft.us", LoginURL: "https://login.microsoftonline.us", GraphResource: "https://graph.microsoft.us", STSURL: "https://sts.windows.net"},
	"usgovdod": {GraphURL: "https://dod-graph.microsoft.us", LoginURL: "https://login.microsoftonline.us", GraphResource: "https://dod-graph.microsoft.us", STSURL: "https://sts.windows.net"},
	"china":    {GraphURL: "https://microsoftgraph.chinacloudapi.cn", LoginURL: "https://login.chinacloudapi.cn", GraphResource: "https://microsoftgraph.chinacloudapi.cn", STSURL: "https://sts.chinacloudapi.cn"},
}

// Endpoints returns the cloud named by g.Cloud with g.BaseURL and g.LoginURL
// applied as overrides. The Graph resource (the token audience) always comes
// from the cloud: an override moves where requests go, not whom tokens are
// for. Call it only on a validated configuration.
func (g Graph) Endpoints() (graphURL *url.URL, loginURL *url.URL, resource string) {
	c := Clouds[g.Cloud]
	gu, lu := c.GraphURL, c.LoginURL
	if g.BaseURL != "" {
		gu = g.BaseURL
	}
	if g.LoginURL != "" {
		lu = g.LoginURL
	}
	graphURL, _ = url.Parse(gu)
	loginURL, _ = url.Parse(lu)
	return graphURL, loginURL, c.GraphResource
}
