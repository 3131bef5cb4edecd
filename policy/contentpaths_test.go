package policy

import (
	"strings"
	"testing"
)

// TestFileContentPaths: a write to …/content or …/$value is file content,
// passed unread, only under the items whose content Graph stores as bytes
// (a drive item's, in each addressing form; a profile photo's); under any
// other item it is refused whatever its body.
func TestFileContentPaths(t *testing.T) {
	const guid = "8f1c3c35-0000-4000-8000-00000000000a"
	tests := []struct {
		path string
		file bool
	}{
		// A drive item, however addressed.
		{path: "drives/b!x/items/01AB/content", file: true},
		{path: "drives/b!x/root/content", file: true},
		{path: "drives/b!x/root:/a.txt:/content", file: true},
		{path: "drives/b!x/root:/Documents/a.docx:/content", file: true},
		{path: "drives/b!x/items/01AB:/a.txt:/content", file: true},
		{path: "drives/b!x/items/01AB:/folder/a.txt:/content", file: true},
		{path: "drives/b!x/special/approot/content", file: true},
		{path: "drives/b!x/special/approot:/settings.json:/content", file: true},
		{path: "me/drive/items/01AB/content", file: true},
		{path: "me/drive/root:/FolderA/FileB.txt:/content", file: true},
		{path: "me/drive/special/approot:/a.bin:/content", file: true},
		{path: "users/alice@contoso.example/drive/items/01AB/content", file: true},
		{path: "users/" + guid + "/drive/root:/a.txt:/content", file: true},
		{path: "users/" + guid + "/drives/b!x/items/01AB/content", file: true},
		{path: "groups/" + guid + "/drive/items/01AB/content", file: true},
		{path: "groups/" + guid + "/drive/items/01AB:/a.txt:/content", file: true},
		{path: "sites/contoso.sharepoint.com,1,2/drive/items/01AB/content", file: true},
		{path: "sites/root/drive/root:/a.txt:/content", file: true},
		{path: "sites/s1/drives/b!x/items/01AB/content", file: true},
		{path: "sites/s1/lists/l1/items/7/driveItem/content", file: true},
		{path: "shares/u!aHR0cHM6Ly9jb250b3Nv/driveItem/content", file: true},
		{path: "Drives/b!x/ITEMS/01AB/Content", file: true},
		// A profile photo.
		{path: "me/photo/$value", file: true},
		{path: "users/alice@contoso.example/photo/$value", file: true},
		{path: "users/" + guid + "/photos/48x48/$value", file: true},
		{path: "groups/" + guid + "/photo/$value", file: true},
		{path: "groups/" + guid + "/photos/240x240/$value", file: true},
		{path: "teams/" + guid + "/photo/$value", file: true},
		{path: "me/contacts/c1/photo/$value", file: true},
		{path: "users/" + guid + "/contacts/c1/photo/$value", file: true},
		{path: "users/" + guid + "/contactFolders/f1/contacts/c1/photo/$value", file: true},
		{path: "me/contactfolders/f1/contacts/c1/photos/96x96/$value", file: true},
		{path: "USERS/" + guid + "/PHOTO/$VALUE", file: true},

		// Content Graph reads as more than bytes, or that the proxy
		// cannot tell from such.
		{path: "users/" + guid + "/onenote/resources/r1/content"},
		{path: "users/" + guid + "/onenote/pages/p1/content"},
		{path: "sites/s1/onenote/resources/r1/content"},
		{path: "users/" + guid + "/events/e1/attachments/a1/$value"},
		{path: "users/" + guid + "/messages/m1/attachments/a1/$value"},
		{path: "users/" + guid + "/mailFolders/inbox/messages/m1/$value"},
		{path: "users/" + guid + "/messages/m1/$value"},
		{path: "users/" + guid + "/contacts/c1/$value"},
		{path: "users/" + guid + "/events/e1/$value"},
		{path: "print/printers/p1/jobs/j1/documents/d1/$value"},
		{path: "print/shares/s1/jobs/j1/documents/d1/$value"},
		{path: "chats/c1/messages/m1/hostedContents/h1/$value"},
		{path: "teams/t1/channels/c1/messages/m1/hostedContents/h1/$value"},
		{path: "solutions/bookingBusinesses/b1/content"},
		{path: "solutions/virtualEvents/webinars/w1/content"},
		{path: "users/" + guid + "/unknown/x1/content"},
		{path: "unknown/$value"},
		// Near misses of the forms above.
		{path: "drives/b!x/items/01AB/$value"},
		{path: "me/photo/content"},
		{path: "drive/items/01AB/content"},
		{path: "drives/content"},
		{path: "me/drive/content"},
		{path: "drives/b!x/items/01AB/versions/v1/content"},
		{path: "drives/b!x/items/01AB/thumbnails/0/source/content"},
		{path: "drives/b!x/bundles/b1/content"},
		{path: "drives/b!x/root:/content"},
		{path: "drives/b!x/items/01AB:/content"},
		{path: "drives/b!x/root:/a:b.txt:/content"},
		{path: "drives/b!x/root:/a:/b.txt:/content"},
		{path: "drives/b!x/root:/a.txt/content"},
		{path: "drives/b!x/items/01AB/children/a.txt/content"},
		{path: "users/" + guid + "/onenote/drive/items/01AB/content"},
		{path: "users/" + guid + "/messages/m1/drive/items/01AB/content"},
		{path: "sites/contoso.sharepoint.com:/sites/team:/drive/items/01AB/content"},
		{path: "shares/s1/items/01AB/content"},
		{path: "users/" + guid + "/messages/m1/attachments/a1/photo/$value"},
		{path: "users/" + guid + "/contactFolders/f1/childFolders/f2/contacts/c1/photo/$value"},
		{path: "groups/" + guid + "/team/photo/$value"},
		{path: "users/" + guid + "/photos/$value"},
	}
	for _, tt := range tests {
		for _, m := range write {
			t.Run(m+" "+tt.path, func(t *testing.T) {
				rt := routeOf(&Request{Method: m, Segments: strings.Split(tt.path, "/")})
				switch {
				case rt == nil:
					t.Fatal("no route; want file content or a refusal")
				case tt.file && (rt.name != "file content" || rt.media != mediaContent):
					t.Fatalf("route %q; want file content", rt.name)
				case !tt.file && rt.refuse == "":
					t.Fatalf("route %q; want a refusal", rt.name)
				}
			})
		}
	}
	// Reads are not the route's: a GET of any of them is what its rule says.
	if rt := routeOf(&Request{Method: "GET", Segments: strings.Split("users/u/onenote/resources/r1/content", "/")}); rt != nil {
		t.Errorf("GET of a resource's content: route %q; want none", rt.name)
	}
}

