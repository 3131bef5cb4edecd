package graphsim

import (
	"encoding/json"
	"net/http"
	"strconv"
)

func (g *Graph) listUsers(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, readUsers...) {
		return
	}
	g.mu.Lock()
	items := make([]map[string]any, 0, len(g.users))
	for _, u := range g.users {
		items = append(items, selectFields(r, u.json()))
	}
	g.mu.Unlock()
	if out, ok := g.page(w, r, "users", items); ok {
		writeOData(w, http.StatusOK, out)
	}
}

func (g *Graph) getUser(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, readUsers...) {
		return
	}
	if u := g.lookup(w, r); u != nil {
		out := selectFields(r, u.json())
		out["@odata.context"] = g.URL + "/" + r.PathValue("version") + "/$metadata#users/$entity"
		writeOData(w, http.StatusOK, out)
	}
}

// usersDelta pages through all users, then hands out a deltaLink; following
// it returns the users changed since.
func (g *Graph) usersDelta(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, readUsers...) {
		return
	}
	since := -1
	if t := r.URL.Query().Get("$deltatoken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid delta token.")
			return
		}
		since = n
	}
	g.mu.Lock()
	var items []map[string]any
	for _, u := range g.users {
		if since < 0 || u.modified > since {
			items = append(items, selectFields(r, u.json()))
		}
	}
	items = append(items, g.removedSince(since)...)
	changes := g.changes
	g.mu.Unlock()
	out, ok := g.page(w, r, "users", items)
	if !ok {
		return
	}
	if _, more := out["@odata.nextLink"]; !more {
		out["@odata.deltaLink"] = g.URL + r.URL.EscapedPath() + "?$deltatoken=" + strconv.Itoa(changes)
	}
	writeOData(w, http.StatusOK, out)
}

func (g *Graph) checkMemberGroups(w http.ResponseWriter, r *http.Request) {
	u := g.authorize(w, r, readMembers...)
	if u == nil {
		return
	}
	var body struct {
		GroupIDs []string `json:"groupIds"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || len(body.GroupIDs) == 0 || len(body.GroupIDs) > 20 {
		graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "groupIds must list 1 to 20 group ids.")
		return
	}
	g.mu.Lock()
	member := []string{}
	for _, id := range body.GroupIDs {
		if g.groups[id][u.ID] {
			member = append(member, id)
		}
	}
	g.mu.Unlock()
	writeOData(w, http.StatusOK, map[string]any{"@odata.context": g.URL + "/v1.0/$metadata#Collection(Edm.String)", "value": member})
}
