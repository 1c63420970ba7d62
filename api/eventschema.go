package api

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tallyhq/tally"
)

// eventDecoder decodes and validates event objects by the rules of the
// document's EventInput schema, read once at start-up: required fields,
// types, enums, nullability, int32 formats, bounds, the date-time format and
// additionalProperties: false. It then applies the domain's own checks
// (tally.Event.Validate). Both POST /event and POST /events use it, so an
// event is judged the same way whichever way it comes.
//
// A differential test (TestEventDecoderMatchesKinOpenAPI) checks that its
// verdict equals kin-openapi's validation of the same body followed by the
// domain's checks, for generated and mutated events.
//
// Duplicate keys in an event object are rejected with the key's name: JSON
// parsers disagree on which of two values wins, so accepting them would
// make the stored event depend on the client's reading of the spec.
type eventDecoder struct {
	fields   []fieldRule
	required uint64 // bit i: fields[i] is required
}

// fieldRule is one property of the schema, flattened.
type fieldRule struct {
	name     string
	target   eventField
	kind     string // openapi3.TypeString, TypeInteger, TypeNumber, TypeBoolean
	nullable bool
	enum     []string       // strings admitted; nil: any
	uuid     bool           // the pattern is the UUID one, checked without a regexp
	pattern  *regexp.Regexp // any other pattern
	dateTime bool           // format: date-time
	lo, hi   float64        // bounds of numbers, format ranges included
	reason   string         // what the field must be, for messages
}

// eventField is where a property goes in a tally.Event.
type eventField uint8

const (
	fieldID eventField = iota + 1
	fieldDeviceType
	fieldCategory
	fieldClient
	fieldClientGroup
	fieldTimestamp
	fieldValid
	fieldValue
)

// eventTargets maps the document's property names to the domain. A property
// of the document missing here fails start-up, as does a type that cannot
// hold the domain's value.
var eventTargets = map[string]struct {
	field eventField
	kind  string
}{
	"id":           {fieldID, openapi3.TypeString},
	"device_type":  {fieldDeviceType, openapi3.TypeString},
	"category":     {fieldCategory, openapi3.TypeInteger},
	"client":       {fieldClient, openapi3.TypeInteger},
	"client_group": {fieldClientGroup, openapi3.TypeInteger},
	"timestamp":    {fieldTimestamp, openapi3.TypeString},
	"valid":        {fieldValid, openapi3.TypeBoolean},
	"value":        {fieldValue, openapi3.TypeNumber},
}

// uuidPattern is the UUID schema's pattern, which ParseID checks exactly.
const uuidPattern = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// newEventDecoder derives the decoder from a schema of the document. It
// refuses any keyword it does not implement, so that the document cannot
// say more than the decoder checks.
func newEventDecoder(schema *openapi3.Schema) (*eventDecoder, error) {
	if !schema.Type.Is(openapi3.TypeObject) {
		return nil, errors.New("event schema: not an object")
	}
	if ap := schema.AdditionalProperties; ap.Has == nil || *ap.Has || ap.Schema != nil {
		return nil, errors.New("event schema: additionalProperties must be false")
	}
	if err := onlyKeywords(schema, "type", "properties", "required", "additionalProperties"); err != nil {
		return nil, fmt.Errorf("event schema: %w", err)
	}
	d := &eventDecoder{}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range schema.Properties {
			if !yield(n) {
				return
			}
		}
	})
	if len(names) > 64 {
		return nil, errors.New("event schema: more than 64 properties")
	}
	for _, name := range names {
		target, ok := eventTargets[name]
		if !ok {
			return nil, fmt.Errorf("event schema: property %q has no place in tally.Event", name)
		}
		rule, err := newFieldRule(name, schema.Properties[name].Value)
		if err != nil {
			return nil, fmt.Errorf("event schema: %s: %w", name, err)
		}
		if rule.kind != target.kind {
			return nil, fmt.Errorf("event schema: %s: type %s, the domain needs %s", name, rule.kind, target.kind)
		}
		rule.target = target.field
		d.fields = append(d.fields, rule)
	}
	for _, name := range schema.Required {
		i := slices.IndexFunc(d.fields, func(f fieldRule) bool { return f.name == name })
		if i < 0 {
			return nil, fmt.Errorf("event schema: required %q is not a property", name)
		}
		d.required |= 1 << i
	}
	return d, nil
}

