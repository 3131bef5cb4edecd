package deploy

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// An evaluator for classic ARM templates (marketplace/mainTemplate.json),
// enough of the template language to deploy the template on paper: it
// takes parameter values, evaluates every variable (as ARM does when it
// validates a template, which is where fail() stops a deployment), and
// then every resource whose condition holds. What only exists once
// deployed — reference(), listKeys() — comes back as an opaque value;
// reference() is typed from the type data, so reading a property the
// resource type does not have is an error too.

type armTemplate struct {
	Schema         string                    `json:"$schema"`
	ContentVersion string                    `json:"contentVersion"`
	Metadata       map[string]any            `json:"metadata"`
	Parameters     map[string]armParam       `json:"parameters"`
	Variables      map[string]any            `json:"variables"`
	Resources      []map[string]any          `json:"resources"`
	Outputs        map[string]map[string]any `json:"outputs"`
	order          []string                  // parameter names in file order
	raw            string                    // the file
}

type armParam struct {
	Type          string         `json:"type"`
	DefaultValue  any            `json:"defaultValue"`
	AllowedValues []any          `json:"allowedValues"`
	MinValue      *int64         `json:"minValue"`
	MaxValue      *int64         `json:"maxValue"`
	MinLength     *int64         `json:"minLength"`
	MaxLength     *int64         `json:"maxLength"`
	Metadata      map[string]any `json:"metadata"`
}

func loadARM(t *testing.T) *armTemplate {
	t.Helper()
	raw := read(t, "../marketplace/mainTemplate.json")
	tm, err := parseARM(raw)
	if err != nil {
		t.Fatalf("mainTemplate.json: %v", err)
	}
	return tm
}

