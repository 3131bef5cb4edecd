package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/graph-proxy/graph-proxy/internal/didyoumean"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable graph-proxy reads.
const EnvPrefix = "GRAPH_PROXY_"

// EnvConfigFile names the configuration file when --config is not given.
const EnvConfigFile = EnvPrefix + "CONFIG"

// Sources are the inputs of Load, lowest precedence first: built-in defaults,
// then File, then Env, then Flags.
type Sources struct {
	// File is a YAML configuration file; empty reads none.
	File string
	// Env is the process environment as os.Environ returns it; only
	// GRAPH_PROXY_* entries are read.
	Env []string
	// Flags maps configuration keys (e.g. "listen", "policy.file") to
	// values given on the command line.
	Flags map[string]string
}

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Where is the source of the bad value: "file.yaml:12", "env
	// GRAPH_PROXY_LISTEN", "flag --listen" or "default".
	Where string
	// Key is the configuration key, e.g. "graph.cloud".
	Key string
	// Reason says what is wrong and, where possible, what to do.
	Reason string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Where + ": " + p.Reason
	}
	return p.Where + ": " + p.Key + ": " + p.Reason
}

// Error lists every problem found in a configuration; Load never stops at
// the first.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Load builds the configuration from its sources and validates it. On any
// problem it returns an *Error listing all of them, each with its source
// (file and line, variable or flag), key and reason.
func Load(src Sources) (Config, error) {
	l := &loader{
		keys:  leafKeys(),
		lines: map[string]int{},
		from:  map[string]string{},
		v:     viper.New(),
	}
	def := Default()
	for _, k := range l.keys {
		l.v.SetDefault(k.path, k.get(&def))
	}
	if src.File != "" {
		l.readFile(src.File)
	}
	l.readEnv(src.Env)
	l.readFlags(src.Flags)
	if len(l.problems) > 0 {
		// Syntax and unknown-key problems make the values unreliable;
		// report them alone rather than a cascade of derived errors.
		return Config{}, &Error{Problems: l.problems}
	}

	var cfg Config
	undecodable := map[string]bool{}
	for _, k := range l.keys {
		if err := k.decode(&cfg, l.v.Get(k.path)); err != nil {
			l.add(k.path, "cannot use %s: %v", describe(l.v.Get(k.path)), err)
			undecodable[k.path] = true
		}
	}
	for _, p := range cfg.validate() {
		// A key that could not be decoded holds its zero value; reporting
		// that too would only repeat the problem.
		if !undecodable[p.Key] {
			l.add(p.Key, "%s", p.Reason)
		}
	}
	if len(l.problems) > 0 {
		return Config{}, &Error{Problems: l.problems}
	}
	return cfg, nil
}

type loader struct {
	keys     []leaf
	file     string
	lines    map[string]int    // lower-case key path → line in file
	from     map[string]string // lower-case key path → env var or flag
	problems []Problem
	v        *viper.Viper
}

func (l *loader) where(key string) string {
	key, _, _ = strings.Cut(key, "[") // "inbound.entra.tenants[1]" is on the list's line
	lk := strings.ToLower(key)
	if f, ok := l.from[lk]; ok {
		return f
	}
	if n, ok := l.lines[lk]; ok {
		return fmt.Sprintf("%s:%d", l.file, n)
	}
	return "default"
}

func (l *loader) add(key, format string, args ...any) {
	l.problems = append(l.problems, Problem{Where: l.where(key), Key: key, Reason: fmt.Sprintf(format, args...)})
}

func (l *loader) readFile(name string) {
	l.file = name
	data, err := os.ReadFile(name)
	if err != nil {
		l.problems = append(l.problems, Problem{Where: name, Reason: fmt.Sprintf("cannot read: %v", unwrapPath(err))})
		return
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.problems = append(l.problems, yamlProblem(name, err))
		return
	}
	if len(doc.Content) == 0 {
		return // an empty file sets nothing
	}
	l.walk(doc.Content[0], "", knownKeys(l.keys))
	if len(l.problems) > 0 {
		return
	}
	l.v.SetConfigType("yaml")
	if err := l.v.ReadConfig(bytes.NewReader(data)); err != nil {
		l.problems = append(l.problems, Problem{Where: name, Reason: err.Error()})
	}
}

// walk checks every key of the file against the known keys, recording lines
// and reporting unknown keys with a suggestion.
func (l *loader) walk(n *yaml.Node, prefix string, known map[string]keyKind) {
	if n.Kind != yaml.MappingNode {
		where := fmt.Sprintf("%s:%d", l.file, n.Line)
		key := prefix
		if key == "" {
			l.problems = append(l.problems, Problem{Where: where, Reason: "the configuration must be a YAML mapping of keys to values"})
			return
		}
		l.problems = append(l.problems, Problem{Where: where, Key: key, Reason: "must be a mapping of keys to values"})
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		path := kn.Value
		if prefix != "" {
			path = prefix + "." + kn.Value
		}
		lp := strings.ToLower(path)
		kind, ok := known[lp]
		where := fmt.Sprintf("%s:%d", l.file, kn.Line)
		if !ok {
			reason := "unknown key"
			if s := suggest(path, known); s != "" {
				reason += fmt.Sprintf(" (did you mean %q?)", s)
			}
			l.problems = append(l.problems, Problem{Where: where, Key: path, Reason: reason})
			continue
		}
		if _, dup := l.lines[lp]; dup {
			l.problems = append(l.problems, Problem{Where: where, Key: path, Reason: "key given twice"})
			continue
		}
		l.lines[lp] = vn.Line
		if kind.section {
			l.walk(vn, path, known)
		}
	}
}

