package deploy

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// A structural reader for the subset of Bicep the templates use: it parses
// declarations (param, var, resource, module, output, with decorators) and
// expressions into a tree, without evaluating them. Bicep cannot be
// compiled on the build machine; this is enough to check the resources
// against the type data and to hold main.bicep to mainTemplate.json.

type btokKind int

const (
	btEOF btokKind = iota
	btNewline
	btIdent
	btString // lit holds the value when !interp
	btNumber
	btPunct
)

type btok struct {
	kind   btokKind
	text   string // the source text (punctuation, identifier, number)
	lit    string // btString: the unescaped value
	interp bool   // btString: holds ${...}
	line   int
}

func bicepTokens(name, src string) ([]btok, error) {
	var toks []btok
	line := 1
	rs := []rune(src)
	i := 0
	two := []string{"==", "!=", "<=", ">=", "&&", "||", "??", "=>", ".?", "[?", "=~", "!~"}
	// until returns the index of the next occurrence of end at or after j,
	// counting the lines it passes.
	until := func(j int, end string) int {
		for ; j+len(end) <= len(rs); j++ {
			if string(rs[j:j+len(end)]) == end {
				return j
			}
			if rs[j] == '\n' {
				line++
			}
		}
		return -1
	}
	for i < len(rs) {
		r := rs[i]
		switch {
		case r == '\n':
			toks = append(toks, btok{kind: btNewline, line: line})
			line++
			i++
		case r == ' ' || r == '\t' || r == '\r':
			i++
		case r == '/' && i+1 < len(rs) && rs[i+1] == '/':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
		case r == '/' && i+1 < len(rs) && rs[i+1] == '*':
			end := until(i+2, "*/")
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: unterminated comment", name, line)
			}
			i = end + 2
		case strings.HasPrefix(string(rs[i:min(i+3, len(rs))]), "'''"):
			start := line
			end := until(i+3, "'''")
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: unterminated multi-line string", name, start)
			}
			toks = append(toks, btok{kind: btString, lit: strings.TrimPrefix(string(rs[i+3:end]), "\n"), line: start})
			i = end + 3
		case r == '\'':
			t, n, err := bicepString(rs[i:])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", name, line, err)
			}
			t.line = line
			toks = append(toks, t)
			i += n
		case unicode.IsLetter(r) || r == '_':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_') {
				j++
			}
			toks = append(toks, btok{kind: btIdent, text: string(rs[i:j]), line: line})
			i = j
		case unicode.IsDigit(r):
			j := i
			for j < len(rs) && unicode.IsDigit(rs[j]) {
				j++
			}
			toks = append(toks, btok{kind: btNumber, text: string(rs[i:j]), line: line})
			i = j
		default:
			p := string(r)
			for _, op := range two {
				if strings.HasPrefix(string(rs[i:min(i+2, len(rs))]), op) {
					p = op
					break
				}
			}
			toks = append(toks, btok{kind: btPunct, text: p, line: line})
			i += len([]rune(p))
		}
	}
	return append(toks, btok{kind: btEOF, line: line}), nil
}

// bicepString reads a single-quoted string at the start of rs; an
// interpolation (${...}) is skipped over, and marks the string.
func bicepString(rs []rune) (btok, int, error) {
	var b strings.Builder
	t := btok{kind: btString}
	i := 1
	for i < len(rs) {
		switch r := rs[i]; {
		case r == '\\' && i+1 < len(rs):
			esc := map[rune]string{'\'': "'", '\\': "\\", 'n': "\n", 'r': "\r", 't': "\t", '$': "$"}
			s, ok := esc[rs[i+1]]
			if !ok {
				return t, 0, fmt.Errorf("unknown escape \\%c", rs[i+1])
			}
			b.WriteString(s)
			i += 2
		case r == '$' && i+1 < len(rs) && rs[i+1] == '{':
			t.interp = true
			depth := 0
			i++
			for i < len(rs) {
				switch rs[i] {
				case '{':
					depth++
				case '}':
					depth--
				case '\'':
					_, n, err := bicepString(rs[i:])
					if err != nil {
						return t, 0, err
					}
					i += n - 1
				}
				i++
				if depth == 0 {
					break
				}
			}
			b.WriteString("${…}")
		case r == '\'':
			t.lit = b.String()
			t.text = string(rs[:i+1])
			return t, i + 1, nil
		case r == '\n':
			return t, 0, fmt.Errorf("newline in a string")
		default:
			b.WriteRune(r)
			i++
		}
	}
	return t, 0, fmt.Errorf("unterminated string")
}

