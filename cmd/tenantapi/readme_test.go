package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEExamples runs the curl examples of docs/api.md's "Items" and
// "Admin API" sections in order, as a reader pasting them into bash would
// (a placeholder such as ID=… takes the member its comment names from the
// answer before), and checks that each answers what its comment says: the
// status and problem code, an ETag, a version, attributes; 2xx when it says
// nothing. It also checks the story they tell: a key the examples create
// works when created, a merge patch nulls only attributes that exist, a
// suspended tenant is re-activated, and the section says what /admin/config
// is for.
func TestREADMEExamples(t *testing.T) {
	raw, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	e := setup(t)
	vars := map[string]string{"KEY": e.tenant("demo"), "ADMIN_TOKEN": testAdminToken}
	arrays := map[string][]string{}
	run := readmeRunner{t: t, e: e, vars: vars, arrays: arrays}

	for _, heading := range []string{"## Items", "## Admin API"} {
		if n := run.block(shBlock(t, readme, heading)); n < 5 {
			t.Errorf("%s: %d curl examples ran, want them all", heading, n)
		}
	}
	admin := section(readme, "## Admin API")
	if !run.reactivated {
		t.Error("the Admin API examples suspend a tenant but never re-activate it")
	}
	if !strings.Contains(admin, "public.config") {
		t.Error("the Admin API section does not say what /admin/config is for (shared settings in public.config)")
	}
}