func parseARM(raw string) (*armTemplate, error) {
	tm := &armTemplate{raw: raw}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(tm); err != nil {
		return nil, err
	}
	// Parameter order, for the messages and parity with main.bicep.
	var top struct {
		Parameters json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(raw), &top); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(top.Parameters))
	d.Token()
	for d.More() {
		k, _ := d.Token()
		tm.order = append(tm.order, k.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return tm, nil
}

// armEnv is where the paper deployment happens.
type armEnv struct {
	cloud          string // environment().name
	subscriptionID string
	resourceGroup  string
	location       string
	tenantID       string
	// deployed holds, by lower-case resource type, the properties that
	// reference() reads once the resource exists; a type not in it reads
	// as opaque (the default: nothing deployed yet).
	deployed map[string]map[string]any
}

var defaultEnv = armEnv{
	cloud:          "AzureCloud",
	subscriptionID: "00000000-0000-4000-8000-00000000000a",
	resourceGroup:  "rg-graph-proxy",
	location:       "westeurope",
	tenantID:       "00000000-0000-4000-8000-00000000000b",
}

// opaque is a value that exists only once deployed. When t is set, it is
// of that type and reading a property it does not have is an error.
type opaque struct {
	what string
	t    *typeRef
}

// resourceID is what resourceId() returns: a string that still knows the
// resource type, for reference().
type resourceID struct {
	typ   string
	names []string
	env   armEnv
}

func (r resourceID) String() string {
	segs := strings.Split(r.typ, "/")
	s := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", r.env.subscriptionID, r.env.resourceGroup, segs[0]+"/"+segs[1], first(r.names))
	for i, n := range r.names[1:] {
		if i+2 < len(segs) {
			s += "/" + segs[i+2] + "/" + n
		}
	}
	return s
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

type lambdaVal struct {
	params []string
	body   *aexpr
}

// armFail is a deliberate failure: fail('...') evaluated.
type armFail struct{ msg string }

func (e armFail) Error() string { return "fail(): " + e.msg }

// aexpr is a parsed template-language expression.
type aexpr struct {
	kind   string // str, num, call, member, index
	s      string
	n      int64
	args   []*aexpr
	target *aexpr
}

func parseARMExpr(src string) (*aexpr, error) {
	p := &armExprParser{src: src}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.src) {
		return nil, fmt.Errorf("%q: unexpected %q", src, p.src[p.i:])
	}
	return x, nil
}

type armExprParser struct {
	src string
	i   int
}

func (p *armExprParser) space() {
	for p.i < len(p.src) && (p.src[p.i] == ' ' || p.src[p.i] == '\n' || p.src[p.i] == '\t' || p.src[p.i] == '\r') {
		p.i++
	}
}

func (p *armExprParser) expr() (*aexpr, error) {
	p.space()
	if p.i >= len(p.src) {
		return nil, fmt.Errorf("%q: unexpected end", p.src)
	}
	var x *aexpr
	c := p.src[p.i]
	switch {
	case c == '\'':
		var b strings.Builder
		p.i++
		for {
			if p.i >= len(p.src) {
				return nil, fmt.Errorf("%q: unterminated string", p.src)
			}
			if p.src[p.i] == '\'' {
				if p.i+1 < len(p.src) && p.src[p.i+1] == '\'' {
					b.WriteByte('\'')
					p.i += 2
					continue
				}
				p.i++
				break
			}
			b.WriteByte(p.src[p.i])
			p.i++
		}
		x = &aexpr{kind: "str", s: b.String()}
	case c == '-' || c >= '0' && c <= '9':
		j := p.i + 1
		for j < len(p.src) && p.src[j] >= '0' && p.src[j] <= '9' {
			j++
		}
		n, err := strconv.ParseInt(p.src[p.i:j], 10, 64)
		if err != nil {
			return nil, err
		}
		p.i = j
		x = &aexpr{kind: "num", n: n}
	default:
		j := p.i
		for j < len(p.src) && (isIdentByte(p.src[j])) {
			j++
		}
		if j == p.i {
			return nil, fmt.Errorf("%q: unexpected %q at %d", p.src, c, p.i)
		}
		name := p.src[p.i:j]
		p.i = j
		p.space()
		if p.i >= len(p.src) || p.src[p.i] != '(' {
			return nil, fmt.Errorf("%q: %s is not called", p.src, name)
		}
		p.i++
		x = &aexpr{kind: "call", s: name}
		for {
			p.space()
			if p.i < len(p.src) && p.src[p.i] == ')' {
				p.i++
				break
			}
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			x.args = append(x.args, a)
			p.space()
			if p.i < len(p.src) && p.src[p.i] == ',' {
				p.i++
			}
		}
	}
	for {
		p.space()
		if p.i >= len(p.src) {
			return x, nil
		}
		switch p.src[p.i] {
		case '.':
			p.i++
			j := p.i
			for j < len(p.src) && isIdentByte(p.src[j]) {
				j++
			}
			x = &aexpr{kind: "member", s: p.src[p.i:j], target: x}
			p.i = j
		case '[':
			p.i++
			idx, err := p.expr()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.i >= len(p.src) || p.src[p.i] != ']' {
				return nil, fmt.Errorf("%q: unclosed [", p.src)
			}
			p.i++
			x = &aexpr{kind: "index", target: x, args: []*aexpr{idx}}
		default:
			return x, nil
		}
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isExpression reports whether a template string is an expression
// ("[...]", but not "[[...", which is a literal starting with "[").
func isExpression(s string) bool {
	return len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' && !strings.HasPrefix(s, "[[")
}

// armDeployment is a template deployed on paper.
type armDeployment struct {
	tm        *armTemplate
	td        *typeData
	env       armEnv
	params    map[string]any
	vars      map[string]any
	resources []armResource
	outputs   map[string]any

	evaluating map[string]bool
	copyIndex  map[string]int64
	lambdaVars map[string]any
}

type armResource struct {
	typ, version string
	name         string         // evaluated
	body         map[string]any // evaluated, condition and template keys removed
}

// deployARM validates args against the template's parameters, evaluates
// every variable, then every resource whose condition holds, and the
// outputs. A deliberate failure comes back as an armFail error.
func deployARM(tm *armTemplate, td *typeData, args map[string]any, env armEnv) (*armDeployment, error) {
	d := &armDeployment{tm: tm, td: td, env: env, params: map[string]any{}, vars: map[string]any{},
		evaluating: map[string]bool{}, copyIndex: map[string]int64{}, lambdaVars: map[string]any{}}
	for name := range args {
		if _, ok := tm.Parameters[name]; !ok {
			return nil, fmt.Errorf("no parameter %s", name)
		}
	}
	for _, name := range tm.order {
		p := tm.Parameters[name]
		v, ok := args[name]
		if !ok {
			if p.DefaultValue == nil {
				return nil, fmt.Errorf("parameter %s: no value and no default", name)
			}
			var err error
			if v, err = d.evalJSON(p.DefaultValue); err != nil {
				return nil, fmt.Errorf("parameter %s default: %w", name, err)
			}
		}
		v = normalise(v)
		if err := checkParam(name, p, v); err != nil {
			return nil, err
		}
		d.params[name] = v
	}
	for _, name := range sortedKeys(tm.Variables) {
		if _, err := d.variable(name); err != nil {
			return nil, err
		}
	}
	for _, r := range tm.Resources {
		typ, _ := r["type"].(string)
		ver, _ := r["apiVersion"].(string)
		if c, ok := r["condition"]; ok {
			cv, err := d.evalJSON(c)
			if err != nil {
				return nil, fmt.Errorf("%s condition: %w", typ, err)
			}
			b, ok := cv.(bool)
			if !ok {
				return nil, fmt.Errorf("%s condition: %v is not a boolean", typ, cv)
			}
			if !b {
				continue
			}
		}
		if _, ok := r["copy"]; ok {
			return nil, fmt.Errorf("%s: resource copy loops are not supported here", typ)
		}
		body := map[string]any{}
		for k, v := range r {
			switch k {
			case "condition", "dependsOn", "comments":
				continue
			}
			body[k] = v
		}
		ev, err := d.evalJSON(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", typ, err)
		}
		m := ev.(map[string]any)
		name := fmt.Sprint(m["name"])
		for _, k := range []string{"type", "apiVersion", "scope"} {
			delete(m, k)
		}
		d.resources = append(d.resources, armResource{typ: typ, version: ver, name: name, body: m})
	}
	d.outputs = map[string]any{}
	for name, o := range tm.Outputs {
		v, err := d.evalJSON(o["value"])
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
		d.outputs[name] = v
	}
	return d, nil
}

func checkParam(name string, p armParam, v any) error {
	typeOK := map[string]func(any) bool{
		"string":       func(v any) bool { _, ok := v.(string); return ok },
		"securestring": func(v any) bool { _, ok := v.(string); return ok },
		"int":          func(v any) bool { _, ok := v.(int64); return ok },
		"bool":         func(v any) bool { _, ok := v.(bool); return ok },
		"array":        func(v any) bool { _, ok := v.([]any); return ok },
		"object":       func(v any) bool { _, ok := v.(map[string]any); return ok },
		"secureobject": func(v any) bool { _, ok := v.(map[string]any); return ok },
	}
	if f, ok := typeOK[strings.ToLower(p.Type)]; !ok || !f(v) {
		return fmt.Errorf("parameter %s: %#v is not of type %s", name, v, p.Type)
	}
	if len(p.AllowedValues) > 0 {
		found := false
		for _, a := range p.AllowedValues {
			if reflect.DeepEqual(normalise(a), v) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("parameter %s: %v is not an allowed value", name, v)
		}
	}
	if n, ok := v.(int64); ok && (p.MinValue != nil && n < *p.MinValue || p.MaxValue != nil && n > *p.MaxValue) {
		return fmt.Errorf("parameter %s: %d is outside %s", name, n, bounds(p.MinValue, p.MaxValue))
	}
	l := int64(-1)
	switch x := v.(type) {
	case string:
		l = int64(len(x))
	case []any:
		l = int64(len(x))
	}
	if l >= 0 && (p.MinLength != nil && l < *p.MinLength || p.MaxLength != nil && l > *p.MaxLength) {
		return fmt.Errorf("parameter %s: length %d is outside %s", name, l, bounds(p.MinLength, p.MaxLength))
	}
	return nil
}

// normalise turns JSON numbers into int64 (or float64), recursively.
func normalise(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case int:
		return int64(x)
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalise(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalise(e)
		}
		return out
	}
	return v
}

func (d *armDeployment) variable(name string) (any, error) {
	if v, ok := d.vars[name]; ok {
		return v, nil
	}
	raw, ok := d.tm.Variables[name]
	if !ok {
		return nil, fmt.Errorf("no variable %s", name)
	}
	if d.evaluating[name] {
		return nil, fmt.Errorf("variable %s refers to itself", name)
	}
	d.evaluating[name] = true
	defer delete(d.evaluating, name)
	v, err := d.evalJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("variable %s: %w", name, err)
	}
	d.vars[name] = v
	return v, nil
}

// evalJSON evaluates a template value: expressions in strings (and in
// object keys), and property copy loops.
func (d *armDeployment) evalJSON(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !isExpression(x) {
			return strings.TrimPrefix(x, "["), nil
		}
		e, err := parseARMExpr(x[1 : len(x)-1])
		if err != nil {
			return nil, err
		}
		return d.eval(e)
	case json.Number:
		return normalise(x), nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			ev, err := d.evalJSON(e)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		return out, nil
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if k == "copy" {
				if err := d.propertyCopy(e, out); err != nil {
					return nil, err
				}
				continue
			}
			kv, err := d.evalJSON(k)
			if err != nil {
				return nil, err
			}
			ks, ok := asString(kv)
			if !ok {
				ks = fmt.Sprintf("<%v>", kv)
			}
			ev, err := d.evalJSON(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[ks] = ev
		}
		return out, nil
	}
	return v, nil
}