// contentPathsPolicy has a rule for each kind of content write, allowed or not:
// the route model, not the rules, says which carry a file's bytes.
const contentPathsPolicy = `version: 1
callers:
  - name: engage
    match: { tenantID: "11111111-1111-4111-8111-111111111111", appID: "22222222-2222-4222-8222-222222222222" }
    permissions: [Files.ReadWrite.All]
rules:
  - { id: item, method: [PUT, POST], path: "/users/{user}/drive/items/{id}/content", permission: Files.ReadWrite.All }
  - { id: by-path, method: PUT, path: "/drives/{drive}/{root}/{name}/content", permission: Files.ReadWrite.All }
  - { id: by-deeper-path, method: PUT, path: "/drives/{drive}/{a}/{b}/{c}/content", permission: Files.ReadWrite.All }
  - { id: by-item-member, method: PUT, path: "/drives/{drive}/items/{id}/{a}/{b}/content", permission: Files.ReadWrite.All }
  - { id: list-item, method: PUT, path: "/sites/{site}/lists/{list}/items/{id}/driveItem/content", permission: Files.ReadWrite.All }
  - { id: share, method: PUT, path: "/shares/{share}/driveItem/content", permission: Files.ReadWrite.All }
  - { id: photo, method: [PUT, PATCH], path: "/users/{user}/photo/$value", permission: Files.ReadWrite.All }
  - { id: photo-size, method: PUT, path: "/users/{user}/photos/{size}/$value", permission: Files.ReadWrite.All }
  - { id: team-photo, method: PUT, path: "/teams/{team}/photo/$value", permission: Files.ReadWrite.All }
  - { id: contact-photo, method: PUT, path: "/users/{user}/contactFolders/{f}/contacts/{id}/photo/$value", permission: Files.ReadWrite.All }
  - { id: resource, method: PUT, path: "/users/{user}/onenote/resources/{id}/content", permission: Files.ReadWrite.All }
  - { id: attachment, method: PUT, path: "/users/{user}/events/{id}/attachments/{a}/$value", permission: Files.ReadWrite.All }
  - { id: folder-message, method: PUT, path: "/users/{user}/mailFolders/{f}/messages/{id}/$value", permission: Files.ReadWrite.All }
  - { id: contact, method: PUT, path: "/users/{user}/contacts/{id}/$value", permission: Files.ReadWrite.All }
  - { id: print, method: PUT, path: "/print/printers/{p}/jobs/{j}/documents/{d}/$value", permission: Files.ReadWrite.All }
  - { id: hosted, method: PUT, path: "/chats/{c}/messages/{m}/hostedContents/{h}/$value", permission: Files.ReadWrite.All }
  - { id: solutions, method: PUT, path: "/solutions/{a}/{b}/content", permission: Files.ReadWrite.All }
  - { id: unknown, method: PUT, path: "/users/{user}/{what}/{id}/content", permission: Files.ReadWrite.All }
`

