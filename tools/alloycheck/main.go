// Command alloycheck runs the log pipeline of a rendered Alloy configuration on sample entries.
//
// It parses the whole file with Alloy's own syntax parser and decoder (github.com/grafana/alloy/syntax),
// then runs each entry through the loki.source.api listener it names, the loki.process stages that
// listener forwards to, up to a loki.write. The stages this project uses (json, template, replace,
// labels) are executed with the libraries Alloy itself uses for them: Go's regexp, text/template with
// sprig's functions, and jmespath-community's JMESPath. It is a test harness, not Alloy: any other
// component or stage is refused, so a configuration it cannot judge fails loudly.
//
// Usage: alloycheck CONFIG < entries.jsonl > results.jsonl, or alloycheck --describe-endpoints CONFIG
// (each loki.write endpoint's URL and kind of authentication, with sys.env read from the environment).
// Each input line is {"listener": "<loki.source.api label>", "line": "<raw log line>"}; each output
// line is {"labels": {...}, "line": "<processed line>"}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/grafana/alloy/syntax/ast"
	"github.com/grafana/alloy/syntax/parser"
	"github.com/grafana/alloy/syntax/vm"
	jmespath "github.com/jmespath-community/go-jmespath"
)

type httpServer struct {
	ListenAddress string `alloy:"listen_address,attr,optional"`
	ListenPort    int    `alloy:"listen_port,attr,optional"`
}

type apiSource struct {
	HTTP      *httpServer       `alloy:"http,block,optional"`
	Labels    map[string]string `alloy:"labels,attr,optional"`
	ForwardTo []string          `alloy:"forward_to,attr"`
}

type basicAuth struct {
	Username     string `alloy:"username,attr"`
	Password     string `alloy:"password,attr,optional"`
	PasswordFile string `alloy:"password_file,attr,optional"`
}

type lokiEndpoint struct {
	URL             string     `alloy:"url,attr"`
	BasicAuth       *basicAuth `alloy:"basic_auth,block,optional"`
	BearerToken     string     `alloy:"bearer_token,attr,optional"`
	BearerTokenFile string     `alloy:"bearer_token_file,attr,optional"`
}

type lokiWrite struct {
	Endpoint []lokiEndpoint `alloy:"endpoint,block"`
}

type jsonStage struct {
	Expressions map[string]string `alloy:"expressions,attr"`
	Source      *string           `alloy:"source,attr,optional"`
}

type templateStage struct {
	Source   string `alloy:"source,attr"`
	Template string `alloy:"template,attr"`
}

type replaceStage struct {
	Expression string `alloy:"expression,attr"`
	Source     string `alloy:"source,attr,optional"`
	Replace    string `alloy:"replace,attr,optional"`
}

type labelsStage struct {
	Values map[string]*string `alloy:"values,attr"`
}

// entry is one log entry on its way through a pipeline.
type entry struct {
	labels    map[string]string
	extracted map[string]any
	line      string
}

type stage func(*entry) error

type process struct {
	forwardTo []string
	stages    []stage
}

type config struct {
	sources   map[string]apiSource
	processes map[string]process
	writes    map[string]lokiWrite
}

// functions is the template function map Alloy gives its template and replace stages: sprig's,
// plus the string helpers Alloy adds under capitalised names.
func functions() template.FuncMap {
	fm := sprig.TxtFuncMap()
	fm["ToLower"] = strings.ToLower
	fm["ToUpper"] = strings.ToUpper
	fm["Replace"] = strings.Replace
	fm["Trim"] = strings.Trim
	fm["TrimLeft"] = strings.TrimLeft
	fm["TrimRight"] = strings.TrimRight
	fm["TrimPrefix"] = strings.TrimPrefix
	fm["TrimSuffix"] = strings.TrimSuffix
	fm["TrimSpace"] = strings.TrimSpace
	return fm
}

