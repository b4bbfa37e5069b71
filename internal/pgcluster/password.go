package pgcluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// readPassword returns the password kept at path, or "" if there is none yet.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pgcluster: reading the cluster password: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// createPassword keeps a new random password at path, readable by its owner
// only, and returns it. When another process created the file first, it
// returns that process's password instead, so both agree.
func createPassword(path string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	password := hex.EncodeToString(b) // 48 characters that need no escaping in a URL
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readPassword(path)
	}
	if err != nil {
		return "", fmt.Errorf("pgcluster: storing the cluster password: %w", err)
	}
	if _, err := f.WriteString(password + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("pgcluster: storing the cluster password: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("pgcluster: storing the cluster password: %w", err)
	}
	return password, nil
}
