package main

import (
	"flag"
	"fmt"
	"net"
)

// defaultAddr is serve's listen address when neither --addr nor TALLY_ADDR
// says otherwise.
const defaultAddr = ":8080"

// baseURLOf is the base URL at which a client on this machine reaches a
// server listening on addr (serve's --addr): a wildcard or empty host is
// reached on the loopback, any other host as written.
func baseURLOf(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port == "0" {
		return "", fmt.Errorf("%q: port 0 means any free port; give the server's URL instead", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// apiKeyFlag registers --api-key on fs. The returned function gives the
// flag's value or, when the flag was not given, TALLY_API_KEY's. The
// variable is not made the flag's default, so that -h never prints a key.
func apiKeyFlag(fs *flag.FlagSet, getenv func(string) string) func() string {
	key := fs.String("api-key", "", "API `key` sent as Authorization: Bearer, for a server with --api-keys (env TALLY_API_KEY)")
	return func() string {
		given := false
		fs.Visit(func(f *flag.Flag) { given = given || f.Name == "api-key" })
		if given {
			return *key
		}
		return getenv("TALLY_API_KEY")
	}
}
