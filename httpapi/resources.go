package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/tenantapi/tenantapi"
)

// The routes of every resource (SPEC §3 for items, §10 for any table):
// one set of handlers for all of them. Which resource a request names,
// and its shape, come from the tenant's version of the application set.

// maxListBody is where a list page stops growing (Lambda answers at most
// 6 MB); next_cursor continues after the last row sent.
const maxListBody = 4 << 20

// bufPool recycles list response buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// resourceOf returns the resource the path names at the tenant's
// version: ErrNotFound when that version has no such table.
func (s *Server) resourceOf(r *http.Request) (*tenantapi.Resource, error) {
	t := tenantOf(r)
	schema, err := s.stores.Schemas.Schema(r.Context(), t.Version)
	if err != nil {
		return nil, err
	}
	res, ok := schema.Resource(r.PathValue("resource"))
	if !ok {
		return nil, tenantapi.ErrNotFound
	}
	return res, nil
}

// rowID returns the path's row id; one that is not a UUID names no row.
func rowID(r *http.Request) (uuid.UUID, error) {
	s := r.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.UUID{}, tenantapi.ErrItemNotFound
	}
	return id, nil
}

// precondition is pre as res can meet it: a resource without a version
// has no ETag, so only "*" matches.
func precondition(res *tenantapi.Resource, pre tenantapi.Precondition) tenantapi.Precondition {
	if !res.Versioned && pre.Present && !pre.Any {
		return tenantapi.Precondition{Present: true}
	}
	return pre
}

func (s *Server) writeRow(w http.ResponseWriter, status int, res *tenantapi.Resource, row tenantapi.Row) {
	if res.Versioned {
		w.Header().Set("ETag", etag(row.Version))
	}
	writeBody(w, status, "application/json", row.JSON)
}

// rowError answers err, first dropping what the server remembers of the
// tenant when the error says its schema changed shape under the request.
func (s *Server) rowError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, tenantapi.ErrShapeChanged) {
		id := tenantOf(r).ID
		s.forgetTenant(id)
		w.Header().Set("Retry-After", "1")
	}
	s.writeError(w, r, err)
}

