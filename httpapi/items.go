package httpapi

import (
	"crypto/sha256"
	"net/http"
	"sync"

	"github.com/google/uuid"
	"github.com/tenantapi/tenantapi"
)

// maxListBody is where a list page stops growing (Lambda answers at most
// 6 MB); next_cursor continues after the last item sent.
const maxListBody = 4 << 20

// bufPool recycles response buffers of the item routes.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (s *Server) writeItem(w http.ResponseWriter, r *http.Request, status int, it tenantapi.Item) {
	w.Header().Set("ETag", etag(it.Version))
	bp := bufPool.Get().(*[]byte)
	b := appendItem((*bp)[:0], it)
	writeBody(w, status, "application/json", b)
	*bp = b
	bufPool.Put(bp)
}

// itemID returns the path's item id; one that is not a UUID names no item.
func itemID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("item_id"))
	if err != nil || len(r.PathValue("item_id")) != 36 {
		return uuid.UUID{}, tenantapi.ErrItemNotFound
	}
	return id, nil
}

func (s *Server) getItem(w http.ResponseWriter, r *http.Request) {
	id, err := itemID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	it, err := s.stores.Items.Item(r.Context(), tenantOf(r), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if noneMatch(r, it.Version) {
		w.Header().Set("ETag", etag(it.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeItem(w, r, http.StatusOK, it)
}

func (s *Server) listItems(w http.ResponseWriter, r *http.Request) {
	q, err := parseListQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var after *uuid.UUID
	if q.cursor != "" {
		id, err := decodeItemCursor(q.cursor)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		after = &id
	}
	items, err := s.stores.Items.Items(r.Context(), tenantOf(r), after, q.limit+1)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	more := len(items) > q.limit
	if more {
		items = items[:q.limit]
	}
	b := make([]byte, 0, 256*len(items)+64)
	b = append(b, `{"items":[`...)
	sent := 0
	for i, it := range items {
		mark := len(b)
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, it)
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
		b = append(b, encodeItemCursor(items[sent-1].ID)...)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, '}')
	writeBody(w, http.StatusOK, "application/json", b)
}

func (s *Server) createItem(w http.ResponseWriter, r *http.Request) {
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
	in, err := itemInput(obj, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var idem *tenantapi.Idempotency
	if hasKey {
		idem = &tenantapi.Idempotency{Key: key, RequestHash: sha256.Sum256(body)}
	}
	created, err := s.stores.Items.CreateItem(r.Context(), tenantOf(r), in, idem, func(it tenantapi.Item) (head, tail []byte) {
		return appendItemHead(nil, it), appendItemTail(nil, it)
	})
	if err != nil {
		if asError(err, tenantapi.CodeConflict) {
			w.Header().Set("Retry-After", "1")
		}
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", basePath(r)+"/items/"+created.Item.ID.String())
	if created.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("ETag", etag(1)) // every item is created at version 1
		writeBody(w, http.StatusCreated, "application/json", created.Body)
		return
	}
	s.writeItem(w, r, http.StatusCreated, created.Item)
}

// writeInput reads and parses the body of a PUT or PATCH and its If-Match
// (malformed input, the rest of SPEC §4.1 (8)), then the item id.
func (s *Server) writeInput(r *http.Request) (uuid.UUID, map[string]any, tenantapi.Precondition, error) {
	body, err := readBody(r)
	if err != nil {
		return uuid.UUID{}, nil, tenantapi.Precondition{}, err
	}
	pre, err := parseIfMatch(r)
	if err != nil {
		return uuid.UUID{}, nil, pre, err
	}
	obj, err := decodeObject(body)
	if err != nil && !asError(err, tenantapi.CodeValidationFailed) {
		return uuid.UUID{}, nil, pre, err
	}
	id, idErr := itemID(r)
	if idErr != nil {
		return id, nil, pre, idErr
	}
	return id, obj, pre, err
}

func (s *Server) replaceItem(w http.ResponseWriter, r *http.Request) {
	id, obj, pre, err := s.writeInput(r)
	var in tenantapi.ItemInput
	if err == nil {
		in, err = itemInput(obj, &id)
	}
	if asError(err, tenantapi.CodeValidationFailed) {
		// Absent items and failed preconditions outrank validation (§4.1).
		if cerr := s.stores.Items.CheckItem(r.Context(), tenantOf(r), id, pre); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	it, err := s.stores.Items.ReplaceItem(r.Context(), tenantOf(r), id, in, pre)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeItem(w, r, http.StatusOK, it)
}

func (s *Server) patchItem(w http.ResponseWriter, r *http.Request) {
	id, obj, pre, err := s.writeInput(r)
	if asError(err, tenantapi.CodeValidationFailed) {
		// A patch that is not an object replaces the whole item, which is
		// never a valid item; but absence and preconditions come first.
		if cerr := s.stores.Items.CheckItem(r.Context(), tenantOf(r), id, pre); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	it, err := s.stores.Items.PatchItem(r.Context(), tenantOf(r), id, pre, func(cur tenantapi.Item) (tenantapi.ItemInput, error) {
		return applyItemPatch(cur, obj)
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeItem(w, r, http.StatusOK, it)
}

func (s *Server) deleteItem(w http.ResponseWriter, r *http.Request) {
	pre, err := parseIfMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id, err := itemID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.stores.Items.DeleteItem(r.Context(), tenantOf(r), id, pre); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
