package policy

import (
	"strings"

	"github.com/graph-proxy/graph-proxy/internal/ascii"
)

// Which writes to …/content and …/$value carry a file's bytes, which Graph
// stores as they are and the policy passes unread (the "file content"
// route): an allow-list of the items whose content is such bytes, each in
// the addressing forms Graph documents. Graph reads the content of other
// items as more than bytes — a OneNote page's as commands whose HTML makes
// it fetch URLs, a message's $value as MIME naming whom it goes to, a print
// job's document as what is printed, a chat's hosted content or an
// attachment as part of a message — and the proxy cannot tell an item it
// does not know from those, so a write to any other is refused
// (otherContent).
//
// Sources, Microsoft Graph's v1.0 reference:
//   - "Upload or replace the contents of a driveItem" (driveitem-put-content):
//     PUT /drives/{drive-id}/items/{item-id}/content and the same under
//     /groups/{id}/drive, /me/drive, /sites/{id}/drive, /users/{id}/drive;
//     a new file by path, …/items/{parent-id}:/{filename}:/content, or
//     …/root:/{path}:/content;
//   - special folders (onedrive-sharepoint-appfolder): …/special/approot,
//     written as any item, by id or with a path after it;
//   - a shared item, /shares/{id}/driveItem/content, and a list item's
//     file, /sites/{id}/lists/{id}/items/{id}/driveItem/content (the
//     SDKs' Set-MgShareDriveItemContent and the list item's driveItem);
//   - "Update profilePhoto" (profilephoto-update): PUT or PATCH
//     …/photo/$value of /me, /users/{id}, /groups/{id}, /teams/{id} and a
//     contact (…/contacts/{id}, …/contactFolders/{id}/contacts/{id} of
//     /me or /users/{id}); …/photos/{size}/$value as the SDKs write it
//     (Set-MgUserPhotoContent -ProfilePhotoId).
//
// A drive item's content is …/content, a photo's …/$value: the other
// ending on either is not what Graph documents, and is refused.
func fileContentPath(segs []string) bool {
	n := len(segs)
	if n < 2 {
		return false
	}
	switch last := segs[n-1]; {
	case ascii.EqualFold(last, "content"):
		return driveItemPath(segs[:n-1])
	case ascii.EqualFold(last, "$value"):
		return profilePhotoPath(segs[:n-1])
	}
	return false
}

// otherContent is the refusal of a write to …/content or …/$value of an
// item fileContentPath does not list.
const otherContent = "…/content and …/$value pass unread only as a file's bytes: a drive item's content " +
	"(by id, root, path or special folder, of drives/{id}, me, users/{id}, groups/{id} or sites/{id}; shares/{id}/driveItem; a list item's driveItem) " +
	"or a profile photo's $value (…/photo, …/photos/{size} of me, a user, group, team or contact); " +
	"Graph may read this item's content as more than bytes, which the proxy does not read"

// driveItemPath reports whether segs address one drive item, in a form
// fileContentPath's sources give, from the path's start.
func driveItemPath(segs []string) bool {
	switch {
	case len(segs) == 3 && is(segs[0], "shares") && is(segs[2], "driveItem"):
		return plainKey(segs[1])
	case len(segs) == 7 && is(segs[0], "sites") && is(segs[2], "lists") && is(segs[4], "items") && is(segs[6], "driveItem"):
		return plainKey(segs[1]) && plainKey(segs[3]) && plainKey(segs[5])
	}
	rest, ok := cutDrive(segs)
	return ok && itemInDrive(rest)
}

// cutDrive returns what follows a drive at the path's start: drives/{id},
// or the drive (or drives/{id}) of me, users/{id}, groups/{id} or
// sites/{id}.
func cutDrive(segs []string) ([]string, bool) {
	switch {
	case len(segs) == 0:
		return nil, false
	case is(segs[0], "me"):
		segs = segs[1:]
	case is(segs[0], "users") || is(segs[0], "groups") || is(segs[0], "sites"):
		if len(segs) < 2 || !plainKey(segs[1]) {
			return nil, false
		}
		segs = segs[2:]
	case is(segs[0], "drives"):
		// A drive by id, named at the path's start.
	default:
		return nil, false
	}
	switch {
	case len(segs) >= 1 && is(segs[0], "drive"):
		return segs[1:], true
	case len(segs) >= 2 && is(segs[0], "drives") && plainKey(segs[1]):
		return segs[2:], true
	}
	return nil, false
}

// itemInDrive reports whether segs, after a drive, address one item: root,
// items/{id} or special/{name}, each alone or followed by a path
// (root:/a/b.txt: is the segments "root:", "a", "b.txt:").
func itemInDrive(segs []string) bool {
	switch {
	case len(segs) == 1 && is(segs[0], "root"):
		return true
	case len(segs) == 2 && (is(segs[0], "items") || is(segs[0], "special")):
		return plainKey(segs[1])
	case len(segs) >= 2 && is(segs[0], "root:"):
		return itemPath(segs[1:])
	case len(segs) >= 3 && (is(segs[0], "items") || is(segs[0], "special")):
		id, ok := strings.CutSuffix(segs[1], ":")
		return ok && plainKey(id) && itemPath(segs[2:])
	}
	return false
}

// itemPath reports whether segs are a path after an item's "…:", closed
// by a colon on its last segment and by no other: a colon anywhere else
// would end the path where Graph reads it otherwise.
func itemPath(segs []string) bool {
	last := segs[len(segs)-1]
	name, ok := strings.CutSuffix(last, ":")
	if !ok || name == "" || strings.IndexByte(name, ':') >= 0 {
		return false
	}
	for _, s := range segs[:len(segs)-1] {
		if strings.IndexByte(s, ':') >= 0 {
			return false
		}
	}
	return true
}

// profilePhotoPath reports whether segs address a profile photo:
// photo or photos/{size} of me, a user, group or team, or a contact.
func profilePhotoPath(segs []string) bool {
	n := len(segs)
	switch {
	case n >= 1 && is(segs[n-1], "photo"):
		segs = segs[:n-1]
	case n >= 2 && is(segs[n-2], "photos") && plainKey(segs[n-1]):
		segs = segs[:n-2]
	default:
		return false
	}
	n = len(segs)
	switch {
	case n == 1:
		return is(segs[0], "me")
	case n == 2:
		return (is(segs[0], "users") || is(segs[0], "groups") || is(segs[0], "teams")) && plainKey(segs[1])
	case n >= 2 && is(segs[n-2], "contacts") && plainKey(segs[n-1]):
		// A contact, in the mailbox's contacts or in a folder of them.
		owner := segs[:n-2]
		if m := len(owner); m >= 2 && is(owner[m-2], "contactFolders") && plainKey(owner[m-1]) {
			owner = owner[:m-2]
		}
		return len(owner) == 1 && is(owner[0], "me") ||
			len(owner) == 2 && is(owner[0], "users") && plainKey(owner[1])
	}
	return false
}

// is reports whether a path segment is name, ASCII case aside.
func is(seg, name string) bool { return ascii.EqualFold(seg, name) }

// plainKey reports whether a segment can be a key (an id, a name, a UPN)
// and nothing else: no colon, which would start or end an item's path.
func plainKey(seg string) bool { return seg != "" && strings.IndexByte(seg, ':') < 0 }
