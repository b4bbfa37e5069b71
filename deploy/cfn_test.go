package deploy

// Helpers of the template tests: a CloudFormation YAML reader that rewrites
// the short-form intrinsics, an evaluator of conditions and Fn::If for one set
// of parameter values, a reference checker, and schema validation against the
// CloudFormation and SAM schemas that goformation publishes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	gfschema "github.com/awslabs/goformation/v7/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// cfnTemplate is a CloudFormation (or SAM) template read from YAML, with the
// short-form intrinsics (!Ref, !Sub, ...) rewritten to their long form
// ({"Ref": ...}, {"Fn::Sub": ...}), as CloudFormation itself reads them.
type cfnTemplate struct {
	path string
	doc  map[string]any
}

// loadTemplate reads and parses the template at path, failing the test on
// any error.
func loadTemplate(tb testing.TB, path string) *cfnTemplate {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := parseTemplate(data)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return &cfnTemplate{path: path, doc: doc}
}

// parseTemplate parses a YAML template. Anchors, aliases and merge keys are
// refused (CloudFormation does not take them), and so are duplicate keys.
func parseTemplate(data []byte) (map[string]any, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	v, err := fromYAML(&root)
	if err != nil {
		return nil, err
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the template is not a mapping")
	}
	return doc, nil
}

// shortForms maps CloudFormation's YAML tags to the long-form function names.
var shortForms = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!GetAtt":       "Fn::GetAtt",
	"!Sub":          "Fn::Sub",
	"!If":           "Fn::If",
	"!Equals":       "Fn::Equals",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!Join":         "Fn::Join",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!FindInMap":    "Fn::FindInMap",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!GetAZs":       "Fn::GetAZs",
	"!ImportValue":  "Fn::ImportValue",
	"!Transform":    "Fn::Transform",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
}

