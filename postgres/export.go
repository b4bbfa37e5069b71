package postgres

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi"
)

// A tenant archive is a tar stream: manifest.json first, then one entry
// per table of the tenant's schema, tables/NNNN.copy, holding the table's
// rows as COPY ... TO STDOUT text in primary key order (every row, in
// order, when the table has none). The manifest names each table's entry,
// its columns, row count and the SHA-256 of that entry's bytes, which is
// also the checksum of the table's content: import recomputes it from the
// imported rows.
//
// Tar needs each entry's size before its bytes and the manifest, written
// first, needs every table's checksum: export spools each table to a
// temporary file (hashing it on the way) inside the snapshot, then writes
// the archive from those files. Memory stays flat whatever the tenant's
// size; temporary disk holds one copy of its rows until the archive is
// written. Import needs no disk: each entry streams into COPY FROM.

// archiveFormat is the version of the archive layout this binary writes
// and the only one it reads.
const archiveFormat = 1

const manifestName = "manifest.json"

// Manifest describes a tenant archive.
type Manifest struct {
	Format         int       `json:"format"`
	Tenant         string    `json:"tenant"`
	Name           string    `json:"name"`
	Status         string    `json:"status"`
	RateLimitRPS   *float64  `json:"rate_limit_rps,omitempty"`
	RateLimitBurst *int      `json:"rate_limit_burst,omitempty"`
	ProductVersion int       `json:"product_version"`
	AppVersion     int       `json:"app_version"`
	ExportedAt     time.Time `json:"exported_at"`
	// Ledger is the tenant's applied migrations, both tracks.
	Ledger    []LedgerEntry   `json:"ledger"`
	Sequences []SequenceState `json:"sequences"`
	Tables    []TableEntry    `json:"tables"`
}

// LedgerEntry is one applied migration of an archived tenant.
type LedgerEntry struct {
	Track    string `json:"track"`
	Version  int    `json:"version"`
	File     string `json:"file"`
	Checksum string `json:"checksum"`
}

// SequenceState is a sequence of the tenant's schema (an identity column's,
// say) as export found it.
type SequenceState struct {
	Name      string `json:"name"`
	LastValue int64  `json:"last_value"`
	IsCalled  bool   `json:"is_called"`
}

// TableEntry is one table of an archive.
type TableEntry struct {
	Name    string   `json:"name"`
	File    string   `json:"file"`
	Columns []string `json:"columns"`
	Rows    int64    `json:"rows"`
	Bytes   int64    `json:"bytes"`
	SHA256  string   `json:"sha256"`
}

// errNeedsPgx refuses export and import under the Data API driver, which
// has no COPY.
var errNeedsPgx = tenantapi.Errorf(tenantapi.CodeInternal,
	"tenant export and import need the pgx driver (DB_DRIVER=pgx): the Data API has no COPY")

// archiveRefused is the error of an archive import will not take.
func archiveRefused(format string, args ...any) error {
	return tenantapi.Errorf(tenantapi.CodeValidationFailed, "archive refused: "+format, args...)
}

// copySettings make COPY's text the same in every session, for export and
// import alike: the checksums are over that text.
var copySettings = [][2]string{
	{"TimeZone", "UTC"}, {"DateStyle", "ISO, MDY"}, {"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"}, {"bytea_output", "hex"},
}

func setCopySettings(ctx context.Context, tx pgx.Tx) error {
	b := &pgx.Batch{}
	for _, s := range copySettings {
		b.Queue(`SELECT set_config($1, $2, true)`, s[0], s[1])
	}
	return tx.SendBatch(ctx, b).Close()
}

// tableInfo is a table of a tenant schema as the catalog shows it.
type tableInfo struct {
	name    string
	columns []string // not generated, in column order
	key     []string // primary key columns; none: order by the whole row
}

