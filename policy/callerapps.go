package policy

// CallerApp is a caller known by its Entra ID application: the vendor's
// app, whose own access to Graph in the customer's tenant would be a way
// around the proxy.
type CallerApp struct {
	Name, TenantID, AppID string
}

// CallerApps returns the callers matched by application, in file order;
// callers known by a client certificate have no application to look at.
func (p *Policy) CallerApps() []CallerApp {
	var out []CallerApp
	for _, c := range p.callerOrder {
		if c.appID != "" {
			out = append(out, CallerApp{Name: c.name, TenantID: c.tenantID, AppID: c.appID})
		}
	}
	return out
}