// newFieldRule flattens a property's schema (an allOf of one schema, as
// the document uses to describe a $ref) into a rule.
func newFieldRule(name string, s *openapi3.Schema) (fieldRule, error) {
	r := fieldRule{name: name, lo: math.Inf(-1), hi: math.Inf(1)}
	nullable := s.Nullable
	if len(s.AllOf) > 0 {
		if len(s.AllOf) != 1 || s.Type != nil || len(s.Enum) > 0 || s.Format != "" || s.Pattern != "" {
			return r, errors.New("allOf only as a wrapper of one schema")
		}
		if err := onlyKeywords(s, "allOf", "nullable"); err != nil {
			return r, err
		}
		s = s.AllOf[0].Value
		// kin-openapi lets null through when the wrapper or the schema
		// itself is nullable.
		nullable = nullable || s.Nullable
	}
	if err := onlyKeywords(s, "type", "format", "pattern", "enum", "nullable", "minimum", "maximum"); err != nil {
		return r, err
	}
	r.nullable = nullable
	if s.Type == nil || len(s.Type.Slice()) != 1 {
		return r, errors.New("needs exactly one type")
	}
	r.kind = s.Type.Slice()[0]
	switch r.kind {
	case openapi3.TypeString:
		for _, v := range s.Enum {
			switch v := v.(type) {
			case string:
				r.enum = append(r.enum, v)
			case nil:
				if !r.nullable {
					return r, errors.New("null in enum of a non-nullable schema")
				}
			default:
				return r, fmt.Errorf("enum value %v is not a string", v)
			}
		}
		if len(s.Enum) > 0 && r.enum == nil {
			r.enum = []string{} // only null
		}
		switch s.Format {
		case "", "uuid": // kin-openapi checks no uuid format; the pattern does
		case "date-time":
			r.dateTime = true
		default:
			return r, fmt.Errorf("string format %q not supported", s.Format)
		}
		switch s.Pattern {
		case "":
		case uuidPattern:
			r.uuid = true
		default:
			re, err := regexp.Compile(s.Pattern)
			if err != nil {
				return r, err
			}
			r.pattern = re
		}
		if s.Min != nil || s.Max != nil {
			return r, errors.New("minimum or maximum on a string")
		}
	case openapi3.TypeInteger, openapi3.TypeNumber:
		switch {
		case s.Format == "int32" && r.kind == openapi3.TypeInteger:
			r.lo, r.hi = math.MinInt32, math.MaxInt32
		case s.Format == "":
		default:
			return r, fmt.Errorf("%s format %q not supported", r.kind, s.Format)
		}
		if s.Min != nil {
			r.lo = max(r.lo, *s.Min)
		}
		if s.Max != nil {
			r.hi = min(r.hi, *s.Max)
		}
		if r.kind == openapi3.TypeInteger && s.Format != "int32" {
			return r, errors.New("integers must have format int32")
		}
		if len(s.Enum) > 0 || s.Pattern != "" {
			return r, errors.New("enum or pattern on a number")
		}
	case openapi3.TypeBoolean:
		if len(s.Enum) > 0 || s.Format != "" || s.Pattern != "" || s.Min != nil || s.Max != nil {
			return r, errors.New("constraints on a boolean")
		}
	default:
		return r, fmt.Errorf("type %s not supported", r.kind)
	}
	r.reason = describeRule(&r)
	return r, nil
}

// onlyKeywords fails when s uses a validation keyword outside allowed.
func onlyKeywords(s *openapi3.Schema, allowed ...string) error {
	used := map[string]bool{
		"type": s.Type != nil, "format": s.Format != "", "pattern": s.Pattern != "",
		"enum": len(s.Enum) > 0, "nullable": s.Nullable, "minimum": s.Min != nil, "maximum": s.Max != nil,
		"allOf": len(s.AllOf) > 0, "anyOf": len(s.AnyOf) > 0, "oneOf": len(s.OneOf) > 0, "not": s.Not != nil,
		"properties": len(s.Properties) > 0, "required": len(s.Required) > 0,
		"additionalProperties": s.AdditionalProperties.Has != nil || s.AdditionalProperties.Schema != nil,
		"exclusiveMinimum":     s.ExclusiveMin.IsSet(), "exclusiveMaximum": s.ExclusiveMax.IsSet(),
		"multipleOf": s.MultipleOf != nil, "minLength": s.MinLength != 0, "maxLength": s.MaxLength != nil,
		"items": s.Items != nil, "minItems": s.MinItems != 0, "maxItems": s.MaxItems != nil,
		"uniqueItems": s.UniqueItems, "minProperties": s.MinProps != 0, "maxProperties": s.MaxProps != nil,
		"readOnly": s.ReadOnly, "writeOnly": s.WriteOnly, "default": s.Default != nil,
	}
	for k, v := range used {
		if v && !slices.Contains(allowed, k) {
			return fmt.Errorf("keyword %s not supported by the event decoder", k)
		}
	}
	return nil
}