// TestContentWritesDecided: each kind of content write under a rule that
// names it, with a file's bytes and with JSON (which Graph may act on):
// the allowed items pass (the bytes unread), the others are refused with
// the reason naming what is allowed, inside $batch too.
func TestContentWritesDecided(t *testing.T) {
	p, err := Parse("p.yaml", []byte(contentPathsPolicy))
	if err != nil {
		t.Fatal(err)
	}
	const (
		u       = "/v1.0/users/alice@contoso.example"
		allowed = "pass unread only as a file's bytes: a drive item's content"
	)
	tests := []struct {
		name, method, url string
		file              bool
		reason            string // a part of the refusal, when not allowed's
	}{
		{name: "drive item", method: "PUT", url: u + "/drive/items/01AB/content", file: true},
		{name: "drive item, POST", method: "POST", url: u + "/drive/items/01AB/content", file: true},
		{name: "new file by path", method: "PUT", url: "/v1.0/drives/b!x/root:/Documents/a.docx:/content", file: true},
		{name: "new file under an item", method: "PUT", url: "/v1.0/drives/b!x/items/01AB:/a.txt:/content", file: true},
		{name: "new file in the app folder", method: "PUT", url: "/v1.0/drives/b!x/special/approot:/a.bin:/content", file: true},
		{name: "special folder item", method: "PUT", url: "/v1.0/drives/b!x/special/approot/content", file: true},
		{name: "list item's file", method: "PUT", url: "/v1.0/sites/s1/lists/l1/items/7/driveItem/content", file: true},
		{name: "shared item", method: "PUT", url: "/v1.0/shares/u!aHR0cHM/driveItem/content", file: true},
		{name: "user photo", method: "PUT", url: u + "/photo/$value", file: true},
		{name: "user photo, PATCH", method: "PATCH", url: u + "/photo/$value", file: true},
		{name: "user photo by size", method: "PUT", url: u + "/photos/48x48/$value", file: true},
		{name: "team photo", method: "PUT", url: "/v1.0/teams/t1/photo/$value", file: true},
		{name: "contact photo", method: "PUT", url: u + "/contactFolders/f1/contacts/c1/photo/$value", file: true},

		{name: "OneNote resource", method: "PUT", url: u + "/onenote/resources/r1/content"},
		{name: "event attachment", method: "PUT", url: u + "/events/e1/attachments/a1/$value"},
		{name: "message in a folder", method: "PUT", url: u + "/mailFolders/inbox/messages/m1/$value", reason: "a message's MIME"},
		{name: "contact", method: "PUT", url: u + "/contacts/c1/$value"},
		{name: "print document", method: "PUT", url: "/v1.0/print/printers/p1/jobs/j1/documents/d1/$value"},
		{name: "chat hosted content", method: "PUT", url: "/v1.0/chats/c1/messages/m1/hostedContents/h1/$value"},
		{name: "solutions", method: "PUT", url: "/v1.0/solutions/bookingBusinesses/b1/content"},
		{name: "unknown item", method: "PUT", url: u + "/unknown/x1/content"},
		{name: "drive item's version", method: "PUT", url: "/v1.0/drives/b!x/items/01AB/versions/v1/content"},
		{name: "drive bundle", method: "PUT", url: "/v1.0/drives/b!x/bundles/b1/content"},
		{name: "path with a colon inside", method: "PUT", url: "/v1.0/drives/b!x/root:/a:/b.txt:/content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allowed := allowed
			if tt.reason != "" {
				allowed = tt.reason
			}
			// A file's bytes, unread when they are one.
			d := decideWith(t, p, "engage", tt.method, tt.url, "application/octet-stream", "<html><img src=\"https://evil.example/x\"></html>")
			switch {
			case tt.file && (d.Result != Allow || d.ContentType != "application/octet-stream"):
				t.Fatalf("bytes: %v (%s) %q; want allowed as file content", d.Result, d.Reason, d.ContentType)
			case !tt.file && (d.Result != Deny || d.Refusal != RefusalPolicy || !strings.Contains(d.Reason, allowed)):
				t.Fatalf("bytes: %v %v (%s); want 403 saying %q", d.Result, d.Refusal, d.Reason, allowed)
			}
			// JSON, read as JSON on a file's content, refused elsewhere.
			d = decideWith(t, p, "engage", tt.method, tt.url, ctJSON, `{"a":1}`)
			if tt.file != (d.Result == Allow) || !tt.file && !strings.Contains(d.Reason, allowed) {
				t.Fatalf("JSON: %v (%s); want allowed %v", d.Result, d.Reason, tt.file)
			}
			// Inside $batch, where a body is JSON.
			sub := `{"id":"1","method":"` + tt.method + `","url":"` + strings.TrimPrefix(tt.url, "/v1.0") + `","headers":{"Content-Type":"application/json"},"body":{"a":1}}`
			d = decideWith(t, p, "engage", "POST", "/v1.0/$batch", ctJSON, `{"requests":[`+sub+`]}`)
			if tt.file != (d.Result == Allow) {
				t.Fatalf("$batch: %v (%s); want allowed %v", d.Result, d.Reason, tt.file)
			}
			if !tt.file && (len(d.Batch) != 1 || !strings.Contains(d.Batch[0].Decision.Reason, allowed)) {
				t.Errorf("$batch sub-decisions %+v; want the refusal naming what is allowed", d.Batch)
			}
		})
	}
}

