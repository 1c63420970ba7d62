package tally

import (
	"strconv"
	"time"
)

// AppendJSON appends e's wire form to b, as the API answers it and as
// clients send it: the id lower-case, the timestamp in RFC 3339 UTC with a
// fraction only when it has one, null for a missing device type or
// category, the value exactly as Decimal writes it. e must be valid (see
// Validate).
//
// It is the one encoder of an event, shared by the server, the client and
// the generator, so that they cannot drift apart; it is written by hand
// because events are encoded by the hundred thousand and reflection would
// be most of the cost.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, e.ID.String()...)
	b = append(b, `","device_type":`...)
	if e.DeviceType == DeviceNone {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = append(b, e.DeviceType.String()...)
		b = append(b, '"')
	}
	b = append(b, `,"category":`...)
	if e.Category == NoCategory {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(e.Category), 10)
	}
	b = append(b, `,"client":`...)
	b = strconv.AppendInt(b, int64(e.Client), 10)
	b = append(b, `,"client_group":`...)
	b = strconv.AppendInt(b, int64(e.ClientGroup), 10)
	b = append(b, `,"timestamp":"`...)
	b = e.Timestamp.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","valid":`...)
	b = strconv.AppendBool(b, e.Valid)
	b = append(b, `,"value":`...)
	b = e.Value.Append(b)
	return append(b, '}')
}
