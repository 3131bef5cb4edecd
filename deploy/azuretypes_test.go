package deploy

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// This file reads Azure's resource type data (deploy/azuretypes, a subset
// of Azure/bicep-types-az's generated/ folder) and checks a template
// resource's body against it, the way the Bicep compiler does and a little
// further: property names, read-only and required properties, closed
// enumerations, the kind of each literal, integer bounds from the type data
// and from descriptions ("Maximum value is 10"), string lengths and
// patterns, and properties the type data calls deprecated.

const azureTypesDir = "azuretypes"

// Property flags of the type data (bicep-types' TypePropertyFlags).
const (
	flagRequired = 1
	flagReadOnly = 2
)

type typeRefJSON struct {
	Ref string `json:"$ref"`
}

type typeProp struct {
	Type        typeRefJSON `json:"type"`
	Flags       int         `json:"flags"`
	Description string      `json:"description"`
}

// typeEntry is one entry of a types.json array; which fields are set
// depends on Kind ($type). A pruned entry (null) has no Kind.
type typeEntry struct {
	Kind                 string              `json:"$type"`
	Name                 string              `json:"name"`
	Value                string              `json:"value"`
	Body                 *typeRefJSON        `json:"body"`
	Properties           map[string]typeProp `json:"properties"`
	AdditionalProperties *typeRefJSON        `json:"additionalProperties"`
	Elements             json.RawMessage     `json:"elements"`
	ItemType             *typeRefJSON        `json:"itemType"`
	MinLength            *int64              `json:"minLength"`
	MaxLength            *int64              `json:"maxLength"`
	Pattern              string              `json:"pattern"`
	MinValue             *int64              `json:"minValue"`
	MaxValue             *int64              `json:"maxValue"`
	Discriminator        string              `json:"discriminator"`
	BaseProperties       map[string]typeProp `json:"baseProperties"`
}

type typeFile struct {
	path    string
	entries []typeEntry
}

// typeRef is one entry of one types.json.
type typeRef struct {
	f *typeFile
	i int
}

func (r typeRef) entry() typeEntry { return r.f.entries[r.i] }

// at resolves a "#/N" reference within the same file.
func (r typeRef) at(ref typeRefJSON) typeRef {
	n, err := strconv.Atoi(strings.TrimPrefix(ref.Ref, "#/"))
	if err != nil || !strings.HasPrefix(ref.Ref, "#/") || n < 0 || n >= len(r.f.entries) {
		panic(fmt.Sprintf("%s: bad reference %q", r.f.path, ref.Ref))
	}
	if r.f.entries[n].Kind == "" {
		panic(fmt.Sprintf("%s: reference %q leads to a pruned entry", r.f.path, ref.Ref))
	}
	return typeRef{r.f, n}
}

type indexEntry struct {
	Versions     []string `json:"versions"`
	NewestStable string   `json:"newestStable"`
}

// typeData is the whole of deploy/azuretypes.
type typeData struct {
	index     map[string]indexEntry
	files     []*typeFile
	resources map[string]typeRef // strings.ToLower("Type@version") → the resource's body
}