// schemaTables lists the ordinary tables (partitions included, partitioned
// parents not: they hold no rows) of the schema, by name.
func schemaTables(ctx context.Context, tx pgx.Tx, schema string) ([]tableInfo, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.relname,
		       array(SELECT a.attname::text FROM pg_attribute a
		             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		             ORDER BY a.attnum),
		       coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
		                 FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
		                 WHERE i.indrelid = c.oid AND i.indisprimary AND a.attrelid = c.oid AND a.attnum = k.attnum), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'r'
		ORDER BY c.relname COLLATE "C"`, schema)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (tableInfo, error) {
		var t tableInfo
		err := row.Scan(&t.name, &t.columns, &t.key)
		return t, err
	})
}

// copyOutSQL is the COPY that writes a table's rows in a stable order: the
// archive's data and the text its checksum is over.
func copyOutSQL(schema string, t tableInfo) string {
	table := pgx.Identifier{schema, t.name}.Sanitize()
	order := "(t.*)::text"
	if len(t.key) > 0 {
		order = quoteAll(t.key)
	}
	return fmt.Sprintf(`COPY (SELECT %s FROM %s t ORDER BY %s) TO STDOUT`, quoteAll(t.columns), table, order)
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// counter counts the bytes written through it.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// ExportTenant writes the tenant's archive to w: one snapshot of every
// table of its schema (a REPEATABLE READ, READ ONLY transaction), while
// the tenant keeps serving. Table data is spooled to temporary files in
// tmpDir ("" for the system's) first; see the top of this file. Keys are
// not exported. It returns the manifest written.
func (s *TenantStore) ExportTenant(ctx context.Context, id tenantapi.TenantID, w io.Writer, tmpDir string) (Manifest, error) {
	if _, err := tenantapi.ParseTenantID(string(id)); err != nil {
		return Manifest{}, tenantapi.ErrTenantNotFound
	}
	man := Manifest{Format: archiveFormat, Tenant: string(id), ExportedAt: time.Now().UTC().Truncate(time.Second)}
	// The registry row first, from the control database: a move that
	// flips the tenant meanwhile leaves the snapshot to fail on the
	// source's missing schema, not to read a half.
	var database string
	err := s.db.owner.QueryRow(ctx, `SELECT name, status, schema_version, product_version, rate_limit_rps, rate_limit_burst, database
		FROM public.tenants WHERE id = $1 AND status <> 'deleting'`, string(id)).
		Scan(&man.Name, &man.Status, &man.AppVersion, &man.ProductVersion, &man.RateLimitRPS, &man.RateLimitBurst, &database)
	if err != nil {
		return Manifest{}, translate(err, registryScope)
	}
	st, err := s.db.site(ctx, database)
	if err != nil {
		return Manifest{}, err
	}
	p, ok := st.owner.(*pool)
	if !ok {
		return Manifest{}, errNeedsPgx
	}
	dir, err := os.MkdirTemp(tmpDir, "tenantapi-export-")
	if err != nil {
		return Manifest{}, tenantapi.Wrap(tenantapi.CodeInternal, err, "export: temporary folder")
	}
	defer os.RemoveAll(dir)

	err = func() error {
		tx, err := p.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only: nothing to keep
		if err := setCopySettings(ctx, tx); err != nil {
			return err
		}
		return s.snapshot(ctx, tx, id, dir, &man)
	}()
	if err != nil {
		return Manifest{}, translate(err, registryScope)
	}
	if err := writeArchive(w, dir, man); err != nil {
		return Manifest{}, tenantapi.Wrap(tenantapi.CodeInternal, err, "export: write the archive")
	}
	return man, nil
}

// snapshot reads, in tx, the tenant's ledger, sequences and every table,
// spooling each table's rows to dir.
func (s *TenantStore) snapshot(ctx context.Context, tx pgx.Tx, id tenantapi.TenantID, dir string, man *Manifest) error {
	rows, err := tx.Query(ctx, forTenant(`SELECT track, version, file, checksum FROM {{schema}}._tenantapi_migrations ORDER BY track DESC, version`, id))
	if err != nil {
		return err
	}
	if man.Ledger, err = pgx.CollectRows(rows, pgx.RowToStructByPos[LedgerEntry]); err != nil {
		return err
	}
	var seqs []string
	rows, err = tx.Query(ctx, `SELECT sequencename::text FROM pg_sequences WHERE schemaname = $1 ORDER BY 1`, id.Schema())
	if err != nil {
		return err
	}
	if seqs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return err
	}
	for _, name := range seqs {
		st := SequenceState{Name: name}
		if err := tx.QueryRow(ctx, `SELECT last_value, is_called FROM `+pgx.Identifier{id.Schema(), name}.Sanitize()).Scan(&st.LastValue, &st.IsCalled); err != nil {
			return err
		}
		man.Sequences = append(man.Sequences, st)
	}
	tables, err := schemaTables(ctx, tx, id.Schema())
	if err != nil {
		return err
	}
	for i, t := range tables {
		e := TableEntry{Name: t.name, File: fmt.Sprintf("tables/%04d.copy", i+1), Columns: t.columns}
		if err := spoolTable(ctx, tx, id.Schema(), t, dir, &e); err != nil {
			return fmt.Errorf("table %s: %w", t.name, err)
		}
		man.Tables = append(man.Tables, e)
	}
	return nil
}

// spoolTable copies the table's rows to a file of dir named after its
// entry, through the checksum.
func spoolTable(ctx context.Context, tx pgx.Tx, schema string, t tableInfo, dir string, e *TableEntry) error {
	f, err := os.Create(spoolPath(dir, e.File))
	if err != nil {
		return err
	}
	defer f.Close()
	h, n := sha256.New(), &counter{}
	tag, err := tx.Conn().PgConn().CopyTo(ctx, io.MultiWriter(f, h, n), copyOutSQL(schema, t))
	if err != nil {
		return err
	}
	e.Rows, e.Bytes, e.SHA256 = tag.RowsAffected(), n.n, hex.EncodeToString(h.Sum(nil))
	return f.Close()
}

func spoolPath(dir, entry string) string {
	return dir + string(os.PathSeparator) + strings.ReplaceAll(entry, "/", "_")
}

// writeArchive writes the manifest and then each spooled table.
func writeArchive(w io.Writer, dir string, man Manifest) error {
	tw := tar.NewWriter(w)
	body, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	body = append(body, '\n')
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o644, Size: int64(len(body)), ModTime: man.ExportedAt, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := tw.Write(body); err != nil {
		return err
	}
	for _, e := range man.Tables {
		if err := writeEntry(tw, dir, e, man.ExportedAt); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, dir string, e TableEntry, at time.Time) error {
	f, err := os.Open(spoolPath(dir, e.File))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: e.File, Mode: 0o644, Size: e.Bytes, ModTime: at, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// maxManifest bounds the manifest import reads into memory.
const maxManifest = 16 << 20

// readManifest reads and checks the archive's first entry.
func readManifest(tr *tar.Reader) (Manifest, error) {
	var man Manifest
	h, err := tr.Next()
	if err != nil {
		return man, archiveRefused("not a tenant archive (%v)", err)
	}
	if h.Name != manifestName {
		return man, archiveRefused("the first entry is %q, not %s", h.Name, manifestName)
	}
	body, err := io.ReadAll(io.LimitReader(tr, maxManifest+1))
	if err != nil {
		return man, archiveRefused("manifest truncated (%v)", err)
	}
	if len(body) > maxManifest {
		return man, archiveRefused("manifest larger than %d bytes", maxManifest)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&man); err != nil {
		return man, archiveRefused("manifest unreadable (%v)", err)
	}
	if man.Format != archiveFormat {
		return man, archiveRefused("archive format %d; this binary reads format %d", man.Format, archiveFormat)
	}
	files := map[string]bool{}
	for _, t := range man.Tables {
		if t.Name == "" || files[t.File] || !strings.HasPrefix(t.File, "tables/") || len(t.Columns) == 0 || t.Rows < 0 {
			return man, archiveRefused("manifest entry for table %q is malformed", t.Name)
		}
		files[t.File] = true
	}
	return man, nil
}

// checkVersions refuses an archive from a newer release or from another
// application set: its versions must be this binary's or older and every
// migration in its ledger must be a file this deployment has, unchanged.
func (m *Migrator) checkVersions(man Manifest) error {
	if man.ProductVersion > LatestProductVersion() || man.AppVersion > m.LatestTenantVersion() {
		return archiveRefused("made by a newer version (product %d, application set %d); this binary knows product %d, application set %d: upgrade tenantapi first",
			man.ProductVersion, man.AppVersion, LatestProductVersion(), m.LatestTenantVersion())
	}
	var product, app []appliedMigration
	for _, e := range man.Ledger {
		a := appliedMigration{Version: e.Version, File: e.File, Checksum: e.Checksum}
		switch e.Track {
		case trackProduct:
			product = append(product, a)
		case trackApp:
			app = append(app, a)
		default:
			return archiveRefused("ledger track %q unknown", e.Track)
		}
	}
	if versionsAfter(product, nil) != man.ProductVersion || versionsAfter(app, nil) != man.AppVersion {
		return archiveRefused("the manifest's versions do not match its ledger")
	}
	if err := checkApplied(productMigrations, product, false); err != nil {
		return archiveRefused("from a different release: %v", err)
	}
	if err := checkApplied(m.app, app, false); err != nil {
		return archiveRefused("from a different application set: %v", err)
	}
	return nil
}

// ImportTenant creates a tenant from the archive r as id ("" keeps the
// archive's), all in one transaction: registry row, schema at the
// archive's versions (its ledger's files, from this deployment's set), its
// role, and every table's rows, verified against the manifest's counts and
// checksums. Nothing is left when anything fails. Then it migrates the
// tenant to this binary's versions. It returns the tenant's id;
// ErrTenantExists when the id is taken; CodeValidationFailed, naming why,
// for an archive that is damaged, newer or foreign.
//
// The tenant goes to database, or where automatic placement puts a new
// tenant when that is "".
func (s *TenantStore) ImportTenant(ctx context.Context, r io.Reader, id tenantapi.TenantID, database string) (tenantapi.TenantID, error) {
	tr := tar.NewReader(r)
	man, err := readManifest(tr)
	if err != nil {
		return "", err
	}
	if id == "" {
		id = tenantapi.TenantID(man.Tenant)
	}
	if _, err := tenantapi.ParseTenantID(string(id)); err != nil {
		return "", err
	}
	if err := s.m.checkVersions(man); err != nil {
		return "", err
	}
	if err := s.m.RecordSchemas(ctx); err != nil {
		return "", err
	}
	st, err := s.db.placement(ctx, database)
	if err != nil {
		return "", err
	}
	if _, ok := st.owner.(*pool); !ok {
		return "", errNeedsPgx
	}
	err = s.db.inPlaced(ctx, st, id, func(reg, sch pgx.Tx) error { return s.restore(ctx, reg, sch, st, tr, id, man) })
	if err != nil {
		var te *tenantapi.Error
		if errors.As(err, &te) {
			return "", err
		}
		return "", translate(err, publicScope)
	}
	rep, err := s.m.MigrateTenants(ctx, MigrateOptions{Tenant: id})
	if err != nil {
		return id, err
	}
	if len(rep.Failed) > 0 {
		return id, fmt.Errorf("imported tenant %s at the archive's versions, but migrating it failed: %w", id, rep.Failed[0].Err)
	}
	return id, nil
}

// restore is ImportTenant's transactions: reg in the control database, tx
// in the tenant's database st (the same one for main).
func (s *TenantStore) restore(ctx context.Context, reg, tx pgx.Tx, st *site, tr *tar.Reader, id tenantapi.TenantID, man Manifest) error {
	status := man.Status
	if status != string(tenantapi.TenantSuspended) {
		status = string(tenantapi.TenantActive)
	}
	_, err := reg.Exec(ctx, `INSERT INTO public.tenants (id, name, status, schema_version, product_version, rate_limit_rps, rate_limit_burst, database)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, string(id), man.Name, status, man.AppVersion, man.ProductVersion, man.RateLimitRPS, man.RateLimitBurst, st.name)
	if sqlState(err) == sqlUniqueViolation {
		return tenantapi.ErrTenantExists
	}
	if err != nil {
		return err
	}
	// The archive's files, from this deployment's set (checkVersions made
	// sure it has them); its ledger rows come with the table's data.
	if err := s.schemaAt(ctx, reg, tx, id, man.Ledger); err != nil {
		return err
	}
	if err := setCopySettings(ctx, tx); err != nil {
		return err
	}
	tables, err := schemaTables(ctx, tx, id.Schema())
	if err != nil {
		return err
	}
	if err := sameTables(tables, man.Tables); err != nil {
		return err
	}
	fks, err := suspendChecks(ctx, tx, id, tables)
	if err != nil {
		return err
	}
	if err := copyIn(ctx, tx, tr, id, man.Tables); err != nil {
		return err
	}
	if err := resumeChecks(ctx, tx, id, tables, fks); err != nil {
		return err
	}
	for _, sq := range man.Sequences {
		if _, err := tx.Exec(ctx, `SELECT setval($1::regclass, $2, $3)`, pgx.Identifier{id.Schema(), sq.Name}.Sanitize(), sq.LastValue, sq.IsCalled); err != nil {
			return archiveRefused("sequence %s: %v", sq.Name, err)
		}
	}
	if err := verifyTables(ctx, tx, id, tables, man.Tables); err != nil {
		return err
	}
	if err := verifyLedger(ctx, tx, id, man.Ledger); err != nil {
		return err
	}
	return st.grantTenant(ctx, tx, id)
}

