package fakerdsdata

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/rdsdata/types"
)

// The 1 MiB limit falls where public integration tests against the service
// found it: each row costs 2 bytes, 4 bytes a column and its values' bytes.
func TestResponseSizeLimit(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	for _, c := range []struct {
		sql        string
		pass, fail int64
	}{
		{`SELECT md5("value"::text)::uuid AS "id" FROM generate_series(1, :rows) AS "value"`, 24800, 25000},
		{`SELECT md5("value"::text)::uuid AS "a", md5(("value" + 1)::text)::uuid AS "b", md5(("value" + 2)::text)::uuid AS "c",
			repeat('x', 20) AS "d", repeat('y', 8) AS "e" FROM generate_series(1, :rows) AS "value"`, 6625, 6640},
		{`SELECT repeat('é', 1000) AS "text" FROM generate_series(1, :rows)`, 522, 523},
	} {
		rows := func(n int64) types.SqlParameter { return param("rows", &types.FieldMemberLongValue{Value: n}) }
		out, err := f.try(t, c.sql, rows(c.pass))
		if err != nil || int64(len(out.Records)) != c.pass {
			t.Fatalf("%d rows of %s: %v", c.pass, c.sql, err)
		}
		_, err = f.try(t, c.sql, rows(c.fail))
		var tooLarge *types.UnsupportedResultException
		if !errors.As(err, &tooLarge) || tooLarge.ErrorMessage() != "The result exceeds the size limit 1 MB." {
			t.Fatalf("%d rows of %s: %v", c.fail, c.sql, err)
		}
	}
}

// A row over 64 KiB fails the call; the statement has run all the same.
func TestRowSizeLimit(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	n := func(v int64) types.SqlParameter { return param("n", &types.FieldMemberLongValue{Value: v}) }
	if _, err := f.try(t, `SELECT repeat('x', :n::int)`, n(64<<10-6)); err != nil {
		t.Fatalf("a row of exactly 64 KiB: %v", err)
	}
	_, err := f.try(t, `SELECT repeat('x', :n::int)`, n(64<<10-5))
	wantError(t, err, "UnsupportedResultException", "Packet for query is too large")

	f.exec(t, `CREATE TABLE big (id int, body text)`)
	_, err = f.try(t, `INSERT INTO big VALUES (1, repeat('y', 70000)) RETURNING *`)
	wantError(t, err, "UnsupportedResultException", "Packet for query is too large")
	if c := f.count(t, `SELECT count(*) FROM big`); c != 1 {
		t.Fatal("the INSERT whose RETURNING was too large did not stay inserted")
	}
	// The limit is the row's, not a column's: the row reads back in rows of
	// pieces.
	_, err = f.try(t, `SELECT substr(body, 1, 40000), substr(body, 40001) FROM big`)
	wantError(t, err, "UnsupportedResultException", "Packet for query is too large")
	out := f.exec(t, `SELECT substr(body, s, 40000) FROM big, generate_series(1, 70000, 40000) s ORDER BY s`)
	if got := len(out.Records[0][0].(*types.FieldMemberStringValue).Value) + len(out.Records[1][0].(*types.FieldMemberStringValue).Value); got != 70000 {
		t.Fatalf("read back in pieces: %d characters", got)
	}

	// In a transaction, a refused result leaves the transaction usable.
	id := f.begin(t)
	_, err = f.inTx(t, id, `SELECT repeat('x', 70000)`)
	wantError(t, err, "UnsupportedResultException", "Packet for query is too large")
	if _, err := f.inTx(t, id, `SELECT 1`); err != nil {
		t.Fatalf("after a refused result: %v", err)
	}
	f.commit(t, id)
}

func TestLimitsAreOptions(t *testing.T) {
	t.Parallel()
	f := start(t, func(o *Options) { o.MaxResponseBytes = 100; o.MaxRowBytes = -1 })
	if _, err := f.try(t, `SELECT repeat('x', 90)`); err != nil {
		t.Fatal(err)
	}
	_, err := f.try(t, `SELECT repeat('x', 100)`)
	wantError(t, err, "UnsupportedResultException", "The result exceeds the size limit")
}

// A request body over 4 MiB is refused before anything else.
func TestRequestSizeLimit(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	body := `{"sql":"` + strings.Repeat("x", MaxRequestBytes) + `"}`
	resp, err := http.Post(f.srv.URL+"/Execute", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("X-Amzn-ErrorType") != "RequestEntityTooLargeException" {
		t.Fatalf("an oversized request: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}
