package policy

import (
	"strings"
	"testing"
)

// TestOperationSpelledWithFoldedLetters: a reader that folds case beyond
// ASCII reads 'ſ' (U+017F) as 's' and the Kelvin sign as 'k', so
// "microſoft.graph.send" and "ſend " are the send action to it as
// "microsoft.graph.send" and "send " are. The route model matches a
// name's letters so (strings.EqualFold); it must cut the namespace, and
// read what follows a name, with the same folding, or such a spelling is
// no route's and the action's checks are skipped.
func TestOperationSpelledWithFoldedLetters(t *testing.T) {
	u := []string{"users", "bob@contoso.example"}
	for _, tt := range []struct {
		name   string
		item   []string // the item the action is called on
		action string   // the plain spelling
	}{
		{"draft send", []string{"messages", "M1"}, "send"},
		{"reply", []string{"messages", "M1"}, "reply"},
		{"forward", []string{"messages", "M1"}, "forward"},
		{"event cancel", []string{"events", "E1"}, "cancel"},
		{"event decline", []string{"events", "E1"}, "decline"},
		{"unsubscribe", []string{"messages", "M1"}, "unsubscribe"},
	} {
		plain := Request{Method: "POST", Segments: append(append(append([]string{}, u...), tt.item...), tt.action)}
		want := routeOf(&plain)
		wantUnmodelled := unmodelledAction(&plain, want) != ""
		if want == nil && !wantUnmodelled {
			t.Fatalf("%s: the plain spelling %q is no route and not refused", tt.name, tt.action)
		}
		longS := strings.Replace(tt.action, "s", "\u017f", 1)
		for _, spelled := range []string{
			"micro\u017foft.graph." + tt.action,
			"MICRO\u017fOFT.GRAPH." + strings.ToUpper(tt.action) + "()",
			"micro\u017foft.graph." + longS,
			longS + " ",
			longS + ";x=1",
			tt.action + " ",
		} {
			req := Request{Method: "POST", Segments: append(append(append([]string{}, u...), tt.item...), spelled)}
			got := routeOf(&req)
			if got != want && !(got == nil && unmodelledAction(&req, nil) != "") {
				t.Errorf("%s: %q is route %v, and not refused; %q is route %v", tt.name, spelled, routeName(got), tt.action, routeName(want))
			}
		}
	}
}

func routeName(rt *route) string {
	if rt == nil {
		return "none"
	}
	return rt.name
}