func loadTypeData(t *testing.T) *typeData {
	t.Helper()
	td := &typeData{resources: map[string]typeRef{}}
	raw, err := os.ReadFile(filepath.Join(azureTypesDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &td.index); err != nil {
		t.Fatalf("azuretypes/index.json: %v", err)
	}
	err = filepath.WalkDir(azureTypesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != "types.json" {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f := &typeFile{path: path}
		if err := json.Unmarshal(raw, &f.entries); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		td.files = append(td.files, f)
		for i, e := range f.entries {
			if e.Kind == "ResourceType" {
				td.resources[strings.ToLower(e.Name)] = typeRef{f, i}.at(*e.Body)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(td.resources) == 0 {
		t.Fatal("azuretypes holds no resource type")
	}
	return td
}

// body returns the body type of typ@version, if the type data has it.
func (td *typeData) body(typ, version string) (typeRef, bool) {
	r, ok := td.resources[strings.ToLower(typ+"@"+version)]
	return r, ok
}

// newest returns index.json's entry for typ (its keys' case is not uniform).
func (td *typeData) newest(typ string) (indexEntry, bool) {
	if e, ok := td.index[typ]; ok {
		return e, true
	}
	for k, e := range td.index {
		if strings.EqualFold(k, typ) {
			return e, true
		}
	}
	return indexEntry{}, false
}

// kind is what a template value is known to be.
type kind int

const (
	kUnknown kind = iota // an expression whose result is not known here
	kString
	kInt
	kBool
	kNull
	kObject
	kArray
	kAlt // one of alts (the branches of a conditional)
)

func (k kind) String() string {
	return [...]string{"an expression", "a string", "an integer", "a boolean", "null", "an object", "an array", "a conditional"}[k]
}

// val is a template value as far as it is known without deploying: a
// literal, a literal object or array whose members may be expressions, a
// string or integer whose value is unknown but whose possible values (a
// parameter's allowed values) or bounds (its minValue and maxValue) are, or
// nothing at all (kUnknown, accepted anywhere).
type val struct {
	kind    kind
	str     *string  // kString: the value, when known
	strs    []string // kString: the possible values, when str is not known
	num     *int64   // kInt: the value, when known
	lo, hi  *int64   // kInt: bounds, when num is not known
	b       bool
	fields  []field // kObject, in order
	partial bool    // kObject, kArray: members may be missing (merged or computed)
	items   []*val  // kArray
	alts    []*val  // kAlt
}

type field struct {
	key      string
	keyKnown bool // false: the key is an expression
	v        *val
}

func strVal(s string) *val { return &val{kind: kString, str: &s} }
func intVal(n int64) *val  { return &val{kind: kInt, num: &n} }

func (v *val) get(key string) *val {
	if v == nil || v.kind != kObject {
		return nil
	}
	for _, f := range v.fields {
		if f.keyKnown && f.key == key {
			return f.v
		}
	}
	return nil
}

// typeChecker collects what a body gets wrong against the type data.
type typeChecker struct {
	problems []string
}

func (c *typeChecker) errorf(path, format string, args ...any) {
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

var deprecatedRe = regexp.MustCompile(`(?i)\bdeprecated\b`)

// checkResource checks a resource body (the object under a resource's
// declaration, without the template's own keys such as dependsOn).
func (c *typeChecker) checkResource(body *val, t typeRef, path string) {
	c.check(body, t, path, "")
}

// check checks v against t; desc is the description of the property v is
// the value of, for the bounds only a description states.
func (c *typeChecker) check(v *val, t typeRef, path, desc string) {
	if v == nil {
		return // fail(): the deployment stops before this value is used
	}
	if v.kind == kAlt {
		for _, a := range v.alts {
			c.check(a, t, path, desc)
		}
		return
	}
	if v.kind == kUnknown {
		return
	}
	e := t.entry()
	switch e.Kind {
	case "AnyType":
	case "ObjectType":
		if v.kind != kObject {
			c.errorf(path, "%s where %s expects an object", v.kind, e.Name)
			return
		}
		c.checkObject(v, t, e.Properties, e.AdditionalProperties, e.Name, path)
	case "DiscriminatedObjectType":
		if v.kind != kObject {
			c.errorf(path, "%s where %s expects an object", v.kind, e.Name)
			return
		}
		props := map[string]typeProp{}
		for k, p := range e.BaseProperties {
			props[k] = p
		}
		d := v.get(e.Discriminator)
		if d == nil || d.kind != kString || d.str == nil {
			c.errorf(path, "%s needs %s as a literal to be checked", e.Name, e.Discriminator)
			return
		}
		var elems map[string]typeRefJSON
		if err := json.Unmarshal(e.Elements, &elems); err != nil {
			panic(err)
		}
		ref, ok := elems[*d.str]
		if !ok {
			c.errorf(path, "%s %q is not one of %s", e.Discriminator, *d.str, strings.Join(sortedKeys(elems), ", "))
			return
		}
		sub := t.at(ref).entry()
		for k, p := range sub.Properties {
			props[k] = p
		}
		c.checkObject(v, t, props, sub.AdditionalProperties, e.Name, path)
	case "ArrayType":
		if v.kind != kArray {
			c.errorf(path, "%s where an array is expected", v.kind)
			return
		}
		for i, it := range v.items {
			c.check(it, t.at(*e.ItemType), fmt.Sprintf("%s[%d]", path, i), "")
		}
	case "StringType":
		if v.kind != kString {
			c.errorf(path, "%s where a string is expected", v.kind)
			return
		}
		for _, s := range v.strings() {
			c.checkString(s, e, path)
			// A format only the description states: "in ISO 8601 duration
			// format" (an alert rule's evaluationFrequency, windowSize).
			if isoDurationDesc.MatchString(desc) && !isISODuration(s) {
				c.errorf(path, "%q is not an ISO 8601 duration (PT5M, PT1H, P1D)", s)
			}
		}
	case "StringLiteralType":
		if v.kind != kString {
			c.errorf(path, "%s where the string %q is expected", v.kind, e.Value)
			return
		}
		for _, s := range v.strings() {
			if s != e.Value {
				c.errorf(path, "%q where the type data allows only %q", s, e.Value)
			}
		}
	case "UnionType":
		c.checkUnion(v, t, e, path, desc)
	case "IntegerType":
		if v.kind != kInt {
			c.errorf(path, "%s where an integer is expected", v.kind)
			return
		}
		lo, hi := e.MinValue, e.MaxValue
		dlo, dhi := descBounds(desc)
		lo, hi = tighter(lo, dlo, true), tighter(hi, dhi, false)
		switch {
		case v.num != nil:
			if lo != nil && *v.num < *lo || hi != nil && *v.num > *hi {
				c.errorf(path, "%d is outside %s", *v.num, bounds(lo, hi))
			}
		case lo != nil && (v.lo == nil || *v.lo < *lo), hi != nil && (v.hi == nil || *v.hi > *hi):
			c.errorf(path, "a value in %s where the type data allows %s", bounds(v.lo, v.hi), bounds(lo, hi))
		}
	case "BooleanType":
		if v.kind != kBool {
			c.errorf(path, "%s where a boolean is expected", v.kind)
		}
	default:
		c.errorf(path, "cannot check against a %s", e.Kind)
	}
}

func (c *typeChecker) checkObject(v *val, t typeRef, props map[string]typeProp, additional *typeRefJSON, name, path string) {
	set := map[string]bool{}
	for _, f := range v.fields {
		if !f.keyKnown {
			if additional != nil {
				c.check(f.v, t.at(*additional), path+"[*]", "")
			}
			continue
		}
		p, key, ok := lookupProp(props, f.key)
		switch {
		case ok && key != f.key:
			c.errorf(path, "%s is spelt %s in %s", f.key, key, name)
		case !ok && additional != nil:
			c.check(f.v, t.at(*additional), path+"."+f.key, "")
			continue
		case !ok:
			c.errorf(path, "%s has no property %s (it has %s)", name, f.key, strings.Join(sortedKeys(props), ", "))
			continue
		}
		set[strings.ToLower(key)] = true
		if p.Flags&flagReadOnly != 0 && p.Flags&flagRequired == 0 {
			c.errorf(path+"."+f.key, "read-only in %s", name)
		}
		if deprecatedRe.MatchString(p.Description) {
			c.errorf(path+"."+f.key, "deprecated: %s", p.Description)
		}
		fv, null := withoutNull(f.v)
		if null && p.Flags&flagRequired != 0 {
			c.errorf(path+"."+f.key, "null, and %s requires it", name)
		}
		// A property that is not required may be null: Bicep takes that
		// for the property left out (cond ? value : null).
		c.check(fv, t.at(p.Type), path+"."+f.key, p.Description)
	}
	if v.partial {
		return
	}
	for _, k := range sortedKeys(props) {
		if p := props[k]; p.Flags&flagRequired != 0 && p.Flags&flagReadOnly == 0 && !set[strings.ToLower(k)] {
			c.errorf(path, "lacks %s, which %s requires", k, name)
		}
	}
}

// withoutNull returns v with null taken out of it (nil when v is only
// null), and whether it could be null.
func withoutNull(v *val) (*val, bool) {
	switch {
	case v == nil:
		return nil, false
	case v.kind == kNull:
		return nil, true
	case v.kind != kAlt:
		return v, false
	}
	var alts []*val
	for _, a := range v.alts {
		if a.kind != kNull {
			alts = append(alts, a)
		}
	}
	switch len(alts) {
	case len(v.alts):
		return v, false
	case 0:
		return nil, true
	case 1:
		return alts[0], true
	}
	return &val{kind: kAlt, alts: alts}, true
}

func (c *typeChecker) checkUnion(v *val, t typeRef, e typeEntry, path, desc string) {
	var refs []typeRefJSON
	if err := json.Unmarshal(e.Elements, &refs); err != nil {
		panic(err)
	}
	var literals []string
	open := false
	var others []typeRef
	for _, r := range refs {
		m := t.at(r)
		switch m.entry().Kind {
		case "StringLiteralType":
			literals = append(literals, m.entry().Value)
		case "StringType", "AnyType":
			open = true
			others = append(others, m)
		default:
			others = append(others, m)
		}
	}
	if v.kind == kString {
		// An open union (its literals or any string) takes any string:
		// the literals are the values known when the type data was made.
		for _, s := range v.strings() {
			if !open && !slices.Contains(literals, s) {
				c.errorf(path, "%q is not one of %s", s, strings.Join(literals, ", "))
			}
		}
		return
	}
	for _, m := range others {
		sub := &typeChecker{}
		sub.check(v, m, path, desc)
		if len(sub.problems) == 0 {
			return
		}
	}
	c.errorf(path, "%s matches no member of the union (%s)", v.kind, strings.Join(literals, ", "))
}

func (c *typeChecker) checkString(s string, e typeEntry, path string) {
	n := int64(len([]rune(s)))
	if e.MinLength != nil && n < *e.MinLength || e.MaxLength != nil && n > *e.MaxLength {
		c.errorf(path, "%q has %d characters, outside %s", s, n, bounds(e.MinLength, e.MaxLength))
	}
	if e.Pattern == "" {
		return
	}
	// The patterns are .NET regular expressions; the few Go cannot compile
	// (lookarounds) go unchecked.
	if re, err := regexp.Compile(e.Pattern); err == nil && !re.MatchString(s) {
		c.errorf(path, "%q does not match %s", s, e.Pattern)
	}
}

// strings returns the string values v may have (none when unknown).
func (v *val) strings() []string {
	if v.str != nil {
		return []string{*v.str}
	}
	return v.strs
}

func lookupProp(props map[string]typeProp, key string) (typeProp, string, bool) {
	if p, ok := props[key]; ok {
		return p, key, true
	}
	for k, p := range props {
		if strings.EqualFold(k, key) {
			return p, k, true
		}
	}
	return typeProp{}, "", false
}

// Bounds the type data states only in a property's description.
var (
	descMinRe   = regexp.MustCompile(`(?i)(?:minimum value is|must be at least|>=)\s*(-?\d+)`)
	descMaxRe   = regexp.MustCompile(`(?i)(?:maximum value is|<=)\s*(-?\d+)`)
	descRangeRe = regexp.MustCompile(`(?i)(?:between|in the range(?: of)?)\s+(-?\d+)\s+(?:and|to)\s+(-?\d+)`)
	// "Should be an integer between [0-4]" (scheduled query rules' severity).
	descBracketRe = regexp.MustCompile(`(?i)between\s+\[(-?\d+)\s*-\s*(-?\d+)\]`)
	descNonNeg    = regexp.MustCompile(`(?i)\bnon-negative\b`)
)

// ISO 8601 durations, as descriptions ask for them: at least one
// component, and T before the hours, minutes and seconds.
var (
	isoDurationDesc = regexp.MustCompile(`(?i)\bISO ?8601 duration\b`)
	isoDuration     = regexp.MustCompile(`^P(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$`)
)

func isISODuration(s string) bool {
	return isoDuration.MatchString(s) && s != "P" && !strings.HasSuffix(s, "T")
}

// descBounds reads integer bounds from a property description:
// "Minimum value is 1. Maximum value is 10.", "It accepts >=7 and <=90.",
// "Must be between 4 and 30", "between [0-4]", "in the range 1 to 65535",
// "non-negative".
func descBounds(desc string) (lo, hi *int64) {
	num := func(s string) *int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil
		}
		return &n
	}
	if m := descRangeRe.FindStringSubmatch(desc); m != nil {
		lo, hi = num(m[1]), num(m[2])
	}
	if m := descBracketRe.FindStringSubmatch(desc); m != nil {
		lo, hi = num(m[1]), num(m[2])
	}
	if m := descMinRe.FindStringSubmatch(desc); m != nil {
		lo = tighter(lo, num(m[1]), true)
	}
	if m := descMaxRe.FindStringSubmatch(desc); m != nil {
		hi = tighter(hi, num(m[1]), false)
	}
	if descNonNeg.MatchString(desc) {
		zero := int64(0)
		lo = tighter(lo, &zero, true)
	}
	return lo, hi
}

// tighter returns the stricter of two lower (or upper) bounds.
func tighter(a, b *int64, lower bool) *int64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case lower == (*b > *a):
		return b
	}
	return a
}

func bounds(lo, hi *int64) string {
	s := func(p *int64) string {
		if p == nil {
			return "…"
		}
		return strconv.FormatInt(*p, 10)
	}
	return "[" + s(lo) + ", " + s(hi) + "]"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// propertyType walks a property path ("properties.schema.columns[]") from a
// resource body to the type of what it names.
func propertyType(t typeRef, path string) (typeRef, error) {
	for _, step := range strings.Split(path, ".") {
		arr := strings.HasSuffix(step, "[]")
		step = strings.TrimSuffix(step, "[]")
		e := t.entry()
		if e.Kind != "ObjectType" {
			return t, fmt.Errorf("%s: %s is not an object", path, e.Kind)
		}
		p, _, ok := lookupProp(e.Properties, step)
		if !ok {
			return t, fmt.Errorf("%s: %s has no property %s", path, e.Name, step)
		}
		t = t.at(p.Type)
		if arr {
			if t.entry().Kind != "ArrayType" {
				return t, fmt.Errorf("%s: %s is not an array", path, step)
			}
			t = t.at(*t.entry().ItemType)
		}
	}
	return t, nil
}

// enumValues returns the string literals a union (or literal) type allows
// and whether it also takes any string.
func enumValues(t typeRef) (literals []string, open bool) {
	e := t.entry()
	switch e.Kind {
	case "StringLiteralType":
		return []string{e.Value}, false
	case "StringType", "AnyType":
		return nil, true
	case "UnionType":
		var refs []typeRefJSON
		if err := json.Unmarshal(e.Elements, &refs); err != nil {
			panic(err)
		}
		for _, r := range refs {
			l, o := enumValues(t.at(r))
			literals = append(literals, l...)
			open = open || o
		}
	}
	return literals, open
}
