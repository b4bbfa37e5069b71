package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The command examples of the documentation, and how they are run.
//
// A fenced block whose info string is sh, bash, shell or console is a
// command block; every other block (json, text, yaml, sql, mermaid, none)
// is not run. A command block right after (blank lines allowed) an HTML
// comment
//
//	<!-- not run: REASON -->
//
// is skipped; the reason is required, and a marker not followed by a
// command block is an error. One comment
//
//	<!-- run with: --migrations examples/projects TENANT_DELETE_GRACE=1s -->
//
// before every block of its file that runs starts the file's dev with those
// words: NAME=VALUE words are the environment of the dev and of the shell,
// the others dev's flags.
//
// Every other command block runs, the blocks of a file in order in one bash
// session in a fresh environment: the tenantapi binary first on PATH, KEY
// the demo API key and ADMIN_TOKEN the admin token that a `tenantapi dev`
// (started for the file, in a fresh folder holding a copy of examples/)
// printed, and the shell in dev's folder, so that the CLI reaches dev's
// cluster under ./.tenantapi. dev listens on a free port, which stands in
// for 8080 in localhost:8080 and 127.0.0.1:8080, so that the test runs
// beside a developer's own dev.
//
// In sh blocks every line runs (a line ending in \ continued by the next; a
// here-document with its body); in console blocks the lines starting with
// "$ " do (continued on lines starting "> "), and the others are output.
// Each runs as bash runs it, and a comment on a line says what the line
// must do:
//
//   - a curl on its own (no |, ;, &, < or > outside quotes) answers 2xx, or
//     the status and problem code its comment starts with (# 412, # 404
//     tenant-not-found, # 409 conflict: …), and the ETag (# ETag: "1"),
//     version (# version 3) and attributes (# attributes {…}) it names; -i
//     is dropped (the test reads the headers);
//   - any other command, a curl with operators included, exits 0, or the
//     status its comment starts with (# exit 1);
//   - NAME=…, ID=0193a6f1-…  # the "id" it answered: each NAME whose value
//     has a … takes the JSON member its comment quotes, in order, from the
//     previous answer (the body of the last curl, or the last command's
//     output); KEY=… and ADMIN_TOKEN=… keep the test's;
//   - a line using a variable that is not set is skipped when its comment
//     starts with that variable's name (# NEXT: a next_cursor …), and fails
//     otherwise.
//
// A failure names the file, the line of its block and the line.

// docFile is the command blocks of one markdown file.
type docFile struct {
	name    string   // as the repository names it: README.md, docs/api.md
	runWith []string // words of its run-with marker
	blocks  []docBlock
}

// docBlock is one command block.
type docBlock struct {
	line  int    // of its opening fence
	skip  string // the reason of its not-run marker
	lines []docLine
}

// docLine is one command: its text (continuations and here-documents
// joined) and the number of its first line.
type docLine struct {
	n    int
	text string
	raw  string // as the file has it
}

var (
	fenceRE       = regexp.MustCompile("^(\\s*)(```+|~~~+)\\s*([^\\s`]*)")
	markerRE      = regexp.MustCompile(`^\s*<!--\s*(not run|run with)\s*(:?)\s*(.*?)\s*-->\s*$`)
	anyMarkerRE   = regexp.MustCompile(`<!--\s*(not run|run with)`)
	heredocRE     = regexp.MustCompile(`<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)(['"]?)`)
	commandBlocks = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true}
)