func (d *armDeployment) propertyCopy(spec any, out map[string]any) error {
	loops, ok := spec.([]any)
	if !ok {
		return fmt.Errorf("copy: %v is not an array of loops", spec)
	}
	for _, l := range loops {
		lm, _ := l.(map[string]any)
		name, _ := lm["name"].(string)
		cv, err := d.evalJSON(lm["count"])
		if err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
		n, ok := cv.(int64)
		if !ok {
			return fmt.Errorf("copy %s: count %v", name, cv)
		}
		items := []any{}
		for i := int64(0); i < n; i++ {
			d.copyIndex[name] = i
			ev, err := d.evalJSON(lm["input"])
			if err != nil {
				return fmt.Errorf("copy %s[%d]: %w", name, i, err)
			}
			items = append(items, ev)
		}
		delete(d.copyIndex, name)
		out[name] = items
	}
	return nil
}

func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case resourceID:
		return x.String(), true
	}
	return "", false
}

func isOpaque(v any) bool {
	_, ok := v.(*opaque)
	return ok
}

func (d *armDeployment) eval(e *aexpr) (any, error) {
	switch e.kind {
	case "str":
		return e.s, nil
	case "num":
		return e.n, nil
	case "member":
		t, err := d.eval(e.target)
		if err != nil {
			return nil, err
		}
		return d.member(t, e.s)
	case "index":
		t, err := d.eval(e.target)
		if err != nil {
			return nil, err
		}
		i, err := d.eval(e.args[0])
		if err != nil {
			return nil, err
		}
		switch x := t.(type) {
		case *opaque:
			return opaqueStep(x, "[]", "")
		case []any:
			n, ok := i.(int64)
			if !ok || n < 0 || n >= int64(len(x)) {
				return nil, fmt.Errorf("index %v out of range", i)
			}
			return x[n], nil
		case map[string]any:
			k, _ := asString(i)
			return d.member(x, k)
		}
		return nil, fmt.Errorf("cannot index %T", t)
	}
	return d.call(e)
}

