package mongotest_test

import (
	"testing"

	"github.com/tallyhq/tally/mongo/mongotest"
)

func TestWithDatabase(t *testing.T) {
	cases := []struct{ in, want string }{
		{"mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/db"},
		{"mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017/db"},
		{"mongodb://a:1,b:2/old?replicaSet=rs0&w=majority", "mongodb://a:1,b:2/db?replicaSet=rs0&w=majority"},
		{"mongodb://u:p@h/?authSource=admin", "mongodb://u:p@h/db?authSource=admin"},
		{"mongodb+srv://cluster.example.net", "mongodb+srv://cluster.example.net/db"},
	}
	for _, c := range cases {
		if got := mongotest.WithDatabase(c.in, "db"); got != c.want {
			t.Errorf("WithDatabase(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
