package marketplace

import (
	"archive/zip"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/graph-proxy/graph-proxy/policy"
)

// TestSolutionTemplate checks the package is a solution template's: the
// customer's own deployment, no managed application.
func TestSolutionTemplate(t *testing.T) {
	if want := []string{"mainTemplate.json", "createUiDefinition.json"}; !slices.Equal(Files, want) {
		t.Errorf("Files %v; a solution template's package is %v", Files, want)
	}
	if _, err := os.Stat("viewDefinition.json"); err == nil {
		t.Error("viewDefinition.json is a managed application's: a solution template has none")
	}
	out := filepath.Join(t.TempDir(), "app.zip")
	if err := Pack(".", out); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, Files) {
		t.Errorf("app.zip holds %v; want %v at its root", names, Files)
	}

	var tm template
	raw := load(t, "mainTemplate.json", &tm)
	if strings.Contains(raw, "Microsoft.Solutions/") {
		t.Error("mainTemplate.json deploys a Microsoft.Solutions resource: that is a managed application")
	}
	var ui uiDef
	load(t, "createUiDefinition.json", &ui)
	for _, managed := range []string{"applicationResourceName", "managedResourceGroupId", "jitAccessPolicy"} {
		if _, ok := ui.Parameters.Outputs[managed]; ok {
			t.Errorf("createUiDefinition.json outputs %s, a managed application's", managed)
		}
	}
}

// offerWizard is the createUiDefinition.json as the policy test reads it.
type offerWizard struct {
	Parameters struct {
		Basics []offerControl `json:"basics"`
		Steps  []struct {
			Name     string         `json:"name"`
			Elements []offerControl `json:"elements"`
		} `json:"steps"`
		Outputs map[string]string `json:"outputs"`
	} `json:"parameters"`
}

type offerControl struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	DefaultValue any    `json:"defaultValue"`
	Constraints  struct {
		Regex         string `json:"regex"`
		AllowedValues any    `json:"allowedValues"`
	} `json:"constraints"`
}

func loadOfferWizard(t *testing.T) offerWizard {
	t.Helper()
	var w offerWizard
	load(t, "createUiDefinition.json", &w)
	return w
}

func (w offerWizard) control(t *testing.T, step, name string) offerControl {
	t.Helper()
	for _, s := range w.Parameters.Steps {
		for _, c := range s.Elements {
			if s.Name == step && c.Name == name {
				return c
			}
		}
	}
	t.Fatalf("no control steps('%s').%s", step, name)
	return offerControl{}
}

// defaultValue is what a control outputs untouched: a drop-down's or option
// group's defaultValue is the label of one of its allowed values.
func (c offerControl) defaultValue(t *testing.T) any {
	t.Helper()
	list, ok := c.Constraints.AllowedValues.([]any)
	if !ok {
		return c.DefaultValue
	}
	for _, v := range list {
		if v := v.(map[string]any); v["label"] == c.DefaultValue {
			return v["value"]
		}
	}
	t.Fatalf("%s: default %v is none of its allowed values", c.Name, c.DefaultValue)
	return nil
}