// parseDoc returns the command blocks of a markdown file, or what is wrong
// with its markers and blocks.
func parseDoc(name, text string) (docFile, []string) {
	f := docFile{name: name}
	var errs []string
	fail := func(n int, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s:%d: %s", name, n, fmt.Sprintf(format, args...)))
	}
	lines := strings.Split(text, "\n")
	pending, pendingLine := "", 0 // a not-run marker's reason, waiting for its block
	runnable := 0                 // the line of the first block that runs
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if m := fenceRE.FindStringSubmatch(l); m != nil {
			indent, fence, info := m[1], m[2], strings.ToLower(m[3])
			end := i + 1
			for end < len(lines) {
				c := strings.TrimSpace(lines[end])
				if strings.HasPrefix(c, fence) && strings.Trim(c, fence[:1]) == "" {
					break
				}
				end++
			}
			if end == len(lines) {
				fail(i+1, "the block is never closed")
			}
			if !commandBlocks[info] {
				if pending != "" {
					fail(pendingLine, "the not-run marker is followed by a %q block, not a command block (sh, bash, shell, console)", info)
				}
			} else {
				b := docBlock{line: i + 1, skip: pending}
				body := make([]string, 0, end-i-1)
				for _, bl := range lines[i+1 : min(end, len(lines))] {
					body = append(body, strings.TrimPrefix(bl, indent))
				}
				var berrs []string
				b.lines, berrs = blockLines(info, body, i+2)
				for _, e := range berrs {
					errs = append(errs, name+":"+e)
				}
				if b.skip == "" && runnable == 0 {
					runnable = b.line
				}
				f.blocks = append(f.blocks, b)
			}
			pending = ""
			i = end
			continue
		}
		if !anyMarkerRE.MatchString(l) {
			if strings.TrimSpace(l) != "" && pending != "" {
				fail(pendingLine, "the not-run marker is not followed by a command block (text at line %d)", i+1)
				pending = ""
			}
			continue
		}
		m := markerRE.FindStringSubmatch(l)
		switch {
		case pending != "":
			fail(pendingLine, "the not-run marker is not followed by a command block (another marker at line %d)", i+1)
			pending = ""
		case m == nil:
			fail(i+1, "a marker is a line of its own, <!-- not run: REASON --> or <!-- run with: WORDS -->: %q", l)
			continue
		}
		switch {
		case m[2] == "" || m[3] == "":
			fail(i+1, "<!-- %s: … --> needs its %s after the colon: %q", m[1], map[string]string{"not run": "reason", "run with": "words"}[m[1]], l)
		case m[1] == "not run":
			pending, pendingLine = m[3], i+1
		case f.runWith != nil:
			fail(i+1, "a second run-with marker; a file has one, before its blocks")
		case runnable != 0:
			fail(i+1, "the run-with marker comes after a block that runs (line %d); put it before the file's first", runnable)
		default:
			f.runWith = strings.Fields(m[3])
		}
	}
	if pending != "" {
		fail(pendingLine, "the not-run marker is not followed by a command block (end of file)")
	}
	return f, errs
}

// blockLines returns the commands of a block's body, whose first line is
// line first of the file.
func blockLines(info string, body []string, first int) ([]docLine, []string) {
	var out []docLine
	var errs []string
	for i := 0; i < len(body); i++ {
		l, n := body[i], first+i
		if info == "console" {
			if !strings.HasPrefix(l, "$ ") {
				continue // output
			}
			l = strings.TrimPrefix(l, "$ ")
		} else if strings.HasPrefix(l, "$ ") {
			errs = append(errs, fmt.Sprintf("%d: %q starts with a prompt: a transcript is a ```console block", n, l))
			continue
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		raw := l
		for strings.HasSuffix(l, `\`) && i+1 < len(body) {
			i++
			next := body[i]
			if info == "console" {
				next = strings.TrimPrefix(next, "> ") // a continuation's prompt
			}
			l = strings.TrimSuffix(l, `\`) + next
			raw += "\n" + body[i]
		}
		if m := heredoc(l); m != nil {
			for i+1 < len(body) {
				i++
				l += "\n" + body[i]
				raw += "\n" + body[i]
				if strings.TrimLeft(body[i], "\t") == m[2] {
					break
				}
			}
		}
		out = append(out, docLine{n: n, text: l, raw: raw})
	}
	return out, errs
}

// heredoc returns the match of the here-document a command's first line
// starts (its delimiter is m[2]), or nil.
func heredoc(text string) []string {
	code := splitCode(text)
	for _, ix := range heredocRE.FindAllStringSubmatchIndex(code, -1) {
		m := heredocRE.FindStringSubmatch(code[ix[0]:])
		if (ix[0] == 0 || code[ix[0]-1] != '<') && m[1] == m[3] {
			return m
		}
	}
	return nil
}

// splitCode is the first line of a command without its comment.
func splitCode(text string) string {
	first, _, _ := strings.Cut(text, "\n")
	code, _ := splitComment(first)
	return code
}

// splitComment cuts a line at a # that starts a shell comment: outside
// quotes, at the start or after white space.
func splitComment(line string) (code, comment string) {
	i := scanUnquoted(line, func(i int, c rune) bool {
		return c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t')
	})
	if i < 0 {
		return line, ""
	}
	return line[:i], line[i+1:]
}

// scanUnquoted returns the index of the first character of line outside
// quotes for which stop is true, or -1.
func scanUnquoted(line string, stop func(i int, c rune) bool) int {
	var quote rune
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case stop(i, c):
			return i
		}
	}
	return -1
}

var (
	placeholderAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=\S*( +[A-Za-z_][A-Za-z0-9_]*=\S*)*$`)
	quotedMember      = regexp.MustCompile(`"([A-Za-z_][A-Za-z0-9_]*)"`)
	statusComment     = regexp.MustCompile(`^([1-5][0-9]{2})\b[ :;]*([a-z]+(?:-[a-z]+)*)?`)
	exitComment       = regexp.MustCompile(`^exits? ([0-9]+)\b`)
	versionComment    = regexp.MustCompile(`\bversion ([0-9]+)`)
	attributesComment = regexp.MustCompile(`\battributes (\{.*?\})`)
	etagComment       = regexp.MustCompile(`^ETag: ("[0-9]+")`)
	variableUse       = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	skipComment       = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*):`)
)

var (
	quotedRE   = regexp.MustCompile(`'[^']*'`)
	assignedRE = regexp.MustCompile(`(?:^|[\s;&|(])([A-Za-z_][A-Za-z0-9_]*)(?:\[[^]]*\])?\+?=|\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s|\bread\s+(?:-\S+\s+)*([A-Za-z_][A-Za-z0-9_]*)`)
)

