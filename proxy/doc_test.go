package proxy_test

import (
	"fmt"

	"github.com/graph-proxy/graph-proxy/proxy"
)

func ExampleLinkRewriter_URL() {
	l := proxy.NewLinkRewriter("https://graph.microsoft.com", "https://graph-proxy.contoso.example")
	fmt.Println(l.URL("https://graph.microsoft.com/v1.0/users?$skiptoken=X%3D"))
	fmt.Println(l.URL("https://contoso.sharepoint.com/upload"))
	// Output:
	// https://graph-proxy.contoso.example/v1.0/users?$skiptoken=X%3D true
	// https://contoso.sharepoint.com/upload false
}
