package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// serverPrograms are the programs a cluster needs; all three must sit in one
// folder because pg_ctl and initdb find postgres next to themselves.
var serverPrograms = []string{"pg_ctl", "initdb", "postgres"}

// FindBinDir returns the folder that holds PostgreSQL's server programs
// (pg_ctl, initdb and postgres). It looks in $PATH, then in the folder that
// `pg_config --bindir` names, then in the newest /usr/lib/postgresql/*/bin
// (Debian and Ubuntu keep the server programs there, off $PATH). The error
// says what was found missing and how to install PostgreSQL.
func FindBinDir() (string, error) {
	var notes []string
	candidate := func(dir, source string) bool {
		missing := missingPrograms(dir)
		if len(missing) == 0 {
			return true
		}
		notes = append(notes, fmt.Sprintf("%s (%s) lacks %s", dir, source, strings.Join(missing, ", ")))
		return false
	}

	if path, err := exec.LookPath("pg_ctl"); err == nil {
		// A symlinked pg_ctl (as in /usr/local/bin) points at the real folder.
		if real, err := filepath.EvalSymlinks(path); err == nil && candidate(filepath.Dir(real), "$PATH") {
			return filepath.Dir(real), nil
		}
		if candidate(filepath.Dir(path), "$PATH") {
			return filepath.Dir(path), nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" && candidate(dir, "pg_config --bindir") {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, dir := range newestFirst(dirs) {
		if candidate(dir, "/usr/lib/postgresql") {
			return dir, nil
		}
	}

	msg := "pgcluster: PostgreSQL server programs (pg_ctl, initdb, postgres) not found in $PATH, `pg_config --bindir` or /usr/lib/postgresql/*/bin"
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	msg += ". Install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; macOS: brew install postgresql) or put its bin folder on $PATH"
	return "", errors.New(msg)
}

// missingPrograms lists the server programs that dir lacks.
func missingPrograms(dir string) []string {
	var missing []string
	for _, name := range serverPrograms {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// newestFirst orders /usr/lib/postgresql/<version>/bin folders by version,
// newest first, comparing versions as numbers so that 10 beats 9.6.
func newestFirst(dirs []string) []string {
	version := func(dir string) []int {
		var parts []int
		for _, p := range strings.Split(filepath.Base(filepath.Dir(dir)), ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil
			}
			parts = append(parts, n)
		}
		return parts
	}
	sorted := slices.Clone(dirs)
	slices.SortStableFunc(sorted, func(a, b string) int {
		return slices.Compare(version(b), version(a))
	})
	return sorted
}