func (d *armDeployment) member(t any, name string) (any, error) {
	switch x := t.(type) {
	case *opaque:
		return opaqueStep(x, ".", name)
	case map[string]any:
		if v, ok := x[name]; ok {
			return v, nil
		}
		for k, v := range x {
			if strings.EqualFold(k, name) {
				return v, nil
			}
		}
		return nil, fmt.Errorf("the object has no property %s (it has %s)", name, strings.Join(sortedKeys(x), ", "))
	}
	return nil, fmt.Errorf("cannot read .%s of %T", name, t)
}

// opaqueStep reads a property (or an item) of a value that exists only
// once deployed, checking it against the type data when its type is known.
func opaqueStep(o *opaque, how, name string) (any, error) {
	next := &opaque{what: o.what + how + name}
	if o.t == nil {
		return next, nil
	}
	e := o.t.entry()
	switch {
	case how == "[]" && e.Kind == "ArrayType":
		r := o.t.at(*e.ItemType)
		next.t = &r
	case how == "." && e.Kind == "ObjectType":
		p, _, ok := lookupProp(e.Properties, name)
		switch {
		case ok:
			r := o.t.at(p.Type)
			next.t = &r
		case e.AdditionalProperties != nil:
			r := o.t.at(*e.AdditionalProperties)
			next.t = &r
		default:
			return nil, fmt.Errorf("%s: %s has no property %s", o.what, e.Name, name)
		}
	case e.Kind == "AnyType", e.Kind == "DiscriminatedObjectType", e.Kind == "UnionType":
	default:
		return nil, fmt.Errorf("%s: cannot read %s%s of a %s", o.what, how, name, e.Kind)
	}
	return next, nil
}

