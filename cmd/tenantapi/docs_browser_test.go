package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// chromiumPath finds Debian's chromium, which `make tools` installs
// (scripts/ensure-chromium.sh).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run `make tools` (scripts/ensure-chromium.sh installs Debian's chromium package) — the /docs page must be checked in a real browser")
	return ""
}

// runChromium runs headless chromium with a profile of its own and the
// given extra flags, and returns its standard output.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(),
		// Let the page fetch openapi.json and render before the dump.
		"--virtual-time-budget=15000"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

var (
	sectionTag = regexp.MustCompile(`<section\b[^>]*>`)
	attrRE     = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
)

// TestDocsPageInBrowser renders /docs in headless Chromium and checks that
// every operation of openapi.json is rendered as an .operation section, and
// that a screenshot of the page is a real picture.
func TestDocsPageInBrowser(t *testing.T) {
	bin := chromiumPath(t)
	e := setup(t)
	url := e.srv.URL + "/docs"

	// Every route the API documents: method and path from openapi.json.
	r := e.do(req{method: "GET", path: "/openapi.json"})
	expect(t, r, 200, "")
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	var want []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				want = append(want, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(want)
	if len(want) < 20 {
		t.Fatalf("only %d operations in openapi.json", len(want))
	}

	dom := runChromium(t, bin, "--dump-dom", url)
	var rendered []string
	tags := sectionTag.FindAllIndex(dom, -1)
	for i, loc := range tags {
		attrs := map[string]string{}
		for _, m := range attrRE.FindAllSubmatch(dom[loc[0]:loc[1]], -1) {
			attrs[string(m[1])] = html.UnescapeString(string(m[2]))
		}
		if !slices.Contains(strings.Fields(attrs["class"]), "operation") {
			continue
		}
		op := attrs["data-method"] + " " + attrs["data-path"]
		rendered = append(rendered, op)
		// The section runs to the next one; it must show an example.
		end := len(dom)
		if i+1 < len(tags) {
			end = tags[i+1][0]
		}
		if !bytes.Contains(dom[loc[1]:end], []byte("Example")) {
			t.Errorf("/docs renders %s without an example", op)
		}
	}
	slices.Sort(rendered)
	for _, op := range want {
		if !slices.Contains(rendered, op) {
			t.Errorf("/docs does not render %s", op)
		}
	}
	if t.Failed() {
		t.Fatalf("rendered operations: %q\nDOM starts: %.2000s", rendered, dom)
	}

	dir := t.TempDir()
	shot := filepath.Join(dir, "docs.png")
	runChromium(t, bin, "--window-size=1280,2400", "--screenshot="+shot, url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	info, _ := f.Stat()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	colors := distinctColors(img, 64)
	t.Logf("screenshot %s: %d bytes, %dx%d, ≥%d colours; %d of %d operations rendered", shot, info.Size(), b.Dx(), b.Dy(), colors, len(rendered), len(want))
	if b.Dx() != 1280 || b.Dy() != 2400 || info.Size() < 20_000 || colors < 16 {
		t.Errorf("screenshot is trivial: %d bytes, %dx%d, %d colours", info.Size(), b.Dx(), b.Dy(), colors)
	}
	if dst := os.Getenv("DOCS_SCREENSHOT_OUT"); dst != "" {
		if data, err := os.ReadFile(shot); err == nil {
			os.WriteFile(dst, data, 0o644)
		}
	}
}

// distinctColors counts the colours of img, stopping at limit: a blank or
// error page has a handful, rendered text and panels many.
func distinctColors(img image.Image, limit int) int {
	seen := map[string]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[fmt.Sprint(r>>8, g>>8, bl>>8)] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}