func fromYAML(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: expected one YAML document", n.Line)
		}
		return fromYAML(n.Content[0])
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: YAML aliases are not supported by CloudFormation", n.Line)
	}
	if n.Anchor != "" {
		return nil, fmt.Errorf("line %d: YAML anchors are not supported by CloudFormation", n.Line)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		fn, ok := shortForms[n.Tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
		}
		if n.Kind == yaml.ScalarNode {
			if fn == "Fn::GetAtt" {
				resource, attribute, ok := strings.Cut(n.Value, ".")
				if !ok {
					return nil, fmt.Errorf("line %d: !GetAtt %q has no attribute", n.Line, n.Value)
				}
				return map[string]any{fn: []any{resource, attribute}}, nil
			}
			return map[string]any{fn: n.Value}, nil
		}
		inner := *n
		inner.Tag = ""
		v, err := fromYAML(&inner)
		if err != nil {
			return nil, err
		}
		return map[string]any{fn: v}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a scalar", k.Line)
			}
			if k.Value == "<<" {
				return nil, fmt.Errorf("line %d: YAML merge keys are not supported by CloudFormation", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := fromYAML(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromYAML(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!timestamp", "!!binary":
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// section returns a top-level mapping of the template (Parameters,
// Resources, ...), or nil.
func (t *cfnTemplate) section(name string) map[string]any {
	m, _ := t.doc[name].(map[string]any)
	return m
}

// parameters returns each parameter's declaration by name.
func (t *cfnTemplate) parameters() map[string]map[string]any {
	return mappings(t.section("Parameters"))
}

// resources returns each resource by logical id.
func (t *cfnTemplate) resources() map[string]map[string]any {
	return mappings(t.section("Resources"))
}

// resourcesOfType returns the logical ids of the resources of one type, sorted.
func (t *cfnTemplate) resourcesOfType(typ string) []string {
	var ids []string
	for id, r := range t.resources() {
		if r["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func mappings(m map[string]any) map[string]map[string]any {
	out := make(map[string]map[string]any, len(m))
	for k, v := range m {
		if vm, ok := v.(map[string]any); ok {
			out[k] = vm
		}
	}
	return out
}

// pseudoParameters are CloudFormation's own Ref targets, with the values the
// evaluator uses for them.
var pseudoParameters = map[string]string{
	"AWS::AccountId":        "123456789012",
	"AWS::NotificationARNs": "",
	"AWS::NoValue":          "",
	"AWS::Partition":        "aws",
	"AWS::Region":           "eu-west-1",
	"AWS::StackId":          "arn:aws:cloudformation:eu-west-1:123456789012:stack/test/00000000-0000-0000-0000-000000000000",
	"AWS::StackName":        "test",
	"AWS::URLSuffix":        "amazonaws.com",
}

// scenario is one set of parameter values, as CloudFormation passes them
// (strings), and the truth of every condition under them.
type scenario struct {
	name       string
	values     map[string]string
	conditions map[string]bool
}

// scenarios returns every combination of values of the parameters that the
// conditions read: AllowedValues when a parameter has them, else its default
// and one other value (a sample when the default is empty, empty otherwise).
// The other parameters take their default, or a sample when they have none.
func (t *cfnTemplate) scenarios(tb testing.TB) []scenario {
	tb.Helper()
	params := t.parameters()
	base := map[string]string{}
	for name, p := range params {
		if d, ok := p["Default"]; ok {
			base[name] = scalarString(d)
		} else {
			base[name] = sampleValue(name, p)
		}
	}
	var varied []string
	walk(t.section("Conditions"), func(v any) {
		if m, ok := v.(map[string]any); ok {
			if ref, ok := m["Ref"].(string); ok {
				if _, isParam := params[ref]; isParam && !slices.Contains(varied, ref) {
					varied = append(varied, ref)
				}
			}
		}
	})
	sort.Strings(varied)
	combos := []map[string]string{base}
	for _, name := range varied {
		var candidates []string
		if allowed, ok := params[name]["AllowedValues"].([]any); ok {
			for _, a := range allowed {
				candidates = append(candidates, scalarString(a))
			}
		} else if base[name] == "" {
			candidates = []string{"", sampleValue(name, params[name])}
		} else {
			candidates = []string{base[name], ""}
		}
		var next []map[string]string
		for _, c := range combos {
			for _, v := range candidates {
				m := make(map[string]string, len(c))
				for k, cv := range c {
					m[k] = cv
				}
				m[name] = v
				next = append(next, m)
			}
		}
		combos = next
	}
	var out []scenario
	for _, values := range combos {
		var parts []string
		for _, name := range varied {
			v := values[name]
			if len(v) > 12 {
				v = "<set>"
			} else if v == "" {
				v = "<empty>"
			}
			parts = append(parts, name+"="+v)
		}
		s := scenario{name: strings.Join(parts, ","), values: values, conditions: map[string]bool{}}
		if s.name == "" {
			s.name = "defaults"
		}
		for name := range t.section("Conditions") {
			if _, err := t.condition(name, values, s.conditions, nil); err != nil {
				tb.Fatalf("%s: condition %s: %v", t.path, name, err)
			}
		}
		out = append(out, s)
	}
	return out
}

// sampleValue makes up a plausible value for a parameter without a default.
func sampleValue(name string, p map[string]any) string {
	typ, _ := p["Type"].(string)
	switch {
	case typ == "AWS::EC2::VPC::Id":
		return "vpc-0123456789abcdef0"
	case typ == "List<AWS::EC2::Subnet::Id>":
		return "subnet-0123456789abcdef0,subnet-0123456789abcdef1"
	case typ == "AWS::EC2::SecurityGroup::Id":
		return "sg-0123456789abcdef0"
	case typ == "Number":
		if m, ok := p["MinValue"]; ok {
			return scalarString(m)
		}
		return "1"
	case strings.Contains(name, "Kms"):
		return "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
	case typ == "CommaDelimitedList" && strings.HasSuffix(name, "SecretARNs"):
		base := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + strings.ToLower(name)
		return base + "-b-AbCdEf," + base + "-c-AbCdEf"
	case typ == "CommaDelimitedList" && strings.HasSuffix(name, "ClusterARNs"):
		return "arn:aws:rds:eu-west-1:123456789012:cluster:sample-b,arn:aws:rds:eu-west-1:123456789012:cluster:sample-c"
	case strings.HasSuffix(name, "SecretARN"):
		return "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + strings.ToLower(name) + "-AbCdEf"
	case strings.HasSuffix(name, "ClusterARN"):
		return "arn:aws:rds:eu-west-1:123456789012:cluster:sample"
	}
	return "sample"
}

// scalarString renders a YAML scalar the way CloudFormation passes it on.
func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// condition evaluates the named condition, memoised in memo.
func (t *cfnTemplate) condition(name string, values map[string]string, memo map[string]bool, seen []string) (bool, error) {
	if v, ok := memo[name]; ok {
		return v, nil
	}
	if slices.Contains(seen, name) {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	expr, ok := t.section("Conditions")[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	v, err := t.evalCondition(expr, values, memo, append(seen, name))
	if err != nil {
		return false, err
	}
	memo[name] = v
	return v, nil
}

func (t *cfnTemplate) evalCondition(expr any, values map[string]string, memo map[string]bool, seen []string) (bool, error) {
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("not a condition function: %v", expr)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			name, _ := arg.(string)
			return t.condition(name, values, memo, seen)
		case "Fn::Equals":
			if len(args) != 2 {
				return false, fmt.Errorf("Fn::Equals takes two values")
			}
			a, err := t.conditionValue(args[0], values)
			if err != nil {
				return false, err
			}
			b, err := t.conditionValue(args[1], values)
			if err != nil {
				return false, err
			}
			return a == b, nil
		case "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("Fn::Not takes one condition")
			}
			v, err := t.evalCondition(args[0], values, memo, seen)
			return !v, err
		case "Fn::And", "Fn::Or":
			if len(args) < 2 || len(args) > 10 {
				return false, fmt.Errorf("%s takes 2 to 10 conditions", fn)
			}
			for _, a := range args {
				v, err := t.evalCondition(a, values, memo, seen)
				if err != nil {
					return false, err
				}
				if fn == "Fn::And" && !v {
					return false, nil
				}
				if fn == "Fn::Or" && v {
					return true, nil
				}
			}
			return fn == "Fn::And", nil
		}
		return false, fmt.Errorf("%s is not allowed in a condition", fn)
	}
	panic("unreachable")
}

// conditionValue evaluates a value inside Fn::Equals: a scalar, a Ref, or
// an Fn::Join of a list parameter's Ref (how a CommaDelimitedList is tested
// for empty: CloudFormation passes "" as one empty value, joined to "").
func (t *cfnTemplate) conditionValue(v any, values map[string]string) (string, error) {
	if m, ok := v.(map[string]any); ok {
		if args, ok := m["Fn::Join"].([]any); ok && len(m) == 1 {
			sep, isString := args[0].(string)
			list, _ := args[1].(map[string]any)
			name, _ := list["Ref"].(string)
			typ, _ := t.parameters()[name]["Type"].(string)
			if len(args) != 2 || !isString || len(list) != 1 || (typ != "CommaDelimitedList" && !strings.HasPrefix(typ, "List<")) {
				return "", fmt.Errorf("only Fn::Join of a list parameter's Ref is evaluated inside Fn::Equals, not %v", v)
			}
			return strings.Join(strings.Split(values[name], ","), sep), nil
		}
		ref, ok := m["Ref"].(string)
		if !ok || len(m) != 1 {
			return "", fmt.Errorf("only Ref and Fn::Join are evaluated inside Fn::Equals, not %v", v)
		}
		if pv, ok := values[ref]; ok {
			return pv, nil
		}
		if pv, ok := pseudoParameters[ref]; ok {
			return pv, nil
		}
		return "", fmt.Errorf("Ref %s in a condition is not a parameter", ref)
	}
	return scalarString(v), nil
}

// resolveMode says how far resolve goes.
type resolveMode int

const (
	// symbolic resolves Fn::If and AWS::NoValue and drops resources and
	// outputs whose condition is false; other intrinsics stay as written.
	symbolic resolveMode = iota
	// concrete also replaces Refs to parameters by their value, typed as
	// CloudFormation's resource providers take it (Number as a number, list
	// types as lists), and every other intrinsic by a placeholder of the type
	// it returns. It produces what the schemas can check.
	concrete
)

// resolved returns the template as CloudFormation would see it under s.
func (t *cfnTemplate) resolved(s scenario, mode resolveMode) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range t.doc {
		out[k] = v
	}
	for _, section := range []string{"Resources", "Outputs"} {
		in := t.section(section)
		if in == nil {
			continue
		}
		kept := map[string]any{}
		for id, v := range in {
			if m, ok := v.(map[string]any); ok {
				if c, ok := m["Condition"].(string); ok && !s.conditions[c] {
					continue
				}
			}
			r, present, err := t.resolve(v, s, mode)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %v", section, id, err)
			}
			if present {
				kept[id] = r
			}
		}
		out[section] = kept
	}
	return out, nil
}

// resolve evaluates v under s. present is false for AWS::NoValue.
func (t *cfnTemplate) resolve(v any, s scenario, mode resolveMode) (value any, present bool, err error) {
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			r, ok, err := t.resolve(e, s, mode)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out = append(out, r)
			}
		}
		return out, true, nil
	case map[string]any:
		if fn, arg, ok := intrinsic(v); ok {
			return t.resolveIntrinsic(fn, arg, s, mode)
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, ok, err := t.resolve(e, s, mode)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out[k] = r
			}
		}
		return out, true, nil
	}
	return v, true, nil
}