// usedVariables returns the variables a command expands that it does not
// set itself (as NAME=, for NAME in or read NAME), leaving out the text of
// single quotes and of a quoted here-document.
func usedVariables(code string) []string {
	if m := heredoc(code); m != nil && m[1] != "" {
		code, _, _ = strings.Cut(code, "\n")
	}
	code = quotedRE.ReplaceAllString(code, "")
	set := map[string]bool{}
	for _, m := range assignedRE.FindAllStringSubmatch(code, -1) {
		set[m[1]+m[2]+m[3]] = true
	}
	var used []string
	for _, m := range variableUse.FindAllStringSubmatch(code, -1) {
		if !set[m[1]] && !slices.Contains(used, m[1]) {
			used = append(used, m[1])
		}
	}
	return used
}

// hasShellOperator reports whether a command has a pipe, list, background
// or redirection operator outside quotes.
func hasShellOperator(code string) bool {
	return scanUnquoted(code, func(_ int, c rune) bool { return strings.ContainsRune("|;&<>`", c) }) >= 0
}

// dashlessCodes are the problem codes of one word.
var dashlessCodes = map[string]bool{"unauthorized": true, "forbidden": true, "conflict": true, "unavailable": true, "internal": true}

// docStep is one line of the shell script, as the callbacks see it.
type docStep struct {
	block   int
	line    docLine
	comment string
}

func (s docStep) failf(file, format string, args ...any) string {
	text := strings.ReplaceAll(s.line.raw, "\n", "\n\t")
	return fmt.Sprintf("%s, block at line %d, line %d: %s\n\t%s", file, s.block, s.line.n, text, fmt.Sprintf(format, args...))
}

// docRun is one file's run: its shell's folder and environment, the port
// that stands for 8080 (none: no rewriting) and how long it may take.
type docRun struct {
	dir     string
	env     []string
	port    string
	timeout time.Duration // of the whole session; 0: 2 minutes
}

// docShellPrelude defines the helpers the script calls: __run N KIND NEEDS
// SKIPPABLE CODE, __take N MEMBER.
const docShellPrelude = `
__call() { local __what=$1 __kv __a=(); shift; for __kv in "$@"; do __a+=(--data-urlencode "$__kv"); done
  command curl -sf --max-time 60 -G "${__a[@]}" "$__cb/$__what"; }
__ready() { local __v
  for __v in $2; do [[ -v $__v ]] || { __call unset "i=$1" "var=$__v" >/dev/null; return 1; }; done
  for __v in $3; do [[ -v $__v ]] || { __call skip "i=$1" "var=$__v" >/dev/null; return 1; }; done; }
__curl() { local __a __args=() __out
  for __a in "$@"; do
    [[ $__a == -i || $__a == --include ]] && continue
    [[ $__a =~ ^-[sSfLvk]*i[sSfLvki]*$ ]] && __a=${__a//i/}
    [[ $__a == - ]] || __args+=("$__a")
  done
  : >"$__d/headers"; : >"$__d/body"
  __out=$(command curl "${__args[@]}" -s --max-time 30 -o "$__d/body" -D "$__d/headers" -w '%{http_code}' 2>"$__d/curlerr")
  __curled=$? __status=$__out; }
__run() { local __n=$1 __kind=$2 __code=$5 __rc
  echo "$__n" >"$__d/current"
  __ready "$__n" "$3" "$4" || return 0
  set --
  __curled=
  if [[ $__kind == curl ]]; then
    eval "__curl ${__code#curl}" >"$__d/out" 2>"$__d/err"; __rc=$?
    if [[ -n $__curled ]]; then __call curl "i=$__n" "rc=$__curled" "status=$__status" >/dev/null; return 0; fi
  else
    { eval "$__code"; } >"$__d/out" 2>"$__d/err"; __rc=$?
  fi
  __call ran "i=$__n" "rc=$__rc" >/dev/null; }
__take() { echo "$1" >"$__d/current"; __call take "i=$1" "member=$2"; }
`

