package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graph-proxy/graph-proxy/internal/config"
)

// The security team's views of the audit table (bicep/modules/views.bicep
// and its block of mainTemplate.json): one text for every query, in
// deploy/kql and deploy/workbook; alert rules whose timing Azure accepts
// and whose queries read no further back than the rule lets them; a
// workbook whose parameters are declared; and every query parsed by
// Kusto's own parser (syntax/kql.mjs). Each test names the defect it would
// catch.

const (
	viewsBicep      = "bicep/modules/views.bicep"
	workbookFile    = "workbook/audit.json"
	rulesType       = "Microsoft.Insights/scheduledQueryRules"
	savedQueryType  = "Microsoft.OperationalInsights/queryPacks/queries"
	proxyAppIDToken = "__PROXY_APP_ID__"
)

// kqlFiles returns deploy/kql's queries by name (the file's, without .kql).
func kqlFiles(t *testing.T) map[string]string {
	t.Helper()
	names, err := filepath.Glob("kql/*.kql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no deploy/kql/*.kql (%v)", err)
	}
	out := map[string]string{}
	for _, n := range names {
		out[strings.TrimSuffix(filepath.Base(n), ".kql")] = read(t, n)
	}
	return out
}

func isAlertQuery(name string) bool { return strings.HasPrefix(name, "alert-") }

var (
	loadRe       = regexp.MustCompile(`loadTextContent\('([^']+)'\)`)
	armQueryRe   = regexp.MustCompile(`variables\('queries'\)\['([\w-]+)'\]`)
	armGUIDKeyRe = regexp.MustCompile(`, '([\w-]+)'\)\)\]$`)
	armRuleRe    = regexp.MustCompile(`^\[format\('\{0\}-([\w-]+)', parameters\('namePrefix'\)\)\]$`)
	kustoBlockRe = regexp.MustCompile("(?ms)^```kusto[^\n]*\n(.*?)^```")
)

// bicepLoad returns the deploy/kql name of the file a Bicep expression
// loads (loadTextContent, possibly inside replace()), or "".
func bicepLoad(n *bnode) string {
	var found string
	walk(n, func(x *bnode) {
		if x.kind == "call" && x.str == "loadTextContent" && len(x.items) == 1 && strings.HasPrefix(x.items[0].str, "../../kql/") {
			found = strings.TrimSuffix(strings.TrimPrefix(x.items[0].str, "../../kql/"), ".kql")
		}
	})
	return found
}

