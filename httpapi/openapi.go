package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tenantapi/tenantapi"
)

// The OpenAPI document (SPEC §10). openapi.json holds what does not depend
// on the application set: the admin API, health and documentation routes,
// and the parameters, headers, problem responses and security schemes that
// every resource shares. The paths, tags and component schemas of the
// resources are generated from the newest recorded schema version
// (openapi_resources.go) and put in front of the static ones. Each version's
// document is rendered once and then served as bytes.

// openAPICache holds the document rendered for the newest schema version.
type openAPICache struct {
	mu   sync.Mutex // held while rendering
	last atomic.Pointer[renderedDocument]
}

// renderedDocument is the document of one schema version (nil: no version
// recorded).
type renderedDocument struct {
	schema *tenantapi.Schema
	body   []byte
}

// document returns the document for schema, rendering it only when it is
// not the one rendered last. SchemaSource keeps one pointer per recorded
// version, so the pointer is the cache key.
func (c *openAPICache) document(schema *tenantapi.Schema) ([]byte, error) {
	if d := c.last.Load(); d != nil && d.schema == schema {
		return d.body, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.last.Load(); d != nil && d.schema == schema {
		return d.body, nil
	}
	body, err := renderOpenAPI(openAPIDocument, schema)
	if err != nil {
		return nil, err
	}
	c.last.Store(&renderedDocument{schema: schema, body: body})
	return body, nil
}

// newestSchema returns the newest recorded version of the application
// set, or nil when none is recorded (or the server has no SchemaSource).
func (s *Server) newestSchema(ctx context.Context) (*tenantapi.Schema, error) {
	if s.stores.Schemas == nil {
		return nil, nil
	}
	all, err := s.stores.Schemas.Schemas(ctx)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	return all[len(all)-1], nil
}

// renderOpenAPI returns the static document with schema's resources added:
// their paths before the static ones, their tags and component schemas
// likewise. A nil schema adds nothing.
func renderOpenAPI(static []byte, schema *tenantapi.Schema) ([]byte, error) {
	v, err := parseOrdered(static)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	doc, _ := v.(object)
	paths, _ := doc.get("paths").(object)
	components, _ := doc.get("components").(object)
	schemas, _ := components.get("schemas").(object)
	tags, _ := doc.get("tags").([]any)
	if paths == nil || schemas == nil {
		return nil, errors.New("openapi.json: no paths or no component schemas")
	}
	if schema != nil {
		taken := takenNames{schemas: map[string]bool{}, operations: map[string]bool{}, tags: map[string]bool{}}
		for _, m := range schemas {
			taken.schemas[m.key] = true
		}
		for _, p := range paths {
			item, _ := p.value.(object)
			for _, op := range item {
				if o, ok := op.value.(object); ok {
					if id, ok := o.get("operationId").(string); ok {
						taken.operations[id] = true
					}
				}
			}
		}
		for _, t := range tags {
			if o, ok := t.(object); ok {
				name, _ := o.get("name").(string)
				taken.tags[name] = true
			}
		}
		var genPaths, genSchemas object
		var genTags []any
		for _, d := range resourceDocs(schema, taken) {
			genPaths = append(genPaths, d.paths()...)
			genSchemas = append(genSchemas, d.schemas()...)
			genTags = append(genTags, d.tagObject())
		}
		doc.set("paths", append(genPaths, paths...))
		components.set("schemas", append(genSchemas, schemas...))
		doc.set("tags", append(genTags, tags...))
		if info, ok := doc.get("info").(object); ok {
			info.set("x-application-set-version", schema.Version)
			doc.set("info", info)
		}
	}
	doc.set("components", components)

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// object is a JSON object that keeps its members in order, so that the
// document reads as written: resources first, every schema's properties
// in column order.
type object []member

type member struct {
	key   string
	value any
}

// obj builds an object from alternating keys and values.
func obj(kv ...any) object {
	o := make(object, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		o = append(o, member{kv[i].(string), kv[i+1]})
	}
	return o
}

// get returns the value of key, or nil.
func (o object) get(key string) any {
	for _, m := range o {
		if m.key == key {
			return m.value
		}
	}
	return nil
}

// set replaces the value of key, or appends the member.
func (o *object) set(key string, v any) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value = v
			return
		}
	}
	*o = append(*o, member{key, v})
}

// MarshalJSON writes the members in order, without escaping HTML
// characters (the document's texts are full of `<table>`).
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc.Encode(m.key); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		b.WriteByte(':')
		if err := enc.Encode(m.value); err != nil {
			return nil, err
		}
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// parseOrdered decodes one JSON value, objects as object and numbers as
// json.Number.
func parseOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the document")
	}
	return v, nil
}

func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := object{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			o = append(o, member{k.(string), v})
		}
		_, err := dec.Token()
		return o, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	}
	return tok, nil
}