// TestWizardPolicy evaluates the offerWizard's policyYaml output, as the portal
// would, for an installer's answers, and loads the policy it makes.
func TestWizardPolicy(t *testing.T) {
	w := loadOfferWizard(t)
	expr := w.Parameters.Outputs["policyYaml"]
	const (
		vendorTenant = "d2b6628f-0000-4000-8000-000000000002"
		vendorApp    = "e0000000-0000-4000-8000-0000000000e1"
		group        = "90000000-0000-4000-8000-000000000001"
	)
	// The installer's answers; what the test leaves out keeps its default.
	base := func() map[string]map[string]any {
		return map[string]map[string]any{
			"identity": {"vendorTenantIds": vendorTenant + ",d2b6628f-0000-4000-8000-000000000003", "vendorAppId": vendorApp},
			"access":   {"schedulingGroup": group},
			"policy": {
				"policyChoice":    w.control(t, "policy", "policyChoice").defaultValue(t),
				"policyMode":      w.control(t, "policy", "policyMode").defaultValue(t),
				"customPolicy":    "",
				"customerDomains": "contoso.com,Contoso.onmicrosoft.com",
				"vendorDomains":   "vendor.example",
			},
		}
	}
	tests := []struct {
		name       string
		answers    func(map[string]map[string]any)
		reportOnly bool
	}{
		{name: "defaults", answers: func(map[string]map[string]any) {}, reportOnly: true},
		{name: "enforce", answers: func(a map[string]map[string]any) { a["policy"]["policyMode"] = "enforce" }, reportOnly: false},
		{name: "two vendor domains", answers: func(a map[string]map[string]any) { a["policy"]["vendorDomains"] = "vendor.example,vendor-mail.example" }, reportOnly: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers := base()
			tt.answers(answers)
			v, err := offerEval(expr, answers)
			if err != nil {
				t.Fatalf("policyYaml: %v", err)
			}
			text, ok := v.(string)
			if !ok {
				t.Fatalf("policyYaml is %T, not a string", v)
			}
			p, err := policy.Parse("offerWizard.yaml", []byte(text))
			if err != nil {
				t.Fatalf("the offerWizard's policy does not load: %v\n%s", err, text)
			}
			if p.ReportOnly() != tt.reportOnly {
				t.Errorf("report-only %v; want %v", p.ReportOnly(), tt.reportOnly)
			}
			for _, left := range []string{"__", ".invalid", "attendeeDomains"} {
				if strings.Contains(text, left) {
					t.Errorf("the policy still holds %q:\n%s", left, text)
				}
			}

			var doc struct {
				Callers []struct {
					Match struct {
						TenantID string `yaml:"tenantID"`
						AppID    string `yaml:"appID"`
					} `yaml:"match"`
					Users struct {
						Group        string `yaml:"group"`
						WithoutGroup struct {
							Domains []string `yaml:"domains"`
						} `yaml:"withoutGroup"`
					} `yaml:"users"`
				} `yaml:"callers"`
				Rules []struct {
					ID            string   `yaml:"id"`
					PeopleDomains []string `yaml:"peopleDomains"`
				} `yaml:"rules"`
			}
			if err := yaml.Unmarshal([]byte(text), &doc); err != nil || len(doc.Callers) != 1 {
				t.Fatalf("%v: %d callers", err, len(doc.Callers))
			}
			c := doc.Callers[0]
			vendor := strings.Split(answers["policy"]["vendorDomains"].(string), ",")
			people := append(strings.Split(answers["policy"]["customerDomains"].(string), ","), vendor...)
			if c.Match.TenantID != vendorTenant || c.Match.AppID != vendorApp || c.Users.Group != group {
				t.Errorf("caller matches %+v in group %q; want the first vendor tenant, the vendor app and the group", c.Match, c.Users.Group)
			}
			if !slices.Equal(c.Users.WithoutGroup.Domains, vendor) {
				t.Errorf("users.withoutGroup.domains %v; want the vendor's %v", c.Users.WithoutGroup.Domains, vendor)
			}
			scoped := 0
			for _, r := range doc.Rules {
				if r.PeopleDomains == nil {
					continue
				}
				scoped++
				if !slices.Equal(r.PeopleDomains, people) {
					t.Errorf("rule %s: peopleDomains %v; want %v", r.ID, r.PeopleDomains, people)
				}
			}
			if scoped != 3 {
				t.Errorf("%d rules name peopleDomains; want the 3 that name people (events-create, events-change, teams-meeting)", scoped)
			}
		})
	}

	t.Run("custom", func(t *testing.T) {
		answers := base()
		answers["policy"]["policyChoice"] = "custom"
		answers["policy"]["customPolicy"] = "version: 1\nmode: enforce\n"
		if v, err := offerEval(expr, answers); err != nil || v != "version: 1\nmode: enforce\n" {
			t.Errorf("policyYaml %q, %v; want the installer's own policy", v, err)
		}
	})
}

// TestWizardDomains checks the domain text boxes take what a policy's
// domains may be, comma-separated, and nothing else.
func TestWizardDomains(t *testing.T) {
	w := loadOfferWizard(t)
	for _, name := range []string{"customerDomains", "vendorDomains"} {
		re := regexp.MustCompile(w.control(t, "policy", name).Constraints.Regex)
		for _, good := range []string{"contoso.com", "contoso.com,contoso.onmicrosoft.com", "xn--bcher-kva.example", "mail-1.vendor.example"} {
			if !re.MatchString(good) {
				t.Errorf("%s refuses %q", name, good)
			}
		}
		for _, bad := range []string{"", "contoso", "contoso.com, vendor.example", "contoso.com,", "-contoso.com", "contoso..com", "contoso.com;vendor.example", "contoso.com]\nmode: enforce", "*.contoso.com"} {
			if re.MatchString(bad) {
				t.Errorf("%s accepts %q", name, bad)
			}
		}
	}
}

