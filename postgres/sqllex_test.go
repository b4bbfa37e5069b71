package postgres

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantapi/tenantapi/internal/testdb"
)

// splitTests are scripts and the statements splitStatements finds in
// them. FuzzSplitStatements starts from them too.
var splitTests = []struct {
	name   string
	script string
	want   []string
}{
	{"empty", "", nil},
	{"only whitespace", " \n\t\r\n\f", nil},
	{"one without semicolon", "SELECT 1", []string{"SELECT 1"}},
	{"two", "SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}},
	{"trimmed", "  \n SELECT 1 \n ;\n\n  SELECT\n  2\n", []string{"SELECT 1", "SELECT\n  2"}},
	{"empty statements", ";;SELECT 1;; ;\n;SELECT 2;;", []string{"SELECT 1", "SELECT 2"}},

	// Strings.
	{"string", "SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
	{"doubled quote", "SELECT 'it''s;'; SELECT 2", []string{"SELECT 'it''s;'", "SELECT 2"}},
	{"backslash is literal", `SELECT 'a\'; SELECT 'b'`, []string{`SELECT 'a\'`, `SELECT 'b'`}},
	{"escape string", `SELECT E'it\'s;'; SELECT 2`, []string{`SELECT E'it\'s;'`, "SELECT 2"}},
	{"escape string lower case", `SELECT e'\';'; SELECT 2`, []string{`SELECT e'\';'`, "SELECT 2"}},
	{"escaped backslash", `SELECT E'a\\'; SELECT 2`, []string{`SELECT E'a\\'`, "SELECT 2"}},
	{"escape string doubled quote", `SELECT E'a'';'; SELECT 2`, []string{`SELECT E'a'';'`, "SELECT 2"}},
	{"escape string continued", "SELECT E'a'\n  'b\\';c'; SELECT 2", []string{"SELECT E'a'\n  'b\\';c'", "SELECT 2"}},
	{"escape string continued after a comment", "SELECT E'a' -- c\n'\\';'; SELECT 2", []string{"SELECT E'a' -- c\n'\\';'", "SELECT 2"}},
	{"escape string not continued on one line", `SELECT E'a' ';\'; SELECT 2`, []string{`SELECT E'a' ';\'`, "SELECT 2"}},
	{"E inside a word starts no escape string", `SELECT type'a\'; SELECT 2`, []string{`SELECT type'a\'`, "SELECT 2"}},
	{"E after a number", `SELECT 1e'\';'; SELECT 2`, []string{`SELECT 1e'\';'`, "SELECT 2"}},
	{"unicode string", `SELECT U&'\0041;''x'; SELECT u&'d\0061t\'; SELECT 2`, []string{`SELECT U&'\0041;''x'`, `SELECT u&'d\0061t\'`, "SELECT 2"}},
	{"bit, hex and national strings", "SELECT B'1;', X'1F;', N'n;'; SELECT 2", []string{"SELECT B'1;', X'1F;', N'n;'", "SELECT 2"}},

	// Identifiers.
	{"quoted identifier", `SELECT 1 AS "a;""b"; SELECT 2`, []string{`SELECT 1 AS "a;""b"`, "SELECT 2"}},
	{"unicode identifier", `SELECT 1 AS U&"d\0061t;"; SELECT 2`, []string{`SELECT 1 AS U&"d\0061t;"`, "SELECT 2"}},
	{"quote in identifier", `SELECT 1 AS "it's"; SELECT 2`, []string{`SELECT 1 AS "it's"`, "SELECT 2"}},
	{"dollar in identifier", "CREATE TABLE t$x$ (a$$ int); SELECT $$;$$", []string{"CREATE TABLE t$x$ (a$$ int)", "SELECT $$;$$"}},

	// Dollar quotes.
	{"dollar quote", "SELECT $$a;b$$; SELECT 2", []string{"SELECT $$a;b$$", "SELECT 2"}},
	{"tagged dollar quote", "SELECT $fn$ x; $$ y; $fn$; SELECT 2", []string{"SELECT $fn$ x; $$ y; $fn$", "SELECT 2"}},
	{"tag inside another", "SELECT $b$ $a$ ; $a$ $b$; SELECT 2", []string{"SELECT $b$ $a$ ; $a$ $b$", "SELECT 2"}},
	{"longer tag inside", "SELECT $a$ $ab$; $a$; SELECT 2", []string{"SELECT $a$ $ab$; $a$", "SELECT 2"}},
	{"delimiter overlapping a false one", "SELECT $a$ $b$a$; SELECT 2", []string{"SELECT $a$ $b$a$", "SELECT 2"}},
	{"parameters are no dollar quotes", "SELECT $1; SELECT $2", []string{"SELECT $1", "SELECT $2"}},
	{"tag cannot start with a digit", "SELECT $1abc$; SELECT 2", []string{"SELECT $1abc$", "SELECT 2"}},
	{"lone dollar", "SELECT $x; SELECT 2", []string{"SELECT $x", "SELECT 2"}},

	// Comments.
	{"line comment", "SELECT 1 -- no end;\n; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
	{"comment inside", "SELECT 1 -- c;\n + 2; SELECT 3", []string{"SELECT 1 -- c;\n + 2", "SELECT 3"}},
	{"block comment", "SELECT /* ; */ 1; SELECT 2", []string{"SELECT /* ; */ 1", "SELECT 2"}},
	{"nested block comments", "SELECT /* a /* b; */ c; */ 1; SELECT 2", []string{"SELECT /* a /* b; */ c; */ 1", "SELECT 2"}},
	{"block comment opener is no closer", "SELECT /*/ ; */ 1", []string{"SELECT /*/ ; */ 1"}},
	{"comment after an operator", "SELECT 1 +-- c;\n2; SELECT 2 -/* ; */3", []string{"SELECT 1 +-- c;\n2", "SELECT 2 -/* ; */3"}},
	{"comments around", "-- header;\n/* more; */ CREATE TABLE t (a int); -- trailing;\n", []string{"CREATE TABLE t (a int)"}},
	{"only comments", "-- a;\n;/* b; */;\n-- c", nil},
	{"trailing comment without newline", "SELECT 1; -- done", []string{"SELECT 1"}},
	{"trailing comment before the semicolon", "SELECT 1 /* one */ -- the first\n;", []string{"SELECT 1"}},

	// Parentheses.
	{"rule", "CREATE RULE r AS ON INSERT TO a DO ALSO (INSERT INTO b VALUES (1); INSERT INTO c VALUES (2)); SELECT 1",
		[]string{"CREATE RULE r AS ON INSERT TO a DO ALSO (INSERT INTO b VALUES (1); INSERT INTO c VALUES (2))", "SELECT 1"}},
	{"unmatched closing parenthesis", "SELECT 1); SELECT 2", []string{"SELECT 1)", "SELECT 2"}},

	// Routine bodies.
	{"begin atomic",
		"CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN x THEN 1 END;\nEND;\nSELECT 2",
		[]string{"CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN x THEN 1 END;\nEND", "SELECT 2"}},
	{"begin atomic procedure", "create or replace procedure p() begin atomic insert into t values (1); end; call p()",
		[]string{"create or replace procedure p() begin atomic insert into t values (1); end", "call p()"}},
	{"case in parentheses", "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT (CASE WHEN true THEN 1 END); END; SELECT 2",
		[]string{"CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT (CASE WHEN true THEN 1 END); END", "SELECT 2"}},
	{"case outside a block", "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql RETURN CASE WHEN x > 0 THEN 1 END; SELECT 2",
		[]string{"CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql RETURN CASE WHEN x > 0 THEN 1 END", "SELECT 2"}},
	{"body in a dollar quote", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$; SELECT 2",
		[]string{"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$", "SELECT 2"}},
	{"transaction begin", "BEGIN; SELECT 1; END; COMMIT", []string{"BEGIN", "SELECT 1", "END", "COMMIT"}},
	{"begin in another create", "CREATE TABLE begin_t (a int); CREATE VIEW v AS SELECT CASE WHEN true THEN 1 END; SELECT 2",
		[]string{"CREATE TABLE begin_t (a int)", "CREATE VIEW v AS SELECT CASE WHEN true THEN 1 END", "SELECT 2"}},
	{"do block", "DO $$\nBEGIN\n  RAISE NOTICE 'x;';\nEND\n$$;\nSELECT 2", []string{"DO $$\nBEGIN\n  RAISE NOTICE 'x;';\nEND\n$$", "SELECT 2"}},
	{"do block with a language", "DO LANGUAGE plpgsql $body$ BEGIN NULL; END $body$; SELECT 2",
		[]string{"DO LANGUAGE plpgsql $body$ BEGIN NULL; END $body$", "SELECT 2"}},

	// Line endings.
	{"windows line endings", "-- head\r\nSELECT 1;\r\n-- c;\r\nSELECT\r\n 2;\r\n", []string{"SELECT 1", "SELECT\r\n 2"}},
	{"old mac line endings", "SELECT 1 -- c;\rSELECT 2; SELECT 3", []string{"SELECT 1 -- c;\rSELECT 2", "SELECT 3"}},
}

func TestSplitStatements(t *testing.T) {
	for _, tt := range splitTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitStatements(tt.script)
			if err != nil {
				t.Fatalf("splitStatements(%q): %v", tt.script, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("splitStatements(%q)\n got %q\nwant %q", tt.script, got, tt.want)
			}
		})
	}
}

func TestSplitStatementsErrors(t *testing.T) {
	for _, tt := range []struct {
		script, want string
	}{
		{"SELECT 'abc", "unterminated quoted string starting on line 1"},
		{"SELECT 1;\nSELECT 'it''s", "unterminated quoted string starting on line 2"},
		{"SELECT 1;\n\nSELECT E'it\\'s", "unterminated quoted string starting on line 3"},
		{"SELECT E'a'\n'b", "unterminated quoted string starting on line 1"},
		{"SELECT U&'abc", "unterminated quoted string starting on line 1"},
		{"SELECT 1;\r\nSELECT \"abc", "unterminated quoted identifier starting on line 2"},
		{"SELECT 1;\nSELECT $$abc", "unterminated dollar-quoted string $$ starting on line 2"},
		{"SELECT $fn$ abc $fn", "unterminated dollar-quoted string $fn$ starting on line 1"},
		{"SELECT $a$ $b$ $a", "unterminated dollar-quoted string $a$ starting on line 1"},
		{"SELECT 1;\n/* abc", "unterminated /* comment starting on line 2"},
		{"/* a /* b */ c", "unterminated /* comment starting on line 1"},
		{"/*/", "unterminated /* comment starting on line 1"},
		{"SELECT 1; -- 'x\n\n'", "unterminated quoted string starting on line 3"},
	} {
		got, err := splitStatements(tt.script)
		if err == nil || err.Error() != tt.want {
			t.Errorf("splitStatements(%q) = %q, %v; want error %q", tt.script, got, err, tt.want)
		}
	}
}

// TestSplitMigrations splits the product's migrations and the example
// application set into the statements each file holds.
func TestSplitMigrations(t *testing.T) {
	want := map[string]int{
		"migrations/app/0001_items.sql":                    1,
		"migrations/product/0001_idempotency_keys.sql":     3,
		"migrations/product/0002_idempotency_resource.sql": 1,
		"migrations/public/0001_registry.sql":              5,
		"migrations/public/0002_rate_limits.sql":           1,
		"migrations/public/0003_change_feed.sql":           4,
		"migrations/public/0004_application_set.sql":       2,
		"migrations/public/0005_application_schemas.sql":   1,
		"../examples/projects/0001_items.sql":              1,
		"../examples/projects/0002_projects.sql":           7,
	}
	files := sqlSourceFiles(t)
	statement := regexp.MustCompile(`^[A-Za-z]+\s`)
	for _, f := range files {
		stmts, err := splitStatements(f.text)
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		n, known := want[f.path]
		switch {
		case known && len(stmts) != n:
			t.Errorf("%s: %d statements, want %d: %q", f.path, len(stmts), n, stmts)
		case !known && len(stmts) == 0:
			t.Errorf("%s: no statement", f.path)
		}
		for _, s := range stmts {
			if !statement.MatchString(s) || !strings.Contains(f.text, s) || strings.HasSuffix(s, ";") {
				t.Errorf("%s: statement %q", f.path, s)
			}
		}
		delete(want, f.path)
	}
	for path := range want {
		t.Errorf("%s: not found", path)
	}
}

type sqlSourceFile struct{ path, text string }

// sqlSourceFiles returns the product's migration files and the example
// application set's, in order.
func sqlSourceFiles(t *testing.T) []sqlSourceFile {
	t.Helper()
	var files []sqlSourceFile
	for _, pattern := range []string{"migrations/*/*.sql", "../examples/projects/*.sql"} {
		paths, err := filepath.Glob(pattern)
		if err != nil || len(paths) == 0 {
			t.Fatalf("%s: %v, %d files", pattern, err, len(paths))
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, sqlSourceFile{filepath.ToSlash(p), string(b)})
		}
	}
	return files
}

