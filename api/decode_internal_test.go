package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally"
)

// testSpec is the document loaded once for the tests of this package.
var testSpec = sync.OnceValues(func() (*server, error) {
	sp, err := loadSpec()
	if err != nil {
		return nil, err
	}
	dec, err := newEventDecoder(sp.doc.Components.Schemas["EventInput"].Value)
	if err != nil {
		return nil, err
	}
	return &server{spec: sp, events: dec}, nil
})

func mustServer(tb testing.TB) *server {
	tb.Helper()
	s, err := testSpec()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// referenceDecode is how POST /event judged a body before the derived
// decoder: kin-openapi's validation of the request against the document,
// then encoding/json and the domain's checks.
func referenceDecode(s *server, body []byte) (tally.Event, bool, error) {
	req := httptest.NewRequest(http.MethodPost, "/event", bytes.NewReader(body))
	req.Header.Set("Content-Type", typeJSON)
	item := s.spec.doc.Paths.Value("/event")
	in := &openapi3filter.RequestValidationInput{
		Request: req,
		Route:   &routers.Route{Spec: s.spec.doc, Path: "/event", PathItem: item, Method: http.MethodPost, Operation: item.Post},
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return tally.Event{}, false, err
	}
	return decodeEvent(body)
}

// duplicateKey reports whether the derived decoder rejected body for a key
// given twice, which encoding/json (and so kin-openapi) let pass, the last
// one winning: the one place where the verdicts differ by design.
func duplicateKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "given more than once")
}

// checkSameVerdict fails when the derived decoder and the reference judge
// body differently, or decode different events from it.
func checkSameVerdict(t *testing.T, s *server, body []byte) (skipped bool) {
	t.Helper()
	got, gotID, err := s.decodeOne(body)
	if duplicateKey(err) {
		return true
	}
	want, wantID, refErr := referenceDecode(s, body)
	switch {
	case err == nil && refErr != nil:
		t.Errorf("body %q: derived decoder accepts, kin-openapi rejects: %v", body, refErr)
	case err != nil && refErr == nil:
		t.Errorf("body %q: derived decoder rejects (%v), kin-openapi accepts", body, err)
	case err == nil:
		if diff := cmp.Diff(want, got); diff != "" || gotID != wantID {
			t.Errorf("body %q: events differ (-reference +derived), hasID %v vs %v:\n%s", body, wantID, gotID, diff)
		}
	}
	return false
}

// TestEventDecoderMatchesKinOpenAPI is the differential test of the derived
// decoder: generated events (valid and invalid in every field, in every
// JSON spelling) and byte-level mutations of them must get the same
// verdict as kin-openapi's validation against the document followed by the
// domain's checks, and the same event when accepted.
func TestEventDecoderMatchesKinOpenAPI(t *testing.T) {
	s := mustServer(t)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 6000
	if testing.Short() {
		n = 1000
	}
	var accepted, skipped int
	for i := range n {
		body := genEvent(rng)
		if i%2 == 1 {
			body = mutate(rng, body)
		}
		if checkSameVerdict(t, s, body) {
			skipped++
		}
		if _, _, err := s.decodeOne(body); err == nil {
			accepted++
		}
		if t.Failed() {
			t.Fatalf("stopped after case %d", i)
		}
	}
	t.Logf("%d bodies: %d accepted, %d skipped for duplicate keys", n, accepted, skipped)
	// The generator must exercise both verdicts.
	if accepted < n/10 || accepted > n*9/10 {
		t.Errorf("%d of %d accepted: the generator is unbalanced", accepted, n)
	}
}

// FuzzEventDecoder checks the derived decoder against kin-openapi on
// arbitrary bodies, and that it never panics.
func FuzzEventDecoder(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		f.Add(genEvent(rng))
	}
	f.Add([]byte(`{"client":1,"client_group":2,"timestamp":"2026-11-02T13:04:05Z","valid":true,"value":1}`))
	f.Add([]byte(`{"cl\u0069ent":1e0,"client_group":-0,"timestamp":"2026-11-02T13:04:05.5+01:30","valid":false,"value":-1E-7}`))
	s := mustServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameVerdict(t, s, body)
	})
}