// TestREADMEOwnTables runs the curl examples of docs/schema.md's "Start
// from the example" on the example set they name, checking what their
// comments say.
func TestREADMEOwnTables(t *testing.T) {
	raw, err := os.ReadFile("../../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := section(string(raw), "## Start from the example")
	if !strings.Contains(doc, "examples/projects") {
		t.Fatal(`"Start from the example" does not name the example set it runs on`)
	}
	e := setupSet(t, exampleSet(t))
	run := readmeRunner{t: t, e: e, vars: map[string]string{"KEY": e.tenant("demo"), "ADMIN_TOKEN": testAdminToken}, arrays: map[string][]string{}}
	_, curls, _ := strings.Cut(doc, "```sh\nKEY=")
	if n := run.block(shBlock(t, "\n## x\n```sh\nKEY="+curls, "## x")); n < 5 {
		t.Errorf("Start from the example: %d curl examples ran, want them all", n)
	}
	// The filtered list shows the task the examples made.
	pid := run.vars["PROJECT"]
	r := e.as("demo", "GET", "/tasks?project_id="+pid, "")
	if tasks, _ := r.json(t)["tasks"].([]any); len(tasks) != 1 {
		t.Errorf("tasks of the project: %s", r.body)
	}
}

// readmeRunner runs the docs' lines against e, keeping the shell's variables.
type readmeRunner struct {
	t           *testing.T
	e           *apiEnv
	vars        map[string]string
	arrays      map[string][]string
	last        response
	suspended   map[string]bool
	reactivated bool
}

var (
	arrayAssign       = regexp.MustCompile(`^([A-Za-z_]+)=\((.*)\)$`)
	placeholderAssign = regexp.MustCompile(`^[A-Za-z_]+=\S*( [A-Za-z_]+=\S*)*$`)
	quotedMember      = regexp.MustCompile(`"([a-z_]+)"`)
	statusComment     = regexp.MustCompile(`^([1-5][0-9]{2})\b[ :;]*([a-z]+(?:-[a-z]+)*)?`)
	versionComment    = regexp.MustCompile(`\bversion ([0-9]+)`)
	attributesComment = regexp.MustCompile(`\battributes (\{.*?\})`)
	etagComment       = regexp.MustCompile(`^ETag: ("[0-9]+")`)
	arrayWord         = regexp.MustCompile(`^"\$\{([A-Za-z_]+)\[@\]\}"`)
)

// dashlessCodes are the problem codes of one word.
var dashlessCodes = map[string]bool{"unauthorized": true, "forbidden": true, "conflict": true, "unavailable": true, "internal": true}

// errUnset is a line that uses a variable the examples leave to the reader
// (NEXT: a next_cursor, when there is one).
var errUnset = errors.New("unset variable")

// block runs lines and returns how many curls it ran.
func (rr *readmeRunner) block(lines []string) int {
	t := rr.t
	ran := 0
	for _, line := range lines {
		code, comment := splitComment(line)
		code = strings.TrimSpace(code)
		switch {
		case code == "":
		case arrayAssign.MatchString(code):
			m := arrayAssign.FindStringSubmatch(code)
			words, err := shellWords(m[2], rr.vars, rr.arrays)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			rr.arrays[m[1]] = words
		case placeholderAssign.MatchString(code):
			members := quotedMember.FindAllStringSubmatch(comment, -1)
			for i, a := range strings.Fields(code) {
				name, value, _ := strings.Cut(a, "=")
				if !strings.Contains(value, "…") {
					rr.vars[name] = value
					continue
				}
				if _, ok := rr.vars[name]; ok && (name == "KEY" || name == "ADMIN_TOKEN") {
					continue // printed by make dev: the test's own
				}
				if i >= len(members) {
					t.Fatalf("%q: the comment does not name the member %s takes", line, name)
				}
				v, ok := rr.last.jsonOrNil()[members[i][1]].(string)
				if !ok {
					t.Fatalf("%q: the answer before has no %q: %s", line, members[i][1], rr.last.body)
				}
				rr.vars[name] = v
			}
		case strings.HasPrefix(code, "curl "):
			words, err := shellWords(code, rr.vars, rr.arrays)
			if errors.Is(err, errUnset) {
				continue
			}
			if err != nil {
				t.Fatalf("%q: not runnable in bash: %v", line, err)
			}
			rr.curl(line, words, strings.TrimSpace(comment))
			ran++
		default:
			t.Fatalf("%q: neither a curl nor an assignment", line)
		}
	}
	return ran
}

func (rr *readmeRunner) curl(line string, words []string, comment string) {
	t := rr.t
	rq := req{header: map[string]string{}}
	data, hasData := "", false
	for i := 1; i < len(words); i++ {
		switch w := words[i]; w {
		case "-s", "-i", "-si":
		case "-X", "-H", "-d":
			if i+1 == len(words) {
				t.Fatalf("%q: %s without its argument", line, w)
			}
			i++
			switch w {
			case "-X":
				rq.method = words[i]
			case "-H":
				k, v, ok := strings.Cut(words[i], ":")
				if !ok {
					t.Fatalf("%q: header %q", line, words[i])
				}
				rq.header[k] = strings.TrimSpace(v)
			case "-d":
				data, hasData = words[i], true
			}
		default:
			if strings.HasPrefix(w, "-") || !strings.HasPrefix(w, "localhost:8080/") {
				t.Fatalf("%q: unexpected curl argument %q", line, w)
			}
			rq.path = strings.TrimPrefix(w, "localhost:8080")
		}
	}
	if rq.method == "" {
		rq.method = "GET"
		if hasData {
			rq.method = "POST"
		}
	}
	if hasData {
		rq.body = data
		if _, ok := rq.header["Content-Type"]; !ok {
			rq.header["Content-Type"] = "application/x-www-form-urlencoded" // as curl -d sends it
		}
	}

	// A merge patch of an item nulls only attributes the item has.
	if rq.method == "PATCH" && strings.HasPrefix(rq.path, "/items/") {
		var patch struct {
			Attributes map[string]any `json:"attributes"`
		}
		json.Unmarshal([]byte(rq.body), &patch)
		cur := rr.e.do(req{method: "GET", path: rq.path, header: rq.header}).jsonOrNil()
		attrs, _ := cur["attributes"].(map[string]any)
		for k, v := range patch.Attributes {
			if _, has := attrs[k]; v == nil && !has {
				t.Errorf("%q: nulls attribute %q, which the item does not have (%v)", line, k, attrs)
			}
		}
	}

	r := rr.e.do(rq)
	rr.last = r
	wantStatus, wantCode := 0, ""
	if m := statusComment.FindStringSubmatch(comment); m != nil {
		wantStatus, _ = strconv.Atoi(m[1])
		// A word after the status is a problem code when it has the
		// shape of one ("403 tenant-suspended", not "200 again").
		if strings.Contains(m[2], "-") || dashlessCodes[m[2]] {
			wantCode = m[2]
		}
	}
	switch {
	case wantStatus != 0 && r.status != wantStatus:
		t.Errorf("%q: status %d, its comment says %d; body %s", line, r.status, wantStatus, r.body)
	case wantStatus == 0 && (r.status < 200 || r.status > 299):
		t.Errorf("%q: status %d; body %s", line, r.status, r.body)
	case wantCode != "" && r.code(t) != wantCode:
		t.Errorf("%q: code %q, its comment says %q", line, r.code(t), wantCode)
	}
	if m := etagComment.FindStringSubmatch(comment); m != nil && r.header.Get("ETag") != m[1] {
		t.Errorf("%q: ETag %q, its comment says %s", line, r.header.Get("ETag"), m[1])
	}
	if r.status >= 200 && r.status <= 299 {
		if m := versionComment.FindStringSubmatch(comment); m != nil && fmt.Sprint(r.jsonOrNil()["version"]) != m[1] {
			t.Errorf("%q: version %v, its comment says %s", line, r.jsonOrNil()["version"], m[1])
		}
		if m := attributesComment.FindStringSubmatch(comment); m != nil {
			var want any
			if err := json.Unmarshal([]byte(m[1]), &want); err != nil {
				t.Fatalf("%q: attributes in its comment: %v", line, err)
			}
			if got := r.jsonOrNil()["attributes"]; !reflect.DeepEqual(got, want) {
				t.Errorf("%q: attributes %v, its comment says %v", line, got, want)
			}
		}
	}

	// A key the examples create is one its tenant can use right away.
	if rq.method == "POST" && strings.HasSuffix(rq.path, "/api-keys") && r.status == 201 {
		tenant := strings.Split(rq.path, "/")[3]
		key, _ := r.jsonOrNil()["key"].(string)
		if u := rr.e.do(req{method: "GET", path: "/items", header: map[string]string{"X-Tenant-ID": tenant, "Authorization": "Bearer " + key}}); u.status != 200 {
			t.Errorf("%q: the key it creates gets %d %s", line, u.status, u.body)
		}
	}
	if rq.method == "PATCH" && strings.HasPrefix(rq.path, "/admin/tenants/") && r.status == 200 {
		if rr.suspended == nil {
			rr.suspended = map[string]bool{}
		}
		switch id, _ := r.jsonOrNil()["id"].(string); r.jsonOrNil()["status"] {
		case "suspended":
			rr.suspended[id] = true
		case "active":
			if rr.suspended[id] && strings.Contains(rq.body, `"status":"active"`) {
				rr.reactivated = true
			}
		}
	}
}

// jsonOrNil decodes a JSON object body, nil for anything else.
func (r response) jsonOrNil() map[string]any {
	var m map[string]any
	json.Unmarshal(r.body, &m)
	return m
}

// section returns a document's text from heading to the next heading
// (outside code blocks, where # starts a comment).
func section(readme, heading string) string {
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		return ""
	}
	lines := strings.Split(readme[i+len(heading)+2:], "\n")
	fenced := false
	for n, l := range lines {
		switch {
		case strings.HasPrefix(l, "```"):
			fenced = !fenced
		case !fenced && strings.HasPrefix(l, "#"):
			return strings.Join(lines[:n], "\n")
		}
	}
	return strings.Join(lines, "\n")
}