// TestQueriesOneSource: each query exists once, as a file of deploy/kql
// (the workbook as workbook/audit.json); views.bicep loads it, and
// mainTemplate.json carries the same text in its variables, each saved
// query and alert rule reading the file of its own name in both
// templates; docs/audit.md shows the saved queries as they are. A query
// fixed in one place only (the refusals query's missing parentheses were
// fixed in none) fails here.
func TestQueriesOneSource(t *testing.T) {
	files := kqlFiles(t)
	if *updateInline {
		if err := writeInline(files, read(t, workbookFile)); err != nil {
			t.Fatal(err)
		}
	}
	tm := loadARM(t)

	inline, _ := tm.Variables["queries"].(map[string]any)
	for _, name := range sortedKeys(files) {
		if got, ok := inline[name].(string); !ok || got != files[name] {
			t.Errorf("mainTemplate.json: variables.queries[%q] is not kql/%s.kql (go test ./deploy -run TestQueriesOneSource -update-inline)", name, name)
		}
	}
	for _, name := range sortedKeys(inline) {
		if _, ok := files[name]; !ok {
			t.Errorf("mainTemplate.json: variables.queries[%q] has no kql/%s.kql (-update-inline drops it)", name, name)
		}
	}
	if got, _ := tm.Variables["workbook"].(string); got != read(t, workbookFile) {
		t.Errorf("mainTemplate.json: variables.workbook is not %s (go test ./deploy -run TestQueriesOneSource -update-inline)", workbookFile)
	}

	// Every file a Bicep file loads exists; each query is loaded once.
	loaded := map[string]int{}
	for name, text := range bicepFiles(t) {
		for _, m := range loadRe.FindAllStringSubmatch(text, -1) {
			p := filepath.Join(filepath.Dir(name), m[1])
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: loadTextContent('%s'): %v", name, m[1], err)
			}
			loaded[filepath.ToSlash(p)]++
		}
	}
	for _, name := range sortedKeys(files) {
		if n := loaded["kql/"+name+".kql"]; n != 1 {
			t.Errorf("deploy/bicep loads kql/%s.kql %d times; want once", name, n)
		}
	}
	if n := loaded[workbookFile]; n != 1 {
		t.Errorf("deploy/bicep loads %s %d times; want once", workbookFile, n)
	}

	// What each saved query and rule reads, by the key its name holds.
	bicepReads := map[string]string{} // "query:<key>" or "rule:<name>" → kql name
	bt := readBicep(t)
	for _, r := range bt.files[viewsBicep].resources {
		switch r.typ {
		case savedQueryType:
			name := r.body.get("name")
			if name == nil || name.kind != "call" || name.str != "guid" || len(name.items) != 2 {
				t.Errorf("%s:%d: a saved query not named guid(pack.id, '<kql file>')", viewsBicep, r.line)
				continue
			}
			bicepReads["query:"+name.items[1].str] = bicepLoad(r.body.get("properties").get("body"))
		case rulesType:
			name := r.body.get("name")
			if name == nil || name.kind != "istring" || !strings.HasPrefix(name.str, "${…}-") {
				t.Errorf("%s:%d: an alert rule not named '${namePrefix}-<rule>'", viewsBicep, r.line)
				continue
			}
			allOf := r.body.get("properties").get("criteria").get("allOf")
			if allOf == nil || len(allOf.items) != 1 {
				t.Errorf("%s:%d: want one condition", viewsBicep, r.line)
				continue
			}
			bicepReads["rule:"+strings.TrimPrefix(name.str, "${…}-")] = bicepLoad(allOf.items[0].get("query"))
		}
	}
	armReads := map[string]string{}
	for _, r := range tm.Resources {
		name, _ := r["name"].(string)
		props, _ := r["properties"].(map[string]any)
		switch {
		case strings.EqualFold(r["type"].(string), savedQueryType):
			k := armGUIDKeyRe.FindStringSubmatch(name)
			body, _ := props["body"].(string)
			q := armQueryRe.FindStringSubmatch(body)
			if k == nil || q == nil {
				t.Errorf("mainTemplate.json: saved query %s reads %s", name, body)
				continue
			}
			armReads["query:"+k[1]] = q[1]
		case strings.EqualFold(r["type"].(string), rulesType):
			k := armRuleRe.FindStringSubmatch(name)
			raw, _ := json.Marshal(props["criteria"])
			q := armQueryRe.FindAllStringSubmatch(string(raw), -1)
			if k == nil || len(q) != 1 {
				t.Errorf("mainTemplate.json: alert rule %s reads %d queries", name, len(q))
				continue
			}
			armReads["rule:"+k[1]] = q[0][1]
		}
	}
	for _, k := range sortedKeys(bicepReads) {
		if armReads[k] != bicepReads[k] {
			t.Errorf("%s: views.bicep reads kql/%s.kql, mainTemplate.json %q", k, bicepReads[k], armReads[k])
		}
		if kind, key, _ := strings.Cut(k, ":"); kind == "query" && key != bicepReads[k] {
			t.Errorf("%s: the saved query named after %s reads kql/%s.kql", k, key, bicepReads[k])
		}
	}
	for _, k := range sortedKeys(armReads) {
		if _, ok := bicepReads[k]; !ok {
			t.Errorf("%s: mainTemplate.json only", k)
		}
	}
	used := map[string]bool{}
	for _, v := range bicepReads {
		used[v] = true
	}
	for _, name := range sortedKeys(files) {
		if !used[name] {
			t.Errorf("kql/%s.kql: no saved query or alert rule reads it", name)
		}
		if kind, _, _ := strings.Cut(name, "-"); kind == "alert" {
			found := false
			for k, v := range bicepReads {
				found = found || v == name && strings.HasPrefix(k, "rule:")
			}
			if !found {
				t.Errorf("kql/%s.kql: an alert query no alert rule reads", name)
			}
		}
	}

	// docs/audit.md shows the saved queries, each as its file holds it.
	docs := read(t, "../docs/audit.md")
	shown := map[string]bool{}
	for i, m := range kustoBlockRe.FindAllStringSubmatch(docs, -1) {
		name := ""
		for n, text := range files {
			if text == m[1] && !isAlertQuery(n) {
				name = n
			}
		}
		if name == "" {
			t.Errorf("docs/audit.md: kusto block %d is none of deploy/kql's saved queries (%.60q)", i+1, m[1])
			continue
		}
		shown[name] = true
	}
	for _, name := range sortedKeys(files) {
		if !isAlertQuery(name) && !shown[name] {
			t.Errorf("docs/audit.md does not show kql/%s.kql", name)
		}
	}
}

