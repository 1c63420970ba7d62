package load

import (
	"fmt"
	"strconv"
	"strings"
)

// Op is one kind of request of the traffic mix.
type Op int

// The operations, in the order the table lists them.
const (
	OpCreate Op = iota // POST /event, one new event
	OpBulk             // POST /events, Config.BulkSize new events
	OpDelete           // DELETE /event/{id} of an event the run created
	OpReport           // GET /report, one of Queries
	OpGet              // GET /event/{id} of an event the run created and keeps
	numOps
)

var opNames = [numOps]string{"create", "bulk", "delete", "report", "get"}

var opRoutes = [numOps]string{"POST /event", "POST /events", "DELETE /event/{id}", "GET /report", "GET /event/{id}"}

// Ops returns every operation, in table order.
func Ops() []Op { return []Op{OpCreate, OpBulk, OpDelete, OpReport, OpGet} }

// String is the operation's name in a mix ("create", "bulk"…).
func (o Op) String() string { return opNames[o] }

// Route is the API route the operation calls.
func (o Op) Route() string { return opRoutes[o] }

// Mix is the share of each operation in the traffic, as integer weights
// (percentages in the default, but any non-negative weights do).
type Mix struct {
	Create, Bulk, Delete, Report, Get int
}

// DefaultMix is mostly single writes, as the old service's clients sent,
// with enough bulk loads, deletes and reports to keep every path busy.
var DefaultMix = Mix{Create: 55, Bulk: 10, Delete: 10, Report: 20, Get: 5}

func (m Mix) weights() [numOps]int {
	return [numOps]int{m.Create, m.Bulk, m.Delete, m.Report, m.Get}
}

// Weight is op's weight.
func (m Mix) Weight(op Op) int { return m.weights()[op] }

// Total is the sum of the weights: Pick takes a number below it.
func (m Mix) Total() int {
	t := 0
	for _, w := range m.weights() {
		t += w
	}
	return t
}

// Pick maps n, uniform in [0, Total()), to an operation, each taking as
// many values of n as its weight, in table order.
func (m Mix) Pick(n int) Op {
	for op, w := range m.weights() {
		if n < w {
			return Op(op)
		}
		n -= w
	}
	panic(fmt.Sprintf("load: Pick(%d) beyond the mix's total %d", n, m.Total()))
}

// String writes the mix as ParseMix reads it.
func (m Mix) String() string {
	var b strings.Builder
	for op, w := range m.weights() {
		if op > 0 {
			b.WriteByte(',')
		}
		b.WriteString(opNames[op] + "=" + strconv.Itoa(w))
	}
	return b.String()
}

// Check reports a mix that cannot run: a negative weight or none at all.
func (m Mix) Check() error {
	for op, w := range m.weights() {
		if w < 0 {
			return fmt.Errorf("mix: %s weight %d is negative", opNames[op], w)
		}
	}
	if m.Total() == 0 {
		return fmt.Errorf("mix: every weight is zero")
	}
	return nil
}

// ParseMix reads a mix such as "create=55,bulk=10,delete=10,report=20,get=5".
// An operation left out gets weight 0.
func ParseMix(s string) (Mix, error) {
	var w [numOps]int
	seen := [numOps]bool{}
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Mix{}, fmt.Errorf("mix: %q is not name=weight", part)
		}
		op := -1
		for i, n := range opNames {
			if n == name {
				op = i
			}
		}
		if op < 0 {
			return Mix{}, fmt.Errorf("mix: unknown operation %q (want %s)", name, strings.Join(opNames[:], ", "))
		}
		if seen[op] {
			return Mix{}, fmt.Errorf("mix: %s given twice", name)
		}
		seen[op] = true
		n, err := strconv.Atoi(val)
		if err != nil {
			return Mix{}, fmt.Errorf("mix: %s weight %q is not an integer", name, val)
		}
		w[op] = n
	}
	m := Mix{Create: w[OpCreate], Bulk: w[OpBulk], Delete: w[OpDelete], Report: w[OpReport], Get: w[OpGet]}
	return m, m.Check()
}