// postgresScripts are run whole and statement by statement against
// PostgreSQL by TestSplitAgainstPostgres.
var postgresScripts = map[string]string{
	"strings": `
CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO notes VALUES (1, 'semi;colon'), (2, 'it''s; quoted');
INSERT INTO notes VALUES (3, 'back\slash'); INSERT INTO notes VALUES (4, E'it\'s;'), (5, E'a\\');
INSERT INTO notes VALUES (6, E'first;'
  'continued\';');
INSERT INTO notes VALUES (7, U&'\0041;' || U&'d!0061t!+000061;' UESCAPE '!');
INSERT INTO notes VALUES (8, 'one'
-- a comment between the parts;
'two;');
INSERT INTO notes VALUES (9, $$dollar; 'quoted'$$), (10, $q$with $$ inside; $q$), (11, $a$ $b$ ; $b$ $a$);
INSERT INTO notes VALUES (12, B'101'::text), (13, X'1F'::text), (14, N'national;');
`,
	"identifiers": `
CREATE TABLE "odd;name" ("col""umn;" int, U&"d\0061ta;" text);
INSERT INTO "odd;name" VALUES (1, 'x;');
CREATE TABLE t$x (a$b int); INSERT INTO t$x VALUES (2);
`,
	"comments": `/* header; /* nested; */ still; comment */
CREATE TABLE c (a int); -- trailing; comment
INSERT INTO c /* inline; */ VALUES (1);;
-- only a comment;
;
INSERT INTO c VALUES (2 +-- a comment after an operator;
3) -- the last statement has no semicolon`,
	"rule": `
CREATE TABLE a (x int);
CREATE TABLE log_a (x int, note text);
CREATE RULE a_log AS ON INSERT TO a DO ALSO (
    INSERT INTO log_a VALUES (NEW.x, 'one;');
    INSERT INTO log_a VALUES (NEW.x * 10, 'two')
);
INSERT INTO a VALUES (1);
`,
	"atomic": `
CREATE TABLE t (x int);
CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT 1;
  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;
END;
CREATE OR REPLACE PROCEDURE p(v int) LANGUAGE sql
BEGIN ATOMIC
  INSERT INTO t VALUES (v);
  INSERT INTO t VALUES (CASE v WHEN 1 THEN 10 END);
  INSERT INTO t SELECT (CASE WHEN v > 0 THEN 100 END);
END;
CALL p(1);
CREATE FUNCTION g(x int) RETURNS int LANGUAGE sql RETURN CASE WHEN x > 0 THEN 2 END;
INSERT INTO t VALUES (f(3)), (g(5));
`,
	"plpgsql": `
CREATE TABLE events (id int GENERATED ALWAYS AS IDENTITY, what text);
CREATE FUNCTION add_event(w text) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO events (what) VALUES (w || ';');
  PERFORM $$ not; the end $$;
END;
$fn$;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS '
BEGIN
  NEW.what := NEW.what || ''!'';
  RETURN NEW;
END;';
CREATE TRIGGER events_touch BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION touch();
DO $$
BEGIN
  PERFORM add_event('from do;');
  IF true THEN
    INSERT INTO events (what) VALUES ('case; ' || CASE WHEN 1 = 1 THEN 'yes' END);
  END IF;
END $$;
DO LANGUAGE plpgsql $body$ BEGIN INSERT INTO events (what) VALUES ($$tagged; $1$$); END $body$;
`,
	"schema": `
CREATE TYPE mood AS ENUM ('ok;', 'sad');
CREATE TABLE m (id int PRIMARY KEY, mood mood NOT NULL DEFAULT 'ok;', tags text[] DEFAULT '{a;b}');
CREATE INDEX m_mood ON m (mood) WHERE mood <> 'sad';
ALTER TABLE m ADD COLUMN n int CHECK (n > 0), ADD CONSTRAINT m_n CHECK (n < 100);
CREATE VIEW mv AS SELECT id, tags[1:1] AS first, (ARRAY[1, 2, 3])[2:3] AS slice, n::text AS n FROM m;
INSERT INTO m (id, tags) VALUES (1, ARRAY['x;', 'y']);
COMMENT ON TABLE m IS 'a comment; with a semicolon';
`,
}