// schemaAt creates the tenant's schema (on sch) with the files of ledger,
// product track first as a ledger lists them, from this deployment's set
// (the caller made sure it has them), but leaves the ledger table empty:
// its rows come with the tables' data.
func (s *TenantStore) schemaAt(ctx context.Context, reg, sch pgx.Tx, id tenantapi.TenantID, ledger []LedgerEntry) error {
	if err := s.createSchema(ctx, reg, sch, id); err != nil {
		return err
	}
	var app []Migration
	for _, e := range ledger {
		set := productMigrations
		if e.Track == trackApp {
			set = s.m.app
		}
		i := slices.IndexFunc(set, func(mg Migration) bool { return mg.Version == e.Version })
		if i < 0 {
			return fmt.Errorf("the %s migration %d is not in this deployment's set", e.Track, e.Version)
		}
		mg := set[i]
		if _, err := sch.Exec(ctx, mg.SQL); err != nil {
			return migrationError("migration", mg, err)
		}
		if e.Track == trackApp {
			app = append(app, mg)
		}
	}
	if len(app) == 0 {
		return nil
	}
	v, f, c := ledgerColumns(applied(app))
	_, err := reg.Exec(ctx, fleetLedgerInsertSQL, v, f, c)
	return err
}

// createSchema creates the tenant's schema and empty ledger, with the
// search_path set to it for the migrations that follow, and checks that
// the deployment's application set agrees with what the fleet applied.
//
// The fleet's ledger is in the control database (reg), the schema in the
// tenant's (sch); for a tenant of main they are the same transaction.
func (s *TenantStore) createSchema(ctx context.Context, reg, sch pgx.Tx, id tenantapi.TenantID) error {
	if _, err := sch.Exec(ctx, forTenant(`CREATE SCHEMA {{schema}}`, id)); err != nil {
		return err
	}
	prelude := &pgx.Batch{}
	prelude.Queue(setSearchPath, quotedSchema(id))
	prelude.Queue(forTenant(tenantLedgerDDL, id))
	fleet := prelude
	if reg != sch {
		fleet = &pgx.Batch{}
	}
	fleet.Queue(fleetLedgerSQL).Query(func(rows pgx.Rows) error {
		fleet, err := pgx.CollectRows(rows, pgx.RowToStructByPos[appliedMigration])
		if err == nil {
			err = checkApplied(s.m.app, fleet, true)
		}
		return err
	})
	if err := sch.SendBatch(ctx, prelude).Close(); err != nil || reg == sch {
		return err
	}
	return reg.SendBatch(ctx, fleet).Close()
}