// describeRule words what a field must be.
func describeRule(r *fieldRule) string {
	var s string
	switch {
	case r.enum != nil:
		s = "one of " + strings.Join(r.enum, ", ")
	case r.uuid:
		s = "a UUID in 8-4-4-4-12 hex form"
	case r.pattern != nil:
		s = "a string matching " + r.pattern.String()
	case r.dateTime:
		s = "an RFC 3339 date-time"
	case r.kind == openapi3.TypeString:
		s = "a string"
	case r.kind == openapi3.TypeInteger && r.lo == math.MinInt32 && r.hi == math.MaxInt32:
		s = "a 32-bit integer"
	case r.kind == openapi3.TypeInteger:
		s = fmt.Sprintf("an integer between %s and %s", short(r.lo), short(r.hi))
	case r.kind == openapi3.TypeNumber && !math.IsInf(r.lo, 0) && !math.IsInf(r.hi, 0):
		s = fmt.Sprintf("a number between %s and %s", short(r.lo), short(r.hi))
	case r.kind == openapi3.TypeNumber:
		s = "a number"
	case r.kind == openapi3.TypeBoolean:
		s = "a boolean"
	}
	if r.nullable {
		if r.enum != nil {
			return "must be " + s + " or null"
		}
		s += " or null"
	}
	return "must be " + s
}

// short writes a bound as people do: 1e15, not 1e+15.
func short(f float64) string {
	return strings.Replace(strconv.FormatFloat(f, 'g', -1, 64), "e+", "e", 1)
}

// decoded is one event as decoded: the event, whether it carried its id,
// and what is wrong with it (nil when valid).
type decoded struct {
	e     tally.Event
	hasID bool
	errs  []fieldError
}

// maxFieldErrors bounds the problems reported for one event, so that an
// object of a million unknown keys answers with a short message.
const maxFieldErrors = 8

// decode reads one value at the scanner's position and judges it as an
// event. root names the value in messages when it is not an object. A
// syntax error is returned as the error; everything else is in errs.
func (d *eventDecoder) decode(s *scanner, root string, out *decoded) error {
	*out = decoded{}
	e := &out.e
	e.Category = tally.NoCategory
	add := func(field, reason string) {
		if len(out.errs) < maxFieldErrors {
			out.errs = append(out.errs, fieldError{Field: field, In: "body", Message: field + ": " + reason})
		}
	}
	if s.peek() != '{' {
		if err := s.skip(1); err != nil {
			return err
		}
		add(root, "must be a JSON object")
		return nil
	}
	s.i++
	s.ws()
	var seen uint64
	if s.peek() == '}' {
		s.i++
	} else {
		for {
			key, err := s.str()
			if err != nil {
				return err
			}
			i := -1
			for j := range d.fields {
				if string(key) == d.fields[j].name {
					i = j
					break
				}
			}
			var name string
			if i < 0 || seen&(1<<i) != 0 {
				name = fieldName(key)
			}
			s.ws()
			if s.peek() != ':' {
				return s.unexpected("':'")
			}
			s.i++
			s.ws()
			switch {
			case i < 0:
				if err := s.skip(1); err != nil {
					return err
				}
				add(name, "unknown field")
			case seen&(1<<i) != 0:
				if err := s.skip(1); err != nil {
					return err
				}
				add(name, "given more than once")
			default:
				seen |= 1 << i
				f := &d.fields[i]
				problem, err := d.value(s, f, out)
				if err != nil {
					return err
				}
				if problem != "" {
					add(f.name, problem)
				}
			}
			s.ws()
			if s.peek() == ',' {
				s.i++
				s.ws()
				continue
			}
			if s.peek() == '}' {
				s.i++
				break
			}
			return s.unexpected("',' or '}'")
		}
	}
	if missing := d.required &^ seen; missing != 0 {
		for i := range d.fields {
			if missing&(1<<i) != 0 {
				add(d.fields[i].name, "is required")
			}
		}
	}
	if out.errs == nil {
		e.Normalize()
		if err := e.Validate(); err != nil {
			var te *tally.Error
			if errors.As(err, &te) {
				out.errs = append(out.errs, fieldError{Field: te.Field, In: "body", Message: te.Message})
			} else {
				add(root, err.Error())
			}
		}
	}
	if len(out.errs) > 1 {
		slices.SortStableFunc(out.errs, func(a, b fieldError) int { return strings.Compare(a.Field, b.Field) })
	}
	return nil
}