// TestSplitAgainstPostgres checks splitStatements against PostgreSQL
// itself: for every script, running its statements one by one (each in the
// extended protocol, which refuses a string of several statements) gives
// the same command tags and leaves the same schema and rows as running the
// whole script at once (in the simple protocol, which takes many
// statements). Each run is a transaction that is rolled back.
func TestSplitAgainstPostgres(t *testing.T) {
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.WithoutCancel(ctx)) })

	scripts := map[string]string{}
	for name, s := range postgresScripts {
		scripts[name] = s
		scripts[name+" (CRLF)"] = strings.ReplaceAll(s, "\n", "\r\n")
	}
	// Each folder of migrations as one script, its files in order.
	folders := map[string][]string{}
	for _, f := range sqlSourceFiles(t) {
		dir := filepath.Dir(f.path)
		folders[dir] = append(folders[dir], f.text)
	}
	for dir, texts := range folders {
		scripts[dir] = strings.Join(texts, "\n;\n")
	}

	for name, script := range scripts {
		t.Run(name, func(t *testing.T) {
			stmts, err := splitStatements(script)
			if err != nil {
				t.Fatal(err)
			}
			wholeTags, wholeState := runSplitCheck(t, conn, func() []string {
				results, err := conn.PgConn().Exec(ctx, script).ReadAll()
				if err != nil {
					t.Fatalf("running the whole script: %v", err)
				}
				var tags []string
				for _, r := range results {
					tags = append(tags, r.CommandTag.String())
				}
				return tags
			})
			splitTags, splitState := runSplitCheck(t, conn, func() []string {
				var tags []string
				for _, s := range stmts {
					r := conn.PgConn().ExecParams(ctx, s, nil, nil, nil, nil).Read()
					if r.Err != nil {
						t.Fatalf("statement %q: %v", s, r.Err)
					}
					tags = append(tags, r.CommandTag.String())
				}
				return tags
			})
			if !slices.Equal(splitTags, wholeTags) {
				t.Errorf("command tags\n  split %q\n  whole %q", splitTags, wholeTags)
			}
			if !slices.Equal(splitState, wholeState) {
				t.Errorf("database after the split statements\n%s\nafter the whole script\n%s",
					strings.Join(splitState, "\n"), strings.Join(wholeState, "\n"))
			}
			if len(wholeState) == 0 {
				t.Error("the script left nothing to compare")
			}
		})
	}
}

