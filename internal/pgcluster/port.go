package pgcluster

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FreePort returns a TCP port on 127.0.0.1 that nobody listens on right now.
// Another process may take it before its server binds it; startServer
// retries with another port when that happens.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// postmasterPort returns the port recorded on the fourth line of the data
// directory's postmaster.pid, which is how another process learns the port
// of a server it did not start. 0 means no server has recorded one.
func postmasterPort(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return 0
	}
	return port
}

// portTaken reports whether a server log says the server could not bind its
// port because something else listens there.
func portTaken(log string) bool {
	return strings.Contains(log, "Address already in use")
}
