// Package client is a Go client for Tally's HTTP API (docs/api.md).
//
// A Client speaks the API's JSON and sends events with the same encoder
// the server answers with, so values go over the wire as the exact
// decimals they are (tally.Decimal) and come back unchanged. Every call
// takes a context, which bounds it together with the http.Client's own
// timeout. An answer other than the expected 2xx is returned as an
// *Error carrying the status and the server's message; test for it with
// errors.As.
//
// Events are identified by ids that the client sends: an event without an
// id is given a new one before it is sent. A create that is sent again,
// after its first answer was lost, therefore cannot store the event twice:
// the server answers 409 to POST /event and counts a duplicate in
// POST /events. CreateEvents relies on this to resend a batch whose
// outcome is unknown.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client sends requests to one Tally server. It is safe for concurrent
// use.
type Client struct {
	base     string // scheme and host, and a path prefix without the final slash
	hc       *http.Client
	apiKey   string
	attempts int
	backoff  time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends key as `Authorization: Bearer <key>` on every request,
// for a server started with API keys.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithHTTPClient sends the requests through hc instead of a default
// client (whose timeout is one minute). Its Timeout bounds every attempt.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetries sets how many times CreateEvents sends a batch again when its
// outcome is unknown (default 2), waiting backoff before the first resend
// and twice as long before each next one (default 100ms).
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) { c.attempts, c.backoff = n+1, backoff }
}

// New returns a Client for the server at baseURL, such as
// "http://127.0.0.1:8080".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	c := &Client{
		base:     strings.TrimSuffix(u.String(), "/"),
		hc:       &http.Client{Timeout: time.Minute},
		attempts: 3,
		backoff:  100 * time.Millisecond,
	}
	for _, o := range opts {
		o(c)
	}
	if c.attempts < 1 {
		return nil, errors.New("client: retries must not be negative")
	}
	return c, nil
}

// Error is an answer of the server other than the one a call expects: its
// HTTP status and the message of the error body (docs/api.md).
type Error struct {
	Status  int
	Message string
	// Fields has one entry per problem the server named, when it did.
	Fields []FieldError
}

// FieldError is one problem with one part of a request.
type FieldError struct {
	Field   string `json:"field"`
	In      string `json:"in"` // query, path, header or body
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("tally: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// newError reads an error answer. A body that is not the contract's error
// JSON (a proxy's page, say) gives its first bytes as the message.
func newError(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{Status: resp.StatusCode}
	var b struct {
		Message string       `json:"message"`
		Errors  []FieldError `json:"errors"`
	}
	if json.Unmarshal(body, &b) == nil && b.Message != "" {
		e.Message, e.Fields = b.Message, b.Errors
		return e
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	e.Message = s
	return e
}

// request is one call to the API.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	contentType  string
	accept       string
}

// do sends r and returns the answer when its status is want; any other
// status is an *Error. The caller closes the body.
func (c *Client) do(ctx context.Context, r request, want int) (*http.Response, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader = http.NoBody
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("tally: %s %s: %w", r.method, r.path, err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tally: %s %s: %w", r.method, r.path, err)
	}
	if resp.StatusCode != want {
		defer closeBody(resp)
		return nil, newError(resp)
	}
	return resp, nil
}

// closeBody reads what is left of the body, so that the connection goes
// back to the pool, and closes it.
func closeBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// decode sends r and decodes a JSON answer of status want into v.
func (c *Client) decode(ctx context.Context, r request, want int, v any) error {
	resp, err := c.do(ctx, r, want)
	if err != nil {
		return err
	}
	defer closeBody(resp)
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("tally: %s %s: decoding the answer: %w", r.method, r.path, err)
	}
	return nil
}

// Ready reports whether the server answers and reaches its store: nil
// when GET /readyz answers 200.
func (c *Client) Ready(ctx context.Context) error {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/readyz"}, http.StatusOK)
	if err != nil {
		return err
	}
	closeBody(resp)
	return nil
}
