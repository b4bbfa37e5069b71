package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// devLockFile is the file in the data folder that folderLock locks.
const devLockFile = "dev.lock"

// folderLock is a process's exclusive claim on a dev data folder: a `tenantapi
// dev` holds it as long as it runs, and a CLI command just while it stops the
// cluster it started, so that neither stops a PostgreSQL that a running dev
// relies on. It is an flock on <dir>/dev.lock, which the kernel releases when
// the process dies, however it dies: a crash leaves no stale lock behind.
//
// The file holds a one-line record of the holder (see lockHolder), written
// by the holder alone, emptied when it unlocks cleanly and never removed
// (removing it would let two processes lock two different files of one
// name). A record found when taking the lock is therefore that of a holder
// that died.
type folderLock struct {
	f        *os.File
	writable bool
	// previous is the record the file held when the lock was taken: zero,
	// or the last words of a holder that died.
	previous lockHolder
}

// lockHolder says who holds a folder's lock. Its record is one line:
//
//	dev <pid>                     a dev starting
//	dev <pid> <url>               a dev serving on url
//	dev <pid> <url> postgres      a dev that started PostgreSQL and stops it on exit
//	stop <pid>                    a process stopping the PostgreSQL it started
type lockHolder struct {
	role     string // "dev" or "stop"; empty when unknown
	pid      int
	url      string
	postgres bool
}

func (h lockHolder) String() string {
	s := h.role + " " + strconv.Itoa(h.pid)
	if h.url != "" {
		s += " " + h.url
	}
	if h.postgres {
		s += " postgres"
	}
	return s
}

// parseLockHolder reads a record; anything unreadable is the zero holder.
func parseLockHolder(record string) lockHolder {
	f := strings.Fields(record)
	if len(f) < 2 || (f[0] != "dev" && f[0] != "stop") {
		return lockHolder{}
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 {
		return lockHolder{}
	}
	h := lockHolder{role: f[0], pid: pid}
	if len(f) > 2 {
		h.url = f[2]
	}
	h.postgres = len(f) > 3 && f[3] == "postgres"
	return h
}

// folderLockedError is lockFolder's answer when another process holds the
// lock.
type folderLockedError struct {
	dir    string     // the folder, as the user named it
	holder lockHolder // as its record says; zero when it has written none yet
}

func (e *folderLockedError) Error() string {
	dir := displayDir(e.dir)
	switch h := e.holder; {
	case h.role == "dev" && h.url != "":
		return fmt.Sprintf("dev is already running for %s (pid %d, %s); stop it first, or use --dir for a separate one", dir, h.pid, h.url)
	case h.role == "dev":
		return fmt.Sprintf("dev is already running for %s (pid %d, starting); stop it first, or use --dir for a separate one", dir, h.pid)
	case h.role == "stop":
		return fmt.Sprintf("%s is busy: pid %d is stopping its PostgreSQL; try again in a moment", dir, h.pid)
	default:
		return fmt.Sprintf("%s is in use by another tenantapi process (it holds %s); try again in a moment", dir, filepath.Join(dir, devLockFile))
	}
}

// displayDir shows a relative folder as ./name, as a user would type it.
func displayDir(dir string) string {
	if filepath.IsAbs(dir) || dir == "." || strings.HasPrefix(dir, "./") || strings.HasPrefix(dir, "../") {
		return dir
	}
	return "./" + dir
}

// lockFolder takes the lock of the data folder dir without waiting,
// creating dir (0755, as pgcluster does) and the lock file if missing. When
// another process holds the lock it returns a *folderLockedError naming the
// holder, and changes nothing. The holder's record starts as "stop <pid>"
// when role is "stop", else as "dev <pid>"; see record. On systems without
// flock the lock always succeeds and excludes nobody.
func lockFolder(dir, role string) (*folderLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, devLockFile)
	l := &folderLock{writable: true}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, os.ErrPermission) {
		// Someone else's lock file (made by root, say): a read-only
		// descriptor locks as well; only the record goes unwritten.
		f, err = os.Open(path)
		l.writable = false
	}
	if err != nil {
		return nil, err
	}
	l.f = f
	locked, err := lockFile(f)
	if err != nil || !locked {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		return nil, &folderLockedError{dir: dir, holder: readHolder(path)}
	}
	l.previous = readHolder(path)
	l.record(lockHolder{role: role, pid: os.Getpid()})
	return l, nil
}

// readHolder returns the record of the lock file at path.
func readHolder(path string) lockHolder {
	b, err := os.ReadFile(path)
	if err != nil {
		return lockHolder{}
	}
	return parseLockHolder(string(b))
}

// record replaces the holder's record. Failing to write it (a read-only
// lock file) is not an error: the lock holds all the same, and a process
// that finds it taken just learns less about the holder.
func (l *folderLock) record(h lockHolder) {
	if !l.writable {
		return
	}
	if h.pid == 0 {
		h.pid = os.Getpid()
	}
	if l.f.Truncate(0) == nil {
		l.f.WriteAt([]byte(h.String()+"\n"), 0)
	}
}

// unlock empties the record and releases the lock.
func (l *folderLock) unlock() {
	if l.writable {
		l.f.Truncate(0)
	}
	l.f.Close() // closing the last descriptor releases the flock
}