// sameTables refuses an archive whose tables or columns are not those the
// archive's versions make here.
func sameTables(here []tableInfo, archived []TableEntry) error {
	if len(here) != len(archived) {
		return archiveRefused("it holds %d tables; its versions make %d here (a different application set?)", len(archived), len(here))
	}
	for i, t := range here {
		a := archived[i]
		if a.Name != t.name || !slices.Equal(a.Columns, t.columns) {
			return archiveRefused("table %s (columns %v) does not match table %s (columns %v) made here (a different application set?)",
				a.Name, a.Columns, t.name, t.columns)
		}
	}
	return nil
}

// foreignKey is a constraint dropped while the rows go in.
type foreignKey struct{ Table, Name, Def string }

// suspendChecks makes the new tables take rows in any order and exactly
// as archived: their foreign keys are dropped (resumeChecks adds them back,
// checking every row), their own triggers disabled, and whatever rows the
// migrations seeded removed.
func suspendChecks(ctx context.Context, tx pgx.Tx, id tenantapi.TenantID, tables []tableInfo) ([]foreignKey, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname::text, k.conname::text, pg_get_constraintdef(k.oid)
		FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND k.contype = 'f' AND k.conparentid = 0 ORDER BY 1, 2`, id.Schema())
	if err != nil {
		return nil, err
	}
	fks, err := pgx.CollectRows(rows, pgx.RowToStructByPos[foreignKey])
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	for _, fk := range fks {
		b.Queue(fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s`, pgx.Identifier{id.Schema(), fk.Table}.Sanitize(), pgx.Identifier{fk.Name}.Sanitize()))
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{id.Schema(), t.name}.Sanitize()
		b.Queue(`ALTER TABLE ` + names[i] + ` DISABLE TRIGGER USER`)
	}
	if len(names) > 0 {
		b.Queue(`TRUNCATE ` + strings.Join(names, ", "))
	}
	return fks, tx.SendBatch(ctx, b).Close()
}