var updateInline = flag.Bool("update-inline", false, "rewrite mainTemplate.json's variables.queries and variables.workbook from deploy/kql and deploy/workbook")

const mainTemplateFile = "../marketplace/mainTemplate.json"

// writeInline replaces, in mainTemplate.json, the values of
// variables.queries and variables.workbook with the files' text, and
// leaves every other byte of the file as it is (others edit it too).
func writeInline(queries map[string]string, workbook string) error {
	raw, err := os.ReadFile(mainTemplateFile)
	if err != nil {
		return err
	}
	encode := func(v any) ([]byte, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("    ", "  ")
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
	}
	for _, v := range []struct {
		key string
		val any
	}{{"queries", queries}, {"workbook", workbook}} {
		start, end, err := variableRange(raw, v.key)
		if err != nil {
			return err
		}
		b, err := encode(v.val)
		if err != nil {
			return err
		}
		raw = append(raw[:start:start], append(b, raw[end:]...)...)
	}
	return os.WriteFile(mainTemplateFile, raw, 0o644)
}

// variableRange returns where the value of variables.<key> lies in an
// ARM template's text.
func variableRange(raw []byte, key string) (int, int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	skip := func() error {
		var x json.RawMessage
		return dec.Decode(&x)
	}
	if _, err := dec.Token(); err != nil { // {
		return 0, 0, err
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return 0, 0, err
		}
		if k != "variables" {
			if err := skip(); err != nil {
				return 0, 0, err
			}
			continue
		}
		if _, err := dec.Token(); err != nil { // the variables' {
			return 0, 0, err
		}
		for dec.More() {
			vk, err := dec.Token()
			if err != nil {
				return 0, 0, err
			}
			from := int(dec.InputOffset())
			if err := skip(); err != nil {
				return 0, 0, err
			}
			if vk != key {
				continue
			}
			// from is just after the key: skip the colon and spaces.
			start := from + bytes.IndexByte(raw[from:], ':') + 1
			for raw[start] == ' ' || raw[start] == '\n' || raw[start] == '\t' || raw[start] == '\r' {
				start++
			}
			return start, int(dec.InputOffset()), nil
		}
		break
	}
	return 0, 0, errors.New("mainTemplate.json: no variables." + key + " (add it by hand, then -update-inline fills it)")
}

// isoDuration parses the ISO 8601 durations alert rules take (days,
// hours, minutes, seconds).
func isoDurationOf(s string) (time.Duration, error) {
	m := regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`).FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration of days, hours, minutes and seconds", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	return d, nil
}

// kustoSpan evaluates a timespan expression of an alert query: literals
// (15m, 2d), names bound by let to one, integers, + and *.
func kustoSpan(expr string, lets map[string]time.Duration) (time.Duration, error) {
	var sum time.Duration
	for _, term := range strings.Split(expr, "+") {
		prod, n := time.Duration(0), 1
		for _, f := range strings.Split(term, "*") {
			f = strings.TrimSpace(f)
			if v, ok := lets[f]; ok {
				if prod != 0 {
					return 0, fmt.Errorf("%s: a timespan times a timespan", expr)
				}
				prod = v
				continue
			}
			if k, err := strconv.Atoi(f); err == nil {
				n *= k
				continue
			}
			v, err := kustoLiteral(f)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", expr, err)
			}
			prod = v
		}
		sum += prod * time.Duration(n)
	}
	return sum, nil
}

func kustoLiteral(s string) (time.Duration, error) {
	m := regexp.MustCompile(`^(\d+)([smhd])$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is no timespan this check reads", s)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, nil
}

var (
	kustoLetSpanRe = regexp.MustCompile(`(?m)^let (\w+) = (\d+[smhd]);`)
	kustoAgoRe     = regexp.MustCompile(`ago\(([^()]*)\)`)
)

