package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"
)

// OpenAPIYAML is the OpenAPI 3 document of the HTTP API, written by hand. It
// is the source of truth: the routes, their query parameters and security
// and the event decoder are read from it, the tests validate every response
// against it, and a client generated from it runs against the server.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// spec is the loaded document and what is derived from it once, at start-up,
// so that no request pays for parsing it.
type spec struct {
	doc  *openapi3.T
	json []byte // the document as JSON, served at /openapi.json
	// ops maps "METHOD /path" (the Go mux pattern, which uses the same
	// {name} syntax as OpenAPI paths) to the document's operation.
	ops map[string]*operation
}

// operation is a route of the document with what request checking needs.
type operation struct {
	// query lists the declared query parameters; lists the array-typed ones,
	// whose three accepted syntaxes are normalized to one before validation.
	query map[string]bool
	lists map[string]bool
	known string   // the declared query parameters, for messages
	path  []string // the path parameters' names
	body  bool     // the operation takes a request body
	// bodyMode says who reads and validates the body; set by the router.
	bodyMode bodyMode
	// auth is what the document's security requirements ask for.
	auth authMode
}

func loadSpec() (*spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate openapi.yaml: %w", err)
	}
	// JSON is converted from the YAML tree itself rather than re-marshalled
	// from kin-openapi's model, so that both documents carry the same text.
	var tree any
	if err := yaml.Unmarshal(OpenAPIYAML, &tree); err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	js, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("convert openapi.yaml to JSON: %w", err)
	}
	s := &spec{doc: doc, json: js, ops: make(map[string]*operation)}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			o := &operation{
				auth:  authModeOf(doc, method, op),
				query: make(map[string]bool),
				lists: make(map[string]bool),
				body:  op.RequestBody != nil,
			}
			params := append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...)
			var known []string
			for _, p := range params {
				if p.Value.In == openapi3.ParameterInPath {
					o.path = append(o.path, p.Value.Name)
				}
				if p.Value.In != openapi3.ParameterInQuery {
					continue
				}
				o.query[p.Value.Name] = true
				known = append(known, p.Value.Name)
				if p.Value.Schema != nil && p.Value.Schema.Value.Type.Is(openapi3.TypeArray) {
					o.lists[p.Value.Name] = true
				}
			}
			o.known = "none"
			if known != nil {
				o.known = strings.Join(known, ", ")
			}
			s.ops[method+" "+path] = o
		}
	}
	return s, nil
}

// uiDocument is the document as Swagger UI is given it: with each
// operation's security as this server applies it, the bearer scheme
// required where a key is asked for and nothing elsewhere, so that the UI
// shows a padlock exactly on the operations that need a key (and sends the
// key there). The served document keeps the keys optional: which requests
// need one is the server's configuration, not the contract's.
func (s *server) uiDocument() ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(OpenAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	paths, _ := doc["paths"].(map[string]any)
	for pattern, op := range s.spec.ops {
		method, path, _ := strings.Cut(pattern, " ")
		item, _ := paths[path].(map[string]any)
		o, ok := item[strings.ToLower(method)].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("openapi.yaml: no operation %s", pattern)
		}
		if s.needsKey(op) {
			o["security"] = []any{map[string]any{bearerScheme: []any{}}}
		} else {
			delete(o, "security")
		}
	}
	if components, ok := doc["components"].(map[string]any); ok && s.keys == nil {
		// No key to give: no Authorize button.
		delete(components, "securitySchemes")
	}
	return json.Marshal(doc)
}

// operation returns the document's operation for a mux pattern.
func (s *spec) operation(pattern string) (*operation, error) {
	o, ok := s.ops[pattern]
	if !ok {
		return nil, fmt.Errorf("route %q is not in openapi.yaml", pattern)
	}
	return o, nil
}

// methods returns, for each path of the document, its methods in a stable
// order, for Allow headers.
func (s *spec) methods() map[string][]string {
	order := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	m := make(map[string][]string)
	for key := range s.ops {
		method, path, _ := strings.Cut(key, " ")
		m[path] = append(m[path], method)
	}
	for _, ms := range m {
		slices.SortFunc(ms, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	}
	return m
}