func resumeChecks(ctx context.Context, tx pgx.Tx, id tenantapi.TenantID, tables []tableInfo, fks []foreignKey) error {
	b := &pgx.Batch{}
	for _, t := range tables {
		b.Queue(`ALTER TABLE ` + pgx.Identifier{id.Schema(), t.name}.Sanitize() + ` ENABLE TRIGGER USER`)
	}
	for _, fk := range fks {
		b.Queue(fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s %s`, pgx.Identifier{id.Schema(), fk.Table}.Sanitize(), pgx.Identifier{fk.Name}.Sanitize(), fk.Def))
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		if sqlState(err) == sqlForeignKeyViolation {
			return archiveRefused("its rows break a foreign key (%v)", err)
		}
		return err
	}
	return nil
}

// copyIn streams each table's entry into COPY FROM, checking the entry's
// bytes and rows against the manifest, and refuses entries out of place.
func copyIn(ctx context.Context, tx pgx.Tx, tr *tar.Reader, id tenantapi.TenantID, tables []TableEntry) error {
	for _, t := range tables {
		h, err := tr.Next()
		if err != nil {
			return archiveRefused("truncated before table %s (%v)", t.Name, err)
		}
		if h.Name != t.File {
			return archiveRefused("entry %q where the manifest has %s (table %s)", h.Name, t.File, t.Name)
		}
		if h.Size != t.Bytes {
			return archiveRefused("table %s: %d bytes, the manifest says %d", t.Name, h.Size, t.Bytes)
		}
		sum, n := sha256.New(), &counter{}
		src := &readErr{r: io.TeeReader(tr, io.MultiWriter(sum, n))}
		sql := fmt.Sprintf(`COPY %s (%s) FROM STDIN`, pgx.Identifier{id.Schema(), t.Name}.Sanitize(), quoteAll(t.Columns))
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, src, sql)
		if src.err != nil {
			return archiveRefused("table %s: truncated (%v)", t.Name, src.err)
		}
		if err != nil {
			return archiveRefused("table %s: its data does not load (%v)", t.Name, err)
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != t.SHA256 || n.n != t.Bytes {
			return archiveRefused("table %s: checksum %s, the manifest says %s", t.Name, short(got), short(t.SHA256))
		}
		if tag.RowsAffected() != t.Rows {
			return archiveRefused("table %s: %d rows, the manifest says %d", t.Name, tag.RowsAffected(), t.Rows)
		}
	}
	if h, err := tr.Next(); err != io.EOF {
		name := ""
		if h != nil {
			name = h.Name
		}
		return archiveRefused("unexpected content after the last table (%q, %v)", name, err)
	}
	return nil
}

// readErr remembers the error of the archive's reader, which COPY would
// otherwise only report as an aborted copy.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// verifyTables recomputes every imported table's checksum and count from
// its rows.
func verifyTables(ctx context.Context, tx pgx.Tx, id tenantapi.TenantID, tables []tableInfo, archived []TableEntry) error {
	for i, t := range tables {
		sum, n := sha256.New(), &counter{}
		tag, err := tx.Conn().PgConn().CopyTo(ctx, io.MultiWriter(sum, n), copyOutSQL(id.Schema(), t))
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != archived[i].SHA256 || tag.RowsAffected() != archived[i].Rows {
			return archiveRefused("table %s: imported rows differ from the archive (%d rows, checksum %s; archived %d, %s)",
				t.name, tag.RowsAffected(), short(got), archived[i].Rows, short(archived[i].SHA256))
		}
	}
	return nil
}

// verifyLedger checks that the ledger rows imported with the data are the
// manifest's.
func verifyLedger(ctx context.Context, tx pgx.Tx, id tenantapi.TenantID, want []LedgerEntry) error {
	rows, err := tx.Query(ctx, forTenant(`SELECT track, version, file, checksum FROM {{schema}}._tenantapi_migrations ORDER BY track DESC, version`, id))
	if err != nil {
		return err
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[LedgerEntry])
	if err != nil {
		return err
	}
	if !slices.Equal(got, want) {
		return archiveRefused("the ledger in its data differs from its manifest")
	}
	return nil
}

// TableChecksums returns the SHA-256 of each table of the tenant's schema,
// by name, as an archive's manifest has it, and the row counts.
func (s *TenantStore) TableChecksums(ctx context.Context, id tenantapi.TenantID) (map[string]string, map[string]int64, error) {
	t, err := s.Tenant(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	st, err := s.db.site(ctx, t.Database)
	if err != nil {
		return nil, nil, err
	}
	p, ok := st.owner.(*pool)
	if !ok {
		return nil, nil, errNeedsPgx
	}
	sums, counts := map[string]string{}, map[string]int64{}
	err = inTx(ctx, p, func(tx pgx.Tx) error {
		if err := setCopySettings(ctx, tx); err != nil {
			return err
		}
		tables, err := schemaTables(ctx, tx, id.Schema())
		if err != nil {
			return err
		}
		for _, t := range tables {
			var h hash.Hash = sha256.New()
			tag, err := tx.Conn().PgConn().CopyTo(ctx, h, copyOutSQL(id.Schema(), t))
			if err != nil {
				return err
			}
			sums[t.name], counts[t.name] = hex.EncodeToString(h.Sum(nil)), tag.RowsAffected()
		}
		return nil
	})
	return sums, counts, translate(err, publicScope)
}