// bnode is a Bicep expression.
type bnode struct {
	kind   string // object, array, for, string, istring, int, bool, null, ident, call, member, index, unary, binary, ternary, lambda
	fields []bfield
	items  []*bnode // array items; call arguments; binary/ternary operands; for: [source, body]; lambda: [body]
	str    string   // string value, identifier or function name, member name, operator
	num    int64
	target *bnode // member, index, call on a value (x.listKeys())
	line   int
}

type bfield struct {
	key      string
	keyKnown bool
	v        *bnode
}

func (n *bnode) get(key string) *bnode {
	if n == nil || n.kind != "object" {
		return nil
	}
	for _, f := range n.fields {
		if f.keyKnown && f.key == key {
			return f.v
		}
	}
	return nil
}

type bparam struct {
	name, typ  string
	def        *bnode
	decorators map[string][]*bnode
	line       int
}

type bresource struct {
	sym, typ, version string
	existing          bool
	cond              *bnode // the if condition, nil when unconditional
	body              *bnode
	file              *bicepFile
	line              int
}

type bmodule struct {
	sym, path string
	cond      *bnode
	body      *bnode
}

type boutput struct {
	name, typ  string
	v          *bnode
	decorators map[string][]*bnode
}

type bicepFile struct {
	name      string
	params    []*bparam
	vars      map[string]*bnode
	resources []*bresource
	modules   []*bmodule
	outputs   []*boutput
}

func (f *bicepFile) param(name string) *bparam {
	for _, p := range f.params {
		if p.name == name {
			return p
		}
	}
	return nil
}

type bicepParser struct {
	name string
	toks []btok
	pos  int
}

type bicepError struct{ msg string }

func (p *bicepParser) fail(format string, args ...any) {
	panic(bicepError{fmt.Sprintf("%s:%d: ", p.name, p.peek().line) + fmt.Sprintf(format, args...)})
}

func (p *bicepParser) peek() btok { return p.toks[p.pos] }
func (p *bicepParser) next() btok {
	t := p.toks[p.pos]
	if t.kind != btEOF {
		p.pos++
	}
	return t
}
func (p *bicepParser) is(text string) bool {
	t := p.peek()
	return (t.kind == btPunct || t.kind == btIdent) && t.text == text
}
func (p *bicepParser) expect(text string) {
	if !p.is(text) {
		p.fail("want %q, have %q", text, p.peek().text+p.peek().lit)
	}
	p.next()
}
func (p *bicepParser) skipNewlines() {
	for p.peek().kind == btNewline {
		p.next()
	}
}

