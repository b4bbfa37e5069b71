package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ensureDatabase creates the tenantapi database unless it exists. A
// concurrent Start may create it first; that is not an error.
func (c *Cluster) ensureDatabase(ctx context.Context) error {
	conn, err := c.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", database).Scan(&exists)
	if err != nil {
		return fmt.Errorf("pgcluster: looking for database %s: %w", database, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: creating database %s: %w", database, err)
	}
	return nil
}

// connect opens a superuser connection to one of the cluster's databases.
// A server that another process is still starting refuses connections for
// a moment (SQLSTATE 57P03), so connect retries for a while.
func (c *Cluster) connect(ctx context.Context, name string) (*pgx.Conn, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.DatabaseURL(name))
		if err == nil {
			return conn, nil
		}
		var pgErr *pgconn.PgError
		starting := errors.As(err, &pgErr) && pgErr.Code == "57P03" // cannot_connect_now
		if !starting || time.Now().After(deadline) {
			return nil, fmt.Errorf("pgcluster: connecting to database %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("pgcluster: connecting to database %s: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
