package api

// The decoder POST /event used before the event decoder derived from the
// document: encoding/json into a struct after kin-openapi's validation. It
// is kept as the reference of the differential test and of the benchmarks.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tallyhq/tally"
)

// eventJSON is the wire form of an event, for both directions: pointers tell
// absent and null from zero.
type eventJSON struct {
	ID          *string    `json:"id,omitempty"`
	DeviceType  *string    `json:"device_type"`
	Category    *int32JSON `json:"category"`
	Client      *int32JSON `json:"client"`
	ClientGroup *int32JSON `json:"client_group"`
	Timestamp   *string    `json:"timestamp"`
	Valid       *bool      `json:"valid"`
	Value       *valueJSON `json:"value"`
}

// valueJSON is a JSON number read as the exact decimal it writes.
type valueJSON tally.Decimal

var errNotNumber = &json.UnmarshalTypeError{Value: "number", Type: reflect.TypeFor[float64]()}

func (v *valueJSON) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || !(b[0] == '-' || '0' <= b[0] && b[0] <= '9') {
		return errNotNumber // a string, a boolean, an object…
	}
	d, err := tally.ParseDecimal(b)
	if err != nil {
		return errNotNumber
	}
	*v = valueJSON(d)
	return nil
}

// decodeEvent parses a request body into an event: strictly (unknown fields
// and trailing data are errors, like in the document) and with the domain's
// own checks. An absent id is left zero for the caller to assign.
func decodeEvent(body []byte) (tally.Event, bool, error) {
	var in eventJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return tally.Event{}, false, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return tally.Event{}, false, tally.FieldErrorf("body", "must hold a single JSON object")
	}
	var e tally.Event
	hasID := in.ID != nil
	if hasID {
		id, err := tally.ParseID(*in.ID)
		if err != nil {
			return e, false, tally.FieldErrorf("id", "%s", tally.ErrorMessage(err))
		}
		e.ID = id
	}
	if in.DeviceType != nil {
		d, ok := tally.ParseDeviceType(*in.DeviceType)
		if !ok || d == tally.DeviceNone {
			return e, false, tally.FieldErrorf("device_type", "must be one of desktop, mobile, tablet or null")
		}
		e.DeviceType = d
	}
	e.Category = tally.NoCategory
	if in.Category != nil {
		e.Category = tally.CategoryOf(int32(*in.Category))
	}
	switch {
	case in.Client == nil:
		return e, false, tally.FieldErrorf("client", "is required")
	case in.ClientGroup == nil:
		return e, false, tally.FieldErrorf("client_group", "is required")
	case in.Timestamp == nil:
		return e, false, tally.FieldErrorf("timestamp", "is required")
	case in.Valid == nil:
		return e, false, tally.FieldErrorf("valid", "is required")
	case in.Value == nil:
		return e, false, tally.FieldErrorf("value", "is required")
	}
	e.Client, e.ClientGroup = int32(*in.Client), int32(*in.ClientGroup)
	e.Valid, e.Value = *in.Valid, tally.Decimal(*in.Value)
	ts, err := referenceTime(*in.Timestamp)
	if err != nil {
		return e, false, tally.FieldErrorf("timestamp", "must be an RFC 3339 date-time")
	}
	e.Timestamp = ts
	e.Normalize()
	if err := e.Validate(); err != nil {
		return e, false, err
	}
	return e, hasID, nil
}

// upperTZ maps the letters RFC 3339 allows in lower case (section 5.6) to
// the upper case that kin-openapi and time.Parse read.
func upperTZ(r rune) rune {
	switch r {
	case 't':
		return 'T'
	case 'z':
		return 'Z'
	}
	return r
}

// kin-openapi's date-time format admits "T" and "Z" in upper case only; the
// reference judges the document's date-time by RFC 3339, which admits both.
func init() {
	kin := openapi3.SchemaStringFormats["date-time"]
	openapi3.DefineStringFormatValidator("date-time", openapi3.NewCallbackValidator(func(s string) error {
		return kin.Validate(strings.Map(upperTZ, s))
	}))
}

// referenceTime reads an RFC 3339 date-time as the contract does: "t" and
// "z" in either case, and a leap second as the last microsecond of its
// minute.
func referenceTime(s string) (time.Time, error) {
	s = strings.Map(upperTZ, s)
	leap := len(s) > 19 && s[17:19] == "60"
	if leap {
		s = s[:17] + "59" + s[19:]
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || !leap {
		return t, err
	}
	return t.Truncate(time.Second).Add(time.Second - time.Microsecond), nil
}

// int32JSON is a JSON number that is a 32-bit integer, in any of JSON's
// spellings (1000, 1e3, 1000.0), as the document's integer type admits.
type int32JSON int32

var errNotInt32 = &json.UnmarshalTypeError{Value: "number", Type: reflect.TypeFor[int32]()}

func (n *int32JSON) UnmarshalJSON(b []byte) error {
	s := string(b)
	if i, err := strconv.ParseInt(s, 10, 32); err == nil {
		*n = int32JSON(i)
		return nil
	}
	if len(s) == 0 || !(s[0] == '-' || '0' <= s[0] && s[0] <= '9') {
		return errNotInt32 // a string, a boolean, an object…
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return errNotInt32
	}
	*n = int32JSON(f)
	return nil
}

// jsonError names the field of an encoding/json error.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return tally.FieldErrorf(typeErr.Field, "must be %s", wireType(typeErr.Type.String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return tally.FieldErrorf("body", "malformed JSON: %v", err)
	}
	// DisallowUnknownFields reports `json: unknown field "x"`.
	var name string
	if _, scanErr := fmt.Sscanf(err.Error(), "json: unknown field %q", &name); scanErr == nil {
		return tally.FieldErrorf(name, "unknown field")
	}
	return tally.FieldErrorf("body", "%v", err)
}

func wireType(goType string) string {
	switch goType {
	case "int32":
		return "a 32-bit integer"
	case "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	}
	return "of another type"
}