// Pools of field values: valid ones, and invalid ones of every kind.
var (
	genIDs = []string{
		`"3f2c1a9e-5b7d-4c8e-9f01-23456789abcd"`, `"3F2C1A9E-5B7D-4C8E-9F01-23456789ABCD"`,
		`"00000000-0000-0000-0000-000000000000"`, `"3f2c1a9e5b7d4c8e9f0123456789abcd"`,
		`"3f2c1a9e-5b7d-4c8e-9f01-23456789abcg"`, `"3f2c1a9e-5b7d-4c8e-9f01-23456789abc"`,
		`"\u0033f2c1a9e-5b7d-4c8e-9f01-23456789abcd"`, `"3f2c1a9e-5b7d-4c8e-9f01-23456789abcd\n"`,
		`null`, `5`, `""`, `["3f2c1a9e-5b7d-4c8e-9f01-23456789abcd"]`,
	}
	genDevices = []string{`"desktop"`, `"mobile"`, `"tablet"`, `null`, `"null"`, `"Desktop"`, `"phone"`, `""`, `1`, `true`, `"mob\u0069le"`, `{}`}
	genInts    = []string{
		`0`, `-0`, `7`, `412`, `-2147483648`, `2147483647`, `1e3`, `1E3`, `1000.0`, `2.0e0`, `-5E0`, `1e-0`,
		`2147483648`, `-2147483649`, `1.5`, `1e10`, `1e400`, `-1e400`, `0.1e1`, `2147483647.0000000001`,
		`21474836470e-1`, `12345678901234567890`, `"412"`, `true`, `null`, `[]`, `{"a":1}`, `01`, `1.`, `.5`, `+1`, `0x10`,
	}
	genTimes = []string{
		`"2026-11-02T13:04:05Z"`, `"2026-11-02T13:04:05.123Z"`, `"2026-11-02T13:04:05.123456789123Z"`,
		`"2026-11-02T13:04:05+01:30"`, `"2026-11-02T13:04:05-23:59"`, `"0001-01-01T00:00:00Z"`,
		`"9999-12-31T23:59:59.999999Z"`, `"0000-12-31T23:59:59Z"`, `"1970-01-01T00:00:00+00:01"`,
		`"1970-01-01T00:00:00Z"`, `"1969-12-31T23:59:59.9999999Z"`, `"1970-01-01T00:00:00.0000001-00:00"`,
		`"9999-12-31T09:59:59.999999Z"`, `"9999-12-31T09:59:59.9999999999Z"`, `"9999-12-31T10:00:00Z"`,
		`"9999-12-31T23:59:59+14:00"`, `"9999-12-31T23:59:59+14:01"`, `"2016-12-31T23:59:60Z"`,
		`"2016-12-31t23:59:60.5z"`, `"1969-12-31T23:59:60Z"`, `"9999-12-31T09:59:60Z"`,
		`"2026-11-02T13:04:05.5z"`, `"2026-11-02t13:04:05+01:00"`, `"2026-11-02T13:04:05x"`,
		`"9999-12-31T23:59:59-00:01"`, `"2026-02-29T00:00:00Z"`, `"2024-02-29T00:00:00Z"`,
		`"2026-02-30T13:04:05Z"`, `"2026-04-31T13:04:05Z"`, `"2026-11-02T24:00:00Z"`, `"2026-11-02T13:60:00Z"`,
		`"2026-11-02T13:04:60Z"`, `"2026-11-02t13:04:05z"`, `"2026-11-02 13:04:05Z"`, `"2026-11-02T13:04:05"`,
		`"2026-11-02T13:04:05+24:00"`, `"2026-11-02T13:04:05+01:60"`, `"2026-11-02T13:04:05+0130"`,
		`"2026-11-02T13:04:05,5Z"`, `"2026-11-02T13:04:05.Z"`, `"2026-11-02"`, `"2026-1-02T13:04:05Z"`,
		`"+2026-11-02T13:04:05Z"`, `"2026-11-02T13:04:05\u005a"`, `1700000000`, `null`, `""`,
	}
	genBools  = []string{`true`, `false`, `"true"`, `1`, `0`, `null`, `True`, `[]`}
	genValues = []string{
		`0`, `-0`, `47.5`, `-1e15`, `1e15`, `1000000000000000`, `1e-7`, `123.456e2`, `0.1`, `-0.000001`,
		`1.5e15`, `-1e16`, `1e308`, `1e309`, `-1e400`, `1000000000000000.1`, `999999999999999.9`,
		`1.0000000000000001e15`, `"1"`, `null`, `true`, `NaN`, `Infinity`, `-`, `1e`, `[1]`,
	}
	genFields = map[string][]string{
		"id": genIDs, "device_type": genDevices, "category": genInts, "client": genInts,
		"client_group": genInts, "timestamp": genTimes, "valid": genBools, "value": genValues,
	}
	genKeys = []string{"id", "device_type", "category", "client", "client_group", "timestamp", "valid", "value"}
)