// alertRuleProblems checks what Azure documents for a log search alert
// rule and the type data cannot say (docs: "Create or edit a log search
// alert rule"): evaluated every 1 minute to 1 day, over a window of 1
// minute to 2 days no shorter than the interval (or records between two
// evaluations go unread), a query time range of at most 2 days; and what
// its query means: the window its query declares (let window) is the
// rule's, and no ago() reaches further back than the rule's query time
// range, where the rows stop.
func alertRuleProblems(props map[string]any, query string) []string {
	var out []string
	span := func(key string) time.Duration {
		s, _ := props[key].(string)
		d, err := isoDurationOf(s)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", key, err))
		}
		return d
	}
	freq, window := span("evaluationFrequency"), span("windowSize")
	timeRange := window
	if _, ok := props["overrideQueryTimeRange"]; ok {
		timeRange = span("overrideQueryTimeRange")
	}
	if freq < time.Minute || freq > 24*time.Hour {
		out = append(out, fmt.Sprintf("evaluationFrequency %s is outside 1 minute to 1 day", freq))
	}
	if window < freq || window > 48*time.Hour {
		out = append(out, fmt.Sprintf("windowSize %s is outside the evaluation frequency (%s) to 2 days", window, freq))
	}
	if timeRange < window || timeRange > 48*time.Hour {
		out = append(out, fmt.Sprintf("overrideQueryTimeRange %s is outside the window (%s) to 2 days", timeRange, window))
	}
	if sev, ok := props["severity"].(int64); !ok || sev < 0 || sev > 4 {
		out = append(out, fmt.Sprintf("severity %v is not 0 to 4", props["severity"]))
	}

	lets := map[string]time.Duration{}
	for _, m := range kustoLetSpanRe.FindAllStringSubmatch(query, -1) {
		lets[m[1]], _ = kustoLiteral(m[2])
	}
	if w, ok := lets["window"]; !ok || w != window {
		out = append(out, fmt.Sprintf("the query's window (let window) is %s; the rule's windowSize %s", w, window))
	}
	for _, m := range kustoAgoRe.FindAllStringSubmatch(query, -1) {
		back, err := kustoSpan(m[1], lets)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("ago(%s): %v", m[1], err))
		case back > timeRange:
			out = append(out, fmt.Sprintf("ago(%s) reaches %s back; the rule's query time range is %s (set overrideQueryTimeRange)", m[1], back, timeRange))
		}
	}
	return out
}

// ruleQuery returns the query of a deployed rule's single condition.
func ruleQuery(t *testing.T, r armResource) string {
	t.Helper()
	allOf := r.body["properties"].(map[string]any)["criteria"].(map[string]any)["allOf"].([]any)
	if len(allOf) != 1 {
		t.Fatalf("%s: %d conditions", r.name, len(allOf))
	}
	q, _ := allOf[0].(map[string]any)["query"].(string)
	return q
}

