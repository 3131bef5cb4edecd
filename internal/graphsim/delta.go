package graphsim

import (
	"slices"
	"strings"
)

// RemoveUser deletes a user, as an administrator does: it leaves the
// listings, and the next round of users/delta reports it removed
// ({"id":…,"@removed":{"reason":"deleted"}}), as Graph does. It reports
// whether the user existed.
func (g *Graph) RemoveUser(userKey string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	u := g.byKey[strings.ToLower(userKey)]
	if u == nil {
		return false
	}
	g.users = slices.DeleteFunc(g.users, func(x *user) bool { return x == u })
	delete(g.byKey, strings.ToLower(u.ID))
	delete(g.byKey, u.UPN)
	g.changes++
	u.modified = g.changes
	g.gone = append(g.gone, u)
	return true
}

// removedSince are the delta entries of the users removed after the
// delta token since (none in a first round); g.mu is held.
func (g *Graph) removedSince(since int) []map[string]any {
	var out []map[string]any
	for _, u := range g.gone {
		if since >= 0 && u.modified > since {
			out = append(out, map[string]any{"id": u.ID, "@removed": map[string]any{"reason": "deleted"}})
		}
	}
	return out
}