// asString converts an extracted value as Alloy does (numbers without exponent, booleans as words).
func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	default:
		return "", false
	}
}

func templateData(extracted map[string]any) map[string]any {
	data := make(map[string]any, len(extracted)+2)
	for k, v := range extracted {
		if s, ok := asString(v); ok {
			data[k] = s
		}
	}
	return data
}

func newJSON(cfg jsonStage) (stage, error) {
	if len(cfg.Expressions) == 0 {
		return nil, fmt.Errorf("stage.json: expressions are required")
	}
	compiled := map[string]jmespath.JMESPath{}
	for name, expr := range cfg.Expressions {
		if expr == "" {
			expr = name
		}
		c, err := jmespath.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("stage.json: %s: %w", name, err)
		}
		compiled[name] = c
	}
	return func(e *entry) error {
		input := e.line
		if cfg.Source != nil {
			v, ok := asString(e.extracted[*cfg.Source])
			if !ok {
				return nil
			}
			input = v
		}
		var data map[string]any
		if err := json.Unmarshal([]byte(input), &data); err != nil {
			return nil // Alloy passes malformed lines on untouched (drop_malformed is off).
		}
		for name, expr := range compiled {
			r, err := expr.Search(data)
			if err != nil {
				continue
			}
			switch r.(type) {
			case float64, string, bool, nil:
				e.extracted[name] = r
			default:
				b, err := json.Marshal(r)
				if err == nil {
					e.extracted[name] = string(b)
				}
			}
		}
		return nil
	}, nil
}

func newTemplate(cfg templateStage) (stage, error) {
	if cfg.Source == "" {
		return nil, fmt.Errorf("stage.template: source is required")
	}
	t, err := template.New("pipeline_template").Funcs(functions()).Parse(cfg.Template)
	if err != nil {
		return nil, fmt.Errorf("stage.template %q: %w", cfg.Source, err)
	}
	return func(e *entry) error {
		data := templateData(e.extracted)
		if v, ok := data[cfg.Source]; ok {
			data["Value"] = v
		}
		data["Entry"] = e.line
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			// Alloy logs this at debug level and leaves the entry as it was; a test must know.
			return fmt.Errorf("stage.template %q: %w", cfg.Source, err)
		}
		if buf.Len() == 0 {
			delete(e.extracted, cfg.Source)
		} else {
			e.extracted[cfg.Source] = buf.String()
		}
		return nil
	}, nil
}

func newReplace(cfg replaceStage) (stage, error) {
	if cfg.Expression == "" {
		return nil, fmt.Errorf("stage.replace: expression is required")
	}
	re, err := regexp.Compile(cfg.Expression)
	if err != nil {
		return nil, fmt.Errorf("stage.replace %q: %w", cfg.Expression, err)
	}
	t, err := template.New("pipeline_template").Funcs(functions()).Parse(cfg.Replace)
	if err != nil {
		return nil, fmt.Errorf("stage.replace %q: %w", cfg.Expression, err)
	}
	return func(e *entry) error {
		input := e.line
		if cfg.Source != "" {
			v, ok := asString(e.extracted[cfg.Source])
			if !ok {
				return nil
			}
			input = v
		}
		matches := re.FindAllStringSubmatchIndex(input, -1)
		if matches == nil {
			return nil
		}
		data := templateData(e.extracted)
		// Every capture group of every match becomes the template's output; text between and
		// around the groups is kept. A group nested in one already replaced is skipped.
		var out strings.Builder
		end := 0
		for _, m := range matches {
			for i := 2; i < len(m); i += 2 {
				if m[i] < 0 || m[i] < end {
					continue
				}
				data["Value"] = input[m[i]:m[i+1]]
				var buf bytes.Buffer
				if err := t.Execute(&buf, data); err != nil {
					return fmt.Errorf("stage.replace %q: %w", cfg.Expression, err)
				}
				out.WriteString(input[end:m[i]])
				out.WriteString(buf.String())
				end = m[i+1]
			}
		}
		out.WriteString(input[end:])
		if cfg.Source != "" {
			e.extracted[cfg.Source] = out.String()
		} else {
			e.line = out.String()
		}
		return nil
	}, nil
}