// TestAlertRules deploys mainTemplate.json on paper with the alert rules
// in their three shapes (none; the default; with the Graph activity rule
// and an action group) and checks each rule: its timing and the reach of
// its query (alertRuleProblems), where it looks, whom it notifies, the
// identity it queries as, and that the Graph activity rule looks for the
// proxy's own application.
func TestAlertRules(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	const actionGroup = "/subscriptions/00000000-0000-4000-8000-00000000000a/resourceGroups/soc/providers/Microsoft.Insights/actionGroups/soc-oncall"
	appID := armArgs(nil)["appClientId"].(string)

	cases := []struct {
		name       string
		over       map[string]any
		rules      int
		graph      bool
		notifies   []any
		identities int
	}{
		{name: "off", over: map[string]any{"alertRules": false, "graphActivityAlert": true}, rules: 0, identities: 1},
		{name: "default", over: map[string]any{}, rules: 6, notifies: []any{}, identities: 2},
		{name: "graph activity and an action group", over: map[string]any{"graphActivityAlert": true, "alertActionGroupId": actionGroup, "upstreamMode": "keyVaultSecret"}, rules: 8, graph: true, notifies: []any{actionGroup}, identities: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := deployARM(tm, td, armArgs(c.over), defaultEnv)
			if err != nil {
				t.Fatal(err)
			}
			rules := resourcesOf(d, rulesType)
			if len(rules) != c.rules {
				t.Fatalf("%d rules deployed; want %d", len(rules), c.rules)
			}
			if n := len(resourcesOf(d, "Microsoft.ManagedIdentity/userAssignedIdentities")); n != c.identities {
				t.Errorf("%d identities deployed; want %d", n, c.identities)
			}
			workspace := findResource(t, d, "Microsoft.OperationalInsights/workspaces")
			workspaceID := resourceID{typ: "Microsoft.OperationalInsights/workspaces", names: []string{workspace.name}, env: d.env}.String()
			sawGraph := false
			for _, r := range rules {
				props := r.body["properties"].(map[string]any)
				q := ruleQuery(t, r)
				for _, p := range alertRuleProblems(props, q) {
					t.Errorf("%s: %s", r.name, p)
				}
				if got := props["scopes"]; len(asSlice(got)) != 1 || fmt.Sprint(asSlice(got)[0]) != workspaceID {
					t.Errorf("%s: scopes %v; want the audit workspace %s", r.name, got, workspaceID)
				}
				if got := props["actions"].(map[string]any)["actionGroups"]; fmt.Sprint(got) != fmt.Sprint(c.notifies) {
					t.Errorf("%s: action groups %v; want %v", r.name, got, c.notifies)
				}
				ids := r.body["identity"].(map[string]any)["userAssignedIdentities"].(map[string]any)
				for id := range ids {
					if !strings.HasSuffix(id, "/userAssignedIdentities/"+d.params["namePrefix"].(string)+"-alerts-id") {
						t.Errorf("%s: queries as %s; want the alert rules' own identity", r.name, id)
					}
				}
				cond := props["criteria"].(map[string]any)["allOf"].([]any)[0].(map[string]any)
				for _, dim := range asSlice(cond["dimensions"]) {
					if name, _ := dim.(map[string]any)["name"].(string); !regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).MatchString(q) {
						t.Errorf("%s: dimension %s is no column of the query", r.name, name)
					}
				}
				if strings.Contains(q, "MicrosoftGraphActivityLogs") {
					sawGraph = true
					if strings.Contains(q, proxyAppIDToken) {
						t.Errorf("%s: the proxy's app id placeholder is left in the query", r.name)
					}
					// The vendor-direct rule looks for the callers' own apps, taken from the records.
					if !strings.Contains(q, `let proxyAppId = "`+appID+`";`) && !strings.Contains(q, "AppId in (vendorApps)") {
						t.Errorf("%s: the query does not look for the proxy's app %s", r.name, appID)
					}
				}
			}
			if sawGraph != c.graph {
				t.Errorf("a rule reads MicrosoftGraphActivityLogs: %v; want %v", sawGraph, c.graph)
			}
		})
	}

	// The Bicep gives the Graph activity rule the proxy's application: the
	// managed identity's client id, or appClientId.
	views := read(t, viewsBicep)
	if !strings.Contains(views, "replace(loadTextContent('../../kql/alert-graph-without-record.kql'), '"+proxyAppIDToken+"', proxyAppId)") {
		t.Errorf("%s: the Graph activity rule's query does not get proxyAppId", viewsBicep)
	}
	if !strings.Contains(read(t, "bicep/main.bicep"), "proxyAppId: upstreamMode == 'managedIdentity' ? identity.outputs.clientId : appClientId") {
		t.Error("main.bicep: views' proxyAppId is not the managed identity's client id, or appClientId")
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestAlertRuleChecksCatchDefects: the checks of the alert rules speak up
// for the defects they were written for, each made in the deployed rule.
func TestAlertRuleChecksCatchDefects(t *testing.T) {
	td := loadTypeData(t)
	tm := loadARM(t)
	d, err := deployARM(tm, td, armArgs(map[string]any{"graphActivityAlert": true}), defaultEnv)
	if err != nil {
		t.Fatal(err)
	}
	var spike armResource
	for _, r := range resourcesOf(d, rulesType) {
		if strings.HasSuffix(r.name, "-refusal-spike") {
			spike = r
		}
	}
	if spike.name == "" {
		t.Fatal("no refusal spike rule")
	}
	typeCases := []struct {
		name, path string
		value      any
		want       string
	}{
		{name: "severity beyond 4", path: "properties.severity", value: int64(5), want: "5 is outside [0, 4]"},
		{name: "a frequency not in ISO 8601", path: "properties.evaluationFrequency", value: "15m", want: `"15m" is not an ISO 8601 duration`},
		{name: "a window not in ISO 8601", path: "properties.windowSize", value: "PT", want: `"PT" is not an ISO 8601 duration`},
		{name: "a rule with no location", path: "location", value: deleted, want: "lacks location"},
	}
	for _, c := range typeCases {
		t.Run(c.name, func(t *testing.T) {
			body := deepCopy(t, spike.body).(map[string]any)
			body["name"] = leafName(spike.name)
			mutate(t, body, c.path, c.value)
			ty, _ := td.body(spike.typ, spike.version)
			ch := &typeChecker{}
			ch.checkResource(armVal(body), ty, spike.typ)
			if !strings.Contains(strings.Join(ch.problems, "\n"), c.want) {
				t.Errorf("problems %q; want one saying %q", ch.problems, c.want)
			}
		})
	}
	query := ruleQuery(t, spike)
	ruleCases := []struct {
		name, key string
		value     any
		query     string
		want      string
	}{
		{name: "evaluated every 2 days", key: "evaluationFrequency", value: "P2D", want: "outside 1 minute to 1 day"},
		{name: "a window shorter than the interval", key: "windowSize", value: "PT5M", want: "outside the evaluation frequency"},
		{name: "a query time range beyond 2 days", key: "overrideQueryTimeRange", value: "P7D", want: "outside the window"},
		{name: "a query reading past its time range", key: "overrideQueryTimeRange", value: "P1D", want: "ago(lookback) reaches 48h0m0s back"},
		{name: "the query's window not the rule's", query: strings.Replace(query, "let window = 15m;", "let window = 5m;", 1), want: "the query's window (let window) is 5m0s"},
		{name: "a lookback this check cannot read", query: strings.Replace(query, "ago(lookback)", "ago(lookback - window)", 1), want: "no timespan this check reads"},
	}
	for _, c := range ruleCases {
		t.Run(c.name, func(t *testing.T) {
			props := deepCopy(t, spike.body["properties"]).(map[string]any)
			if c.key != "" {
				props[c.key] = c.value
			}
			q := query
			if c.query != "" {
				q = c.query
			}
			if q == query && c.key == "" {
				t.Fatal("the case changes nothing")
			}
			if got := alertRuleProblems(props, q); !strings.Contains(strings.Join(got, "\n"), c.want) {
				t.Errorf("problems %q; want one saying %q", got, c.want)
			}
		})
	}
}

type workbookItem struct {
	Type    int    `json:"type"`
	Name    string `json:"name"`
	Content struct {
		Version                  string         `json:"version"`
		Query                    string         `json:"query"`
		ResourceType             string         `json:"resourceType"`
		QueryType                *int           `json:"queryType"`
		TimeContextFromParameter string         `json:"timeContextFromParameter"`
		ExportFieldName          string         `json:"exportFieldName"`
		ExportParameterName      string         `json:"exportParameterName"`
		Items                    []workbookItem `json:"items"`
		Parameters               []struct {
			Name string `json:"name"`
			Type int    `json:"type"`
		} `json:"parameters"`
	} `json:"content"`
	ConditionalVisibility *struct {
		ParameterName string `json:"parameterName"`
	} `json:"conditionalVisibility"`
}

var workbookParamRe = regexp.MustCompile(`\{(\w+)(?::\w+)?\}`)

// TestWorkbook reads workbook/audit.json as the portal would: a
// Notebook/1.0 document whose query items run against the workspace
// (Log Analytics, its sourceId) over the time range picked, use only the
// parameters it declares or exports, and hold the views the security team
// asked for; the drill-down from a caller lists its calls once one is
// selected.
func TestWorkbook(t *testing.T) {
	var wb struct {
		Version string         `json:"version"`
		Items   []workbookItem `json:"items"`
	}
	if err := json.Unmarshal([]byte(read(t, workbookFile)), &wb); err != nil {
		t.Fatal(err)
	}
	if wb.Version != "Notebook/1.0" {
		t.Errorf("version %q; want Notebook/1.0", wb.Version)
	}
	names := map[string]bool{}
	params := map[string]int{} // name → parameter type (0: exported by a grid)
	var queries []workbookItem
	var visit func([]workbookItem)
	visit = func(items []workbookItem) {
		for _, it := range items {
			if it.Name == "" || names[it.Name] {
				t.Errorf("item %q: every item needs a name of its own", it.Name)
			}
			names[it.Name] = true
			switch it.Type {
			case 1:
			case 3:
				queries = append(queries, it)
			case 9:
				for _, p := range it.Content.Parameters {
					params[p.Name] = p.Type
				}
			case 12:
				visit(it.Content.Items)
			default:
				t.Errorf("item %s: type %d is none of text (1), query (3), parameters (9), group (12)", it.Name, it.Type)
			}
			if it.Content.ExportParameterName != "" {
				params[it.Content.ExportParameterName] = 0
			}
		}
	}
	visit(wb.Items)
	if params["TimeRange"] != 4 {
		t.Fatal("no time range parameter (type 4) TimeRange")
	}
	for _, q := range queries {
		c := q.Content
		if c.Version != "KqlItem/1.0" || c.ResourceType != "microsoft.operationalinsights/workspaces" || c.QueryType == nil || *c.QueryType != 0 {
			t.Errorf("%s: not a Log Analytics query of the workspace (%s, %s, %v)", q.Name, c.Version, c.ResourceType, c.QueryType)
		}
		if c.TimeContextFromParameter != "TimeRange" {
			t.Errorf("%s: runs over %q, not the time range picked", q.Name, c.TimeContextFromParameter)
		}
		if !strings.Contains(c.Query, "GraphProxyAudit_CL") {
			t.Errorf("%s: does not read GraphProxyAudit_CL", q.Name)
		}
		for _, m := range workbookParamRe.FindAllStringSubmatch(c.Query, -1) {
			if _, ok := params[m[1]]; !ok {
				t.Errorf("%s: %s is no parameter of the workbook", q.Name, m[0])
			}
		}
	}
	for _, want := range []string{"calls-over-time", "calls-by-caller", "caller-calls", "refusals-by-reason", "top-routes", "top-permissions", "top-targets",
		"graph-statuses", "graph-latency", "graph-throttling", "health-replicas", "health-gaps", "health-checkpoint-errors"} {
		if !names[want] {
			t.Errorf("no item %s", want)
		}
	}
	// The drill-down: selecting a row of calls-by-caller sets Caller,
	// which the caller's calls show only once set.
	var exporter, drill *workbookItem
	for i := range queries {
		switch queries[i].Name {
		case "calls-by-caller":
			exporter = &queries[i]
		case "caller-calls":
			drill = &queries[i]
		}
	}
	if exporter != nil && (exporter.Content.ExportParameterName != "Caller" || !strings.Contains(exporter.Content.Query, exporter.Content.ExportFieldName+" = ")) {
		t.Errorf("calls-by-caller exports %q from column %q", exporter.Content.ExportParameterName, exporter.Content.ExportFieldName)
	}
	if drill != nil && (!strings.Contains(drill.Content.Query, "'{Caller:escape}'") || drill.ConditionalVisibility == nil || drill.ConditionalVisibility.ParameterName != "Caller") {
		t.Error("caller-calls does not filter on the selected caller, or shows before one is selected")
	}
}

// TestKQL runs syntax/kql.mjs, Kusto's own parser and analyzer, over every
// query shipped, and over queries known to be broken, which it must
// report with their file and position. It needs node and deploy/syntax's
// packages (make syntax installs them, and runs the same check).
func TestKQL(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; make syntax runs this check")
	}
	if _, err := os.Stat("syntax/node_modules/@kusto/language-service-next"); err != nil {
		t.Skip("deploy/syntax's packages are not installed (npm ci --prefix deploy/syntax --ignore-scripts); make syntax runs this check")
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(node, append([]string{"syntax/kql.mjs"}, args...)...).CombinedOutput()
		return string(out), err
	}
	shipped := []string{"../marketplace/mainTemplate.json", workbookFile}
	for _, pat := range []string{"kql/*.kql", "../docs/*.md"} {
		names, _ := filepath.Glob(pat)
		shipped = append(shipped, names...)
	}
	if out, err := run(shipped...); err != nil {
		t.Errorf("kql.mjs: %v\n%s", err, out)
	}
	if out, err := run("--self-test"); err != nil {
		t.Errorf("kql.mjs --self-test: %v\n%s", err, out)
	}

	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.kql")
	if err := os.WriteFile(broken, []byte("GraphProxyAudit_CL\n| where callerName == \"vendor\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wb := filepath.Join(dir, "workbook.json")
	if err := os.WriteFile(wb, []byte(`{"version": "Notebook/1.0", "items": [{"type": 3, "name": "q", "content": {"query": "GraphProxyAudit_CL | where replica == '{Replica}'"}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(broken, wb)
	if err == nil {
		t.Fatalf("kql.mjs passed broken queries:\n%s", out)
	}
	for _, want := range []string{
		broken + ":2:9: KS142 The name 'callerName' does not refer to any known column",
		wb + `: item "q": {Replica} names no parameter of the workbook`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kql.mjs on broken queries said\n%s\nwant %q", out, want)
		}
	}
}

// TestAlertQueriesMatchProxy: the alert queries' assumptions about the
// proxy hold for the proxy the templates deploy. The stale checkpoint
// rule's interval is the checkpoint interval the proxy runs with (its
// default, unless the templates set GRAPH_PROXY_AUDIT_CHECKPOINT_INTERVAL),
// or a replica checkpointing every 10 minutes would alert at every
// evaluation; the chain gap rule's margin outlasts a call to Graph, or a
// call that began before the rows read looks like a missing record.
func TestAlertQueriesMatchProxy(t *testing.T) {
	files := kqlFiles(t)
	lets := func(name string) map[string]time.Duration {
		out := map[string]time.Duration{}
		for _, m := range kustoLetSpanRe.FindAllStringSubmatch(files[name], -1) {
			out[m[1]], _ = kustoLiteral(m[2])
		}
		return out
	}
	d, err := deployARM(loadARM(t), loadTypeData(t), armArgs(nil), defaultEnv)
	if err != nil {
		t.Fatal(err)
	}
	env := containerEnv(t, d)
	def := config.Default()
	interval := def.Audit.Checkpoint.Interval
	if v, ok := env["GRAPH_PROXY_AUDIT_CHECKPOINT_INTERVAL"].(string); ok {
		if interval, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	if got := lets("alert-stale-checkpoint")["interval"]; got != interval {
		t.Errorf("kql/alert-stale-checkpoint.kql: let interval = %s; the proxy checkpoints every %s", got, interval)
	}
	timeout := def.Graph.Timeout
	if v, ok := env["GRAPH_PROXY_GRAPH_TIMEOUT"].(string); ok {
		if timeout, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	if got := lets("alert-chain-gaps")["margin"]; got <= timeout {
		t.Errorf("kql/alert-chain-gaps.kql: let margin = %s; a call to Graph may take %s", got, timeout)
	}
}

// TestViewsParityCatch: TestTemplateParity holds the views' resources to
// each other, literal for literal: a rule whose severity or window differs
// between the templates is reported, as is a saved query whose title does.
func TestViewsParityCatch(t *testing.T) {
	bt := readBicep(t)
	tm := loadARM(t)
	find := func(typ, suffix string) (*bresource, map[string]any) {
		t.Helper()
		var br *bresource
		for _, r := range bt.files[viewsBicep].resources {
			if n := r.body.get("name"); r.typ == typ && n != nil && strings.HasSuffix(n.str, suffix) {
				br = r
			}
			if n := r.body.get("name"); r.typ == typ && n != nil && n.kind == "call" && len(n.items) == 2 && n.items[1].str == suffix {
				br = r
			}
		}
		for _, a := range tm.Resources {
			if name, _ := a["name"].(string); strings.EqualFold(a["type"].(string), typ) && strings.Contains(name, suffix) && br != nil {
				return br, deepCopy(t, a).(map[string]any)
			}
		}
		t.Fatalf("no %s %s in both templates", typ, suffix)
		return nil, nil
	}
	cases := []struct {
		name, typ, key, path string
		value                any
		want                 string
	}{
		{name: "a rule's severity", typ: rulesType, key: "-refusal-spike", path: "properties.severity", value: int64(3), want: "severity: 3; main.bicep 2"},
		{name: "a rule's window", typ: rulesType, key: "-audit-chain-gaps", path: "properties.windowSize", value: "PT5M", want: `windowSize: "PT5M"; main.bicep "PT15M"`},
		{name: "a saved query's title", typ: savedQueryType, key: "refusals", path: "properties.displayName", value: "refusals", want: `displayName: "refusals"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			br, a := find(c.typ, c.key)
			if diffs := bt.resourceDiffs(br, a); len(diffs) > 0 {
				t.Fatalf("the templates differ already: %q", diffs)
			}
			mutate(t, a, c.path, c.value)
			if diffs := bt.resourceDiffs(br, a); !strings.Contains(strings.Join(diffs, "\n"), c.want) {
				t.Errorf("diffs %q; want one saying %q", diffs, c.want)
			}
		})
	}
}

// TestAuditExportWhole: the export audit verify and reconcile read
// (kql/audit-export.kql) projects every column of the audit table. A
// column left out is a record field missing from every exported row, and
// every record that has it then fails verification (its hash no longer
// matches), unless the table keeps RawRecord.
func TestAuditExportWhole(t *testing.T) {
	var cols []struct{ Name string }
	if err := json.Unmarshal([]byte(read(t, "bicep/modules/audit-columns.json")), &cols); err != nil {
		t.Fatal(err)
	}
	q := read(t, "kql/audit-export.kql")
	i := strings.Index(q, "| project ")
	if i < 0 {
		t.Fatal("kql/audit-export.kql has no project")
	}
	clause := q[i+len("| project "):]
	if j := strings.Index(clause, "\n|"); j >= 0 {
		clause = clause[:j]
	}
	projected := map[string]bool{}
	for _, c := range strings.Split(clause, ",") {
		c = strings.TrimSpace(c)
		if name, _, ok := strings.Cut(c, " = "); ok {
			c = name
		}
		projected[strings.Trim(c, "['] ")] = true
	}
	for _, c := range cols {
		if !projected[c.Name] {
			t.Errorf("kql/audit-export.kql does not project the table's column %s", c.Name)
		}
	}
}