// intrinsic reports whether m is an intrinsic function call.
func intrinsic(m map[string]any) (fn string, arg any, ok bool) {
	if len(m) != 1 {
		return "", nil, false
	}
	for k, a := range m {
		if k == "Ref" || strings.HasPrefix(k, "Fn::") {
			return k, a, true
		}
	}
	return "", nil, false
}

func (t *cfnTemplate) resolveIntrinsic(fn string, arg any, s scenario, mode resolveMode) (any, bool, error) {
	switch fn {
	case "Fn::If":
		args, ok := arg.([]any)
		if !ok || len(args) != 3 {
			return nil, false, fmt.Errorf("Fn::If takes a condition and two values")
		}
		name, _ := args[0].(string)
		c, ok := s.conditions[name]
		if !ok {
			return nil, false, fmt.Errorf("Fn::If names no condition: %v", args[0])
		}
		if c {
			return t.resolve(args[1], s, mode)
		}
		return t.resolve(args[2], s, mode)
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, false, fmt.Errorf("Ref takes a name, not %v", arg)
		}
		if name == "AWS::NoValue" {
			return nil, false, nil
		}
		if mode == symbolic {
			return map[string]any{fn: name}, true, nil
		}
		if p, isParam := t.parameters()[name]; isParam {
			v, err := typedParameter(p, s.values[name])
			return v, err == nil, err
		}
		return "ref:" + name, true, nil
	}
	// Resolve Fn::If and AWS::NoValue inside the arguments.
	a, _, err := t.resolve(arg, s, mode)
	if err != nil {
		return nil, false, err
	}
	if mode == symbolic {
		return map[string]any{fn: a}, true, nil
	}
	switch fn {
	case "Fn::Split", "Fn::GetAZs", "Fn::Cidr":
		return []any{"intrinsic:" + fn}, true, nil
	case "Fn::Length":
		return 1, true, nil
	}
	return "intrinsic:" + fn, true, nil
}

