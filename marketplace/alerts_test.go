package marketplace

import (
	"fmt"
	"testing"
)

// TestWizardAlerts: the wizard's "Views and alerts" step gives the
// template's alert parameters what the installer chose: the rules on by
// default, an action group only when asked for (picked among the
// subscription's action groups), and the Graph activity rule only when the
// installer says the workspace receives Graph activity logs; turning the
// rules off turns off the other two as well.
func TestWizardAlerts(t *testing.T) {
	w := loadOfferWizard(t)
	var tm template
	load(t, "mainTemplate.json", &tm)
	for name, typ := range map[string]string{"alertRules": "bool", "alertActionGroupId": "string", "graphActivityAlert": "bool"} {
		if p, ok := tm.Parameters[name]; !ok || p.Type != typ {
			t.Errorf("mainTemplate.json: parameter %s is %+v; want a %s", name, p, typ)
		}
	}
	rules := w.control(t, "alerts", "alertRules").defaultValue(t)
	if rules != "on" {
		t.Errorf("the alert rules default to %v; want on", rules)
	}
	if c := w.control(t, "alerts", "actionGroup"); c.Type != "Microsoft.Solutions.ResourceSelector" {
		t.Errorf("the action group is chosen with a %s; want a Microsoft.Solutions.ResourceSelector", c.Type)
	}
	var ui map[string]any
	load(t, "createUiDefinition.json", &ui)
	if rt := wizardElement(t, ui, "alerts", "actionGroup")["resourceType"]; rt != "Microsoft.Insights/actionGroups" {
		t.Errorf("the action group selector lists %v", rt)
	}
	const group = "/subscriptions/s/resourceGroups/soc/providers/Microsoft.Insights/actionGroups/oncall"
	cases := []struct {
		name        string
		answers     map[string]any
		wantRules   bool
		wantGroup   string
		wantGraphOn bool
	}{
		{name: "untouched", answers: map[string]any{"alertRules": rules, "notify": false, "graphActivityAlert": false}, wantRules: true},
		{name: "an action group", answers: map[string]any{"alertRules": "on", "notify": true, "actionGroup": map[string]any{"id": group}, "graphActivityAlert": true}, wantRules: true, wantGroup: group, wantGraphOn: true},
		{name: "a group picked, then unticked", answers: map[string]any{"alertRules": "on", "notify": false, "actionGroup": map[string]any{"id": group}, "graphActivityAlert": false}, wantRules: true},
		{name: "rules off", answers: map[string]any{"alertRules": "off", "notify": true, "actionGroup": map[string]any{"id": group}, "graphActivityAlert": true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := c.answers["actionGroup"]; !ok {
				c.answers["actionGroup"] = map[string]any{"id": ""}
			}
			steps := map[string]map[string]any{"alerts": c.answers}
			for name, want := range map[string]any{"alertRules": c.wantRules, "alertActionGroupId": c.wantGroup, "graphActivityAlert": c.wantGraphOn} {
				got, err := offerEval(w.Parameters.Outputs[name], steps)
				if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("output %s = %v, %v; want %v", name, got, err, want)
				}
			}
		})
	}
}
