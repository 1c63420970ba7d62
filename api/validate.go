package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/tallyhq/tally"
)

// This file is the one place where requests are checked before a handler
// sees them: first the rules the document cannot express (unknown query
// parameters, scalars given twice, the three list syntaxes), then the
// document itself through kin-openapi. Rules that involve several
// parameters are tally.ReportQuery.Normalize's; the strict decoding into
// domain types is in the handlers' parse functions.

var validationOptions = &openapi3filter.Options{
	MultiError: true,
	// Defaults are applied when parsing, where "absent" must stay visible
	// (CSV without limit/offset means every row).
	SkipSettingDefaults: true,
	AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
}

// ownBodyOptions are for operations whose handler validates the body with
// a decoder derived from the document.
var ownBodyOptions = func() *openapi3filter.Options {
	o := *validationOptions
	o.ExcludeRequestBody = true
	return &o
}()

// validated wraps h with negotiation and validation of the request against
// op. offers lists the response types h can write; nil skips negotiation.
// The handler sees the query with its lists in the space-delimited form, and
// the body, already read, in r.Body.
func (s *server) validated(op *operation, offers []string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if offers != nil && negotiate(r.Header.Get("Accept"), offers) == "" {
			return tally.Errorf(eNotAcceptable, "Accept %q admits none of: %s", r.Header.Get("Accept"), strings.Join(offers, ", "))
		}
		query, err := checkQuery(op, r.URL.RawQuery)
		if err != nil {
			return err
		}
		opts := validationOptions
		if op.bodyMode != bodyDocument {
			opts = ownBodyOptions
		}
		if op.body && op.bodyMode != bodyStreamed {
			if err := s.readBody(w, r); err != nil {
				return err
			}
		}
		if !op.body || op.bodyMode != bodyStreamed {
			// The body, if any, is in: the request now counts against the
			// in-flight limit (a streamed body's handler admits itself).
			if err := admit(r.Context()); err != nil {
				return err
			}
		}
		input := &openapi3filter.RequestValidationInput{
			Request:     r,
			PathParams:  pathParams(op, r),
			QueryParams: query,
			Route:       op.route,
			Options:     opts,
		}
		if err := openapi3filter.ValidateRequest(r.Context(), input); err != nil {
			return &requestError{errs: fieldErrors(err)}
		}
		if len(query) > 0 {
			r.URL.RawQuery = query.Encode()
		}
		return h(w, r)
	}
}

func pathParams(op *operation, r *http.Request) map[string]string {
	if len(op.path) == 0 {
		return nil
	}
	m := make(map[string]string, len(op.path))
	for _, name := range op.path {
		m[name] = r.PathValue(name)
	}
	return m
}

// checkQuery parses the query, rejects parameters the operation does not
// declare and scalars given more than once, and rewrites each list, written
// space-delimited (or with +), comma-delimited or as repeated keys, in the
// document's form: one space-delimited value.
func checkQuery(op *operation, raw string) (url.Values, error) {
	if raw == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &requestError{errs: []fieldError{{Field: "query", In: "query", Message: "query: malformed query string"}}}
	}
	var errs []fieldError
	for _, name := range slices.Sorted(mapsKeys(q)) {
		values := q[name]
		switch {
		case !op.query[name]:
			errs = append(errs, fieldError{Field: name, In: "query",
				Message: fmt.Sprintf("%s: unknown parameter; known: %s", name, op.known)})
		case op.lists[name]:
			var items []string
			for _, v := range values {
				items = append(items, strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })...)
			}
			if len(items) == 0 {
				errs = append(errs, fieldError{Field: name, In: "query", Message: name + ": must list at least one value"})
				continue
			}
			q[name] = []string{strings.Join(items, " ")}
		case len(values) > 1:
			errs = append(errs, fieldError{Field: name, In: "query", Message: name + ": given more than once"})
		}
	}
	if len(errs) > maxQueryErrors {
		// Thousands of bad parameters must not make an answer of
		// megabytes.
		more := len(errs) - maxQueryErrors
		errs = append(errs[:maxQueryErrors], fieldError{In: "query", Message: fmt.Sprintf("and %d more problems", more)})
	}
	if errs != nil {
		return nil, &requestError{errs: errs}
	}
	return q, nil
}