// runSplitCheck runs run in a transaction with a new schema sqllex as the
// search_path, and returns run's command tags and what the schemas public
// and sqllex then hold; the transaction is rolled back.
func runSplitCheck(t *testing.T, conn *pgx.Conn, run func() []string) (tags, state []string) {
	t.Helper()
	ctx := t.Context()
	if _, err := conn.PgConn().Exec(ctx, "BEGIN; CREATE SCHEMA sqllex; SET LOCAL search_path = sqllex").ReadAll(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := conn.PgConn().Exec(context.WithoutCancel(ctx), "ROLLBACK").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}()
	tags = run()
	state = queryStrings(t, conn, describeSQL)
	for _, rel := range queryStrings(t, conn, relationsSQL) {
		rows := queryStrings(t, conn, "SELECT coalesce(string_agg(r::text, ' | ' ORDER BY r::text), '') FROM "+rel+" r")
		state = append(state, "rows of "+rel+": "+strings.Join(rows, ""))
	}
	return tags, state
}

// queryStrings returns the first column of the rows of sql.
func queryStrings(t *testing.T, conn *pgx.Conn, sql string) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return lines
}

// relationsSQL lists the tables and views of the schemas public and sqllex.
const relationsSQL = `
SELECT c.oid::regclass::text FROM pg_class c
WHERE c.relnamespace IN ('public'::regnamespace, 'sqllex'::regnamespace) AND c.relkind IN ('r', 'v')
ORDER BY 1`