// fieldName is a client's key as it can appear in a message: bounded.
func fieldName(key []byte) string {
	const maxLen = 64
	if len(key) > maxLen {
		return strings.ToValidUTF8(string(key[:maxLen]), "") + "…"
	}
	return string(key)
}

// value reads the value of field f into out. It returns what is wrong when
// the value is not one f admits, "" when it is (the value is consumed either
// way).
func (d *eventDecoder) value(s *scanner, f *fieldRule, out *decoded) (string, error) {
	c := s.peek()
	if c == 'n' {
		if _, err := s.literal(); err != nil {
			return "", err
		}
		if !f.nullable { // null leaves the zero value: DeviceNone, NoCategory
			return f.reason, nil
		}
		return "", nil
	}
	switch f.kind {
	case openapi3.TypeString:
		if c != '"' {
			return f.reason, s.skip(1)
		}
		v, err := s.str()
		if err != nil {
			return "", err
		}
		if !f.setString(v, out) {
			return f.stringProblem(v), nil
		}
		return "", nil
	case openapi3.TypeInteger, openapi3.TypeNumber:
		if c == '"' {
			// "value": "47.5" is the commonest mistake: say what to drop.
			return f.reason + "; a JSON number is expected, not a string", s.skip(1)
		}
		if c != '-' && !isDigit(c) {
			return f.reason, s.skip(1)
		}
		v, err := s.num()
		if err != nil {
			return "", err
		}
		if !f.setNumber(v, out) {
			return f.reason, nil
		}
		return "", nil
	case openapi3.TypeBoolean:
		if c != 't' && c != 'f' {
			return f.reason, s.skip(1)
		}
		lit, err := s.literal()
		if err != nil {
			return "", err
		}
		out.e.Valid = lit == 't'
		return "", nil
	}
	return f.reason, s.skip(1)
}

// stringProblem words why the string v was refused: a date-time without
// its offset says so, as local times are the commonest mistake there.
func (f *fieldRule) stringProblem(v []byte) string {
	if f.dateTime || f.target == fieldTimestamp {
		// A copy: v may share its array with the request body.
		withZone := append(v[:len(v):len(v)], 'Z')
		if _, ok := parseDateTime(withZone); ok {
			return f.reason + "; the offset (Z or ±hh:mm) is missing, as in " + string(withZone)
		}
	}
	return f.reason
}

func (f *fieldRule) setString(v []byte, out *decoded) bool {
	if f.enum != nil && !slices.Contains(f.enum, string(v)) {
		return false
	}
	if f.pattern != nil && !f.pattern.Match(v) {
		return false
	}
	var id tally.ID
	if f.uuid || f.target == fieldID {
		var err error
		if id, err = tally.ParseID(string(v)); err != nil {
			return false
		}
	}
	var ts time.Time
	if f.dateTime || f.target == fieldTimestamp {
		var ok bool
		if ts, ok = parseDateTime(v); !ok {
			return false
		}
	}
	switch f.target {
	case fieldID:
		out.e.ID, out.hasID = id, true
	case fieldDeviceType:
		dt, ok := tally.ParseDeviceType(string(v))
		if !ok || dt == tally.DeviceNone {
			return false
		}
		out.e.DeviceType = dt
	case fieldTimestamp:
		out.e.Timestamp = ts
	}
	return true
}

func (f *fieldRule) setNumber(v []byte, out *decoded) bool {
	if f.target == fieldValue {
		return f.setValue(v, out)
	}
	x, ok := parseNumber(v)
	if !ok || x < f.lo || x > f.hi {
		return false
	}
	if f.kind == openapi3.TypeInteger && x != math.Trunc(x) {
		return false
	}
	switch f.target {
	case fieldCategory:
		out.e.Category = tally.CategoryOf(int32(x))
	case fieldClient:
		out.e.Client = int32(x)
	case fieldClientGroup:
		out.e.ClientGroup = int32(x)
	default:
		return false
	}
	return true
}

