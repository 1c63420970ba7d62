package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/tallyhq/tally"
)

// Bulk ingestion limits of the contract, the defaults of Config.
const (
	DefaultMaxBatchEvents = 10000
	DefaultMaxBatchBytes  = 10 << 20
)

// typeNDJSON is the Content-Type of newline-delimited JSON bodies.
const typeNDJSON = "application/x-ndjson"

// bulkResult is the answer of POST /events.
type bulkResult struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []rejection `json:"rejected"`
}

type rejection struct {
	Index   int     `json:"index"`
	ID      *string `json:"id"`
	Message string  `json:"message"`
}

// decodeOne decodes a POST /event body: exactly one event object.
func (s *server) decodeOne(body []byte) (tally.Event, bool, error) {
	sc := scanner{b: body}
	sc.ws()
	var d decoded
	if err := s.events.decode(&sc, "body", &d); err != nil {
		if isGzip(body) {
			return d.e, false, tally.FieldErrorf("body", "is gzip-compressed; POST /event takes uncompressed JSON (POST /events takes gzip with Content-Encoding: gzip)")
		}
		return d.e, false, tally.FieldErrorf("body", "malformed JSON: %v", err)
	}
	sc.ws()
	if !sc.eof() {
		return d.e, false, tally.FieldErrorf("body", "must hold a single JSON object; more data at byte offset %d", sc.i)
	}
	if d.errs != nil {
		return d.e, false, &requestError{errs: d.errs}
	}
	if err := s.retained(&d.e); err != nil {
		return d.e, false, err
	}
	return d.e, d.hasID, nil
}

// retained refuses an event that the retention would delete at once.
func (s *server) retained(e *tally.Event) error {
	if s.retention.Age <= 0 {
		return nil
	}
	if now := s.now(); s.retention.Expired(e.Timestamp, now) {
		return tally.FieldErrorf("timestamp", "is before %s, older than this server keeps events (retention %s)",
			s.retention.Cutoff(now).Format(time.RFC3339), s.retention.Age)
	}
	return nil
}

// batch is a decoded POST /events body: the valid events, in order, with
// their index in the batch, and the rejected ones.
type batch struct {
	events   []tally.Event
	index    []int
	rejected []rejection
	n        int // events in the body
}

// decodeBatch splits a body into events and judges each as POST /event
// does. A syntax error anywhere makes the whole body malformed: nothing of
// it is stored, as the client's framing cannot be trusted.
func (s *server) decodeBatch(body []byte, ndjson bool) (*batch, error) {
	b := &batch{}
	if n := bytes.Count(body, []byte{'\n'}); ndjson && n < s.maxBatchEvents {
		b.events = make([]tally.Event, 0, n+1)
	} else {
		// About 150 bytes per event; the bound keeps a body of noise from
		// reserving much.
		b.events = make([]tally.Event, 0, min(len(body)/100+1, s.maxBatchEvents))
	}
	var d decoded
	item := func(sc *scanner) error {
		if b.n == s.maxBatchEvents {
			return tally.Errorf(tally.ETooLarge, "body: more than %d events; %s", s.maxBatchEvents, s.batchLimits())
		}
		i := b.n
		b.n++
		if err := s.events.decode(sc, "event", &d); err != nil {
			return err
		}
		reject := func(msg string) {
			var id *string
			if d.hasID {
				id = ptr(d.e.ID.String())
			}
			b.rejected = append(b.rejected, rejection{Index: i, ID: id, Message: msg})
		}
		if d.errs != nil {
			reject(joinMessages(d.errs))
			return nil
		}
		if err := s.retained(&d.e); err != nil {
			reject(tally.ErrorMessage(err))
			return nil
		}
		if !d.hasID {
			d.e.ID = s.newID()
		}
		b.events = append(b.events, d.e)
		b.index = append(b.index, i)
		return nil
	}
	var err error
	if ndjson {
		err = eachLine(body, item)
	} else {
		err = eachElement(body, item)
	}
	var se *syntaxError
	switch {
	case errors.As(err, &se) && isGzip(body):
		return nil, tally.FieldErrorf("body", "is gzip-compressed but the request has no Content-Encoding: gzip; add that header or send it uncompressed")
	case errors.As(err, &se):
		return nil, tally.FieldErrorf("body", "malformed JSON: %v", err)
	case err != nil:
		return nil, err
	case b.n == 0:
		return nil, tally.FieldErrorf("body", "holds no event; send at least one")
	}
	return b, nil
}

// isGzip reports whether body starts with gzip's magic bytes, which no
// JSON text does: a client that compressed without saying so.
func isGzip(body []byte) bool {
	return len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b
}

// eachElement calls f on each element of a JSON array that is the whole
// body.
func eachElement(body []byte, f func(*scanner) error) error {
	sc := &scanner{b: body}
	sc.ws()
	if sc.peek() != '[' {
		return sc.unexpected("'[' (a JSON array of events)")
	}
	sc.i++
	sc.ws()
	if sc.peek() == ']' {
		sc.i++
	} else {
		for {
			if err := f(sc); err != nil {
				return err
			}
			sc.ws()
			if sc.peek() == ',' {
				sc.i++
				sc.ws()
				continue
			}
			if sc.peek() == ']' {
				sc.i++
				break
			}
			return sc.unexpected("',' or ']'")
		}
	}
	sc.ws()
	if !sc.eof() {
		return sc.errf("data after the array")
	}
	return nil
}

