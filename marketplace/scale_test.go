package marketplace

import (
	"fmt"
	"testing"
)

// TestWizardScale: the Scale step's answers reach the template's
// replica, scale rule and shared-limits parameters; left as they are,
// they are the template's own defaults; the Redis size is asked, and
// passed, only with shared limits.
func TestWizardScale(t *testing.T) {
	w := loadOfferWizard(t)
	var tm template
	load(t, "mainTemplate.json", &tm)
	defaults := map[string]any{}
	for _, name := range []string{"minReplicas", "maxReplicas", "concurrentRequests", "sharedLimits", "redisSku"} {
		defaults[name] = w.control(t, "scale", name).defaultValue(t)
	}
	with := func(over map[string]any) map[string]map[string]any {
		answers := map[string]any{}
		for k, v := range defaults {
			answers[k] = v
		}
		for k, v := range over {
			answers[k] = v
		}
		return map[string]map[string]any{"scale": answers}
	}
	tests := []struct {
		name    string
		answers map[string]map[string]any
		want    map[string]any // template parameter → value; nil: its default
	}{
		{name: "untouched: the template's defaults", answers: with(nil), want: map[string]any{
			"minReplicas": nil, "maxReplicas": nil, "scaleConcurrentRequests": nil, "sharedLimits": nil, "redisSkuName": nil}},
		{name: "shared limits among up to 10 replicas", answers: with(map[string]any{"maxReplicas": 10, "sharedLimits": true, "redisSku": "Balanced_B1"}),
			want: map[string]any{"maxReplicas": 10, "sharedLimits": true, "redisSkuName": "Balanced_B1"}},
		{name: "a size chosen, then shared limits unticked", answers: with(map[string]any{"redisSku": "Balanced_B5"}),
			want: map[string]any{"sharedLimits": false, "redisSkuName": "Balanced_B0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for param, want := range tt.want {
				expr, ok := w.Parameters.Outputs[param]
				if !ok {
					t.Fatalf("no output for parameter %s", param)
				}
				got, err := offerEval(expr, tt.answers)
				if err != nil {
					t.Fatalf("%s: %v", param, err)
				}
				if want == nil {
					want = tm.Parameters[param].DefaultValue
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s = %v; want %v", param, got, want)
				}
			}
		})
	}
}