// describeSQL describes what the schemas public and sqllex hold, a line a
// thing.
const describeSQL = `
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname IN ('public', 'sqllex'))
SELECT line FROM (
  SELECT format('relation %s %s', c.oid::regclass, c.relkind)
    FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns)
  UNION ALL
  SELECT format('column %s.%s %s not null %s default %s', c.oid::regclass, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace IN (SELECT oid FROM ns) AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
  UNION ALL
  SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace IN (SELECT oid FROM ns)
  UNION ALL
  SELECT format('routine %s', pg_get_functiondef(oid))
    FROM pg_proc WHERE pronamespace IN (SELECT oid FROM ns) AND prokind IN ('f', 'p')
  UNION ALL
  SELECT format('rule %s', pg_get_ruledef(r.oid))
    FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE c.relnamespace IN (SELECT oid FROM ns)
  UNION ALL
  SELECT format('trigger %s', pg_get_triggerdef(tg.oid))
    FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
    WHERE c.relnamespace IN (SELECT oid FROM ns) AND NOT tg.tgisinternal
  UNION ALL
  SELECT format('enum %s %s %s', ty.oid::regtype, e.enumsortorder, e.enumlabel)
    FROM pg_enum e JOIN pg_type ty ON ty.oid = e.enumtypid WHERE ty.typnamespace IN (SELECT oid FROM ns)
  UNION ALL
  SELECT format('comment %s %s', c.oid::regclass, d.description)
    FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
    WHERE c.relnamespace IN (SELECT oid FROM ns)
) AS lines (line)
ORDER BY line`

