package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tallyhq/tally"
)

// CreateEvent stores e with POST /event and returns the event as stored
// (its timestamp in UTC, cut to microseconds). When e has no id (the zero
// ID) it is given a new one first, written into e.
//
// An event whose id is already stored is an *Error with status 409 and
// leaves the stored one unchanged: after an answer that was lost (a
// network error, a timeout, a 5xx), sending e again is safe, and a 409
// then means that the first attempt stored it.
func (c *Client) CreateEvent(ctx context.Context, e *tally.Event) (tally.Event, error) {
	if e.ID == (tally.ID{}) {
		e.ID = tally.NewID()
	}
	r := request{method: http.MethodPost, path: "/event", body: e.AppendJSON(nil), contentType: "application/json"}
	var w wireEvent
	if err := c.decode(ctx, r, http.StatusCreated, &w); err != nil {
		return tally.Event{}, err
	}
	return w.event()
}

// GetEvent returns the stored event with the id; an *Error with status 404
// when there is none.
func (c *Client) GetEvent(ctx context.Context, id tally.ID) (tally.Event, error) {
	var w wireEvent
	if err := c.decode(ctx, request{method: http.MethodGet, path: "/event/" + id.String()}, http.StatusOK, &w); err != nil {
		return tally.Event{}, err
	}
	return w.event()
}

// DeleteEvent deletes the event with the id; an *Error with status 404
// when there is none. Once it returns nil the event counts in no report.
func (c *Client) DeleteEvent(ctx context.Context, id tally.ID) error {
	resp, err := c.do(ctx, request{method: http.MethodDelete, path: "/event/" + id.String()}, http.StatusNoContent)
	if err != nil {
		return err
	}
	closeBody(resp)
	return nil
}

// BulkResult is the outcome of CreateEvents, event by event: every event
// sent was accepted, a duplicate or rejected.
type BulkResult struct {
	Accepted   int
	Duplicates int // ids already stored, or repeated within the batch
	Rejected   []Rejection
}

// Rejection is an event the server refused, and why.
type Rejection struct {
	Index   int    // the event's position in the batch
	ID      string // as sent; empty when the event had none
	Message string // names the field at fault
}

// CreateEvents stores events with one POST /events (at most 10,000 events
// and 10 MiB, unless the server was configured otherwise). The valid
// events are stored even when others are not; BulkResult says which. Events
// without an id are given a new one first, written into events.
//
// When the outcome is unknown — a network error, a timeout of the
// http.Client, a 5xx answer — the same batch is sent again, with the same
// ids, up to the retries of WithRetries. That is safe because an id
// already stored is counted as a duplicate and changes nothing; the
// duplicates of a resent batch therefore include the events that the
// attempt whose answer was lost stored. The last error is returned when
// every attempt failed, or at once when ctx ends; a 4xx answer is returned
// at once.
func (c *Client) CreateEvents(ctx context.Context, events []tally.Event) (BulkResult, error) {
	if len(events) == 0 {
		return BulkResult{}, nil
	}
	body := make([]byte, 0, 200*len(events))
	body = append(body, '[')
	for i := range events {
		e := &events[i]
		if e.ID == (tally.ID{}) {
			e.ID = tally.NewID()
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = e.AppendJSON(body)
	}
	body = append(body, ']')
	r := request{method: http.MethodPost, path: "/events", body: body, contentType: "application/json"}

	wait := c.backoff
	for attempt := 1; ; attempt++ {
		var w struct {
			Accepted   int `json:"accepted"`
			Duplicates int `json:"duplicates"`
			Rejected   []struct {
				Index   int     `json:"index"`
				ID      *string `json:"id"`
				Message string  `json:"message"`
			} `json:"rejected"`
		}
		err := c.decode(ctx, r, http.StatusOK, &w)
		if err == nil {
			res := BulkResult{Accepted: w.Accepted, Duplicates: w.Duplicates}
			for _, rj := range w.Rejected {
				x := Rejection{Index: rj.Index, Message: rj.Message}
				if rj.ID != nil {
					x.ID = *rj.ID
				}
				res.Rejected = append(res.Rejected, x)
			}
			return res, nil
		}
		if attempt >= c.attempts || !unknownOutcome(ctx, err) {
			return BulkResult{}, err
		}
		select {
		case <-ctx.Done():
			return BulkResult{}, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// unknownOutcome reports whether err leaves open whether the server
// applied the request: no answer at all, or a 5xx.
func unknownOutcome(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500
	}
	return true
}

// wireEvent is an event as the server answers it.
type wireEvent struct {
	ID          string      `json:"id"`
	DeviceType  *string     `json:"device_type"`
	Category    *int32      `json:"category"`
	Client      int32       `json:"client"`
	ClientGroup int32       `json:"client_group"`
	Timestamp   time.Time   `json:"timestamp"`
	Valid       bool        `json:"valid"`
	Value       json.Number `json:"value"`
}

func (w *wireEvent) event() (tally.Event, error) {
	e := tally.Event{
		Category:    tally.NoCategory,
		Client:      w.Client,
		ClientGroup: w.ClientGroup,
		Timestamp:   w.Timestamp,
		Valid:       w.Valid,
	}
	var err error
	if e.ID, err = tally.ParseID(w.ID); err != nil {
		return tally.Event{}, fmt.Errorf("tally: the answer's id %q: %w", w.ID, err)
	}
	if w.DeviceType != nil {
		d, ok := tally.ParseDeviceType(*w.DeviceType)
		if !ok || d == tally.DeviceNone {
			return tally.Event{}, fmt.Errorf("tally: the answer's device_type %q is unknown", *w.DeviceType)
		}
		e.DeviceType = d
	}
	if w.Category != nil {
		e.Category = tally.CategoryOf(*w.Category)
	}
	if e.Value, err = tally.ParseDecimal(string(w.Value)); err != nil {
		return tally.Event{}, fmt.Errorf("tally: the answer's value %q: %w", w.Value, err)
	}
	return e, nil
}
