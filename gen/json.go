package gen

import (
	"strconv"
	"time"

	"github.com/tallyhq/tally"
)

// AppendJSON appends e's wire form to dst: the id lower-case, the timestamp
// in RFC 3339 UTC with a fraction only when it has one, null for a missing
// device type or category. e must be valid (see tally.Event.Validate): a
// non-finite value has no JSON form and is written as 0.
//
// It is written by hand because the generator posts events by the
// hundred thousand and reflection would be most of the cost.
func AppendJSON(dst []byte, e *tally.Event) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, e.ID.String()...)
	dst = append(dst, `","device_type":`...)
	if e.DeviceType == tally.DeviceNone {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = append(dst, e.DeviceType.String()...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"category":`...)
	if e.Category == tally.NoCategory {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, int64(e.Category), 10)
	}
	dst = append(dst, `,"client":`...)
	dst = strconv.AppendInt(dst, int64(e.Client), 10)
	dst = append(dst, `,"client_group":`...)
	dst = strconv.AppendInt(dst, int64(e.ClientGroup), 10)
	dst = append(dst, `,"timestamp":"`...)
	dst = e.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","valid":`...)
	dst = strconv.AppendBool(dst, e.Valid)
	dst = append(dst, `,"value":`...)
	dst = e.Value.Append(dst) // exact, as the server writes it
	return append(dst, '}')
}