func (s *Server) getRow(w http.ResponseWriter, r *http.Request) {
	res, err := s.resourceOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := rowID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	row, err := s.stores.Rows.Get(r.Context(), tenantOf(r), res, id)
	if err != nil {
		s.rowError(w, r, err)
		return
	}
	if res.Versioned && noneMatch(r, row.Version) {
		w.Header().Set("ETag", etag(row.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeRow(w, http.StatusOK, res, row)
}

// rowQuery reads a list's query: limit, cursor and the filters, each at
// most once. A name that is none of them is 400 listing the filterable
// columns; a cursor made for other filters is invalid.
func rowQuery(r *http.Request, res *tenantapi.Resource) (tenantapi.RowQuery, *[8]byte, error) {
	var bound *[8]byte
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return tenantapi.RowQuery{}, bound, tenantapi.Errorf(tenantapi.CodeInvalidQuery, "the query string is malformed")
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	slices.Sort(names) // the same request always gets the same answer
	q := tenantapi.RowQuery{Limit: tenantapi.DefaultPageLimit}
	var cursor string
	h := sha256.New()
	h.Write([]byte(res.Name))
	for _, k := range names {
		vs := values[k]
		if len(vs) > 1 {
			return q, bound, tenantapi.Errorf(tenantapi.CodeInvalidQuery, "the query parameter %q is given more than once", truncate(k, 64))
		}
		switch k {
		case "limit":
			n, ok := parseLimit(vs[0])
			if !ok {
				return q, bound, tenantapi.Errorf(tenantapi.CodeInvalidQuery, "limit must be an integer from 1 to %d", tenantapi.MaxPageLimit)
			}
			q.Limit = n
			continue
		case "cursor":
			if cursor = vs[0]; cursor == "" {
				return q, bound, errBadCursor
			}
			continue
		}
		f, t, ok := filterField(res, k)
		if !ok {
			return q, bound, tenantapi.Errorf(tenantapi.CodeInvalidQuery, "the query parameter %q is not known; filterable: %s",
				truncate(k, 64), strings.Join(filterable(res), ", "))
		}
		text, msg := filterValue(t, vs[0])
		if msg != "" {
			return q, bound, tenantapi.Errorf(tenantapi.CodeInvalidQuery, "the filter %s %s", k, msg)
		}
		q.Filters = append(q.Filters, tenantapi.Filter{Field: f, Text: text})
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(text))
	}
	if len(q.Filters) > 0 {
		bound = (*[8]byte)(h.Sum(nil)[:8])
	}
	if cursor != "" {
		after, err := decodeRowCursor(cursor, bound)
		if err != nil {
			return q, bound, err
		}
		q.After = &after
	}
	return q, bound, nil
}

var errBadCursor = tenantapi.Errorf(tenantapi.CodeInvalidCursor, "the cursor is not valid")

// filterField returns the field index (-1 for id) and type of the
// filterable column name.
func filterField(res *tenantapi.Resource, name string) (int, tenantapi.Type, bool) {
	if name == "id" {
		return -1, tenantapi.Type{Kind: tenantapi.KindUUID}, true
	}
	for i, f := range res.Fields {
		if f.Name == name && f.Filterable {
			return i, f.Type, true
		}
	}
	return 0, tenantapi.Type{}, false
}

// filterable lists the columns res can be filtered on.
func filterable(res *tenantapi.Resource) []string {
	out := []string{"id"}
	for _, f := range res.Fields {
		if f.Filterable {
			out = append(out, f.Name)
		}
	}
	return out
}

// A row cursor is the last id sent, base64url; a filtered list's also
// carries 8 bytes of the hash of its resource and filters, so that with
// other filters it is refused rather than silently continuing another
// list. Unfiltered, it is the id alone, as items' cursors always were.
func encodeRowCursor(id uuid.UUID, bound *[8]byte) string {
	b := make([]byte, 17, 25)
	b[0] = cursorVersion
	copy(b[1:], id[:])
	if bound != nil {
		b = append(b, bound[:]...)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeRowCursor(s string, bound *[8]byte) (uuid.UUID, error) {
	b, err := decodeCursor(s)
	want := 17
	if bound != nil {
		want = 25
	}
	if err != nil || len(b) != want || b[0] != cursorVersion || bound != nil && [8]byte(b[17:]) != *bound {
		return uuid.UUID{}, errBadCursor
	}
	return uuid.UUID(b[1:17]), nil
}

func (s *Server) listRows(w http.ResponseWriter, r *http.Request) {
	res, err := s.resourceOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q, bound, err := rowQuery(r, res)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rows, more, err := s.stores.Rows.List(r.Context(), tenantOf(r), res, q)
	if err != nil {
		s.rowError(w, r, err)
		return
	}
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"`...)
	b = append(b, res.Name...) // a resource name needs no escaping
	b = append(b, `":[`...)
	sent := 0
	for i, row := range rows {
		mark := len(b)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, row.JSON...)
		if len(b)+128 > maxListBody && i > 0 {
			b = b[:mark]
			more = true
			break
		}
		sent++
	}
	b = append(b, `],"next_cursor":`...)
	if more && sent > 0 {
		b = append(b, '"')
		b = append(b, encodeRowCursor(rows[sent-1].ID, bound)...)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, '}')
	writeBody(w, http.StatusOK, "application/json", b)
	if cap(b) <= 1<<20 {
		*bp = b
		bufPool.Put(bp)
	}
}

func (s *Server) createRow(w http.ResponseWriter, r *http.Request) {
	res, err := s.resourceOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	key, hasKey, err := parseIdempotencyKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := decodeObject(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	vals, _, err := rowValues(res, obj, createBody, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var idem *tenantapi.Idempotency
	if hasKey {
		idem = &tenantapi.Idempotency{Key: key, RequestHash: sha256.Sum256(body)}
	}
	created, err := s.stores.Rows.Create(r.Context(), tenantOf(r), res, vals, idem)
	if err != nil {
		if errors.Is(err, tenantapi.ErrKeyInFlight) {
			w.Header().Set("Retry-After", "1")
		}
		s.rowError(w, r, err)
		return
	}
	w.Header().Set("Location", basePath(r)+"/"+res.Name+"/"+created.Row.ID.String())
	if created.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	s.writeRow(w, http.StatusCreated, res, created.Row)
}

// writeInput reads and parses the body of a PUT or PATCH and its If-Match
// (malformed input, the rest of SPEC §4.1 (8)), then the row id.
func (s *Server) writeInput(r *http.Request, res *tenantapi.Resource) (uuid.UUID, map[string]any, tenantapi.Precondition, error) {
	body, err := readBody(r)
	if err != nil {
		return uuid.UUID{}, nil, tenantapi.Precondition{}, err
	}
	pre, err := parseIfMatch(r)
	if err != nil {
		return uuid.UUID{}, nil, pre, err
	}
	pre = precondition(res, pre)
	obj, err := decodeObject(body)
	if err != nil && !asError(err, tenantapi.CodeValidationFailed) {
		return uuid.UUID{}, nil, pre, err
	}
	id, idErr := rowID(r)
	if idErr != nil {
		return id, nil, pre, idErr
	}
	return id, obj, pre, err
}

// writeValues reads a PUT or PATCH of kind: the row id, the body's
// values (and for PATCH the JSON fields to merge), the precondition. A
// body that is not valid reports an absent row or a failed precondition
// first, as §4.1 orders them (a PATCH that is not an object would replace
// the whole row, which is never valid).
func (s *Server) writeValues(r *http.Request, res *tenantapi.Resource, kind writeKind) (uuid.UUID, map[string]any, []tenantapi.Value, []int, tenantapi.Precondition, error) {
	id, obj, pre, err := s.writeInput(r, res)
	var (
		vals  []tenantapi.Value
		merge []int
	)
	if err == nil {
		vals, merge, err = rowValues(res, obj, kind, &id)
	}
	if asError(err, tenantapi.CodeValidationFailed) {
		if cerr := s.stores.Rows.Check(r.Context(), tenantOf(r), res, id, pre); cerr != nil {
			err = cerr
		}
	}
	return id, obj, vals, merge, pre, err
}

func (s *Server) replaceRow(w http.ResponseWriter, r *http.Request) {
	res, err := s.resourceOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, _, vals, _, pre, err := s.writeValues(r, res, replaceBody)
	if err != nil {
		s.rowError(w, r, err)
		return
	}
	row, err := s.stores.Rows.Replace(r.Context(), tenantOf(r), res, id, vals, pre)
	if err != nil {
		s.rowError(w, r, err)
		return
	}
	s.writeRow(w, http.StatusOK, res, row)
}

func (s *Server) patchRow(w http.ResponseWriter, r *http.Request) {
	res, err := s.resourceOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, obj, vals, merge, pre, err := s.writeValues(r, res, patchBody)
	if err != nil {
		s.rowError(w, r, err)
		return
	}
	row, err := s.stores.Rows.Patch(r.Context(), tenantOf(r), res, id, pre, len(merge) > 0, func(cur *tenantapi.Row) ([]tenantapi.Value, error) {
		if cur == nil {
			return vals, nil
		}
		return mergeValues(res, obj, merge, cur.JSON, slices.Clone(vals))
	})
	if err != nil {
		s.rowError(w, r, err)
		return
	}
	s.writeRow(w, http.StatusOK, res, row)
}

func (s *Server) deleteRow(w http.ResponseWriter, r *http.Request) {
	res, err := s.resourceOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pre, err := parseIfMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := rowID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.stores.Rows.Delete(r.Context(), tenantOf(r), res, id, precondition(res, pre)); err != nil {
		s.rowError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