// typedParameter converts a parameter value to what a resource provider takes.
func typedParameter(p map[string]any, value string) (any, error) {
	typ, _ := p["Type"].(string)
	switch {
	case typ == "Number":
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("number parameter with value %q", value)
		}
		return f, nil
	case strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList":
		var l []any
		for _, e := range strings.Split(value, ",") {
			l = append(l, e)
		}
		return l, nil
	}
	return value, nil
}

// walk calls f on v and every value nested in it.
func walk(v any, f func(any)) {
	f(v)
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			walk(e, f)
		}
	case map[string]any:
		for _, e := range v {
			walk(e, f)
		}
	}
}

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

// referenceProblems lists every Ref, Fn::GetAtt, Fn::Sub variable and
// DependsOn in the resources and outputs of a resolved template that names
// nothing that exists in it.
func referenceProblems(doc map[string]any) []string {
	params, _ := doc["Parameters"].(map[string]any)
	resources, _ := doc["Resources"].(map[string]any)
	known := func(name string) bool {
		_, p := params[name]
		_, r := resources[name]
		_, pseudo := pseudoParameters[name]
		return p || r || pseudo
	}
	var problems []string
	check := func(where string, v any) {
		walk(v, func(e any) {
			m, ok := e.(map[string]any)
			if !ok {
				return
			}
			fn, arg, ok := intrinsic(m)
			if !ok {
				return
			}
			switch fn {
			case "Ref":
				if name, _ := arg.(string); !known(name) {
					problems = append(problems, fmt.Sprintf("%s: Ref %v names nothing", where, arg))
				}
			case "Fn::GetAtt":
				args, _ := arg.([]any)
				if len(args) != 2 {
					problems = append(problems, fmt.Sprintf("%s: Fn::GetAtt %v is not [resource, attribute]", where, arg))
					return
				}
				if name, _ := args[0].(string); resources[name] == nil {
					problems = append(problems, fmt.Sprintf("%s: Fn::GetAtt names no resource %v", where, args[0]))
				}
			case "Fn::Sub":
				text, vars := arg, map[string]any{}
				if l, ok := arg.([]any); ok && len(l) == 2 {
					text = l[0]
					vars, _ = l[1].(map[string]any)
				}
				s, ok := text.(string)
				if !ok {
					problems = append(problems, fmt.Sprintf("%s: Fn::Sub takes a string", where))
					return
				}
				for _, match := range subVariable.FindAllStringSubmatch(s, -1) {
					name := match[1]
					if strings.HasPrefix(name, "!") {
						continue
					}
					if _, ok := vars[name]; ok {
						continue
					}
					if base, _, isAttr := strings.Cut(name, "."); isAttr {
						if resources[base] == nil {
							problems = append(problems, fmt.Sprintf("%s: Fn::Sub ${%s} names no resource", where, name))
						}
						continue
					}
					if !known(name) {
						problems = append(problems, fmt.Sprintf("%s: Fn::Sub ${%s} names nothing", where, name))
					}
				}
			}
		})
	}
	for id, r := range resources {
		check("resource "+id, r)
		rm, _ := r.(map[string]any)
		var deps []any
		switch d := rm["DependsOn"].(type) {
		case string:
			deps = []any{d}
		case []any:
			deps = d
		}
		for _, d := range deps {
			if name, _ := d.(string); resources[name] == nil {
				problems = append(problems, fmt.Sprintf("resource %s: DependsOn %v names no resource", id, d))
			}
		}
	}
	outputs, _ := doc["Outputs"].(map[string]any)
	for id, o := range outputs {
		check("output "+id, o)
	}
	sort.Strings(problems)
	return problems
}

