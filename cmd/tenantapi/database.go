package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tenantapi/tenantapi/internal/pgcluster"
	"github.com/tenantapi/tenantapi/postgres"
)

// database is an open connection to PostgreSQL and, when the command had to
// start the dev cluster for it, that cluster.
type database struct {
	*postgres.DB
	cluster *pgcluster.Cluster // started by us; stopped by close
}

// openDatabase connects to DATABASE_URL, or with none set to the dev cluster
// under the data folder, starting it if it is not running (and stopping it
// again on close).
func openDatabase(ctx context.Context, cfg dbConfig, stderr io.Writer) (*database, error) {
	d := &database{}
	url := cfg.URL
	if url == "" {
		c, err := pgcluster.Open(pgcluster.Options{Dir: cfg.DataDir, Log: stderr})
		if err != nil {
			return nil, err
		}
		if !c.Running() {
			fmt.Fprintf(stderr, "tenantapi: DATABASE_URL is not set; starting the dev cluster in %s\n", c.DataDir())
			if err := c.Start(ctx); err != nil {
				return nil, err
			}
			d.cluster = c
		}
		url = c.URL()
	}
	db, err := postgres.Open(ctx, postgres.Config{
		URL:        url,
		RuntimeURL: cfg.RuntimeURL,
		MaxConns:   int32(cfg.MaxConns),
		ExecMode:   cfg.ExecMode,
	})
	if err != nil {
		d.close()
		return nil, err
	}
	d.DB = db
	return d, nil
}

// close closes the pools and stops a cluster this command started.
func (d *database) close() {
	if d.DB != nil {
		d.DB.Close()
	}
	if d.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d.cluster.Stop(ctx)
	}
}
