package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
	"github.com/tenantapi/tenantapi/postgres"
)

// maxDevDatabases bounds dev --databases.
const maxDevDatabases = 8

// devPortFile, in the folder of one of dev's other databases, holds the
// port its server listens on. The registry records where a database is,
// port included, so that server keeps the port it got at its first start.
const devPortFile = "port"

// devServer is a PostgreSQL server that dev runs on: the control database
// main's, in the data folder, or that of another database (db2, db3, …) in
// a subfolder of it named after the database.
type devServer struct {
	name    string // main, db2, …
	dir     string // its data folder
	lock    *folderLock
	cluster *pgcluster.Cluster
	owns    bool // started by this dev, or left by one that died: stopped on exit
}

// devDatabaseName returns the name of dev's i-th database, i from 2.
func devDatabaseName(i int) string { return "db" + strconv.Itoa(i) }

// label names the server in messages: plain "PostgreSQL" for main's.
func (s *devServer) label() string {
	if s.name == postgres.MainDatabase {
		return "PostgreSQL"
	}
	return "PostgreSQL of database " + s.name
}

// start starts the server, or joins it when it runs already, for a dev
// that holds the folder's lock as holder. The returned stop, never nil,
// stops the server when this dev owns it (it started it, or a dev that
// died left it running) and does nothing otherwise; call it even when err
// is set, since the server may have come up before a later step failed.
// main's server takes a free port at each start; the others keep theirs
// (see devPortFile).
func (s *devServer) start(ctx context.Context, holder lockHolder, stderr io.Writer) (stop func(), err error) {
	stop = func() {}
	opts := pgcluster.Options{Dir: s.dir, Log: stderr}
	if s.name != postgres.MainDatabase {
		if opts.Port, err = readDevPort(s.dir); err != nil {
			return stop, err
		}
	}
	if s.cluster, err = pgcluster.Open(opts); err != nil {
		return stop, err
	}
	// A dev stops the PostgreSQL it started, and one that a dead dev
	// started and left running; never one that another process relies on.
	adopted := s.lock.previous.role == "dev" && s.lock.previous.postgres
	fmt.Fprintf(stderr, "tenantapi: starting %s in %s\n", s.label(), s.cluster.DataDir())
	err = s.cluster.Start(ctx)
	s.owns = s.cluster.StartedServer() || adopted
	if s.owns {
		holder.postgres = true
		s.lock.record(holder)
		stop = func() {
			s.lock.record(lockHolder{role: "stop"})
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.cluster.Stop(sctx); err != nil {
				fmt.Fprintf(stderr, "tenantapi: stopping %s: %v\n", s.label(), err)
			} else {
				fmt.Fprintf(stderr, "tenantapi: %s stopped\n", s.label())
			}
		}
	}
	if err != nil {
		if opts.Port != 0 {
			err = fmt.Errorf("%w\n(database %s's PostgreSQL always listens on port %d, as %s says, because the registry records its address: free that port and start dev again)",
				err, s.name, opts.Port, filepath.Join(s.dir, devPortFile))
		}
		return stop, err
	}
	switch {
	case s.cluster.StartedServer():
	case adopted:
		fmt.Fprintf(stderr, "tenantapi: %s was left running by a dev that did not stop (pid %d); this one stops it on exit\n", s.label(), s.lock.previous.pid)
	default:
		fmt.Fprintf(stderr, "tenantapi: %s was already running, started by another process; it keeps running when dev stops\n", s.label())
	}
	if s.name != postgres.MainDatabase && opts.Port != s.cluster.Port() {
		if err := os.WriteFile(filepath.Join(s.dir, devPortFile), []byte(strconv.Itoa(s.cluster.Port())+"\n"), 0o644); err != nil {
			return stop, fmt.Errorf("recording the port of database %s: %w", s.name, err)
		}
	}
	return stop, nil
}

// readDevPort returns the port recorded in dir's devPortFile, 0 when there
// is none yet.
func readDevPort(dir string) (int, error) {
	path := filepath.Join(dir, devPortFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("%s does not hold a port: %q; remove it to let the server pick a new one", path, b)
	}
	return port, nil
}

// addDevDatabases records each server but main's as the database of its
// name, unless one of that name is listed already. A listed one elsewhere
// (its registry row changed, or its port file lost) is left as it is, with
// a warning. It returns one line per database the registry lists, for the
// banner.
func addDevDatabases(ctx context.Context, db *postgres.DB, servers []*devServer, stderr io.Writer) ([]string, error) {
	store := postgres.NewDatabaseStore(db)
	listed, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range servers[1:] {
		url := s.cluster.URL()
		address, err := postgres.Address(url)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(listed, func(d postgres.Database) bool { return d.Name == s.name })
		if i < 0 {
			if _, err := store.Add(ctx, postgres.Database{Name: s.name, URL: url, Address: address}); err != nil {
				return nil, fmt.Errorf("adding database %s: %w", s.name, err)
			}
			fmt.Fprintf(stderr, "tenantapi: added database %s (%s)\n", s.name, address)
		} else if listed[i].Address != address {
			fmt.Fprintf(stderr, "tenantapi: warning: database %s is registered at %s, but dev's PostgreSQL for it in %s listens at %s; its registry row is left as it is, so its tenants are out of reach (with none there, `tenantapi databases remove %s` and a new dev adds it again)\n",
				s.name, listed[i].Where(), s.dir, address, s.name)
		}
	}
	if listed, err = store.List(ctx); err != nil {
		return nil, err
	}
	var lines []string
	for _, d := range listed {
		where, note := d.Where(), ""
		if d.Name == postgres.MainDatabase {
			where, note = servers[0].address(), " (the control database)"
		} else if i := slices.IndexFunc(servers, func(s *devServer) bool { return s.name == d.Name }); i < 0 {
			note = " (not started by this dev)"
			for n := len(servers) + 1; n <= maxDevDatabases; n++ {
				if d.Name == devDatabaseName(n) {
					note = fmt.Sprintf(" (not started by this dev; dev --databases %d starts it)", n)
				}
			}
		} else if !servers[i].owns {
			note = " (already running; keeps running when dev stops)"
		}
		lines = append(lines, fmt.Sprintf("%-14s %s%s", "database "+d.Name+":", where, note))
	}
	return lines, nil
}

// address returns where the server's tenantapi database is, without the
// password.
func (s *devServer) address() string {
	address, _ := postgres.Address(s.cluster.URL())
	return address
}