// conditionProblems lists condition names used by resources, outputs and
// Fn::If that the template does not define.
func (t *cfnTemplate) conditionProblems() []string {
	conds := t.section("Conditions")
	var problems []string
	for _, section := range []string{"Resources", "Outputs"} {
		for id, v := range mappings(t.section(section)) {
			if c, ok := v["Condition"]; ok {
				if name, _ := c.(string); conds[name] == nil {
					problems = append(problems, fmt.Sprintf("%s %s: no condition %v", section, id, c))
				}
			}
			walk(v, func(e any) {
				m, ok := e.(map[string]any)
				if !ok {
					return
				}
				if args, ok := m["Fn::If"].([]any); ok && len(m) == 1 {
					if len(args) != 3 {
						problems = append(problems, fmt.Sprintf("%s %s: Fn::If takes three arguments", section, id))
					} else if name, _ := args[0].(string); conds[name] == nil {
						problems = append(problems, fmt.Sprintf("%s %s: Fn::If names no condition %v", section, id, args[0]))
					}
				}
			})
		}
	}
	sort.Strings(problems)
	return problems
}

// schemaSet is one of goformation's published schemas, compiled on demand
// one resource type at a time.
type schemaSet struct {
	name     string
	url      string
	compiler *jsonschema.Compiler
	defs     map[string]any

	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
}