// parseBicep reads one file.
func parseBicep(name, src string) (f *bicepFile, err error) {
	toks, err := bicepTokens(name, src)
	if err != nil {
		return nil, err
	}
	p := &bicepParser{name: name, toks: toks}
	f = &bicepFile{name: name, vars: map[string]*bnode{}}
	defer func() {
		if r := recover(); r != nil {
			be, ok := r.(bicepError)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s", be.msg)
		}
	}()
	decorators := map[string][]*bnode{}
	for {
		p.skipNewlines()
		t := p.peek()
		if t.kind == btEOF {
			return f, nil
		}
		if p.is("@") {
			p.next()
			d := p.next().text
			decorators[d] = nil
			if p.is("(") {
				decorators[d] = p.args()
			}
			continue
		}
		if t.kind != btIdent {
			p.fail("unexpected %q", t.text)
		}
		p.next()
		switch t.text {
		case "targetScope":
			p.expect("=")
			p.expr()
		case "metadata":
			p.next()
			p.expect("=")
			p.expr()
		case "param":
			bp := &bparam{name: p.next().text, typ: p.next().text, decorators: decorators, line: t.line}
			if p.is("=") {
				p.next()
				bp.def = p.expr()
			}
			f.params = append(f.params, bp)
		case "var":
			n := p.next().text
			p.expect("=")
			f.vars[n] = p.expr()
		case "resource":
			r := &bresource{sym: p.next().text, file: f, line: t.line}
			tv := p.next()
			if tv.kind != btString {
				p.fail("resource %s: no type", r.sym)
			}
			r.typ, r.version, _ = strings.Cut(tv.lit, "@")
			if p.is("existing") {
				p.next()
				r.existing = true
			}
			p.expect("=")
			r.cond, r.body = p.conditionalBody()
			f.resources = append(f.resources, r)
		case "module":
			m := &bmodule{sym: p.next().text, path: p.next().lit}
			p.expect("=")
			m.cond, m.body = p.conditionalBody()
			f.modules = append(f.modules, m)
		case "output":
			o := &boutput{name: p.next().text, typ: p.next().text, decorators: decorators}
			p.expect("=")
			o.v = p.expr()
			f.outputs = append(f.outputs, o)
		default:
			p.fail("unknown declaration %q", t.text)
		}
		decorators = map[string][]*bnode{}
		if k := p.peek().kind; k != btNewline && k != btEOF {
			p.fail("unexpected %q after a declaration", p.peek().text+p.peek().lit)
		}
	}
}

func (p *bicepParser) conditionalBody() (cond, body *bnode) {
	if p.is("if") {
		p.next()
		p.expect("(")
		cond = p.expr()
		p.expect(")")
	}
	return cond, p.primary()
}

// args reads a parenthesised argument list; newlines are allowed in it.
func (p *bicepParser) args() []*bnode {
	p.expect("(")
	var out []*bnode
	for {
		p.skipNewlines()
		if p.is(")") {
			p.next()
			return out
		}
		out = append(out, p.expr())
		p.skipNewlines()
		if p.is(",") {
			p.next()
		}
	}
}

var binaryPrec = map[string]int{
	"??": 1, "||": 2, "&&": 3, "==": 4, "!=": 4, "=~": 4, "!~": 4,
	"<": 5, ">": 5, "<=": 5, ">=": 5, "+": 6, "-": 6, "*": 7, "/": 7, "%": 7,
}

// expr reads an expression; a conditional's ? and : may start a new line.
func (p *bicepParser) expr() *bnode {
	cond := p.binary(1)
	save := p.pos
	p.skipNewlines()
	if !p.is("?") {
		p.pos = save
		return cond
	}
	p.next()
	p.skipNewlines()
	yes := p.expr()
	p.skipNewlines()
	p.expect(":")
	p.skipNewlines()
	no := p.expr()
	return &bnode{kind: "ternary", items: []*bnode{cond, yes, no}, line: cond.line}
}

func (p *bicepParser) binary(min int) *bnode {
	left := p.unary()
	for {
		t := p.peek()
		prec, ok := binaryPrec[t.text]
		if t.kind != btPunct || !ok || prec < min {
			return left
		}
		p.next()
		p.skipNewlines()
		right := p.binary(prec + 1)
		left = &bnode{kind: "binary", str: t.text, items: []*bnode{left, right}, line: left.line}
	}
}

func (p *bicepParser) unary() *bnode {
	if p.is("!") || p.is("-") {
		op := p.next()
		x := p.unary()
		if op.text == "-" && x.kind == "int" {
			x.num = -x.num
			return x
		}
		return &bnode{kind: "unary", str: op.text, items: []*bnode{x}, line: op.line}
	}
	return p.postfix(p.primary())
}

func (p *bicepParser) postfix(x *bnode) *bnode {
	for {
		switch {
		case p.is(".") || p.is(".?"):
			p.next()
			name := p.next().text
			x = &bnode{kind: "member", str: name, target: x, line: x.line}
			if p.is("(") {
				x = &bnode{kind: "call", str: name, target: x.target, items: p.args(), line: x.line}
			}
		case p.is("[") || p.is("[?"):
			p.next()
			i := p.expr()
			p.expect("]")
			x = &bnode{kind: "index", target: x, items: []*bnode{i}, line: x.line}
		case p.is("!"):
			// The non-null assertion (vault!.outputs); a following "=" would
			// make it "!=", which the tokenizer reads as one.
			p.next()
		default:
			return x
		}
	}
}