// templateVersion returns the apiVersion the template deploys typ with.
func (d *armDeployment) templateVersion(typ string) string {
	for _, r := range d.tm.Resources {
		if t, _ := r["type"].(string); strings.EqualFold(t, typ) {
			v, _ := r["apiVersion"].(string)
			return v
		}
	}
	return ""
}

func (d *armDeployment) call(e *aexpr) (any, error) {
	name := strings.ToLower(e.s)
	// The lazy functions first: only the branch taken is evaluated.
	switch name {
	case "if":
		if len(e.args) != 3 {
			return nil, errors.New("if() takes 3 arguments")
		}
		c, err := d.eval(e.args[0])
		if err != nil {
			return nil, err
		}
		if isOpaque(c) {
			return &opaque{what: "if"}, nil
		}
		b, ok := c.(bool)
		if !ok {
			return nil, fmt.Errorf("if(): condition %v is not a boolean", c)
		}
		if b {
			return d.eval(e.args[1])
		}
		return d.eval(e.args[2])
	case "and", "or":
		for _, a := range e.args {
			v, err := d.eval(a)
			if err != nil {
				return nil, err
			}
			if isOpaque(v) {
				return &opaque{what: name}, nil
			}
			b, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("%s(): %v is not a boolean", name, v)
			}
			if b == (name == "or") {
				return b, nil
			}
		}
		return name == "and", nil
	case "coalesce":
		for _, a := range e.args {
			v, err := d.eval(a)
			if err != nil || v != nil {
				return v, err
			}
		}
		return nil, nil
	case "lambda":
		l := lambdaVal{body: e.args[len(e.args)-1]}
		for _, a := range e.args[:len(e.args)-1] {
			if a.kind != "str" {
				return nil, errors.New("lambda(): parameter names must be literals")
			}
			l.params = append(l.params, a.s)
		}
		return l, nil
	}
	args := make([]any, len(e.args))
	for i, a := range e.args {
		v, err := d.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	str := func(i int) (string, error) {
		if i >= len(args) {
			return "", fmt.Errorf("%s(): missing argument %d", e.s, i+1)
		}
		s, ok := asString(args[i])
		if !ok {
			return "", fmt.Errorf("%s(): argument %d (%v) is not a string", e.s, i+1, args[i])
		}
		return s, nil
	}
	integer := func(i int) (int64, error) {
		if i >= len(args) {
			return 0, fmt.Errorf("%s(): missing argument %d", e.s, i+1)
		}
		n, ok := args[i].(int64)
		if !ok {
			return 0, fmt.Errorf("%s(): argument %d (%v) is not an integer", e.s, i+1, args[i])
		}
		return n, nil
	}
	switch name {
	case "createarray":
		return append([]any{}, args...), nil
	case "createobject":
		o := map[string]any{}
		for i := 0; i+1 < len(args); i += 2 {
			k, err := str(i)
			if err != nil {
				return nil, err
			}
			o[k] = args[i+1]
		}
		return o, nil
	case "reference":
		return d.reference(args)
	case "listkeys", "listsecrets":
		if id, ok := args[0].(resourceID); ok && len(args) > 1 {
			if v, _ := asString(args[1]); v != d.templateVersion(id.typ) {
				return nil, fmt.Errorf("%s(%s, %s): the template deploys %s@%s", e.s, id.typ, v, id.typ, d.templateVersion(id.typ))
			}
		}
		return &opaque{what: e.s}, nil
	case "fail":
		s, _ := asString(args[0])
		return nil, armFail{msg: s}
	case "concat":
		if len(args) > 0 {
			if _, ok := args[0].([]any); ok {
				out := []any{}
				for _, a := range args {
					arr, ok := a.([]any)
					if !ok {
						return &opaque{what: "concat"}, nil
					}
					out = append(out, arr...)
				}
				return out, nil
			}
		}
	case "map", "filter":
		arr, ok := args[0].([]any)
		if !ok {
			return &opaque{what: name}, nil
		}
		l, ok := args[1].(lambdaVal)
		if !ok || len(l.params) != 1 {
			return nil, fmt.Errorf("%s(): want a one-parameter lambda", e.s)
		}
		out := []any{}
		for _, it := range arr {
			d.lambdaVars[l.params[0]] = it
			v, err := d.eval(l.body)
			delete(d.lambdaVars, l.params[0])
			if err != nil {
				return nil, err
			}
			if name == "map" {
				out = append(out, v)
			} else if b, _ := v.(bool); b {
				out = append(out, it)
			}
		}
		return out, nil
	case "equals":
		if isOpaque(args[0]) || isOpaque(args[1]) {
			return &opaque{what: "equals"}, nil
		}
		a, _ := asString(args[0])
		b, _ := asString(args[1])
		if _, ok := args[0].(resourceID); ok {
			return a == b, nil
		}
		return reflect.DeepEqual(args[0], args[1]) || (a != "" && a == b), nil
	}
	for _, a := range args {
		if isOpaque(a) {
			return &opaque{what: e.s}, nil
		}
	}
	switch name {
	case "parameters":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		v, ok := d.params[s]
		if !ok {
			return nil, fmt.Errorf("no parameter %s", s)
		}
		return v, nil
	case "variables":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		return d.variable(s)
	case "lambdavariables":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		v, ok := d.lambdaVars[s]
		if !ok {
			return nil, fmt.Errorf("no lambda variable %s", s)
		}
		return v, nil
	case "copyindex":
		loop, off := "", int64(0)
		for _, a := range args {
			switch x := a.(type) {
			case string:
				loop = x
			case int64:
				off = x
			}
		}
		i, ok := d.copyIndex[loop]
		if !ok {
			return nil, fmt.Errorf("copyIndex(%q) outside its loop", loop)
		}
		return i + off, nil
	case "not":
		b, ok := args[0].(bool)
		if !ok {
			return nil, fmt.Errorf("not(%v)", args[0])
		}
		return !b, nil
	case "empty":
		switch x := args[0].(type) {
		case nil:
			return true, nil
		case string:
			return x == "", nil
		case []any:
			return len(x) == 0, nil
		case map[string]any:
			return len(x) == 0, nil
		}
		return false, nil
	case "contains":
		switch x := args[0].(type) {
		case string:
			s, err := str(1)
			return strings.Contains(x, s), err
		case []any:
			for _, it := range x {
				if reflect.DeepEqual(it, args[1]) {
					return true, nil
				}
			}
			return false, nil
		case map[string]any:
			s, err := str(1)
			for k := range x {
				if strings.EqualFold(k, s) {
					return true, err
				}
			}
			return false, err
		}
		return nil, fmt.Errorf("contains(%v)", args[0])
	case "length":
		switch x := args[0].(type) {
		case string:
			return int64(len(x)), nil
		case []any:
			return int64(len(x)), nil
		case map[string]any:
			return int64(len(x)), nil
		}
		return nil, fmt.Errorf("length(%v)", args[0])
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
	case "format":
		f, err := str(0)
		if err != nil {
			return nil, err
		}
		var ferr error
		out := regexp.MustCompile(`\{\{|\}\}|\{(\d+)(?::[^}]*)?\}`).ReplaceAllStringFunc(f, func(m string) string {
			switch m {
			case "{{":
				return "{"
			case "}}":
				return "}"
			}
			n, _ := strconv.Atoi(strings.Trim(strings.SplitN(m, ":", 2)[0], "{}"))
			if n+1 >= len(args) {
				ferr = fmt.Errorf("format(%q): no argument %d", f, n)
				return ""
			}
			if s, ok := asString(args[n+1]); ok {
				return s
			}
			return fmt.Sprint(args[n+1])
		})
		return out, ferr
	case "join":
		arr, ok := args[0].([]any)
		if !ok {
			return nil, fmt.Errorf("join(%v)", args[0])
		}
		sep, err := str(1)
		if err != nil {
			return nil, err
		}
		parts := make([]string, len(arr))
		for i, it := range arr {
			s, ok := asString(it)
			if !ok {
				return nil, fmt.Errorf("join(): %v is not a string", it)
			}
			parts[i] = s
		}
		return strings.Join(parts, sep), nil
	case "split":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		sep, err := str(1)
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, p := range strings.Split(s, sep) {
			out = append(out, p)
		}
		return out, nil
	case "take", "skip":
		n, err := integer(1)
		if err != nil {
			return nil, err
		}
		switch x := args[0].(type) {
		case string:
			n = max(0, min(n, int64(len(x))))
			if name == "take" {
				return x[:n], nil
			}
			return x[n:], nil
		case []any:
			n = max(0, min(n, int64(len(x))))
			if name == "take" {
				return x[:n], nil
			}
			return x[n:], nil
		}
		return nil, fmt.Errorf("%s(%v)", e.s, args[0])
	case "range":
		// range(startIndex, count): count integers from startIndex.
		start, err := integer(0)
		if err != nil {
			return nil, err
		}
		n, err := integer(1)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, fmt.Errorf("range(): count %d", n)
		}
		out := make([]any, n)
		for i := range out {
			out[i] = start + int64(i)
		}
		return out, nil
	case "substring":
		// substring(string, startIndex, length): ARM fails a deployment
		// whose indices leave the string.
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		start, err := integer(1)
		if err != nil {
			return nil, err
		}
		n := int64(len(s)) - start
		if len(args) > 2 {
			if n, err = integer(2); err != nil {
				return nil, err
			}
		}
		if start < 0 || n < 0 || start+n > int64(len(s)) {
			return nil, fmt.Errorf("substring(%q, %d, %d): out of range", s, start, n)
		}
		return s[start : start+n], nil
	case "replace":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		o, err := str(1)
		if err != nil {
			return nil, err
		}
		n, err := str(2)
		return strings.ReplaceAll(s, o, n), err
	case "tolower", "toupper", "trim":
		s, err := str(0)
		f := map[string]func(string) string{"tolower": strings.ToLower, "toupper": strings.ToUpper, "trim": strings.TrimSpace}[name]
		return f(s), err
	case "startswith", "endswith":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		x, err := str(1)
		if name == "startswith" {
			return strings.HasPrefix(strings.ToLower(s), strings.ToLower(x)), err
		}
		return strings.HasSuffix(strings.ToLower(s), strings.ToLower(x)), err
	case "add", "sub", "mul", "div", "mod":
		a, err := integer(0)
		if err != nil {
			return nil, err
		}
		b, err := integer(1)
		if err != nil {
			return nil, err
		}
		switch name {
		case "add":
			return a + b, nil
		case "sub":
			return a - b, nil
		case "mul":
			return a * b, nil
		}
		if b == 0 {
			return nil, fmt.Errorf("%s(): division by zero", e.s)
		}
		if name == "div" {
			return a / b, nil
		}
		return a % b, nil
	case "greater", "less", "greaterorequals", "lessorequals":
		a, err := integer(0)
		if err != nil {
			return nil, err
		}
		b, err := integer(1)
		return map[string]bool{"greater": a > b, "less": a < b, "greaterorequals": a >= b, "lessorequals": a <= b}[name], err
	case "string":
		if s, ok := asString(args[0]); ok {
			return s, nil
		}
		b, _ := json.Marshal(args[0])
		return string(b), nil
	case "int":
		if n, ok := args[0].(int64); ok {
			return n, nil
		}
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		return strconv.ParseInt(s, 10, 64)
	case "bool":
		if b, ok := args[0].(bool); ok {
			return b, nil
		}
		s, err := str(0)
		return strings.EqualFold(s, "true"), err
	case "json":
		s, err := str(0)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("json(%q): %w", s, err)
		}
		return normalise(v), nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	case "first", "last":
		arr, ok := args[0].([]any)
		if !ok || len(arr) == 0 {
			return nil, nil
		}
		if name == "first" {
			return arr[0], nil
		}
		return arr[len(arr)-1], nil
	case "union":
		o := map[string]any{}
		for _, a := range args {
			m, ok := a.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("union() of non-objects is not supported here")
			}
			for k, v := range m {
				o[k] = v
			}
		}
		return o, nil
	case "tryget":
		m, ok := args[0].(map[string]any)
		if !ok {
			return nil, nil
		}
		k, _ := asString(args[1])
		return m[k], nil
	case "uniquestring":
		parts := make([]string, len(args))
		for i := range args {
			s, err := str(i)
			if err != nil {
				return nil, err
			}
			parts[i] = s
		}
		sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
		return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:13], nil
	case "guid":
		parts := make([]string, len(args))
		for i := range args {
			s, err := str(i)
			if err != nil {
				return nil, err
			}
			parts[i] = s
		}
		s := sha1.Sum([]byte(strings.Join(parts, "-")))
		return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16]), nil
	case "resourcegroup":
		return map[string]any{
			"id":       fmt.Sprintf("/subscriptions/%s/resourceGroups/%s", d.env.subscriptionID, d.env.resourceGroup),
			"name":     d.env.resourceGroup,
			"location": d.env.location,
			"type":     "Microsoft.Resources/resourceGroups",
		}, nil
	case "subscription":
		return map[string]any{"id": "/subscriptions/" + d.env.subscriptionID, "subscriptionId": d.env.subscriptionID, "tenantId": d.env.tenantID}, nil
	case "tenant":
		return map[string]any{"tenantId": d.env.tenantID}, nil
	case "environment":
		return map[string]any{"name": d.env.cloud}, nil
	case "deployment":
		return map[string]any{"name": "mainTemplate"}, nil
	case "resourceid":
		typ, err := str(0)
		if err != nil {
			return nil, err
		}
		id := resourceID{typ: typ, env: d.env}
		for i := 1; i < len(args); i++ {
			s, err := str(i)
			if err != nil {
				return nil, err
			}
			id.names = append(id.names, s)
		}
		return id, nil
	case "extensionresourceid":
		// extensionResourceId(scope id, type, names...): the id of a
		// resource (a role assignment) on another.
		scope, err := str(0)
		if err != nil {
			return nil, err
		}
		typ, err := str(1)
		if err != nil {
			return nil, err
		}
		var names []string
		for i := 2; i < len(args); i++ {
			s, err := str(i)
			if err != nil {
				return nil, err
			}
			names = append(names, s)
		}
		return fmt.Sprintf("%s/providers/%s/%s", scope, typ, strings.Join(names, "/")), nil
	case "subscriptionresourceid":
		typ, err := str(0)
		if err != nil {
			return nil, err
		}
		var names []string
		for i := 1; i < len(args); i++ {
			s, err := str(i)
			if err != nil {
				return nil, err
			}
			names = append(names, s)
		}
		return fmt.Sprintf("/subscriptions/%s/providers/%s/%s", d.env.subscriptionID, typ, strings.Join(names, "/")), nil
	}
	return nil, fmt.Errorf("%s(): not known to this evaluator", e.s)
}