// eachLine calls f on each line of an NDJSON body. Blank lines are skipped;
// a line must hold exactly one JSON value.
func eachLine(body []byte, f func(*scanner) error) error {
	sc := &scanner{b: body}
	for start := 0; start < len(body); {
		end := bytes.IndexByte(body[start:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += start
		}
		// The scanner sees the line only, so a value cannot run on into the
		// next; offsets stay those of the body.
		sc.b, sc.i = body[:end], start
		sc.ws()
		if !sc.eof() {
			if err := f(sc); err != nil {
				return err
			}
			sc.ws()
			if !sc.eof() {
				return sc.errf("more than one JSON value on a line")
			}
		}
		start = end + 1
	}
	return nil
}

func (s *server) batchLimits() string {
	return fmt.Sprintf("limits: %d events and %d bytes (decompressed) per request", s.maxBatchEvents, s.maxBatchBytes)
}

// readBatchBody reads a POST /events body within the limits, gunzipping it
// when so encoded. The decompressed size is what counts, so a small gzip
// bomb stops at the limit.
func (s *server) readBatchBody(w http.ResponseWriter, r *http.Request) ([]byte, bool, error) {
	ndjson := false
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && (mt == typeNDJSON || mt == "application/ndjson") {
		ndjson = true
	} else if err := requireJSON(ct, "application/json (an array of events) or "+typeNDJSON); err != nil && r.ContentLength != 0 {
		return nil, false, err
	}
	gzipped, err := contentEncoding(r, true)
	if err != nil {
		return nil, false, err
	}
	tooLarge := tally.Errorf(tally.ETooLarge, "body: larger than %d bytes; %s", s.maxBatchBytes, s.batchLimits())
	if r.ContentLength > s.maxBatchBytes {
		return nil, false, tooLarge
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, s.maxBatchBytes)
	var buf bytes.Buffer
	if gzipped {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, false, gzipError(err)
		}
		defer zr.Close()
		src = &chargedReader{r: zr, res: reservationOf(r.Context())}
	}
	// The buffer grows with what arrives, never to the declared length.
	_, err = buf.ReadFrom(io.LimitReader(src, s.maxBatchBytes+1))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return nil, false, tooLarge
	case bodyError(err) != nil:
		return nil, false, err // the in-flight limit, the rate floor, the read timeout
	case err != nil && gzipped:
		return nil, false, gzipError(err)
	case err != nil:
		return nil, false, tally.FieldErrorf("body", "could not be read: %v", err)
	case int64(buf.Len()) > s.maxBatchBytes:
		return nil, false, tooLarge
	case buf.Len() == 0:
		return nil, false, tally.FieldErrorf("body", "must not be empty; send a JSON array of events or NDJSON")
	}
	return buf.Bytes(), ndjson, nil
}

func gzipError(err error) error {
	if err := bodyError(err); err != nil {
		return err
	}
	return tally.FieldErrorf("body", "not valid gzip: %v", err)
}

// contentEncoding returns whether the body is gzipped, and a 415 for any
// coding other than identity (and gzip when allowed).
func contentEncoding(r *http.Request, gzipOK bool) (bool, error) {
	values := r.Header.Values("Content-Encoding")
	var codings []string
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	switch {
	case len(codings) == 0:
		return false, nil
	case gzipOK && len(codings) == 1 && (codings[0] == "gzip" || codings[0] == "x-gzip"):
		return true, nil
	case gzipOK:
		return false, tally.Errorf(eUnsupportedMedia, "Content-Encoding %q not supported; send gzip or identity", strings.Join(values, ", "))
	}
	return false, tally.Errorf(eUnsupportedMedia, "Content-Encoding %q not supported here; send the body uncompressed", strings.Join(values, ", "))
}

func (s *server) handleCreateEvents(w http.ResponseWriter, r *http.Request) error {
	body, ndjson, err := s.readBatchBody(w, r)
	if err != nil {
		return err
	}
	if err := admit(r.Context()); err != nil {
		return err
	}
	b, err := s.decodeBatch(body, ndjson)
	if err != nil {
		return err
	}
	res := bulkResult{Rejected: b.rejected}
	if res.Rejected == nil {
		res.Rejected = []rejection{}
	}
	if len(b.events) > 0 {
		inserted, err := s.store.CreateEvents(r.Context(), b.events)
		if err != nil {
			return fmt.Errorf("create events: %w", err)
		}
		if len(inserted) != len(b.events) {
			return fmt.Errorf("create events: the store answered for %d events of %d", len(inserted), len(b.events))
		}
		for _, ok := range inserted {
			if ok {
				res.Accepted++
			} else {
				res.Duplicates++
			}
		}
	}
	s.metrics.ingested(res.Accepted, res.Duplicates, len(res.Rejected))
	writeJSON(w, http.StatusOK, res)
	return nil
}
