package filelink_test

import (
	"fmt"
	"net/url"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/seal"
	"github.com/graph-proxy/graph-proxy/proxy/filelink"
)

// A download URL Graph handed out becomes a link only the caller it was
// made for can use, and only for a while; the proxy fetches from the
// cloud's file hosts only.
func ExampleSealer() {
	s, err := filelink.NewSealer(seal.Static{[]byte("a key every replica holds, 32 bytes or more")})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	tok, err := s.Seal(filelink.Link{Kind: filelink.Download, Caller: "engage", Identity: "entra-jwt:app:t1:a1",
		Graph: "/v1.0/drives/b!x/items/01AB/content", URL: "https://contoso.sharepoint.com/_layouts/15/download.aspx?tempauth=x",
		Expires: now.Add(15 * time.Minute)})
	if err != nil {
		panic(err)
	}
	l, err := s.Open(tok, now)
	fmt.Println(l.Caller, l.Graph, err)
	_, err = s.Open(tok, now.Add(time.Hour))
	fmt.Println(err)

	u, _ := url.Parse(l.URL)
	fmt.Println(filelink.CloudHosts("global").Allows(u))
	// Output:
	// engage /v1.0/drives/b!x/items/01AB/content <nil>
	// file link has expired
	// true
}
