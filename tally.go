// Package tally holds the domain of the Tally event and report service: the
// event, the report query and its answer, the Store every backend implements,
// and the error type shared by all layers.
//
// It imports no driver, no net/http and no generated code, so that stores
// (sqlite, mongo) and transports (api) depend on it and never on each other.
package tally

import (
	"context"
	"errors"
	"fmt"
)

// Store keeps events and answers reports over them. Implementations must be
// safe for concurrent use.
type Store interface {
	// CreateEvent stores e durably before it returns. It returns an error with
	// code EConflict when an event with e.ID already exists; the stored event
	// is then unchanged.
	CreateEvent(ctx context.Context, e Event) error

	// CreateEvents stores a batch of already validated events and returns,
	// for each, whether it was inserted (false: its ID was already stored or
	// appears earlier in the batch). It returns only after every inserted
	// event is durable.
	CreateEvents(ctx context.Context, events []Event) ([]bool, error)

	// Event returns the event with the given id, or an error with code
	// ENotFound.
	Event(ctx context.Context, id ID) (Event, error)

	// DeleteEvent removes the event and its contribution to every report, or
	// returns an error with code ENotFound.
	DeleteEvent(ctx context.Context, id ID) error

	// DeleteEvents removes every event f selects that is stored when it
	// begins, in bounded batches, so that other writes and reports go on
	// meanwhile, and returns how many it removed. Each batch is durable
	// before the next; once it returns, every report is exact. On an error
	// the batches already done stay done: calling it again finishes the
	// work. f must be a normalized query's filter.
	DeleteEvents(ctx context.Context, f Filter) (int64, error)

	// Report answers an aggregated query. q must be normalized (see
	// ReportQuery.Normalize). Returns EInvalid for a query the store cannot
	// answer.
	Report(ctx context.Context, q ReportQuery) (Report, error)

	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error

	// Close releases the store; pending writes are finished first.
	Close() error
}

// Error codes. They are transport independent; the api package maps each to
// one HTTP status in one place.
const (
	EInvalid      = "invalid"
	ENotFound     = "not_found"
	EConflict     = "conflict"
	ETooLarge     = "too_large"
	EUnauthorized = "unauthorized"
	EForbidden    = "forbidden"
	EUnavailable  = "unavailable"
	EInternal     = "internal"
	// ETimeout: the client did not send its request in time (a body that
	// stalls or arrives too slowly); sending it again, faster, may work.
	ETimeout = "timeout"
	// ETooExpensive: a valid request that would cost more than the
	// server allows (see ScanLimits); the message says how to narrow it.
	// Retrying it unchanged does not help.
	ETooExpensive = "too_expensive"
)

// Error is a domain error: a code for machines and a message for people.
// Field, when set, names the request field or parameter at fault.
type Error struct {
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("tally: %s: %s", e.Field, e.Message)
	}
	return fmt.Sprintf("tally: %s", e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EInvalid *Error that names the offending field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EInternal
	}
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or "internal error" so that internals never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Checker is implemented by stores whose rollup cells can be checked against
// a recomputation from the raw events, and rebuilt from them. Operators run
// it through `tally verify` and `tally repair`.
type Checker interface {
	// Verify recomputes every rollup cell from the raw events and returns
	// the cells that differ from the stored ones.
	Verify(ctx context.Context) ([]CellDiff, error)
	// Repair rebuilds the rollup cells from the raw events and returns how
	// many cells it wrote.
	Repair(ctx context.Context) (int, error)
}

// CellDiff is a rollup cell whose stored aggregates differ from those
// recomputed from the raw events. A cell missing on one side has zero
// Totals there.
type CellDiff struct {
	Key        CellKey
	Stored     Totals
	Recomputed Totals
}