// setValue reads the value as the exact decimal it writes, rounded half to
// even to six fractional digits (never through a float64, which would hold
// neither 0.1 nor 16-digit amounts exactly), within the schema's bounds and
// the domain's.
func (f *fieldRule) setValue(v []byte, out *decoded) bool {
	d, err := tally.ParseDecimal(v)
	if err != nil || d.Abs().Cmp(tally.MaxValue) > 0 {
		return false
	}
	if x := d.Float64(); x < f.lo || x > f.hi {
		return false
	}
	out.e.Value = d
	return true
}

// parseNumber reads a JSON number as kin-openapi does (a float64), without
// an allocation for the common short forms.
func parseNumber(v []byte) (float64, bool) {
	// Up to 15 digits with at most 15 after the point is exact in a
	// float64 and one correctly rounded division away.
	neg := len(v) > 0 && v[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	var m uint64
	digits, frac, point := 0, 0, false
	for ; i < len(v); i++ {
		c := v[i]
		switch {
		case isDigit(c):
			m = m*10 + uint64(c-'0')
			digits++
			if point {
				frac++
			}
		case c == '.' && !point:
			point = true
		default:
			digits = 99 // exponent: the slow path
		}
		if digits > 15 {
			break
		}
	}
	if digits <= 15 {
		x := float64(m) / pow10[frac]
		if neg {
			x = -x
		}
		return x, true
	}
	x, err := strconv.ParseFloat(string(v), 64)
	return x, err == nil
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseDateTime accepts every RFC 3339 date-time: the date and time
// separator "T" and the zone "Z" in either case (RFC 3339, section 5.6),
// any number of fractional digits (the event keeps microseconds, cut as
// Event.Normalize cuts them) and a leap second, which becomes the last
// microsecond of its minute: Go's time package has no 60th second, and
// the instant must still sort before the next minute. It checks the form
// by hand, as kin-openapi's date-time format does, then lets time.Parse
// read it.
func parseDateTime(v []byte) (time.Time, bool) {
	// YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)
	if len(v) < 20 {
		return time.Time{}, false
	}
	d := func(i int) bool { return isDigit(v[i]) }
	in := func(i int, lo, hi string) bool { // two digits within [lo, hi]
		return d(i) && d(i+1) && string(v[i:i+2]) >= lo && string(v[i:i+2]) <= hi
	}
	if !(d(0) && d(1) && d(2) && d(3) && v[4] == '-' && in(5, "01", "12") && v[7] == '-' &&
		in(8, "01", "31") && (v[10] == 'T' || v[10] == 't') && in(11, "00", "23") && v[13] == ':' &&
		in(14, "00", "59") && v[16] == ':' && in(17, "00", "60")) {
		return time.Time{}, false
	}
	rest := v[19:]
	frac := 0 // length of the fraction, its point included
	if rest[0] == '.' {
		frac = 1
		for frac < len(rest) && isDigit(rest[frac]) {
			frac++
		}
		if frac == 1 {
			return time.Time{}, false
		}
	}
	zone := rest[frac:]
	switch {
	case len(zone) == 1 && (zone[0] == 'Z' || zone[0] == 'z'):
	case len(zone) == 6 && (zone[0] == '+' || zone[0] == '-') && isDigit(zone[1]) && isDigit(zone[2]) &&
		string(zone[1:3]) <= "23" && zone[3] == ':' && isDigit(zone[4]) && zone[4] <= '5' && isDigit(zone[5]):
	default:
		return time.Time{}, false
	}
	leap := v[17] == '6'
	if v[10] == 'T' && zone[0] != 'z' && !leap {
		t, err := time.Parse(time.RFC3339, string(v))
		return t, err == nil
	}
	// The rare forms: rewrite them in the one time.Parse reads.
	b := make([]byte, 0, len(v))
	b = append(b, v[:10]...)
	b = append(b, 'T')
	b = append(b, v[11:17]...)
	if leap {
		b = append(b, "59"...) // and no fraction
	} else {
		b = append(b, v[17:19+frac]...)
	}
	if zone[0] == 'z' {
		b = append(b, 'Z')
	} else {
		b = append(b, zone...)
	}
	t, err := time.Parse(time.RFC3339, string(b))
	if err != nil {
		return time.Time{}, false
	}
	if leap {
		t = t.Add(time.Second - time.Microsecond)
	}
	return t, true
}