// maxQueryErrors bounds the problems one answer lists.
const maxQueryErrors = 10

func mapsKeys(q url.Values) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	}
}

// readBody reads the whole body within the size limit, so that validation
// and decoding work on bytes, and checks that it is JSON.
func (s *server) readBody(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength != 0 { // no body, no type to check: 400 below
		if err := requireJSON(r.Header.Get("Content-Type"), "application/json"); err != nil {
			return err
		}
	}
	if _, err := contentEncoding(r, false); err != nil {
		return err
	}
	// kin-openapi picks the body's schema by Content-Type; every JSON type
	// is read as application/json.
	r.Header.Set("Content-Type", typeJSON)
	if r.ContentLength > s.maxBody {
		return tally.Errorf(tally.ETooLarge, "body: larger than the limit of %d bytes", s.maxBody)
	}
	// The buffer grows with what arrives, never to the declared length: a
	// Content-Length costs nothing until the bytes come.
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return tally.Errorf(tally.ETooLarge, "body: larger than the limit of %d bytes", s.maxBody)
		}
		if err := bodyError(err); err != nil {
			return err // the in-flight limit, the rate floor, the read timeout
		}
		return tally.FieldErrorf("body", "could not be read: %v", err)
	}
	if buf.Len() == 0 {
		return &requestError{errs: []fieldError{{Field: "body", In: "body", Message: "body: must not be empty; send a JSON object"}}}
	}
	data := buf.Bytes()
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	r.ContentLength = int64(len(data))
	return nil
}

// fieldErrors turns kin-openapi's errors into the contract's per-field
// messages, each starting with the parameter or body field at fault.
func fieldErrors(err error) []fieldError {
	var out []fieldError
	var walk func(err error)
	walk = func(err error) {
		// Type switches, not errors.As: a RequestError unwraps to its
		// schema errors, and their context (parameter or body) must not be
		// skipped.
		switch e := err.(type) { //nolint:errorlint // see above
		case openapi3.MultiError:
			for _, e := range e {
				walk(e)
			}
		case *openapi3filter.RequestError:
			switch {
			case e.Parameter != nil:
				out = append(out, parameterErrors(e.Parameter, e.Err)...)
			case e.RequestBody != nil:
				out = append(out, bodyErrors(e)...)
			default:
				out = append(out, fieldError{Message: e.Error()})
			}
		default:
			out = append(out, fieldError{Message: err.Error()})
		}
	}
	walk(err)
	// One message per field: a value out of an int32's range, say, breaks
	// both its format and its maximum.
	slices.SortStableFunc(out, func(a, b fieldError) int { return strings.Compare(a.Field, b.Field) })
	return slices.CompactFunc(out, func(a, b fieldError) bool { return a.Field != "" && a.Field == b.Field })
}

func parameterErrors(p *openapi3.Parameter, err error) []fieldError {
	fe := func(msg string) fieldError {
		return fieldError{Field: p.Name, In: p.In, Message: p.Name + ": " + msg}
	}
	var pe *openapi3filter.ParseError
	switch {
	case errors.Is(err, openapi3filter.ErrInvalidRequired):
		return []fieldError{fe("is required")}
	case errors.Is(err, openapi3filter.ErrInvalidEmptyValue):
		return []fieldError{fe("must not be empty")}
	case errors.As(err, &pe):
		// A list's ParseError wraps the one of its item.
		for pe.Value == nil {
			var inner *openapi3filter.ParseError
			if !errors.As(pe.Cause, &inner) {
				break
			}
			pe = inner
		}
		msg := fmt.Sprintf("%q is %s", fmt.Sprint(pe.Value), pe.Reason)
		if errors.Is(pe.Cause, strconv.ErrRange) {
			msg += " (out of range)"
		}
		return []fieldError{fe(msg)}
	}
	var out []fieldError
	for _, se := range schemaErrors(err) {
		reason := schemaReason(se)
		// A query value is the client's own text: quoting it says which item
		// of a list is at fault.
		if v, ok := scalar(se.Value); ok {
			for _, prefix := range []string{"value ", "number ", "string ", "integer "} {
				reason = strings.TrimPrefix(reason, prefix)
			}
			reason = fmt.Sprintf("%q %s", v, reason)
		}
		out = append(out, fe(reason))
	}
	if out == nil {
		out = []fieldError{fe(err.Error())}
	}
	return out
}

