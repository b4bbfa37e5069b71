package postgres

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantapi/tenantapi"
)

// TestRowEncodingsAgree: a row's JSON as RowStore encodes it in Go from the
// members' texts (the pgx driver's way) is byte for byte the JSON
// PostgreSQL builds from the same row (the Data API driver's way, and an
// idempotent create's stored answer), for every kind of column and values
// that test the escaping and the formats.
func TestRowEncodingsAgree(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := t.Context()
	ref, sc := s.migrateAcme(t, Migration{Version: 2, Name: "kinds", SQL: `
		CREATE TYPE mood AS ENUM ('ok', 'très "bien"');
		CREATE TABLE kinds (
			id uuid PRIMARY KEY,
			s text, v varchar(10), c char(5), i smallint, b bigint, n numeric(12, 3), nu numeric,
			r real, d double precision, ok boolean, jb jsonb, js json, ts timestamptz, dt date,
			u uuid, e mood, ta text[], ia integer[], tsa timestamptz[], ea mood[], ja jsonb[],
			version bigint NOT NULL DEFAULT 1, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)`})
	res, ok := sc.Resource("kinds")
	if !ok {
		t.Fatalf("no kinds resource: %+v", sc.Private)
	}
	for _, row := range []string{
		`'a"b\c' || chr(8) || chr(12) || chr(10) || chr(13) || chr(9) || chr(1) || chr(31) || 'é€😀', 'ab', 'ab', -32768, 9223372036854775807,
		 123456789.120, 1e-20, 1.5, 0.1, true, '{"b": [1, 2.50], "a": {"x": null}}', '{ "spaced" : 1 , "a":1, "a":2 }',
		 '2026-11-26 14:07:25.123456+05:30', '2026-02-28', '0193a6f1-7c3e-7b4a-9d2e-1f2a3b4c5d6e', 'très "bien"',
		 ARRAY['x', NULL, 'y"z'], ARRAY[1, NULL, 3], ARRAY['2026-01-01 00:00:00+00'::timestamptz, NULL], ARRAY['ok'::tenant_acme.mood], ARRAY['{"a":1}'::jsonb]`,
		`NULL, '', '', 0, 0, 0, 0, 'NaN', '-Infinity', false, 'null', '[]', '0001-01-01 00:00:00+00', '1999-12-31', NULL, 'ok',
		 '{}', '{}', '{}', '{}', '{}'`,
		`NULL, '', '', 0, 0, 0, 0, 'NaN', '-Infinity', false, 'null', '[]', '2026-11-26 14:07:25.1+00', '1999-12-31', NULL, 'ok',
		 '{}', '{}', '{}', '{}', '{}'`,
		`NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`,
	} {
		id := uuid.Must(uuid.NewV7())
		s.exec(t, `INSERT INTO "tenant_acme".kinds (id, s, v, c, i, b, n, nu, r, d, ok, jb, js, ts, dt, u, e, ta, ia, tsa, ea, ja, created_at, updated_at)
			VALUES ('`+id.String()+`', `+row+`, now(), now())`)
		got, err := s.rows.Get(ctx, ref, res, id)
		if err != nil {
			t.Fatal(err)
		}
		p := s.rows.plan(res)
		var want string
		if err := s.db.owner.QueryRow(ctx, forTenant(`SELECT `+p.row+` FROM `+p.table+` t WHERE t.id = $1`, "acme"), id).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if string(got.JSON) != want {
			t.Errorf("Go encoding\n  %s\nPostgreSQL's\n  %s", got.JSON, want)
		}
		if !json.Valid(got.JSON) {
			t.Errorf("not JSON: %s", got.JSON)
		}
	}
	var m2 map[string]any
	if row, _, err := s.rows.List(ctx, ref, res, tenantapi.RowQuery{Limit: 1}); err != nil || len(row) != 1 || json.Unmarshal(row[0].JSON, &m2) != nil {
		t.Fatalf("List: %v %v", row, err)
	}
}

// TestUTCTimestampText: the shortcut for timestamps already in UTC answers
// what parsing them answers, and leaves every other text to the parser.
func TestUTCTimestampText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		fast bool
	}{
		{"2026-11-26 14:07:25.123456+00", true},
		{"2026-11-26 14:07:25.1+00", true},
		{"2026-11-26 14:07:25.12+00", true},
		{"2026-11-26 14:07:25+00", true},
		{"0001-01-01 00:00:00+00", true},
		{"2026-11-26 14:07:25.123456+05:30", false},
		{"2026-11-26 14:07:25-07", false},
		{"2026-11-26 14:07:25+00 BC", false},
		{"10000-01-01 00:00:00+00", false},
		{"2026-11-26 14:07:25.+00", false},
		{"2026-11-26 14:07:25.1234567+00", false},
		{"2026-11-26T14:07:25+00", false},
		{"2026-11-2a 14:07:25+00", false},
		{"+00", false},
	} {
		got, ok := appendUTCText(nil, []byte(tc.text))
		if ok != tc.fast {
			t.Errorf("%q: shortcut %v, want %v", tc.text, ok, tc.fast)
			continue
		}
		if !ok {
			continue
		}
		ts, err := parseTimestamptz(tc.text)
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if want := `"` + ts.UTC().Format("2006-01-02T15:04:05.000000Z") + `"`; string(got) != want {
			t.Errorf("%q: %s, parsing gives %s", tc.text, got, want)
		}
	}
}