func (p *bicepParser) primary() *bnode {
	t := p.peek()
	switch {
	case t.kind == btString:
		p.next()
		if t.interp {
			return &bnode{kind: "istring", str: t.lit, line: t.line}
		}
		return &bnode{kind: "string", str: t.lit, line: t.line}
	case t.kind == btNumber:
		p.next()
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			p.fail("%v", err)
		}
		return &bnode{kind: "int", num: n, line: t.line}
	case t.kind == btIdent:
		p.next()
		switch t.text {
		case "true", "false":
			return &bnode{kind: "bool", str: t.text, line: t.line}
		case "null":
			return &bnode{kind: "null", line: t.line}
		}
		if p.is("=>") {
			p.next()
			return &bnode{kind: "lambda", str: t.text, items: []*bnode{p.expr()}, line: t.line}
		}
		if p.is("(") {
			return &bnode{kind: "call", str: t.text, items: p.args(), line: t.line}
		}
		return &bnode{kind: "ident", str: t.text, line: t.line}
	case p.is("("):
		// A parenthesised expression, or a lambda's parameter list.
		save := p.pos
		p.next()
		if p.peek().kind == btIdent {
			var names []string
			for p.peek().kind == btIdent {
				names = append(names, p.next().text)
				if !p.is(",") {
					break
				}
				p.next()
			}
			if p.is(")") && p.toks[p.pos+1].text == "=>" {
				p.next()
				p.next()
				return &bnode{kind: "lambda", str: strings.Join(names, ","), items: []*bnode{p.expr()}, line: t.line}
			}
		}
		p.pos = save
		p.next()
		p.skipNewlines()
		x := p.expr()
		p.skipNewlines()
		p.expect(")")
		return x
	case p.is("{"):
		return p.object()
	case p.is("["):
		return p.array()
	}
	p.fail("unexpected %q", t.text+t.lit)
	return nil
}

func (p *bicepParser) object() *bnode {
	o := &bnode{kind: "object", line: p.peek().line}
	p.expect("{")
	for {
		p.skipNewlines()
		if p.is("}") {
			p.next()
			return o
		}
		k := p.next()
		f := bfield{key: k.text, keyKnown: true}
		switch {
		case k.kind == btString:
			f.key, f.keyKnown = k.lit, !k.interp
		case k.kind != btIdent:
			p.fail("want a property name, have %q", k.text)
		}
		p.expect(":")
		f.v = p.expr()
		o.fields = append(o.fields, f)
		if p.is(",") {
			p.next()
		}
	}
}

func (p *bicepParser) array() *bnode {
	line := p.peek().line
	p.expect("[")
	p.skipNewlines()
	if p.is("for") {
		p.next()
		// for x in xs: body, or for (x, i) in xs: body
		if p.is("(") {
			p.args()
		} else {
			p.next()
		}
		p.expect("in")
		src := p.expr()
		p.expect(":")
		body := p.expr()
		p.skipNewlines()
		p.expect("]")
		return &bnode{kind: "for", items: []*bnode{src, body}, line: line}
	}
	a := &bnode{kind: "array", line: line}
	for {
		p.skipNewlines()
		if p.is("]") {
			p.next()
			return a
		}
		a.items = append(a.items, p.expr())
		if p.is(",") {
			p.next()
		}
	}
}

// bicepTemplates is deploy/bicep parsed: main.bicep and its modules.
type bicepTemplates struct {
	main  *bicepFile
	files map[string]*bicepFile // by path relative to deploy/ (bicep/modules/x.bicep)
}

func readBicep(t *testing.T) *bicepTemplates {
	t.Helper()
	bt := &bicepTemplates{files: map[string]*bicepFile{}}
	for name, text := range bicepFiles(t) {
		f, err := parseBicep(name, text)
		if err != nil {
			t.Fatal(err)
		}
		bt.files[name] = f
	}
	bt.main = bt.files[filepath.Join("bicep", "main.bicep")]
	if bt.main == nil {
		t.Fatal("no bicep/main.bicep")
	}
	return bt
}