// shellQuote quotes s for bash.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runDocFile runs the blocks of f that are not skipped, as one bash
// session, and returns its failures and what it skipped.
func runDocFile(t *testing.T, f docFile, r docRun) (failures, skipped []string) {
	t.Helper()
	work := t.TempDir()
	var mu sync.Mutex
	var steps []docStep
	var script strings.Builder
	type failure struct {
		line int
		msg  string
	}
	var failed []failure
	fail := func(s docStep, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, failure{s.line.n, s.failf(f.name, format, args...)})
	}
	rewrite := func(code string) string {
		if r.port == "" {
			return code
		}
		for _, host := range []string{"localhost", "127.0.0.1"} {
			code = strings.ReplaceAll(code, host+":8080", host+":"+r.port)
		}
		return code
	}

	// The script.
	for _, b := range f.blocks {
		if b.skip != "" {
			skipped = append(skipped, fmt.Sprintf("%s:%d (not run: %s)", f.name, b.line, b.skip))
			continue
		}
		for _, l := range b.lines {
			first, rest, _ := strings.Cut(l.text, "\n")
			code, comment := splitComment(first)
			code, comment = strings.TrimSpace(code), strings.TrimSpace(comment)
			if rest != "" {
				code += "\n" + rest
			}
			if code == "" {
				continue
			}
			s := docStep{block: b.line, line: l, comment: comment}
			steps = append(steps, s)
			i := len(steps) - 1
			if placeholderAssign.MatchString(code) && strings.Contains(code, "…") {
				members := quotedMember.FindAllStringSubmatch(comment, -1)
				for w, a := range strings.Fields(code) {
					name, value, _ := strings.Cut(a, "=")
					switch {
					case !strings.Contains(value, "…"):
						fmt.Fprintf(&script, "%s=%s\n", name, rewrite(value))
					case name == "KEY" || name == "ADMIN_TOKEN":
						// printed by dev: the test's own
					case w >= len(members):
						fail(s, "the comment does not name the member %s takes", name)
						fmt.Fprintf(&script, "exit 3\n")
					default:
						fmt.Fprintf(&script, "%s=$(__take %d %s) || exit 3\n", name, i, members[w][1])
					}
				}
				continue
			}
			var needs, skippable []string
			for _, v := range usedVariables(code) {
				if c := skipComment.FindStringSubmatch(comment); c != nil && c[1] == v {
					skippable = append(skippable, v)
				} else {
					needs = append(needs, v)
				}
			}
			kind := "cmd"
			switch {
			case !strings.HasPrefix(code, "curl "):
			case !hasShellOperator(code):
				kind = "curl"
			case statusComment.MatchString(comment):
				fail(s, "a curl whose comment says what it answers is a command of its own (no |, ;, &, < or >)")
				continue
			}
			fmt.Fprintf(&script, "__run %d %s %s %s %s\n", i, kind, shellQuote(strings.Join(needs, " ")), shellQuote(strings.Join(skippable, " ")), shellQuote(rewrite(code)))
		}
	}
	if len(steps) == 0 {
		return nil, skipped
	}

	// The callbacks: each answers after checking a step's result.
	var last []byte // the previous answer
	step := func(w http.ResponseWriter, q url.Values) (docStep, bool) {
		i, err := strconv.Atoi(q.Get("i"))
		if err != nil || i < 0 || i >= len(steps) {
			http.Error(w, "no such step", 400)
			return docStep{}, false
		}
		return steps[i], true
	}
	read := func(name string) []byte {
		b, _ := os.ReadFile(filepath.Join(work, name))
		return b
	}
	tail := func(b []byte) string {
		s := strings.TrimSpace(string(b))
		if len(s) > 2000 {
			s = "…" + s[len(s)-2000:]
		}
		return s
	}
	mux := http.NewServeMux()
	commands, curls := 0, 0
	mux.HandleFunc("/ran", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		s, ok := step(w, q)
		if !ok {
			return
		}
		mu.Lock()
		commands++
		mu.Unlock()
		want := 0
		if m := exitComment.FindStringSubmatch(s.comment); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		out, errs := read("out"), read("err")
		if rc := q.Get("rc"); rc != strconv.Itoa(want) {
			msg := fmt.Sprintf("exit %s, want %d", rc, want)
			if output := strings.TrimSpace(tail(out) + "\n" + tail(errs)); output != "" {
				msg += "; output:\n\t" + strings.ReplaceAll(output, "\n", "\n\t")
			}
			fail(s, "%s", msg)
		}
		if len(out) > 0 {
			mu.Lock()
			last = out
			mu.Unlock()
		}
	})
	mux.HandleFunc("/curl", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		s, ok := step(w, q)
		if !ok {
			return
		}
		mu.Lock()
		curls++
		mu.Unlock()
		status, _ := strconv.Atoi(q.Get("status"))
		if rc := q.Get("rc"); status == 0 || rc != "0" && rc != "22" { // 22: --fail on a status of 400 or more
			fail(s, "curl exit %s: %s", rc, tail(read("curlerr")))
			return
		}
		r := response{status: status, header: parseHeaders(read("headers")), body: read("body")}
		mu.Lock()
		last = r.body
		mu.Unlock()
		for _, msg := range checkAnswer(r, s.comment) {
			fail(s, "%s", msg)
		}
	})
	mux.HandleFunc("/take", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		s, ok := step(w, q)
		if !ok {
			return
		}
		member := q.Get("member")
		mu.Lock()
		prev := last
		mu.Unlock()
		var m map[string]any
		json.Unmarshal(prev, &m)
		v, ok := m[member].(string)
		if !ok {
			fail(s, "the answer before has no %q string: %s", member, tail(prev))
			http.Error(w, "no such member", 404)
			return
		}
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("/unset", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		if s, ok := step(w, q); ok {
			fail(s, "uses $%s, which is not set (a line that may be skipped says so: # %[1]s: what it is)", q.Get("var"))
		}
	})
	mux.HandleFunc("/skip", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		if s, ok := step(w, q); ok {
			mu.Lock()
			skipped = append(skipped, fmt.Sprintf("%s:%d ($%s is not set)", f.name, s.line.n, q.Get("var")))
			mu.Unlock()
		}
	})
	cb := httptest.NewServer(mux)
	defer cb.Close()

	path := filepath.Join(work, "doc.sh")
	full := "__d=" + shellQuote(work) + "; __cb=" + shellQuote(cb.URL) + "\n" + docShellPrelude + script.String()
	if err := os.WriteFile(path, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	if r.timeout == 0 {
		r.timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", path)
	cmd.Dir, cmd.Env = r.dir, r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a command it leaves in the background ends with it
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		msg := fmt.Sprintf("%s: the shell stopped: %v", f.name, err)
		if i, aerr := strconv.Atoi(strings.TrimSpace(string(read("current")))); aerr == nil && i >= 0 && i < len(steps) {
			msg = steps[i].failf(f.name, "the shell stopped here: %v", err)
		}
		if out := tail(out); out != "" {
			msg += "\n\t" + out
		}
		failed = append(failed, failure{math.MaxInt, msg})
	}
	slices.SortStableFunc(failed, func(a, b failure) int { return cmp.Compare(a.line, b.line) })
	for _, x := range failed {
		failures = append(failures, x.msg)
	}
	t.Logf("%s: %d curls and %d other commands ran", f.name, curls, commands)
	return failures, skipped
}