func (l *loader) readEnv(env []string) {
	byName := map[string]leaf{}
	for _, k := range l.keys {
		byName[k.envName()] = k
	}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == EnvConfigFile {
			continue
		}
		k, ok := byName[name]
		if !ok {
			l.problems = append(l.problems, Problem{Where: "env " + name, Reason: "unknown variable; " + envSuggestion(name, byName)})
			continue
		}
		l.v.Set(k.path, val)
		l.from[strings.ToLower(k.path)] = "env " + name
	}
}

func (l *loader) readFlags(flags map[string]string) {
	names := make([]string, 0, len(flags))
	for k := range flags {
		names = append(names, k)
	}
	sort.Strings(names)
	known := knownKeys(l.keys)
	for _, key := range names {
		kind, ok := known[strings.ToLower(key)]
		if !ok || kind.section {
			l.problems = append(l.problems, Problem{Where: "flag", Key: key, Reason: "unknown configuration key"})
			continue
		}
		// Flags are applied after the environment so that they win.
		l.v.Set(kind.path, flags[key])
		l.from[strings.ToLower(key)] = "flag " + kind.path
	}
}

// leaf is one settable key: a non-struct field of Config.
type leaf struct {
	path  string // canonical, e.g. "graph.baseURL"
	index []int  // reflect field index path from Config
	typ   reflect.Type
}

func (k leaf) envName() string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(k.path, ".", "_"))
}

func (k leaf) get(c *Config) any {
	return reflect.ValueOf(c).Elem().FieldByIndex(k.index).Interface()
}

func (k leaf) decode(c *Config, raw any) error {
	field := reflect.ValueOf(c).Elem().FieldByIndex(k.index)
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		Result:           field.Addr().Interface(),
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(raw); err != nil {
		return errors.New(cleanDecodeError(err.Error()))
	}
	if field.Kind() == reflect.Slice {
		// "a, b" from the environment: trim around the commas.
		for i := 0; i < field.Len(); i++ {
			if s, ok := field.Index(i).Interface().(string); ok {
				field.Index(i).SetString(strings.TrimSpace(s))
			}
		}
	}
	return nil
}

type keyKind struct {
	path    string
	section bool
}

func leafKeys() []leaf {
	var out []leaf
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("mapstructure")
			idx := append(append([]int(nil), index...), i)
			if name == ",squash" {
				walk(f.Type, prefix, idx) // its keys are the section's own
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, path, idx)
				continue
			}
			out = append(out, leaf{path: path, index: idx, typ: f.Type})
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return out
}

func knownKeys(keys []leaf) map[string]keyKind {
	m := map[string]keyKind{}
	for _, k := range keys {
		m[strings.ToLower(k.path)] = keyKind{path: k.path}
		parts := strings.Split(k.path, ".")
		for i := 1; i < len(parts); i++ {
			p := strings.Join(parts[:i], ".")
			m[strings.ToLower(p)] = keyKind{path: p, section: true}
		}
	}
	return m
}

// Keys returns every configuration key with its environment variable, in
// the order of the Config struct. The operator guide is checked against it.
func Keys() [][2]string {
	var out [][2]string
	for _, k := range leafKeys() {
		out = append(out, [2]string{k.path, k.envName()})
	}
	return out
}

func suggest(path string, known map[string]keyKind) string {
	paths := make([]string, 0, len(known))
	for _, k := range known {
		paths = append(paths, k.path)
	}
	sort.Strings(paths) // ties go to the same key every time
	return didyoumean.Nearest(path, paths, 4)
}

func envSuggestion(name string, byName map[string]leaf) string {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	if best := didyoumean.Nearest(name, names, 4); best != "" {
		return fmt.Sprintf("did you mean %s?", best)
	}
	return "unset it, or see the operator guide for the variables graph-proxy reads"
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlProblem turns a YAML syntax error into file:line and reason.
func yamlProblem(file string, err error) Problem {
	msg := err.Error()
	where := file
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		where = file + ":" + m[1]
		msg = msg[len(m[0]):]
	}
	return Problem{Where: where, Reason: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func cleanDecodeError(s string) string {
	// mapstructure prefixes the (empty) field name; the key is already known.
	s = strings.TrimPrefix(s, "decoding failed due to the following error(s):\n\n")
	s = strings.TrimPrefix(s, "'' ")
	s = strings.TrimPrefix(s, "* ")
	return s
}

func describe(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v", v)
}