// reference returns the deployed resource's properties (or, with 'Full',
// the whole resource), typed from the type data at the apiVersion given,
// which must be the one the template deploys the resource with.
func (d *armDeployment) reference(args []any) (any, error) {
	id, ok := args[0].(resourceID)
	if !ok {
		return &opaque{what: "reference"}, nil
	}
	ver := d.templateVersion(id.typ)
	if len(args) > 1 {
		v, _ := asString(args[1])
		if v != ver {
			return nil, fmt.Errorf("reference(%s, %s): the template deploys %s@%s", id.typ, v, id.typ, ver)
		}
	}
	body, ok := d.td.body(id.typ, ver)
	if !ok {
		return nil, fmt.Errorf("reference(%s): %s@%s is not in the type data", id.typ, id.typ, ver)
	}
	o := &opaque{what: fmt.Sprintf("reference(%s@%s)", id.typ, ver), t: &body}
	if len(args) > 2 {
		if s, _ := asString(args[2]); strings.EqualFold(s, "Full") {
			return o, nil
		}
	}
	if props, ok := d.env.deployed[strings.ToLower(id.typ)]; ok {
		return props, nil
	}
	return opaqueStep(o, ".", "properties")
}

// armVal is what the type checker knows of an evaluated value.
func armVal(v any) *val {
	switch x := v.(type) {
	case string:
		return strVal(x)
	case resourceID:
		return &val{kind: kString}
	case int64:
		return intVal(x)
	case bool:
		return &val{kind: kBool, b: x}
	case nil:
		return &val{kind: kNull}
	case map[string]any:
		o := &val{kind: kObject}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			o.fields = append(o.fields, field{key: k, keyKnown: !strings.HasPrefix(k, "<"), v: armVal(x[k])})
		}
		return o
	case []any:
		a := &val{kind: kArray}
		for _, it := range x {
			a.items = append(a.items, armVal(it))
		}
		return a
	}
	return &val{} // opaque, and json('0.5'): a number the type data calls an integer
}

// leafName is the last segment of a child resource's name
// (workspace/table → table), which is what the type data's name describes.
func leafName(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}