func TestNamedParams(t *testing.T) {
	for _, tt := range []struct {
		sql, want string
		n         int
	}{
		{"SELECT 1", "SELECT 1", 0},
		{"", "", 0},
		{"SELECT $1", "SELECT :p1", 1},
		{"SELECT $1::uuid", "SELECT :p1::uuid", 1},
		{"SELECT * FROM t WHERE a = $2 AND b = $12 OR c = $1", "SELECT * FROM t WHERE a = :p2 AND b = :p12 OR c = :p1", 12},
		{"SELECT $1, $1", "SELECT :p1, :p1", 1},
		{"SELECT $01", "SELECT :p1", 1},
		{"INSERT INTO t VALUES ($1,$2)", "INSERT INTO t VALUES (:p1,:p2)", 2},
		{"SELECT $1::text::int, x::text FROM t", "SELECT :p1::text::int, x::text FROM t", 1},
		{"SELECT a[1:2], a[$1:$2], a[$1:]", "SELECT a[1:2], a[:p1: :p2], a[:p1:]", 2},
		{"SELECT $1, '$2', E'\\'$3', U&'$4', \"$5\", $$ $6 $$, $q$ $7 $q$", "SELECT :p1, '$2', E'\\'$3', U&'$4', \"$5\", $$ $6 $$, $q$ $7 $q$", 1},
		{"SELECT 1 -- $1\n, /* $2 /* $3 */ */ $4", "SELECT 1 -- $1\n, /* $2 /* $3 */ */ :p4", 4},
		{"SELECT a$1, $1", "SELECT a$1, :p1", 1},
		{"SELECT 'a:b', $1 ::int", "SELECT 'a:b', :p1 ::int", 1},
		{"SELECT $1\r\n, $2", "SELECT :p1\r\n, :p2", 2},
	} {
		got, n, err := namedParams(tt.sql)
		if err != nil || got != tt.want || n != tt.n {
			t.Errorf("namedParams(%q) = %q, %d, %v; want %q, %d", tt.sql, got, n, err, tt.want, tt.n)
		}
	}
	for _, tt := range []struct {
		sql, want string
	}{
		{"SELECT $1abc", `parameter $1 on line 1 is followed by "a"`},
		{"SELECT 1,\n $1_0", `parameter $1 on line 2 is followed by "_"`},
		{"SELECT $1$", `parameter $1 on line 1 is followed by "$"`},
		{"SELECT $0", "parameter $0 on line 1: parameters are numbered from 1"},
		{"SELECT $2147483648", "parameter $2147483648 on line 1: number too large"},
		{"SELECT $99999999999999999999", "parameter $99999999999999999999 on line 1: number too large"},
		{"SELECT $1, 'abc", "unterminated quoted string starting on line 1"},
		{"SELECT $1 /* abc", "unterminated /* comment starting on line 1"},
	} {
		got, n, err := namedParams(tt.sql)
		if err == nil || err.Error() != tt.want {
			t.Errorf("namedParams(%q) = %q, %d, %v; want error %q", tt.sql, got, n, err, tt.want)
		}
	}
}