// shBlock returns the lines of the first ```sh block under heading, with
// continued lines (ending in \) joined.
func shBlock(t *testing.T, readme, heading string) []string {
	t.Helper()
	s := section(readme, heading)
	_, after, ok := strings.Cut(s, "```sh\n")
	if !ok {
		t.Fatalf("no sh block under %q", heading)
	}
	body, _, _ := strings.Cut(after, "```")
	var lines []string
	pending := ""
	for _, l := range strings.Split(body, "\n") {
		if strings.HasSuffix(l, `\`) {
			pending += strings.TrimSuffix(l, `\`)
			continue
		}
		lines = append(lines, pending+l)
		pending = ""
	}
	return lines
}

// splitComment cuts a line at a # that starts a shell comment: outside
// quotes, at the start or after white space.
func splitComment(line string) (code, comment string) {
	var quote rune
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i], strings.TrimPrefix(line[i:], "#")
		}
	}
	return line, ""
}

// shellWords splits code into words as bash would: single quotes literal;
// double quotes expanding $VAR, ${VAR} and, as the whole word,
// "${ARR[@]}" (one word per element); bare words expanding $VAR.
// Characters bash would treat as redirections or control (< > | ; & `) and
// command substitution are errors, and so is a variable never set (errUnset
// for NEXT, which the examples leave to the reader).
func shellWords(code string, vars map[string]string, arrays map[string][]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	rs := []rune(code)
	expand := func(i int) (string, int, error) { // rs[i] == '$'
		j := i + 1
		braced := j < len(rs) && rs[j] == '{'
		if braced {
			j++
		}
		k := j
		for k < len(rs) && (rs[k] == '_' || rs[k] >= 'A' && rs[k] <= 'Z' || rs[k] >= 'a' && rs[k] <= 'z' || rs[k] >= '0' && rs[k] <= '9') {
			k++
		}
		if k == j {
			return "", 0, fmt.Errorf("unsupported $ at %d", i)
		}
		name := string(rs[j:k])
		if braced {
			if k >= len(rs) || rs[k] != '}' {
				return "", 0, fmt.Errorf("unsupported ${ at %d", i)
			}
			k++
		}
		v, ok := vars[name]
		if !ok {
			if name == "NEXT" {
				return "", 0, errUnset
			}
			return "", 0, fmt.Errorf("%w %s", errUnset, name)
		}
		return v, k, nil
	}
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			if j == len(rs) {
				return nil, errors.New("unterminated '")
			}
			cur.WriteString(string(rs[i+1 : j]))
			i = j
			inWord = true
		case c == '"':
			if m := arrayWord.FindStringSubmatch(string(rs[i:])); m != nil && !inWord {
				arr, ok := arrays[m[1]]
				if !ok {
					return nil, fmt.Errorf("%w array %s", errUnset, m[1])
				}
				words = append(words, arr...)
				i += len([]rune(m[0])) - 1
				continue
			}
			inWord = true
			for i++; ; i++ {
				if i >= len(rs) {
					return nil, errors.New(`unterminated "`)
				}
				if rs[i] == '"' {
					break
				}
				switch rs[i] {
				case '\\':
					if i+1 < len(rs) && strings.ContainsRune("\"\\$`", rs[i+1]) {
						i++
					}
					cur.WriteRune(rs[i])
				case '$':
					v, next, err := expand(i)
					if err != nil {
						return nil, err
					}
					cur.WriteString(v)
					i = next - 1
				case '`':
					return nil, errors.New("command substitution")
				default:
					cur.WriteRune(rs[i])
				}
			}
		case c == '$':
			v, next, err := expand(i)
			if err != nil {
				return nil, err
			}
			cur.WriteString(v)
			i = next - 1
			inWord = true
		case c == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			inWord = true
		case strings.ContainsRune("<>|;&`()", c):
			return nil, fmt.Errorf("%q outside quotes", c)
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