// genEvent writes a random event object: each field mostly valid, some
// absent, some invalid; now and then an unknown field, an escaped key, odd
// white space or a key given twice.
func genEvent(rng *rand.Rand) []byte {
	var b bytes.Buffer
	ws := func() {
		if rng.IntN(8) == 0 {
			b.WriteString([]string{" ", "\n", "\t", "\r\n  "}[rng.IntN(4)])
		}
	}
	ws()
	b.WriteByte('{')
	first := true
	field := func(key, value string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		ws()
		b.WriteString(key)
		ws()
		b.WriteByte(':')
		ws()
		b.WriteString(value)
		ws()
	}
	keys := append([]string(nil), genKeys...)
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		if rng.IntN(40) == 0 {
			continue // absent
		}
		pool := genFields[k]
		v := pool[0]
		switch rng.IntN(16) {
		case 0:
			v = pool[rng.IntN(len(pool))]
		case 1, 2, 3:
			v = pool[rng.IntN(3)]
		}
		key := strconv.Quote(k)
		switch rng.IntN(40) {
		case 0:
			key = `"` + `\u00` + fmt.Sprintf("%02x", k[0]) + k[1:] + `"` // escaped, same key
		case 1:
			key = strconv.Quote(strings.ToUpper(k))
		}
		field(key, v)
	}
	switch rng.IntN(30) {
	case 0:
		field(`"color"`, `"red"`)
	case 1:
		field(`"client"`, `3`) // perhaps twice
	case 2:
		field(`"extra"`, `{"a":[1,{"b":null}]}`)
	}
	ws()
	b.WriteByte('}')
	ws()
	return b.Bytes()
}

// mutate changes a few bytes of body: deletions, insertions of JSON's
// significant characters, replacements and duplicated ranges.
func mutate(rng *rand.Rand, body []byte) []byte {
	b := append([]byte(nil), body...)
	const alphabet = "{}[]\",:0123456789-+.eEtrufalsn \\\x00\xff\xc3"
	for range 1 + rng.IntN(3) {
		if len(b) == 0 {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
			continue
		}
		i := rng.IntN(len(b))
		switch rng.IntN(4) {
		case 0:
			b = append(b[:i], b[i+1:]...)
		case 1:
			b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
		case 2:
			b[i] = alphabet[rng.IntN(len(alphabet))]
		case 3:
			j := min(len(b), i+1+rng.IntN(12))
			b = append(b[:j], append(append([]byte(nil), b[i:j]...), b[j:]...)...)
		}
	}
	return b
}

// FuzzDecodeBatch checks that bulk decoding never panics, and that each
// event of a well-formed batch gets the verdict POST /event gives it.
func FuzzDecodeBatch(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		items := [][]byte{genEvent(rng), genEvent(rng), mutate(rng, genEvent(rng))}
		f.Add(append(append([]byte("["), bytes.Join(items, []byte(","))...), ']'), false)
		f.Add(bytes.Join(items, []byte("\n")), true)
	}
	f.Add([]byte("[]"), false)
	f.Add([]byte("\n\n"), true)
	f.Add([]byte(`[{"client":1}, [[[[]]]], "x", null]`), false)
	base := mustServer(f)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		s := *base
		s.maxBatchEvents, s.maxBatchBytes = 100, 1<<20
		var n uint32
		s.newID = func() tally.ID { n++; return tally.ID{15: byte(n), 14: byte(n >> 8)} }
		b, err := s.decodeBatch(body, ndjson)
		if err != nil {
			if c := tally.ErrorCode(err); c != tally.EInvalid && c != tally.ETooLarge {
				t.Fatalf("error code %q: %v", c, err)
			}
			if tally.ErrorMessage(err) == "" {
				t.Fatal("error without a message")
			}
			return
		}
		if b.n != len(b.events)+len(b.rejected) || b.n == 0 || b.n > 100 {
			t.Fatalf("%d events in the body, %d valid, %d rejected", b.n, len(b.events), len(b.rejected))
		}
		for _, r := range b.rejected {
			if r.Message == "" || r.Index < 0 || r.Index >= b.n {
				t.Fatalf("rejection %+v", r)
			}
		}
		for _, e := range b.events {
			if err := e.Validate(); err != nil {
				t.Fatalf("accepted event %+v: %v", e, err)
			}
		}
		if ndjson {
			return
		}
		// Each element of a well-formed array, posted alone, is judged
		// the same.
		var elems []json.RawMessage
		if json.Unmarshal(body, &elems) != nil {
			return // encoding/json is laxer on UTF-8 or stricter on depth
		}
		rejected := map[int]string{}
		for _, r := range b.rejected {
			rejected[r.Index] = r.Message
		}
		for i, el := range elems {
			_, _, err := s.decodeOne(el)
			msg, isRejected := rejected[i]
			switch {
			case err == nil && isRejected:
				t.Errorf("element %d %q: rejected in the batch (%s), accepted alone", i, el, msg)
			case err != nil && !isRejected:
				t.Errorf("element %d %q: accepted in the batch, rejected alone (%v)", i, el, err)
			case err != nil && strings.Replace(joinedMessage(err), "body: ", "event: ", 1) != msg:
				t.Errorf("element %d %q: message %q in the batch, %q alone", i, el, msg, err)
			}
		}
	})
}

func joinedMessage(err error) string {
	var re *requestError
	if errors.As(err, &re) {
		return joinMessages(re.errs)
	}
	return tally.ErrorMessage(err)
}
