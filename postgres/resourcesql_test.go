package postgres

import (
	"testing"

	"github.com/google/uuid"

	"github.com/tenantapi/tenantapi"
)

// ResourceSQL's statements are RowStore's: an item inserted through them
// reads back through RowStore as the insert returned it, and they read
// what RowStore wrote.
func TestResourceSQL(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ref := s.createTenant(t, "acme")
	res := itemsAt(t, s.db, ref)
	get, list, insert, texts := ResourceSQL(res, ref.ID)
	p := s.rows.plan(res)
	every := values(res, map[string]string{"name": "n", "description": "d", "attributes": "{}"})
	if get != s.rows.sql.render(ref.ID, p.getSQL()) || list != s.rows.sql.render(ref.ID, p.listSQL(nil)) ||
		insert != s.rows.sql.render(ref.ID, p.insertSQL(every)) {
		t.Errorf("ResourceSQL = %q, %q, %q: not the statements RowStore sends", get, list, insert)
	}

	id := uuid.Must(uuid.NewV7())
	var (
		inserted tenantapi.Row
		params   = []any{id, writeTime()}
	)
	for _, f := range res.Fields {
		params = append(params, map[string]string{"name": "n", "description": "d", "attributes": `{"b":1,"a":[2]}`}[f.Name])
	}
	cols := make([][]byte, texts)
	into := func(dest ...any) []any {
		for i := range cols {
			dest = append(dest, &cols[i])
		}
		return dest
	}
	if err := s.db.tenantRow(t.Context(), ref, insert, params...).Scan(into((*[16]byte)(&inserted.ID), &inserted.Version)...); err != nil {
		t.Fatalf("insert: %v", err)
	}
	inserted.JSON = p.encode(nil, inserted.ID, cols)
	it := decodeItem(t, inserted)
	if inserted.ID != id || inserted.Version != 1 || it.Name != "n" || it.Description != "d" || string(it.Attributes) != `{"a": [2], "b": 1}` {
		t.Errorf("insert returned %+v: %s", inserted, inserted.JSON)
	}
	if row, err := s.rows.Get(t.Context(), ref, res, id); err != nil || string(row.JSON) != string(inserted.JSON) {
		t.Errorf("Get = %s, %v; the insert returned %s", row.JSON, err, inserted.JSON)
	}

	c, err := s.rows.Create(t.Context(), ref, res, item(res, "x", `{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got tenantapi.Row
	err = s.db.tenantRow(t.Context(), ref, get, c.Row.ID).Scan(into((*[16]byte)(&got.ID), &got.Version)...)
	got.JSON = p.encode(nil, got.ID, cols)
	if err != nil || string(got.JSON) != string(c.Row.JSON) || got.Version != 1 {
		t.Errorf("get = %+v, %v; Create returned %s", got, err, c.Row.JSON)
	}
	rows, err := s.db.query(t.Context(), s.db.main.runtime.forTenant(ref.ID), s.db.main, ref, list, []any{uuid.UUID{}, 51})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var row tenantapi.Row
		if err := rows.Scan(into((*[16]byte)(&row.ID))...); err != nil {
			t.Fatal(err)
		}
		row.JSON = p.encode(nil, row.ID, cols)
		decodeItem(t, row)
		n++
	}
	if rows.Err() != nil || n != 2 {
		t.Errorf("list gave %d rows, %v; want 2", n, rows.Err())
	}
}
