package proxy

import (
	"strings"
	"testing"
)

// TestLinkNames holds the three ways an answer's links are checked —
// streamed, read whole, filtered — to the rule of linknames.go, on an
// answer of its own and as a $batch sub-response's body: a member whose
// name ends in Url, Uri or Link (any case) is withheld when it holds a
// URL of another host, a pre-authenticated one under any name Graph
// uses; a sharing link's webUrl and the credentials that are not URLs
// always; the sign-in links a vendor hands its users pass.
func TestLinkNames(t *testing.T) {
	long := strings.Repeat("x", maxKeyBytes+5)
	tests := []struct {
		name     string
		in       string
		want     string // links to other hosts withheld
		withheld int
		// wantExternal is the output under externalLinks: true; the
		// input when empty.
		wantExternal string
	}{
		{
			name:     "a driveItem preview's getUrl, postUrl and postParameters",
			in:       `{"getUrl":"https://contoso.sharepoint.com/_layouts/15/embed.aspx?UniqueId=x&access_token=SECRET1","postUrl":"https://contoso.sharepoint.com/_layouts/15/WopiFrame.aspx","postParameters":"access_token=SECRET2&access_token_ttl=1"}`,
			want:     `{"getUrl":"","postUrl":"","postParameters":""}`,
			withheld: 3,
		},
		{
			name:     "an anonymous sharing link's webUrl and webHtml in a permission",
			in:       `{"value":[{"id":"1","roles":["read"],"link":{"scope":"anonymous","type":"view","webUrl":"https://1drv.ms/b/s!SECRET3","webHtml":"<iframe src=\"https://onedrive.live.com/embed?resid=x&authkey=!SECRET4\"></iframe>"}}]}`,
			want:     `{"value":[{"id":"1","roles":["read"],"link":{"scope":"anonymous","type":"view","webUrl":"","webHtml":""}}]}`,
			withheld: 2,
		},
		{
			name:     "createLink's answer, the sharing link whatever its host",
			in:       `{"id":"123","roles":["write"],"Link":{"type":"edit","scope":"organization","WebUrl":"https://contoso.sharepoint.com/:w:/g/personal/SECRET5","webURL":"/relative"}}`,
			want:     `{"id":"123","roles":["write"],"Link":{"type":"edit","scope":"organization","WebUrl":"","webURL":""}}`,
			withheld: 2,
		},
		{
			name:     "a sharing link in a list under sharingLink",
			in:       `{"sharingLink":[{"webUrl":"https://1drv.ms/SECRET6"}]}`,
			want:     `{"sharingLink":[{"webUrl":""}]}`,
			withheld: 1,
		},
		{
			name:     "media read links on a SharePoint host",
			in:       `{"id":"01B","content@odata.mediaReadLink":"https://contoso.sharepoint.com/dl2?tempauth=SECRET7","@odata.mediaReadLink":"https://contoso.sharepoint.com/dl3?tempauth=SECRET8","@odata.mediaEditLink":"/drives/d/items/01B/content"}`,
			want:     `{"id":"01B","content@odata.mediaReadLink":"","@odata.mediaReadLink":"","@odata.mediaEditLink":"/drives/d/items/01B/content"}`,
			withheld: 2,
		},
		{
			name:     "credential URLs without a scheme or a host, under any name and a link name",
			in:       `{"a":"contoso.sharepoint.com/p/_layouts/15/download.aspx?UniqueId=1&tempauth=SECRET40","b":"/_layouts/15/download.aspx?UniqueId=1&tempauth=SECRET41","c":["?code=SECRET42"," d.aspx#access_token=SECRET43 "],"dUrl":"/d?%73ig=SECRET44","e":"/v1.0/x?$skiptoken=5","f":"Why? sig=6","g":"/d?sig","h":"#monkey","iLink":"/v1.0/users?$skiptoken=7","j":"/d?ſig=SECRET45"}`,
			want:     `{"a":"","b":"","c":["",""],"dUrl":"","e":"/v1.0/x?$skiptoken=5","f":"Why? sig=6","g":"/d?sig","h":"#monkey","iLink":"/v1.0/users?$skiptoken=7","j":""}`,
			withheld: 6,
		},
		{
			name: "a subscription's notification URLs, the caller's own endpoints",
			in:   `{"id":"s1","resource":"users/u/events","notificationUrl":"https://hooks.vendor.example/graph/n?code=k","LifecycleNotificationUrl":"https://hooks.vendor.example/graph/l"}`,
			want: `{"id":"s1","resource":"users/u/events","notificationUrl":"https://hooks.vendor.example/graph/n?code=k","LifecycleNotificationUrl":"https://hooks.vendor.example/graph/l"}`,
		},
		{
			name:     "an action's primitive answer",
			in:       `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Edm.String","value":"https://acct.blob.core.windows.net/c/x.zip?sv=1&sig=SECRET9"}`,
			want:     `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Edm.String","value":""}`,
			withheld: 1,
		},
		{
			name:     "downloadUri and azureStorageUri",
			in:       `{"id":"h","downloadUri":"https://acct.blob.core.windows.net/r.csv?sig=SECRET10","azureStorageUri":"https://acct2.blob.core.windows.net/?sig=SECRET11"}`,
			want:     `{"id":"h","downloadUri":"","azureStorageUri":""}`,
			withheld: 2,
		},
		{
			name:     "known names in any case",
			in:       `{"UPLOADURL":"https://contoso.sharepoint.com/up?tempauth=SECRET12","@Microsoft.Graph.DownloadUrl":"/rel?tempauth=SECRET13","POSTPARAMETERS":"access_token=SECRET14"}`,
			want:     `{"UPLOADURL":"","@Microsoft.Graph.DownloadUrl":"","POSTPARAMETERS":""}`,
			withheld: 3,
		},
		{
			name:     "names spelled with escapes",
			in:       `{"get\u0055rl":"https://contoso.sharepoint.com/?access_token=SECRET15","web\u0048tml":"x"}`,
			want:     `{"get\u0055rl":"","web\u0048tml":""}`,
			withheld: 2,
		},
		{
			name:     "a name longer than the rewriter reads, by its end",
			in:       `{"` + long + `Url":"https://e.example/?sig=SECRET16","` + long + `":"https://e.example/kept","` + long + `\u0055rl":"https://e.example/?sig=SECRET17"}`,
			want:     `{"` + long + `Url":"","` + long + `":"https://e.example/kept","` + long + `\u0055rl":""}`,
			withheld: 2,
		},
		{
			name: "Graph and relative URLs under such names moved or kept",
			in:   `{"contentUrl":"https://graph.microsoft.com/v1.0/chats/x/messages/y/hostedContents/z/$value","@odata.editLink":"https://graph.microsoft.com/v1.0/users/a","thumbnailUrl":"/rel"}`,
			want: `{"contentUrl":"https://gp.contoso.example/v1.0/chats/x/messages/y/hostedContents/z/$value","@odata.editLink":"https://gp.contoso.example/v1.0/users/a","thumbnailUrl":"/rel"}`,
		},
		{
			name:         "the vendor's sign-in links pass",
			in:           `{"id":"1","webUrl":"https://contoso.sharepoint.com/sites/x/doc.docx","WebLink":"https://outlook.office365.com/owa/?ItemID=x","onlineMeeting":{"joinUrl":"https://teams.microsoft.com/l/meetup-join/x"},"joinWebUrl":"https://teams.microsoft.com/l/meetup-join/y","onlineMeetingUrl":"https://teams.microsoft.com/l/z","@odata.context":"https://graph.microsoft.com/v1.0/$metadata#x","@odata.id":"https://graph.microsoft.com/v1.0/z","@odata.nextLink":"https://graph.microsoft.com/v1.0/x?$skiptoken=1"}`,
			want:         `{"id":"1","webUrl":"https://contoso.sharepoint.com/sites/x/doc.docx","WebLink":"https://outlook.office365.com/owa/?ItemID=x","onlineMeeting":{"joinUrl":"https://teams.microsoft.com/l/meetup-join/x"},"joinWebUrl":"https://teams.microsoft.com/l/meetup-join/y","onlineMeetingUrl":"https://teams.microsoft.com/l/z","@odata.context":"https://graph.microsoft.com/v1.0/$metadata#x","@odata.id":"https://graph.microsoft.com/v1.0/z","@odata.nextLink":"https://gp.contoso.example/v1.0/x?$skiptoken=1"}`,
			wantExternal: `{"id":"1","webUrl":"https://contoso.sharepoint.com/sites/x/doc.docx","WebLink":"https://outlook.office365.com/owa/?ItemID=x","onlineMeeting":{"joinUrl":"https://teams.microsoft.com/l/meetup-join/x"},"joinWebUrl":"https://teams.microsoft.com/l/meetup-join/y","onlineMeetingUrl":"https://teams.microsoft.com/l/z","@odata.context":"https://graph.microsoft.com/v1.0/$metadata#x","@odata.id":"https://graph.microsoft.com/v1.0/z","@odata.nextLink":"https://gp.contoso.example/v1.0/x?$skiptoken=1"}`,
		},
		{
			name: "a value below the answer's own object is data",
			in:   `{"value":[{"name":"List-Unsubscribe","value":"<https://e.example/u>"}],"id":{"value":"https://e.example/"}}`,
			want: `{"value":[{"name":"List-Unsubscribe","value":"<https://e.example/u>"}],"id":{"value":"https://e.example/"}}`,
		},
		{
			name:         "lists of URLs: plural names, nested, and a link name's list",
			in:           `{"id":"a","redirectUris":["https://e.example/cb?x=SECRET18","/rel"],"web":{"redirectUris":["https://e.example/SECRET19"],"homePageUrl":"/h"},"replyUrls":["//e.example/SECRET20"],"identifierUris":[["https://e.example/SECRET21"]],"thumbnailUrl":["https://e.example/SECRET22"],"ReplyURLS":["https://graph.microsoft.com/v1.0/x"],"tags":["https://e.example/kept"]}`,
			want:         `{"id":"a","redirectUris":["","/rel"],"web":{"redirectUris":[""],"homePageUrl":"/h"},"replyUrls":[""],"identifierUris":[[""]],"thumbnailUrl":[""],"ReplyURLS":["https://gp.contoso.example/v1.0/x"],"tags":["https://e.example/kept"]}`,
			withheld:     5,
			wantExternal: `{"id":"a","redirectUris":["https://e.example/cb?x=SECRET18","/rel"],"web":{"redirectUris":["https://e.example/SECRET19"],"homePageUrl":"/h"},"replyUrls":["//e.example/SECRET20"],"identifierUris":[["https://e.example/SECRET21"]],"thumbnailUrl":["https://e.example/SECRET22"],"ReplyURLS":["https://graph.microsoft.com/v1.0/x"],"tags":["https://e.example/kept"]}`,
		},
		{
			name:     "URLs carrying a credential under names no rule foresaw",
			in:       `{"contentLocation":"https://e.example/f?sig=SECRET23","source":" https://contoso.sharepoint.com/d?a=1&TempAuth=SECRET24","target":"//e.example/x?access_token=SECRET25","thumbnail":{"href":"https://e.example/t?X-Amz-Signature=SECRET26"},"resource":["https://e.example/?sv=1&se=2&sp=r&%73ig=SECRET27"],"id":"https:\/\/e.example\/?code=SECRET28","x":"https://e.example/#id_token=SECRET29","y":"HTTPS://e.example/?authkey=SECRET30  ","webUrl":"https://e.example/?token=SECRET31"}`,
			want:     `{"contentLocation":"","source":"","target":"","thumbnail":{"href":""},"resource":[""],"id":"","x":"","y":"","webUrl":""}`,
			withheld: 9,
		},
		{
			name: "what a credential rule leaves: text, plain URLs, Graph's own, the caller's",
			in:   `{"subject":"Re: see https://e.example/?sig=1","body":{"contentType":"html","content":"<a href=\"https://e.example/?sig=2\">x</a>"},"mySite":"https://contoso-my.sharepoint.com/personal/a","homepage":"https://vendor.example/?ref=1&page=2","@odata.id":"https://graph.microsoft.com/v1.0/x?$skiptoken=3","proxyAddresses":["SMTP:a@contoso.example"],"notificationUrl":"https://hooks.vendor.example/n?code=k","n":"?sig","w":"Really? sig=4","h":"#monkey","m":"mailto:a@contoso.example","t":"https://e.example/?sig=5 is the link","u":"https://a:b@e.example/x y"}`,
			want: `{"subject":"Re: see https://e.example/?sig=1","body":{"contentType":"html","content":"<a href=\"https://e.example/?sig=2\">x</a>"},"mySite":"https://contoso-my.sharepoint.com/personal/a","homepage":"https://vendor.example/?ref=1&page=2","@odata.id":"https://graph.microsoft.com/v1.0/x?$skiptoken=3","proxyAddresses":["SMTP:a@contoso.example"],"notificationUrl":"https://hooks.vendor.example/n?code=k","n":"?sig","w":"Really? sig=4","h":"#monkey","m":"mailto:a@contoso.example","t":"https://e.example/?sig=5 is the link","u":"https://a:b@e.example/x y"}`,
		},
		{
			name:         "paging links to another host, or to Graph spelled otherwise",
			in:           `{"value":[],"@odata.nextLink":"https://graph.microsoft.com:443/v1.0/x?$skiptoken=SECRET32","@odata.deltaLink":"https://e.example/d?$deltatoken=SECRET33","m":{"members@odata.nextLink":"https://graph.microsoft.com./v1.0/y"},"@odata.NextLink":"//graph.microsoft.com@e.example/SECRET34","x@odata.nextLink":"/v1.0/users?$skiptoken=2"}`,
			want:         `{"value":[],"@odata.nextLink":"","@odata.deltaLink":"","m":{"members@odata.nextLink":""},"@odata.NextLink":"","x@odata.nextLink":"/v1.0/users?$skiptoken=2"}`,
			withheld:     4,
			wantExternal: `{"value":[],"@odata.nextLink":"https://graph.microsoft.com:443/v1.0/x?$skiptoken=SECRET32","@odata.deltaLink":"https://e.example/d?$deltatoken=SECRET33","m":{"members@odata.nextLink":"https://graph.microsoft.com./v1.0/y"},"@odata.NextLink":"//graph.microsoft.com@e.example/SECRET34","x@odata.nextLink":"/v1.0/users?$skiptoken=2"}`,
		},
		{
			name:     "paging links in any case",
			in:       `{"@ODATA.NEXTLINK":"https://graph.microsoft.com/v1.0/x?$skiptoken=1"}`,
			want:     `{"@ODATA.NEXTLINK":"https://gp.contoso.example/v1.0/x?$skiptoken=1"}`,
			withheld: 0, wantExternal: `{"@ODATA.NEXTLINK":"https://gp.contoso.example/v1.0/x?$skiptoken=1"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantExternal := tt.wantExternal
			if wantExternal == "" {
				wantExternal = tt.in
			}
			for _, batch := range []bool{false, true} {
				in, want, wantExt := tt.in, tt.want, wantExternal
				if batch {
					in, want, wantExt = batchBody(in), batchBody(want), batchBody(wantExt)
				}
				for _, withhold := range []bool{true, false} {
					w, n := want, tt.withheld
					if !withhold {
						w, n = wantExt, 0
					}
					for _, size := range []int{0, 1, 7} {
						out, got, err := rewritten(in, size, withhold)
						if err != nil || out != w || got != n {
							t.Errorf("batch %v, withhold %v, streamed, read size %d: %v, %d withheld\ngot  %.400s\nwant %.400s; %d withheld", batch, withhold, size, err, got, out, w, n)
						}
					}
					if out, got, err := wholeAnswer(in, withhold); err != nil || out != w || got != n {
						t.Errorf("batch %v, withhold %v, read whole: %v, %d withheld\ngot  %.400s\nwant %.400s; %d withheld", batch, withhold, err, got, out, w, n)
					}
					out, counts, err := filtered(in, batch, withhold)
					if err != nil || out != w || counts.Withheld != n {
						t.Errorf("batch %v, withhold %v, filtered: %v, %d withheld\ngot  %.400s\nwant %.400s; %d withheld", batch, withhold, err, counts.Withheld, out, w, n)
					}
				}
			}
		})
	}
}

// batchBody is body as a $batch answer's sub-response's.
func batchBody(body string) string {
	return `{"responses":[{"id":"1","status":200,"body":` + body + `}]}`
}
