// Command bare is the benchmark's bare Go peer: net/http and a pgx pool
// running tenantapi's item statements, with no authentication, validation,
// logging or error format. It is the practical ceiling of any Go HTTP API on
// the machine, so tenantapi's ratio to it is what its request path costs.
//
//	GET  /items/{id}     one item
//	GET  /items          the first page of 50
//	POST /items          {"name", "description", "attributes"} → 201
//
// The tenant is the X-Tenant-ID header, used as it comes (quoted as an
// identifier, so it cannot inject SQL).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const itemColumns = `id, name, description, attributes, version, created_at, updated_at`

type item struct {
	ID          uuid.UUID       `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Attributes  json.RawMessage `json:"attributes"`
	Version     int64           `json:"version"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func (it *item) dest() []any {
	return []any{&it.ID, &it.Name, &it.Description, &it.Attributes, &it.Version, &it.CreatedAt, &it.UpdatedAt}
}

type server struct {
	pool       *pgxpool.Pool
	roles      bool
	rolePrefix string
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	dbURL := flag.String("db", "", "database URL (required)")
	mode := flag.String("exec-mode", "exec", "pgx exec mode: exec, cache_describe, cache_statement")
	conns := flag.Int("conns", 0, "pool size (0: pgxpool's default)")
	roles := flag.Bool("tenant-roles", false, "run each statement as the tenant's role, pipelined as tenantapi does")
	rolePrefix := flag.String("role-prefix", "", "prefix of the tenant roles (with --tenant-roles)")
	flag.Parse()

	pc, err := pgxpool.ParseConfig(*dbURL)
	if err != nil {
		log.Fatal(err)
	}
	if *conns > 0 {
		pc.MaxConns = int32(*conns)
	}
	switch *mode {
	case "exec":
		pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	case "cache_describe":
		pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	case "cache_statement":
		pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	default:
		log.Fatalf("unknown exec mode %q", *mode)
	}
	pc.ConnConfig.RuntimeParams["application_name"] = "bench-bare"
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		log.Fatal(err)
	}
	s := &server{pool: pool, roles: *roles, rolePrefix: *rolePrefix}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", s.get)
	mux.HandleFunc("GET /items", s.list)
	mux.HandleFunc("POST /items", s.create)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	log.Fatal(http.ListenAndServe(*addr, mux))
}

func schema(r *http.Request) string {
	return pgx.Identifier{"tenant_" + r.Header.Get("X-Tenant-ID")}.Sanitize()
}

// batch returns a batch that starts with the role switch when tenant roles
// are on.
func (s *server) batch(r *http.Request) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('role', $1, true), set_config('statement_timeout', '10000', true)`, s.rolePrefix+r.Header.Get("X-Tenant-ID"))
	return b
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	sql := `SELECT ` + itemColumns + ` FROM ` + schema(r) + `.items WHERE id = $1`
	var it item
	if !s.roles {
		err = s.pool.QueryRow(r.Context(), sql, id).Scan(it.dest()...)
	} else {
		b := s.batch(r)
		b.Queue(sql, id)
		br := s.pool.SendBatch(r.Context(), b)
		if _, err = br.Exec(); err == nil {
			err = br.QueryRow().Scan(it.dest()...)
		}
		br.Close()
	}
	if err == pgx.ErrNoRows {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, it)
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	sql := `SELECT ` + itemColumns + ` FROM ` + schema(r) + `.items WHERE id > $1 ORDER BY id LIMIT $2`
	var (
		rows pgx.Rows
		err  error
	)
	if !s.roles {
		rows, err = s.pool.Query(r.Context(), sql, uuid.UUID{}, 50)
	} else {
		b := s.batch(r)
		b.Queue(sql, uuid.UUID{}, 50)
		br := s.pool.SendBatch(r.Context(), b)
		defer br.Close()
		if _, err = br.Exec(); err == nil {
			rows, err = br.Query()
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	items := []item{}
	for rows.Next() {
		var it item
		if err := rows.Scan(it.dest()...); err != nil {
			rows.Close()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Attributes  json.RawMessage `json:"attributes"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if in.Attributes == nil {
		in.Attributes = json.RawMessage(`{}`)
	}
	id, _ := uuid.NewV7()
	now := time.Now().UTC().Truncate(time.Microsecond)
	it := item{ID: id, Name: in.Name, Description: in.Description, Attributes: in.Attributes, Version: 1, CreatedAt: now, UpdatedAt: now}
	sql := `INSERT INTO ` + schema(r) + `.items (` + itemColumns + `) VALUES ($1, $2, $3, $4, 1, $5, $5)`
	args := []any{it.ID, it.Name, it.Description, it.Attributes, now}
	var err error
	if !s.roles {
		_, err = s.pool.Exec(r.Context(), sql, args...)
	} else {
		b := s.batch(r)
		b.Queue(sql, args...)
		err = s.pool.SendBatch(r.Context(), b).Close()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusCreated, it)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