var (
	cloudFormationSchema = sync.OnceValues(func() (*schemaSet, error) {
		return newSchemaSet("cloudformation.schema.json", gfschema.CloudformationSchema)
	})
	samSchema = sync.OnceValues(func() (*schemaSet, error) {
		return newSchemaSet("sam.schema.json", gfschema.SamSchema)
	})
)

// newSchemaSet loads a goformation schema (JSON Schema draft 4).
//
// One change is made to it, and only for speed: the root's Resources
// property, an anyOf over every one of the ~1,400 resource types, becomes a
// plain map of objects with a Type. The root schema then checks the
// template's shape (parameters, conditions, outputs, transform), and every
// resource is checked against the exact definition of its own type by
// validateResource, which is stricter than the anyOf (whose error names no
// type).
func newSchemaSet(name, text string) (*schemaSet, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not an object", name)
	}
	// goformation gives its schemas the draft-04 meta-schema's own URL as
	// "$id" (a keyword draft 4 does not have); it is not this schema's id.
	delete(root, "$id")
	props, _ := root["properties"].(map[string]any)
	if props == nil || props["Resources"] == nil {
		return nil, fmt.Errorf("%s has no Resources property", name)
	}
	props["Resources"] = map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"patternProperties": map[string]any{
			"^[a-zA-Z0-9]+$": map[string]any{"type": "object", "required": []any{"Type"}},
		},
	}
	defs, _ := root["definitions"].(map[string]any)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	url := "file:///goformation/v7/schema/" + name
	if err := c.AddResource(url, root); err != nil {
		return nil, err
	}
	return &schemaSet{name: name, url: url, compiler: c, defs: defs, compiled: map[string]*jsonschema.Schema{}}, nil
}

func (s *schemaSet) compile(fragment string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.compiled[fragment]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile(s.url + "#" + fragment)
	if err != nil {
		return nil, err
	}
	s.compiled[fragment] = sch
	return sch, nil
}

// hasType reports whether the schema defines the resource type.
func (s *schemaSet) hasType(typ string) bool {
	_, ok := s.defs[typ]
	return ok
}

// validateTemplate checks the template's top level (see newSchemaSet).
func (s *schemaSet) validateTemplate(doc map[string]any) error {
	sch, err := s.compile("")
	if err != nil {
		return err
	}
	return validate(sch, doc)
}

// validateResource checks one resource (Type, Properties, Condition,
// DependsOn, Metadata, policies) against its type's definition.
func (s *schemaSet) validateResource(typ string, resource any) error {
	if !s.hasType(typ) {
		return fmt.Errorf("%s has no definition of %s", s.name, typ)
	}
	sch, err := s.compile("/definitions/" + typ)
	if err != nil {
		return err
	}
	return validate(sch, resource)
}

func validate(sch *jsonschema.Schema, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}