// parseHeaders reads the headers of the last response in a curl -D file.
func parseHeaders(b []byte) http.Header {
	h := http.Header{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(l, "HTTP/") {
			h = http.Header{}
			continue
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return h
}

// checkAnswer returns how an answer differs from what a curl line's
// comment says of it.
func checkAnswer(r response, comment string) []string {
	var bad []string
	body := string(r.body)
	if len(body) > 1000 {
		body = body[:1000] + "…"
	}
	wantStatus, wantCode := 0, ""
	if m := statusComment.FindStringSubmatch(comment); m != nil {
		wantStatus, _ = strconv.Atoi(m[1])
		// A word after the status is a problem code when it has the
		// shape of one ("403 tenant-suspended", not "200 again").
		if strings.Contains(m[2], "-") || dashlessCodes[m[2]] {
			wantCode = m[2]
		}
	}
	var doc map[string]any
	json.Unmarshal(r.body, &doc)
	switch {
	case wantStatus != 0 && r.status != wantStatus:
		bad = append(bad, fmt.Sprintf("status %d, its comment says %d; body %s", r.status, wantStatus, body))
	case wantStatus == 0 && (r.status < 200 || r.status > 299):
		bad = append(bad, fmt.Sprintf("status %d, want 2xx; body %s", r.status, body))
	case wantCode != "" && r.header.Get("Content-Type") != "application/problem+json":
		bad = append(bad, fmt.Sprintf("Content-Type %q, not a problem with code %q; body %s", r.header.Get("Content-Type"), wantCode, body))
	case wantCode != "" && doc["code"] != wantCode:
		bad = append(bad, fmt.Sprintf("code %v, its comment says %q", doc["code"], wantCode))
	}
	if m := etagComment.FindStringSubmatch(comment); m != nil && r.header.Get("ETag") != m[1] {
		bad = append(bad, fmt.Sprintf("ETag %q, its comment says %s", r.header.Get("ETag"), m[1]))
	}
	if r.status >= 200 && r.status <= 299 {
		if m := versionComment.FindStringSubmatch(comment); m != nil && fmt.Sprint(doc["version"]) != m[1] {
			bad = append(bad, fmt.Sprintf("version %v, its comment says %s", doc["version"], m[1]))
		}
		if m := attributesComment.FindStringSubmatch(comment); m != nil {
			var want any
			if err := json.Unmarshal([]byte(m[1]), &want); err != nil {
				bad = append(bad, fmt.Sprintf("attributes in its comment: %v", err))
			} else if got := doc["attributes"]; !reflect.DeepEqual(got, want) {
				bad = append(bad, fmt.Sprintf("attributes %v, its comment says %v", got, want))
			}
		}
	}
	return bad
}

var adminTokenRE = regexp.MustCompile(`admin token:\s+(\S+)`)

// docFileNames are the markdown files whose examples must run: README.md,
// every docs/*.md and the TypeScript client's README, relative to the
// repository's root.
func docFileNames(t *testing.T, root string) []string {
	t.Helper()
	names := []string{"README.md"}
	guides, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range guides {
		names = append(names, "docs/"+filepath.Base(g))
	}
	if _, err := os.Stat(filepath.Join(root, "clients", "typescript", "README.md")); err == nil {
		names = append(names, "clients/typescript/README.md")
	}
	return names
}

// TestDocsExamples runs the command blocks of the documentation against a
// real `tenantapi dev`, one per file, as described at the top of this file.
func TestDocsExamples(t *testing.T) {
	t.Parallel()
	const root = "../.."
	type parsed struct {
		f    docFile
		errs []string
		runs bool
	}
	var files []parsed
	needBinary := false
	for _, name := range docFileNames(t, root) {
		raw, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		f, errs := parseDoc(name, string(raw))
		p := parsed{f: f, errs: errs}
		for _, b := range f.blocks {
			p.runs = p.runs || b.skip == ""
		}
		needBinary = needBinary || p.runs
		files = append(files, p)
	}
	var bin string
	if needBinary {
		bin = buildBinary(t, t.TempDir())
	}
	for _, p := range files {
		t.Run(p.f.name, func(t *testing.T) {
			t.Parallel()
			for _, e := range p.errs {
				t.Error(e)
			}
			if t.Failed() || !p.runs {
				return
			}
			started := time.Now()
			r := startDocsDev(t, bin, filepath.Join(root, "examples"), p.f.runWith)
			failures, skipped := runDocFile(t, p.f, r)
			for _, s := range skipped {
				t.Logf("skipped %s", s)
			}
			for _, msg := range failures {
				t.Error(msg)
			}
			t.Logf("%s: %d blocks ran in %v", p.f.name, len(p.f.blocks)-countSkipped(p.f), time.Since(started).Round(time.Millisecond))
		})
	}
}

func countSkipped(f docFile) int {
	n := 0
	for _, b := range f.blocks {
		if b.skip != "" {
			n++
		}
	}
	return n
}

// startDocsDev starts the tenantapi binary's dev in a fresh folder holding
// a copy of examples, with the words of a run-with marker, and returns how
// to run a file's shell there. The dev is stopped with SIGINT when the test
// ends, and any cluster left in the folder removed.
func startDocsDev(t *testing.T, bin, examples string, runWith []string) docRun {
	t.Helper()
	dir := devFolder(t)
	if err := os.CopyFS(filepath.Join(dir, "examples"), os.DirFS(examples)); err != nil {
		t.Fatal(err)
	}
	devCleanup(t, filepath.Join(dir, ".tenantapi"))
	env := map[string]string{"PORT": "0"}
	var flags []string
	for _, w := range runWith {
		if k, v, ok := strings.Cut(w, "="); ok && !strings.HasPrefix(w, "-") {
			env[k] = v
		} else {
			flags = append(flags, w)
		}
	}
	dev := startProcessIn(t, dir, bin, env, append([]string{"dev"}, flags...)...)
	t.Cleanup(func() {
		select {
		case <-dev.done:
			return
		default:
		}
		dev.cmd.Process.Signal(os.Interrupt)
		dev.wait(t, time.Minute)
	})
	deadline := time.After(2 * time.Minute)
	for !keyRE.MatchString(dev.out.String()) || !adminTokenRE.MatchString(dev.out.String()) || !listenRE.MatchString(dev.out.String()) {
		select {
		case <-dev.done:
			t.Fatalf("dev %v exited before it served (%v)", flags, dev.err)
		case <-deadline:
			t.Fatalf("dev %v did not serve within 2 minutes", flags)
		case <-time.After(20 * time.Millisecond):
		}
	}
	out := dev.out.String()
	key, admin := keyRE.FindStringSubmatch(out)[1], adminTokenRE.FindStringSubmatch(out)[1]
	_, port, _ := strings.Cut(listenRE.FindStringSubmatch(out)[1], ":")

	shellEnv := []string{"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + dir, "KEY=" + key, "ADMIN_TOKEN=" + admin}
	for k, v := range env {
		if k != "PORT" {
			shellEnv = append(shellEnv, k+"="+v)
		}
	}
	return docRun{dir: dir, env: shellEnv, port: port}
}

// TestDocsMarkers checks the rules of blocks and markers on small files.
func TestDocsMarkers(t *testing.T) {
	t.Parallel()
	const fence = "```"
	bad := []struct{ doc, want string }{
		{"<!-- not run -->\n" + fence + "sh\ntrue\n" + fence + "\n", "fx.md:1: <!-- not run: … --> needs its reason"},
		{"<!-- not run: -->\n" + fence + "sh\ntrue\n" + fence + "\n", "fx.md:1: <!-- not run: … --> needs its reason"},
		{"<!-- not run: why -->\n\nsome text\n" + fence + "sh\ntrue\n" + fence + "\n", "fx.md:1: the not-run marker is not followed by a command block (text at line 3)"},
		{"<!-- not run: why -->\n" + fence + "json\n{}\n" + fence + "\n", `fx.md:1: the not-run marker is followed by a "json" block`},
		{"<!-- not run: why -->\n<!-- not run: again -->\n" + fence + "sh\ntrue\n" + fence + "\n", "fx.md:1: the not-run marker is not followed by a command block (another marker at line 2)"},
		{"text\n<!-- not run: why -->\n", "fx.md:2: the not-run marker is not followed by a command block (end of file)"},
		{"<!-- not run: why --> and more\n" + fence + "sh\ntrue\n" + fence + "\n", "fx.md:1: a marker is a line of its own"},
		{fence + "sh\ntrue\n" + fence + "\n<!-- run with: --migrations x -->\n", "fx.md:4: the run-with marker comes after a block that runs (line 1)"},
		{"<!-- run with: A=1 -->\n<!-- run with: B=2 -->\n", "fx.md:2: a second run-with marker"},
		{"<!-- run with: -->\n", "fx.md:1: <!-- run with: … --> needs its words"},
		{fence + "sh\n$ tenantapi migrate\npublic schema: version 1\n" + fence + "\n", "fx.md:2: \"$ tenantapi migrate\" starts with a prompt: a transcript is a ```console block"},
		{fence + "sh\ntrue\n", "fx.md:1: the block is never closed"},
	}
	for _, c := range bad {
		_, errs := parseDoc("fx.md", c.doc)
		if len(errs) == 0 || !strings.HasPrefix(errs[0], c.want) {
			t.Errorf("%q: errors %q, want one starting %q", c.doc, errs, c.want)
		}
	}

	doc := strings.Join([]string{
		"<!-- not run: starts the suite itself -->", // 1
		"",
		fence + "sh", // 3
		"make test",
		fence,
		"<!-- run with: --migrations examples/projects TENANT_DELETE_GRACE=1s -->", // 6
		fence + "bash", // 7
		"curl -s -X POST localhost:8080/items \\",
		"     -d '{\"name\":\"x\"}'   # 201",
		"",
		"# a comment",
		"cat > f.sql <<'SQL'", // 12
		"CREATE TABLE t (id uuid PRIMARY KEY);",
		"SQL",
		fence,
		fence + "json", // 16
		"{\"a\": 1}",
		fence,
		fence, // 19
		"output",
		fence,
		"- a list item:",
		"",
		"  " + fence + "console", // 24
		"  $ tenantapi tenants create acme \\",
		"  >   --json",
		"  {\"id\":\"acme\"}",
		"  $ tenantapi version",
		"  " + fence,
		fence + "mermaid",
		"flowchart LR",
		fence,
	}, "\n")
	f, errs := parseDoc("fx.md", doc)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := docFile{name: "fx.md", runWith: []string{"--migrations", "examples/projects", "TENANT_DELETE_GRACE=1s"}, blocks: []docBlock{
		{line: 3, skip: "starts the suite itself", lines: []docLine{{4, "make test", "make test"}}},
		{line: 7, lines: []docLine{
			{8, "curl -s -X POST localhost:8080/items      -d '{\"name\":\"x\"}'   # 201", "curl -s -X POST localhost:8080/items \\\n     -d '{\"name\":\"x\"}'   # 201"},
			{11, "# a comment", "# a comment"},
			{12, "cat > f.sql <<'SQL'\nCREATE TABLE t (id uuid PRIMARY KEY);\nSQL", "cat > f.sql <<'SQL'\nCREATE TABLE t (id uuid PRIMARY KEY);\nSQL"},
		}},
		{line: 24, lines: []docLine{
			{25, "tenantapi tenants create acme   --json", "tenantapi tenants create acme \\\n>   --json"},
			{28, "tenantapi version", "tenantapi version"},
		}},
	}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", f, want)
	}
}

// TestDocsRunner runs small files in bash against a stand-in API: lines of
// one file share a session, placeholders take the members of the answer
// before, comments are checked, and every failure names its file, block
// and line.
func TestDocsRunner(t *testing.T) {
	t.Parallel()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/things":
			w.WriteHeader(201)
			fmt.Fprint(w, `{"id":"abc","version":1}`)
		case r.URL.Path == "/things/abc":
			w.Header().Set("ETag", `"1"`)
			fmt.Fprint(w, `{"id":"abc","version":1,"attributes":{"a":1}}`)
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(404)
			fmt.Fprint(w, `{"code":"thing-not-found"}`)
		}
	}))
	defer api.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(api.URL, "http://"), ":")
	run := func(doc string) (failures, skipped []string, dir string) {
		t.Helper()
		f, errs := parseDoc("fx.md", doc)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		dir = t.TempDir()
		failures, skipped = runDocFile(t, f, docRun{dir: dir, port: port, env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "KEY=tak_test"}})
		return failures, skipped, dir
	}
	const fence = "```"

	failures, skipped, dir := run(strings.Join([]string{
		fence + "sh",
		"KEY=tak_…   # printed by dev",
		"curl -s -X POST localhost:8080/things \\",
		"     -d x   # 201",
		"ID=…   # its \"id\"",
		fence,
		"",
		fence + "console",
		`$ echo "$ID $KEY" > got.txt`,
		"ignored output",
		fence,
		fence + "sh",
		`curl -si localhost:8080/things/$ID   # ETag: "1"`,
		`curl -s localhost:8080/things/$ID   # version 1, attributes {"a":1}`,
		"curl -s localhost:8080/things/nope   # 404 thing-not-found",
		`curl -s "localhost:8080/things?cursor=$NEXT"   # NEXT: a cursor, when there is one`,
		"false   # exit 1",
		"curl -s localhost:8080/things/abc | grep -q '\"a\":1'",
		"for f in one two; do echo $f; done >> got.txt",
		"cat > f.sql <<'SQL'",
		"SELECT $NOT_EXPANDED;",
		"SQL",
		fence,
	}, "\n"))
	if len(failures) != 0 {
		t.Errorf("failures: %q", failures)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "got.txt")); string(got) != "abc tak_test\none\ntwo\n" {
		t.Errorf("the console block wrote %q, want the id of the answer before and the test's KEY", got)
	}
	if want := []string{"fx.md:16 ($NEXT is not set)"}; !reflect.DeepEqual(skipped, want) {
		t.Errorf("skipped %q, want %q", skipped, want)
	}

	failures, _, dir = run(strings.Join([]string{
		"text",
		fence + "sh", // 2
		"curl -s localhost:8080/things/abc   # 404",
		"false",
		"curl -s localhost:8080/things/$NOT_SET",
		"echo 'unclosed",
		"curl -s localhost:8080/other",
		"curl -s localhost:8080/things/abc | cat   # 404",
		fence,
		fence + "sh", // 10
		"curl -s -X POST localhost:8080/things",
		`X=…   # its "nothere"`,
		"touch after",
		fence,
	}, "\n"))
	want := []string{
		"fx.md, block at line 2, line 3: curl -s localhost:8080/things/abc   # 404\n\tstatus 200, its comment says 404",
		"fx.md, block at line 2, line 4: false\n\texit 1, want 0",
		"fx.md, block at line 2, line 5: curl -s localhost:8080/things/$NOT_SET\n\tuses $NOT_SET, which is not set",
		"fx.md, block at line 2, line 6: echo 'unclosed\n\texit 2, want 0",
		"fx.md, block at line 2, line 7: curl -s localhost:8080/other\n\tstatus 404, want 2xx",
		"fx.md, block at line 2, line 8: curl -s localhost:8080/things/abc | cat   # 404\n\ta curl whose comment says what it answers is a command of its own",
		`fx.md, block at line 10, line 12: X=…   # its "nothere"` + "\n\tthe answer before has no \"nothere\" string",
		`fx.md, block at line 10, line 12: X=…   # its "nothere"` + "\n\tthe shell stopped here: exit status 3",
	}
	if len(failures) != len(want) {
		t.Errorf("%d failures, want %d:\n%s", len(failures), len(want), strings.Join(failures, "\n"))
	}
	for i := range min(len(failures), len(want)) {
		if !strings.HasPrefix(failures[i], want[i]) {
			t.Errorf("failure %d:\n%s\nwant it to start\n%s", i, failures[i], want[i])
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "after")); err == nil {
		t.Error("the session went on after a placeholder found nothing to take")
	}

	// A line that never ends is named when the session times out.
	f, _ := parseDoc("fx.md", fence+"sh\ntrue\nsleep 60 &\nsleep 60\n"+fence+"\n")
	started := time.Now()
	// 5 s: long enough for bash to reach the last line on a loaded machine.
	failures, _ = runDocFile(t, f, docRun{dir: t.TempDir(), env: []string{"PATH=" + os.Getenv("PATH")}, timeout: 5 * time.Second})
	if want := "fx.md, block at line 1, line 4: sleep 60\n\tthe shell stopped here: signal: killed"; len(failures) != 1 || !strings.HasPrefix(failures[0], want) {
		t.Errorf("failures %q, want one starting %q", failures, want)
	}
	if d := time.Since(started); d > 30*time.Second {
		t.Errorf("the session ended %v after it started, with its timeout 5 s (its lines sleep 60 s)", d)
	}
}