// moduleCall returns main.bicep's module declaration of the file at path,
// if main.bicep calls it.
func (bt *bicepTemplates) moduleCall(f *bicepFile) *bmodule {
	for _, m := range bt.main.modules {
		if filepath.Join("bicep", m.path) == f.name {
			return m
		}
	}
	return nil
}

// resources returns every resource the templates deploy (not the
// existing ones), main.bicep's first.
func (bt *bicepTemplates) resources() []*bresource {
	var out []*bresource
	for _, name := range sortedKeys(bt.files) {
		for _, r := range bt.files[name].resources {
			if !r.existing {
				out = append(out, r)
			}
		}
	}
	return out
}

// conditional reports whether r is deployed only under a condition: its
// own, or its module's.
func (bt *bicepTemplates) conditional(r *bresource) bool {
	if r.cond != nil {
		return true
	}
	m := bt.moduleCall(r.file)
	return m != nil && m.cond != nil
}

// toVal turns a Bicep expression into what is known of its value, looking
// through variables, parameters (their type, allowed values and bounds)
// and, for a module's parameters, what main.bicep passes.
func (bt *bicepTemplates) toVal(f *bicepFile, n *bnode) *val {
	return bt.toValDepth(f, n, 0)
}

func (bt *bicepTemplates) toValDepth(f *bicepFile, n *bnode, depth int) *val {
	if depth > 20 {
		return &val{}
	}
	rec := func(x *bnode) *val { return bt.toValDepth(f, x, depth+1) }
	switch n.kind {
	case "object":
		v := &val{kind: kObject}
		for _, fl := range n.fields {
			v.fields = append(v.fields, field{key: fl.key, keyKnown: fl.keyKnown, v: rec(fl.v)})
		}
		return v
	case "array":
		v := &val{kind: kArray}
		for _, it := range n.items {
			v.items = append(v.items, rec(it))
		}
		return v
	case "for":
		return &val{kind: kArray, partial: true, items: []*val{rec(n.items[1])}}
	case "string":
		return strVal(n.str)
	case "istring":
		return &val{kind: kString}
	case "int":
		return intVal(n.num)
	case "bool":
		return &val{kind: kBool, b: n.str == "true"}
	case "null":
		return &val{kind: kNull}
	case "unary", "binary":
		switch n.str {
		case "!", "==", "!=", "=~", "!~", "<", ">", "<=", ">=", "&&", "||":
			return &val{kind: kBool}
		case "-", "+", "*", "/", "%":
			return &val{kind: kInt}
		}
		return &val{}
	case "ternary":
		var alts []*val
		for _, b := range n.items[1:] {
			if b.kind == "call" && b.str == "fail" && b.target == nil {
				continue // the deployment stops there
			}
			alts = append(alts, rec(b))
		}
		if len(alts) == 1 {
			return alts[0]
		}
		return &val{kind: kAlt, alts: alts}
	case "call":
		if n.target != nil {
			return &val{}
		}
		switch n.str {
		case "concat":
			v := &val{kind: kArray, partial: true}
			for _, a := range n.items {
				av := rec(a)
				if av.kind == kArray {
					v.items = append(v.items, av.items...)
				}
			}
			return v
		case "format", "join", "uniqueString", "guid", "toLower", "toUpper", "replace", "subscriptionResourceId", "resourceId", "string", "trim":
			return &val{kind: kString}
		case "length", "int", "sub", "add":
			return &val{kind: kInt}
		case "empty", "contains", "equals", "bool", "startsWith", "endsWith":
			return &val{kind: kBool}
		}
		return &val{}
	case "ident":
		if x, ok := f.vars[n.str]; ok {
			return rec(x)
		}
		if p := f.param(n.str); p != nil {
			if m := bt.moduleCall(f); m != nil {
				if arg := m.body.get("params").get(n.str); arg != nil {
					return bt.toValDepth(bt.main, arg, depth+1)
				}
				if p.def != nil {
					return rec(p.def) // a module parameter main.bicep leaves at its default
				}
			}
			return paramVal(p)
		}
	}
	return &val{}
}