// TestUIEvaluator pins the evaluator on the functions' documented examples.
func TestUIEvaluator(t *testing.T) {
	steps := map[string]map[string]any{"s": {"e": "a,b", "n": ""}}
	for expr, want := range map[string]any{
		"[replace('Everything is terrible!', 'terrible', 'awesome')]": "Everything is awesome!",
		"[concat('foo', steps('s').e, '!')]":                          "fooa,b!",
		"[first(split(steps('s').e, ','))]":                           "a",
		"[if(equals(steps('s').n, ''), 'it''s empty', 'no')]":         "it's empty",
		"[if(empty(steps('s').e), 'x', 'y')]":                         "y",
		"[not(equals('a', 'b'))]":                                     true,
	} {
		if got, err := offerEval(expr, steps); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, bad := range []string{"[nosuch('a')]", "[replace('a', 'b')]", "[steps('s').missing]", "[concat('a']", "[concat('a') x]"} {
		if _, err := offerEval(bad, steps); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// offerEval evaluates a createUiDefinition output expression ("[...]") for
// the given control values (steps(step).name): the functions the wizard's
// outputs use, as Microsoft documents them ("CreateUiDefinition
// functions"), and nothing else.
func offerEval(expr string, steps map[string]map[string]any) (any, error) {
	if !strings.HasPrefix(expr, "[") || !strings.HasSuffix(expr, "]") {
		return expr, nil // a literal
	}
	e := &offerEvaluator{src: expr[1 : len(expr)-1], steps: steps}
	v, err := e.expr()
	if err == nil && e.pos != len(e.src) {
		err = fmt.Errorf("unexpected %q at %d", e.src[e.pos:], e.pos)
	}
	return v, err
}

type offerEvaluator struct {
	src   string
	pos   int
	steps map[string]map[string]any
}

func (e *offerEvaluator) skip() {
	for e.pos < len(e.src) && (e.src[e.pos] == ' ' || e.src[e.pos] == '\n') {
		e.pos++
	}
}

func (e *offerEvaluator) expr() (any, error) {
	e.skip()
	if e.pos >= len(e.src) {
		return nil, fmt.Errorf("unexpected end")
	}
	if e.src[e.pos] == '\'' {
		var b strings.Builder
		for e.pos++; ; e.pos++ {
			if e.pos >= len(e.src) {
				return nil, fmt.Errorf("unterminated string")
			}
			if e.src[e.pos] == '\'' {
				if e.pos+1 < len(e.src) && e.src[e.pos+1] == '\'' {
					b.WriteByte('\'')
					e.pos++
					continue
				}
				e.pos++
				return b.String(), nil
			}
			b.WriteByte(e.src[e.pos])
		}
	}
	start := e.pos
	for e.pos < len(e.src) && e.src[e.pos] >= '0' && e.src[e.pos] <= '9' {
		e.pos++
	}
	if e.pos > start {
		return strconv.Atoi(e.src[start:e.pos])
	}
	for e.pos < len(e.src) && (e.src[e.pos] >= 'a' && e.src[e.pos] <= 'z' || e.src[e.pos] >= 'A' && e.src[e.pos] <= 'Z') {
		e.pos++
	}
	name := e.src[start:e.pos]
	switch name {
	case "true", "false":
		return name == "true", nil
	}
	if e.skip(); e.pos >= len(e.src) || e.src[e.pos] != '(' {
		return nil, fmt.Errorf("expected a function call at %d", start)
	}
	e.pos++
	var args []any
	for e.skip(); e.pos < len(e.src) && e.src[e.pos] != ')'; e.skip() {
		a, err := e.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if e.skip(); e.pos < len(e.src) && e.src[e.pos] == ',' {
			e.pos++
		}
	}
	if e.pos >= len(e.src) {
		return nil, fmt.Errorf("%s(: unterminated call", name)
	}
	e.pos++
	v, err := e.call(name, args)
	if err != nil {
		return nil, err
	}
	// steps('x').name
	for e.pos < len(e.src) && e.src[e.pos] == '.' {
		e.pos++
		start := e.pos
		for e.pos < len(e.src) && (e.src[e.pos] >= 'a' && e.src[e.pos] <= 'z' || e.src[e.pos] >= 'A' && e.src[e.pos] <= 'Z' || e.src[e.pos] >= '0' && e.src[e.pos] <= '9') {
			e.pos++
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: .%s of a %T", name, e.src[start:e.pos], v)
		}
		if v, ok = m[e.src[start:e.pos]]; !ok {
			return nil, fmt.Errorf("no control %s", e.src[start:e.pos])
		}
	}
	return v, nil
}

func (e *offerEvaluator) call(name string, args []any) (any, error) {
	str := func(i int) (string, error) {
		if i >= len(args) {
			return "", fmt.Errorf("%s: argument %d missing", name, i+1)
		}
		s, ok := args[i].(string)
		if !ok {
			return "", fmt.Errorf("%s: argument %d is a %T, not a string", name, i+1, args[i])
		}
		return s, nil
	}
	arity := map[string]int{"steps": 1, "basics": 1, "if": 3, "equals": 2, "not": 1, "empty": 1, "replace": 3, "split": 2, "first": 1, "guid": 0, "substring": 3, "contains": 2}
	if n, ok := arity[name]; ok && len(args) != n {
		return nil, fmt.Errorf("%s takes %d arguments, not %d", name, n, len(args))
	}
	switch name {
	case "steps":
		s, err := str(0)
		if m, ok := e.steps[s]; ok && err == nil {
			return m, nil
		}
		return nil, fmt.Errorf("no step %q", s)
	case "basics":
		// The Basics page's controls are given as the step "basics".
		s, err := str(0)
		if v, ok := e.steps["basics"][s]; ok && err == nil {
			return v, nil
		}
		return nil, fmt.Errorf("no basics control %q", s)
	case "guid":
		// "Generates a globally unique string (GUID)": a new one at
		// every call.
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
		return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
	case "substring":
		// substring(string, startIndex, length).
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		start, ok1 := args[1].(int)
		n, ok2 := args[2].(int)
		if !ok1 || !ok2 || start < 0 || n < 0 || start+n > len(s) {
			return nil, fmt.Errorf("substring(%q, %v, %v): out of range", s, args[1], args[2])
		}
		return s[start : start+n], nil
	case "contains":
		// contains(string, substring), as the wizard uses it.
		s, err1 := str(0)
		sub, err2 := str(1)
		if err := offerFirstErr(err1, err2); err != nil {
			return nil, err
		}
		return strings.Contains(s, sub), nil
	case "if":
		c, ok := args[0].(bool)
		if !ok {
			return nil, fmt.Errorf("if: condition is a %T", args[0])
		}
		if c {
			return args[1], nil
		}
		return args[2], nil
	case "equals":
		return fmt.Sprint(args[0]) == fmt.Sprint(args[1]), nil
	case "not":
		c, ok := args[0].(bool)
		if !ok {
			return nil, fmt.Errorf("not: argument is a %T", args[0])
		}
		return !c, nil
	case "empty":
		switch v := args[0].(type) {
		case nil:
			return true, nil
		case string:
			return v == "", nil
		case []any:
			return len(v) == 0, nil
		}
		return false, nil
	case "concat":
		var b strings.Builder
		for i := range args {
			s, err := str(i)
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
		}
		return b.String(), nil
	case "replace":
		s, err1 := str(0)
		old, err2 := str(1)
		repl, err3 := str(2)
		if err := offerFirstErr(err1, err2, err3); err != nil {
			return nil, err
		}
		return strings.ReplaceAll(s, old, repl), nil
	case "split":
		s, err1 := str(0)
		sep, err2 := str(1)
		if err := offerFirstErr(err1, err2); err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, sep) {
			out = append(out, p)
		}
		return out, nil
	case "first":
		switch v := args[0].(type) {
		case []any:
			if len(v) == 0 {
				return nil, nil
			}
			return v[0], nil
		case string:
			if v == "" {
				return "", nil
			}
			return v[:1], nil
		}
		return nil, fmt.Errorf("first: a %T", args[0])
	}
	return nil, fmt.Errorf("function %s is not evaluated here (add it, as documented)", name)
}

func offerFirstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