func TestHasColonName(t *testing.T) {
	for _, tt := range []struct {
		sql  string
		want bool
	}{
		{"SELECT 1", false},
		{"SELECT :name", true},
		{"SELECT :_x", true},
		{"SELECT a[1:n] FROM t", true},
		{"SELECT x:::text", true},
		{"SELECT x::text, $1::uuid", false},
		{"SELECT a[1:2], a[1 : 2]", false},
		{"SELECT 'a:b', E'\\':c', \"a:b\", $$ :c $$, $t$ :d $t$", false},
		{"SELECT 1 -- :x\n, /* :y */ 2", false},
		{"DO $$ BEGIN x := 1; END $$", false},
		{"SELECT x := 1", false},
		{"SELECT :'var', :\"var\"", false},
		{"SELECT ':' || :x", true},
		{"SELECT 'abc", false},
	} {
		if got := hasColonName(tt.sql); got != tt.want {
			t.Errorf("hasColonName(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

// FuzzSplitStatements checks, for any input, that nothing panics; that
// when splitStatements succeeds, joining its statements with ";\n" and
// splitting again gives the same statements, each a piece of the input;
// and that namedParams leaves every string, identifier, dollar quote and
// comment as it is and leaves no $n behind. Seeds: splitTests and
// testdata/fuzz/FuzzSplitStatements.
func FuzzSplitStatements(f *testing.F) {
	for _, tt := range splitTests {
		f.Add(tt.script)
	}
	for _, s := range postgresScripts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		stmts, err := splitStatements(script)
		if err == nil {
			for _, s := range stmts {
				if s == "" || !strings.Contains(script, s) {
					t.Fatalf("splitStatements(%q): statement %q", script, s)
				}
			}
			joined := strings.Join(stmts, ";\n")
			again, err := splitStatements(joined)
			if err != nil || !slices.Equal(again, stmts) {
				t.Fatalf("splitStatements(%q) = %q\nsplitting %q again = %q, %v", script, stmts, joined, again, err)
			}
		}

		hasColonName(script)
		out, n, err := namedParams(script)
		if err != nil {
			return
		}
		in, inParams := lexPieces(t, script)
		got, outParams := lexPieces(t, out)
		if !slices.Equal(got, in) {
			t.Fatalf("namedParams(%q) = %q: quoted text and comments\n  were %q\n  are  %q", script, out, in, got)
		}
		if len(outParams) > 0 || (n == 0) != (len(inParams) == 0) || n == 0 && out != script {
			t.Fatalf("namedParams(%q) = %q, %d", script, out, n)
		}
	})
}

// lexPieces returns the strings, identifiers, dollar quotes and comments of
// sql, and its parameters.
func lexPieces(t *testing.T, sql string) (pieces, params []string) {
	t.Helper()
	lx := sqlLexer{src: sql}
	for {
		tok, err := lx.next()
		if err != nil {
			t.Fatalf("lexing %q: %v", sql, err)
		}
		text := sql[tok.start:tok.end]
		switch tok.kind {
		case tokEOF:
			return pieces, params
		case tokString, tokIdent, tokDollar, tokComment:
			pieces = append(pieces, text)
		case tokParam:
			params = append(params, text)
		}
	}
}