// TestStreamedContentOnlyFiles: under a content rule a PUT streams to
// Graph unread; its decision, taken before the body is read, refuses it
// on an item whose content is no file's bytes, as a body read whole is.
func TestStreamedContentOnlyFiles(t *testing.T) {
	p, err := Parse("p.yaml", []byte(`version: 1
callers:
  - name: engage
    match: { tenantID: "11111111-1111-4111-8111-111111111111", appID: "22222222-2222-4222-8222-222222222222" }
    permissions: [Files.ReadWrite.All]
rules:
  - { id: file, method: PUT, path: "/drives/{d}/items/{i}/content", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }
  - { id: resource, method: PUT, path: "/users/{user}/onenote/resources/{id}/content", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }
  - { id: hosted, method: PUT, path: "/users/{user}/chats/{c}/messages/{m}/hostedContents/{h}/$value", permission: Files.ReadWrite.All, content: { maxBytes: 1024 } }
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		file bool
	}{
		{url: "/v1.0/drives/b!x/items/01AB/content", file: true},
		{url: "/v1.0/users/alice@contoso.example/onenote/resources/r1/content"},
		{url: "/v1.0/users/alice@contoso.example/chats/c1/messages/m1/hostedContents/h1/$value"},
	}
	for _, tt := range tests {
		rt := p.Route("engage", canonical(t, "PUT", tt.url))
		if !rt.StreamsBody() {
			t.Errorf("%s: a PUT under a content rule does not stream", tt.url)
			continue
		}
		d := rt.DecideStream("text/html")
		if (d.Result == Allow) != tt.file || !tt.file && !strings.Contains(d.Reason, "pass unread only as a file's bytes") {
			t.Errorf("%s: %v (%s); want allowed %v", tt.url, d.Result, d.Reason, tt.file)
		}
	}
}