func newLabels(cfg labelsStage) (stage, error) {
	if cfg.Values == nil {
		return nil, fmt.Errorf("stage.labels: values are required")
	}
	return func(e *entry) error {
		for name, source := range cfg.Values {
			key := name
			if source != nil && *source != "" {
				key = *source
			}
			if v, ok := e.extracted[key]; ok {
				if s, ok := asString(v); ok {
					e.labels[name] = s
				}
			}
		}
		return nil
	}, nil
}

// scope lets forward_to lists evaluate: each component's exports resolve to its own dotted name.
func scope(file *ast.File) *vm.Scope {
	root := map[string]any{}
	for _, stmt := range file.Body {
		block, ok := stmt.(*ast.BlockStmt)
		if !ok || block.Label == "" {
			continue
		}
		node := root
		for _, part := range block.Name {
			next, ok := node[part].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[part] = next
			}
			node = next
		}
		node[block.Label] = map[string]any{"receiver": strings.Join(block.Name, ".") + "." + block.Label}
	}
	// Alloy's standard library function the configuration may use: sys.env, for credentials the
	// container receives in its environment rather than in the file.
	root["sys"] = map[string]any{"env": os.Getenv}
	return &vm.Scope{Variables: root}
}

func load(path string) (*config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	file, err := parser.ParseFile(path, src)
	if err != nil {
		return nil, err
	}
	sc := scope(file)
	cfg := &config{sources: map[string]apiSource{}, processes: map[string]process{}, writes: map[string]lokiWrite{}}
	for _, stmt := range file.Body {
		block, ok := stmt.(*ast.BlockStmt)
		if !ok {
			return nil, fmt.Errorf("only component blocks are supported at the top level")
		}
		name := strings.Join(block.Name, ".")
		switch name {
		case "loki.source.api":
			var s apiSource
			if err := vm.New(block.Body).Evaluate(sc, &s); err != nil {
				return nil, fmt.Errorf("%s %q: %w", name, block.Label, err)
			}
			cfg.sources[block.Label] = s
		case "loki.write":
			var w lokiWrite
			if err := vm.New(block.Body).Evaluate(sc, &w); err != nil {
				return nil, fmt.Errorf("%s %q: %w", name, block.Label, err)
			}
			cfg.writes[block.Label] = w
		case "loki.process":
			p, err := loadProcess(block, sc)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", name, block.Label, err)
			}
			cfg.processes[block.Label] = p
		default:
			return nil, fmt.Errorf("component %s is not supported by alloycheck", name)
		}
	}
	return cfg, nil
}

func loadProcess(block *ast.BlockStmt, sc *vm.Scope) (process, error) {
	var p process
	for _, stmt := range block.Body {
		switch s := stmt.(type) {
		case *ast.AttributeStmt:
			if s.Name.Name != "forward_to" {
				return p, fmt.Errorf("unknown attribute %s", s.Name.Name)
			}
			if err := vm.New(s.Value).Evaluate(sc, &p.forwardTo); err != nil {
				return p, err
			}
		case *ast.BlockStmt:
			st, err := loadStage(s, sc)
			if err != nil {
				return p, err
			}
			p.stages = append(p.stages, st)
		}
	}
	return p, nil
}

