package tally

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"time"
)

// ID is an event id: a UUID held as its 16 bytes.
type ID [16]byte

// NewID returns a random (version 4) UUID.
func NewID() ID {
	var id ID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// ParseID parses the canonical 8-4-4-4-12 hex form, in either case.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, Errorf(EInvalid, "not a UUID in 8-4-4-4-12 form")
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := fromHex(s[i])
		lo, ok2 := fromHex(s[i+1])
		if !ok1 || !ok2 {
			return id, Errorf(EInvalid, "not a UUID in 8-4-4-4-12 form")
		}
		id[j] = hi<<4 | lo
		j++
		i += 2
	}
	return id, nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String returns the canonical lower-case form.
func (id ID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

// DeviceType is the kind of device an event came from. The zero value,
// DeviceNone, stands for null. The numeric order is the report order:
// null first, then alphabetical.
type DeviceType uint8

const (
	DeviceNone DeviceType = iota
	DeviceDesktop
	DeviceMobile
	DeviceTablet
)

var deviceNames = [...]string{DeviceNone: "null", DeviceDesktop: "desktop", DeviceMobile: "mobile", DeviceTablet: "tablet"}

// String returns the wire name, "null" for DeviceNone.
func (d DeviceType) String() string {
	if int(d) < len(deviceNames) {
		return deviceNames[d]
	}
	return "invalid"
}

// ParseDeviceType parses a wire name; "null" gives DeviceNone.
func ParseDeviceType(s string) (DeviceType, bool) {
	for i, n := range deviceNames {
		if n == s {
			return DeviceType(i), true
		}
	}
	return 0, false
}

// Category is an event's category: an int32, or NoCategory for null. It is
// wider than int32 so that null has a value of its own that sorts first.
type Category int64

// NoCategory is the null category. It is below every int32, so ascending
// order puts it first as the contract asks.
const NoCategory Category = math.MinInt32 - 1

// CategoryOf returns the category c.
func CategoryOf(c int32) Category { return Category(c) }

// Valid reports whether c is NoCategory or an int32.
func (c Category) Valid() bool {
	return c == NoCategory || (c >= math.MinInt32 && c <= math.MaxInt32)
}

// Timestamps are kept to the microsecond, finer digits cut: finer than the
// contract's milliseconds, and an int64 of microseconds spans every year a
// client can write in RFC 3339.
const timePrecision = time.Microsecond

// MinTime and MaxTime bound the timestamps Tally accepts, the contract's
// years 1970 to 9999, so that every report bucket prints as a four-digit
// date in every zone. The first instant of 1970 in UTC is accepted (its
// local date is 1969-12-31 in zones west of UTC); the last is the last
// microsecond whose local date is still 9999-12-31 in every zone: the
// largest offset of the tz database is +14:00 (Pacific/Kiritimati), which
// a test over every zone checks.
var (
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, 12, 31, 9, 59, 59, 999999000, time.UTC)
)

// Event is one recorded event.
type Event struct {
	ID          ID
	DeviceType  DeviceType
	Category    Category
	Client      int32
	ClientGroup int32
	Timestamp   time.Time
	Valid       bool
	Value       Decimal
}

// Normalize puts the timestamp in UTC at the stored precision.
func (e *Event) Normalize() {
	e.Timestamp = e.Timestamp.UTC().Truncate(timePrecision)
}

// Validate checks the rules the type system does not. The error names the
// field at fault.
func (e *Event) Validate() error {
	switch {
	case e.DeviceType > DeviceTablet:
		return FieldErrorf("device_type", "must be one of desktop, mobile, tablet or null")
	case !e.Category.Valid():
		return FieldErrorf("category", "must be a 32-bit integer or null")
	case e.Timestamp.Before(MinTime) || e.Timestamp.After(MaxTime):
		return FieldErrorf("timestamp", "must be from %s to %s",
			MinTime.Format(time.RFC3339Nano), MaxTime.Format(time.RFC3339Nano))
	case e.Value.Abs().Cmp(MaxValue) > 0:
		return FieldErrorf("value", "must be between -1e15 and 1e15")
	}
	return nil
}