// paramVal is what a parameter's declaration says of its value.
func paramVal(p *bparam) *val {
	switch p.typ {
	case "string":
		v := &val{kind: kString}
		for _, a := range p.decorators["allowed"] {
			for _, it := range a.items {
				v.strs = append(v.strs, it.str)
			}
		}
		return v
	case "int":
		v := &val{kind: kInt}
		if a := p.decorators["minValue"]; len(a) == 1 {
			v.lo = &a[0].num
		}
		if a := p.decorators["maxValue"]; len(a) == 1 {
			v.hi = &a[0].num
		}
		return v
	case "bool":
		return &val{kind: kBool}
	case "array":
		return &val{kind: kArray, partial: true}
	}
	return &val{}
}

// resourceBody is the part of a resource declaration the type data
// describes: its body without Bicep's own keys.
func (bt *bicepTemplates) resourceBody(r *bresource) *val {
	body := r.body
	if body.kind == "for" {
		body = body.items[1]
	}
	v := bt.toVal(r.file, body)
	var fields []field
	for _, f := range v.fields {
		switch f.key {
		case "parent", "scope", "dependsOn":
			continue
		}
		fields = append(fields, f)
	}
	v.fields = fields
	return v
}

// resolveLiteral follows variables and parameters (through module calls)
// to a literal, if the expression is one in the end.
func (bt *bicepTemplates) resolveLiteral(f *bicepFile, n *bnode) (*bnode, bool) {
	for i := 0; i < 20; i++ {
		switch n.kind {
		case "string", "int", "bool", "null":
			return n, true
		case "ident":
			if x, ok := f.vars[n.str]; ok {
				n = x
				continue
			}
			p := f.param(n.str)
			if p == nil {
				return nil, false
			}
			if m := bt.moduleCall(f); m != nil {
				if arg := m.body.get("params").get(n.str); arg != nil {
					f, n = bt.main, arg
					continue
				}
			}
			if p.def == nil {
				return nil, false
			}
			n = p.def
			continue
		}
		return nil, false
	}
	return nil, false
}

// walk calls fn for n and every expression within it.
func walk(n *bnode, fn func(*bnode)) {
	if n == nil {
		return
	}
	fn(n)
	for _, f := range n.fields {
		walk(f.v, fn)
	}
	for _, it := range n.items {
		walk(it, fn)
	}
	walk(n.target, fn)
}

// propertyReads checks every property read of resource r in its file
// (r.properties.a.b, r.id) against r's type: the property exists.
func (bt *bicepTemplates) propertyReads(f *bicepFile, r *bresource, body typeRef) []string {
	var roots []*bnode
	for _, v := range f.vars {
		roots = append(roots, v)
	}
	for _, o := range f.outputs {
		roots = append(roots, o.v)
	}
	for _, x := range f.resources {
		roots = append(roots, x.body)
	}
	for _, m := range f.modules {
		roots = append(roots, m.body)
	}
	seen := map[string]bool{}
	var problems []string
	for _, root := range roots {
		walk(root, func(n *bnode) {
			if n.kind != "member" && n.kind != "index" {
				return
			}
			var steps []string
			x := n
			for x.kind == "member" || x.kind == "index" {
				if x.kind == "member" {
					steps = append([]string{x.str}, steps...)
				} else {
					steps = append([]string{"[]"}, steps...)
				}
				x = x.target
			}
			if x.kind != "ident" || x.str != r.sym {
				return
			}
			var cur any = &opaque{what: r.sym, t: &body}
			for _, s := range steps {
				var err error
				if s == "[]" {
					cur, err = opaqueStep(cur.(*opaque), "[]", "")
				} else {
					cur, err = opaqueStep(cur.(*opaque), ".", s)
				}
				if err != nil {
					if msg := fmt.Sprintf("line %d: %v", n.line, err); !seen[msg] {
						seen[msg] = true
						problems = append(problems, msg)
					}
					return
				}
			}
		})
	}
	return problems
}