func loadStage(block *ast.BlockStmt, sc *vm.Scope) (stage, error) {
	name := strings.Join(block.Name, ".")
	decode := func(v any) error { return vm.New(block).Evaluate(sc, v) }
	switch name {
	case "stage.json":
		var c jsonStage
		if err := decode(&c); err != nil {
			return nil, err
		}
		return newJSON(c)
	case "stage.template":
		var c templateStage
		if err := decode(&c); err != nil {
			return nil, err
		}
		return newTemplate(c)
	case "stage.replace":
		var c replaceStage
		if err := decode(&c); err != nil {
			return nil, err
		}
		return newReplace(c)
	case "stage.labels":
		var c labelsStage
		if err := decode(&c); err != nil {
			return nil, err
		}
		return newLabels(c)
	default:
		return nil, fmt.Errorf("%s is not supported by alloycheck", name)
	}
}

func (c *config) run(listener, line string) (*entry, error) {
	source, ok := c.sources[listener]
	if !ok {
		return nil, fmt.Errorf("no loki.source.api %q", listener)
	}
	e := &entry{labels: map[string]string{}, extracted: map[string]any{}, line: line}
	for k, v := range source.Labels {
		e.labels[k] = v
	}
	targets := source.ForwardTo
	for hops := 0; ; hops++ {
		if len(targets) != 1 || hops > 8 {
			return nil, fmt.Errorf("%s: each component must forward to exactly one receiver, got %v", listener, targets)
		}
		target := targets[0]
		if label, ok := strings.CutPrefix(target, "loki.write."); ok {
			if _, ok := c.writes[label]; !ok {
				return nil, fmt.Errorf("no loki.write %q", label)
			}
			return e, nil
		}
		label, ok := strings.CutPrefix(target, "loki.process.")
		p, found := c.processes[label]
		if !ok || !found {
			return nil, fmt.Errorf("unknown receiver %s", target)
		}
		for _, st := range p.stages {
			if err := st(e); err != nil {
				return nil, err
			}
		}
		targets = p.forwardTo
	}
}

// describeEndpoints prints each loki.write endpoint: its URL, the kind of authentication, whether
// its credential resolved to something non-empty (never the credential itself) and the file Alloy
// reads it from, if any.
func describeEndpoints(cfg *config) {
	out := json.NewEncoder(os.Stdout)
	for label, w := range cfg.writes {
		for _, e := range w.Endpoint {
			d := map[string]any{"write": label, "url": e.URL, "auth": "none"}
			switch {
			case e.BasicAuth != nil:
				d["auth"], d["username"], d["credential_set"] = "basic", e.BasicAuth.Username, e.BasicAuth.Password != ""
				d["credential_file"] = e.BasicAuth.PasswordFile
			case e.BearerToken != "" || e.BearerTokenFile != "":
				d["auth"], d["credential_set"], d["credential_file"] = "bearer", e.BearerToken != "", e.BearerTokenFile
			}
			if err := out.Encode(d); err != nil {
				fmt.Fprintln(os.Stderr, "alloycheck:", err)
				os.Exit(1)
			}
		}
	}
}

func main() {
	describe := len(os.Args) == 3 && os.Args[1] == "--describe-endpoints"
	if len(os.Args) != 2 && !describe {
		fmt.Fprintln(os.Stderr, "usage: alloycheck CONFIG < entries.jsonl > results.jsonl")
		fmt.Fprintln(os.Stderr, "       alloycheck --describe-endpoints CONFIG")
		os.Exit(2)
	}
	cfg, err := load(os.Args[len(os.Args)-1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "alloycheck:", err)
		os.Exit(1)
	}
	if describe {
		describeEndpoints(cfg)
		return
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 16<<20)
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	for in.Scan() {
		var req struct {
			Listener string `json:"listener"`
			Line     string `json:"line"`
		}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "alloycheck: bad input line:", err)
			os.Exit(1)
		}
		e, err := cfg.run(req.Listener, req.Line)
		if err != nil {
			fmt.Fprintln(os.Stderr, "alloycheck:", err)
			os.Exit(1)
		}
		if err := out.Encode(map[string]any{"labels": e.labels, "line": e.line}); err != nil {
			fmt.Fprintln(os.Stderr, "alloycheck:", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "alloycheck:", err)
		os.Exit(1)
	}
}
