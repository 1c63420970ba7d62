package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tallyhq/tally"
)

// authMode is which requests of an operation need a key: none, every one
// when the server has keys (writes), or every one when it has keys and
// Config.AuthReads (reads).
type authMode uint8

const (
	authNone authMode = iota
	authRead
	authWrite
)

// bearerScheme is the name of the document's bearer security scheme.
const bearerScheme = "bearerAuth"

// authModeOf reads an operation's security requirements. The document
// declares every key as optional (`- {}` beside the bearer scheme), since a
// server without keys takes anonymous requests, and generated clients must
// not insist on one; whether a configured server then asks for it is the
// method's: writes (POST, PUT, PATCH, DELETE) always, reads with AuthReads.
func authModeOf(doc *openapi3.T, method string, op *openapi3.Operation) authMode {
	reqs := op.Security
	if reqs == nil {
		reqs = &doc.Security
	}
	for _, req := range *reqs {
		if _, ok := req[bearerScheme]; !ok {
			continue
		}
		switch method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			return authWrite
		}
		return authRead
	}
	return authNone
}

// keyring holds the accepted API keys as SHA-256 sums: comparing sums of
// equal length keeps the comparison's time independent of the keys'
// lengths and contents.
type keyring struct {
	sums [][sha256.Size]byte
}

func newKeyring(keys []string) (*keyring, error) {
	k := &keyring{}
	for _, key := range keys {
		if key == "" || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			// Never quote the key: it may be almost right.
			return nil, errors.New("an API key is empty or holds white space or control characters")
		}
		k.sums = append(k.sums, sha256.Sum256([]byte(key)))
	}
	return k, nil
}

// check authenticates a request: 401 when it carries no usable bearer
// credentials, 403 when its key is not one of the keyring's. Every key is
// compared, with no early exit, so that timing says nothing of which key
// came close.
func (k *keyring) check(w http.ResponseWriter, r *http.Request) error {
	values := r.Header.Values("Authorization")
	unauthorized := func(msg string) error {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tally"`)
		return tally.Errorf(tally.EUnauthorized, "Authorization: %s", msg)
	}
	if len(values) == 0 {
		return unauthorized("missing; send Authorization: Bearer <key>")
	}
	if len(values) > 1 {
		return unauthorized("given more than once")
	}
	token, ok := bearerToken(values[0])
	if !ok {
		return unauthorized("malformed; send Authorization: Bearer <key>")
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for i := range k.sums {
		match |= subtle.ConstantTimeCompare(sum[:], k.sums[i][:])
	}
	if match != 1 {
		return tally.Errorf(tally.EForbidden, "Authorization: the key is not accepted")
	}
	return nil
}

// bearerToken returns the key of an Authorization value, read as RFC 6750
// writes it: "Bearer" 1*SP b64token. The scheme is case-insensitive (RFC
// 7235 2.1) and may be followed by one or more spaces, as the grammar
// allows; the value's own leading and trailing spaces and tabs are not
// part of it (RFC 9110 5.5; net/http already strips them on HTTP/1.1).
// Anything else is not trimmed: a tab after the scheme, or white space
// or control characters in the key, make the header malformed rather than
// being cut away, so that only the exact key authenticates.
func bearerToken(value string) (string, bool) {
	value = strings.Trim(value, " \t")
	scheme, token, ok := strings.Cut(value, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", false
	}
	return token, true
}

// needsKey reports whether this server asks for a key on op.
func (s *server) needsKey(op *operation) bool {
	return s.keys != nil && (op.auth == authWrite || op.auth == authRead && s.authReads)
}

// authorized wraps h with the key check op's security asks for, if any.
func (s *server) authorized(op *operation, h handlerFunc) handlerFunc {
	if !s.needsKey(op) {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.keys.check(w, r); err != nil {
			return err
		}
		return h(w, r)
	}
}
