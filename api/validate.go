package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tallyhq/tally"
)

// This file is where requests are checked before a handler sees them: the
// rules common to every operation of the document (unknown query
// parameters, scalars given more than once, the three list syntaxes, empty
// lists) and the reading of whole bodies. Every value is then validated
// once, where it is parsed: report parameters by parseReport (each value)
// and tally.ReportRequest.Normalize (the rules between values), events by
// the decoder derived from the document (eventschema.go), ids by
// tally.ParseID. The document describes them; the tests check the answers
// against it and drive a client generated from it (clientgen_test.go).

// validated wraps h with negotiation and the common checks of the request
// against op. offers lists the response types h can write; nil skips
// negotiation. The handler sees the query with its lists in the
// space-delimited form, and the body, already read, in r.Body.
func (s *server) validated(op *operation, offers []string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if offers != nil && negotiate(r.Header.Get("Accept"), offers) == "" {
			return tally.Errorf(eNotAcceptable, "Accept %q admits none of: %s", r.Header.Get("Accept"), strings.Join(offers, ", "))
		}
		query, err := checkQuery(op, r.URL.RawQuery)
		if err != nil {
			return err
		}
		if op.body && op.bodyMode == bodyRead {
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
		if len(query) > 0 {
			r.URL.RawQuery = query.Encode()
		}
		return h(w, r)
	}
}

// checkQuery parses the query, rejects parameters the operation does not
// declare and scalars given more than once, and rewrites each list, written
// comma-delimited, space-delimited (or with +) or as repeated keys, in one
// form: one space-delimited value.
func checkQuery(op *operation, raw string) (url.Values, error) {
	if raw == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &requestError{errs: []fieldError{{Field: "query", In: "query", Message: "query: malformed query string"}}}
	}
	var errs []fieldError
	for _, name := range slices.Sorted(maps.Keys(q)) {
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