func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool, int32, int64, float64:
		return fmt.Sprint(v), true
	}
	return "", false
}

func bodyErrors(re *openapi3filter.RequestError) []fieldError {
	var pe *openapi3filter.ParseError
	switch {
	case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		return []fieldError{{Field: "body", In: "body", Message: "body: must not be empty; send a JSON object"}}
	case errors.As(re.Err, &pe):
		msg := "body: malformed JSON"
		if pe.Cause != nil {
			msg += ": " + pe.Cause.Error()
		}
		return []fieldError{{Field: "body", In: "body", Message: msg}}
	}
	var out []fieldError
	for _, se := range schemaErrors(re.Err) {
		path := se.JSONPointer()
		reason := schemaReason(se)
		if name, ok := unsupportedProperty(reason); ok {
			path = append(path, name)
			reason = "unknown field"
		} else if se.SchemaField == "required" {
			reason = "is required"
		}
		field := strings.Join(path, ".")
		if field == "" {
			field = "body"
			if se.SchemaField == "type" || se.SchemaField == "nullable" {
				reason = "must be a JSON object"
			}
		}
		out = append(out, fieldError{Field: field, In: "body", Message: field + ": " + reason})
	}
	if out == nil {
		msg := re.Reason
		if re.Err != nil {
			msg = re.Err.Error()
		}
		out = []fieldError{{Field: "body", In: "body", Message: "body: " + msg}}
	}
	return out
}

// schemaReason words the formats in the contract's terms rather than as
// the regular expressions that check them.
func schemaReason(se *openapi3.SchemaError) string {
	if se.Schema != nil && (se.SchemaField == "format" || se.SchemaField == "pattern") {
		switch se.Schema.Format {
		case "date-time":
			return "value must be an RFC 3339 date-time"
		case "date":
			return "value must be a date, YYYY-MM-DD"
		case "uuid":
			return "value must be a UUID in 8-4-4-4-12 hex form"
		case "int32":
			return "value must be a 32-bit integer"
		}
	}
	switch se.SchemaField {
	case "uniqueItems":
		return "lists a value more than once"
	case "anyOf", "oneOf":
		alts := se.Schema.AnyOf
		if se.SchemaField == "oneOf" {
			alts = se.Schema.OneOf
		}
		var forms []string
		for _, alt := range alts {
			forms = append(forms, describe(alt.Value))
		}
		return "value must be " + strings.Join(forms, " or ")
	}
	return se.Reason
}

// describe names what a schema admits, for messages.
func describe(s *openapi3.Schema) string {
	switch {
	case len(s.Enum) > 0:
		var vs []string
		for _, v := range s.Enum {
			vs = append(vs, fmt.Sprintf("%q", fmt.Sprint(v)))
		}
		return strings.Join(vs, " or ")
	case s.Type.Is(openapi3.TypeInteger) && s.Format == "int32":
		return "a 32-bit integer"
	case s.Type != nil && len(s.Type.Slice()) == 1:
		return "a " + s.Type.Slice()[0]
	}
	return "another form"
}

func unsupportedProperty(reason string) (string, bool) {
	rest, ok := strings.CutPrefix(reason, "property ")
	if !ok {
		return "", false
	}
	quoted, ok := strings.CutSuffix(rest, " is unsupported")
	if !ok {
		return "", false
	}
	name, err := strconv.Unquote(quoted)
	return name, err == nil
}

// schemaErrors flattens err into its innermost schema errors.
func schemaErrors(err error) []*openapi3.SchemaError {
	var out []*openapi3.SchemaError
	var walk func(err error)
	walk = func(err error) {
		switch e := err.(type) { //nolint:errorlint // walks the tree itself, level by level
		case nil:
		case openapi3.MultiError:
			for _, e := range e {
				walk(e)
			}
		case *openapi3.SchemaError:
			out = append(out, e)
		default:
			var se *openapi3.SchemaError
			if errors.As(err, &se) {
				out = append(out, se)
			}
		}
	}
	walk(err)
	return out
}
