package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally"
)

// The targets of issues 7 and 11, as the table checks them.
const (
	targetSingleShare  = 0.5     // of the ceiling
	targetBulkRate     = 100_000 // events/s
	targetLoadedShare  = 0.8     // bulk into the loaded store over bulk into an empty one
	targetRestart      = 3 * time.Second
	targetReportP50    = 25 * time.Millisecond
	targetGrowth       = 2.0  // p50 at a size over p50 at a tenth of it
	targetSpeedup      = 50.0 // over the raw scan
	targetRSS          = 300 << 20
	targetReportEvents = 10_000_000 // the size the report and memory targets are stated at
)

// Machine describes where a run took place.
type Machine struct {
	CPUs      int
	CPUModel  string
	Memory    string
	GoVersion string
	OS        string
	Commit    string
}

// DescribeMachine reads the machine's description from /proc where there is
// one, and the commit from the binary's build information or from git.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		CPUModel: "unknown", Memory: "unknown", Commit: "unknown"}
	if v, ok := procField("/proc/cpuinfo", "model name"); ok {
		m.CPUModel = v
	}
	if v, ok := procField("/proc/meminfo", "MemTotal"); ok {
		if f := strings.Fields(v); len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				v = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
		m.Memory = v
	}
	m.Commit = commit()
	return m
}

func procField(path, name string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// commit is the VCS revision the binary was built from (go build stamps it;
// go run does not, so then git is asked), "+dirty" when it had changes.
func commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if rev, modified := tally.Revision(bi); rev != "" {
			if modified {
				rev += "+dirty"
			}
			return shortRev(rev)
		}
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += "+dirty"
	}
	return shortRev(rev)
}

func shortRev(rev string) string {
	hash, dirty, _ := strings.Cut(rev, "+")
	if len(hash) > 12 {
		hash = hash[:12]
	}
	if dirty != "" {
		return hash + "+" + dirty
	}
	return hash
}

// WriteMarkdown writes the run's table, the targets' verdicts and the
// machine description as a Markdown section.
func WriteMarkdown(w io.Writer, r *Result, m Machine, command string) error {
	if len(r.Mongo) > 0 {
		return writeMongoMarkdown(w, r, m, command)
	}
	bw := bufio.NewWriter(w)
	c := &r.Config
	fmt.Fprintf(bw, "## Run of %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(bw, "- Machine: %d CPUs (%s), %s memory, %s, %s; commit %s\n", m.CPUs, m.CPUModel, m.Memory, m.OS, m.GoVersion, m.Commit)
	fmt.Fprintf(bw, "- Command: `%s` (%v in all)\n", command, r.Elapsed.Round(time.Second))
	sync := c.Sync
	if sync == "" {
		sync = "the server's default"
	}
	baseline := fmt.Sprintf("%d timed runs each", c.BaselineRuns)
	if c.BaselineTime > 0 {
		baseline += fmt.Sprintf(", fewer once they took %v", c.BaselineTime)
	}
	fmt.Fprintf(bw, "- Data: generator seed %d, %d days ending %s; SQLite synchronous: %s. "+
		"POST /event: %d keep-alive clients for %v. POST /events: %d events in batches of %d from %d posters. "+
		"Reports: %d timed runs each over HTTP; raw-scan baseline: %s (runs in brackets).\n\n",
		c.Seed, c.Days, c.End.AddDate(0, 0, -1).Format(time.DateOnly), sync,
		c.SingleClients, c.SingleDuration, c.BulkEvents, c.Batch, c.Posters, c.ReportRuns, baseline)

	head := []string{"", "ceiling (discard:)"}
	for _, s := range r.Sizes {
		head = append(head, count(s.Events)+" events")
	}
	head = append(head, "target")
	t := table{head: head}
	row := func(name, ceiling string, f func(s SizeResult) string, target string) {
		cells := []string{name, ceiling}
		for _, s := range r.Sizes {
			cells = append(cells, f(s))
		}
		t.rows = append(t.rows, append(cells, target))
	}

	row("load (POST /events), events/s", "", func(s SizeResult) string { return count(int(s.LoadRate())) }, "")
	row("restart after kill -9, until /readyz 200", "", func(s SizeResult) string {
		return seconds(s.Restart) + " " + mark(s.Restart <= targetRestart)
	}, "≤ "+seconds(targetRestart))
	ceil := r.Ceiling
	row("POST /event, events/s", count(int(ceil.SingleRate())), func(s SizeResult) string {
		share := s.Ingest.SingleRate() / ceil.SingleRate()
		return fmt.Sprintf("%s (%.0f%%) %s", count(int(s.Ingest.SingleRate())), 100*share, mark(share >= targetSingleShare))
	}, fmt.Sprintf("≥ %.0f%% of ceiling", 100*targetSingleShare))
	row("POST /event p50 / p99", latencies(ceil.Single), func(s SizeResult) string { return latencies(s.Ingest.Single) }, "")
	row("POST /events into an empty store, events/s", "", func(s SizeResult) string { return count(int(s.Empty.BulkRate())) }, "")
	row("POST /events into the loaded store, events/s", count(int(ceil.BulkRate())), func(s SizeResult) string {
		share := s.Ingest.BulkRate() / ceil.BulkRate()
		return fmt.Sprintf("%s (%.0f%%) %s; %.0f%% of empty %s", count(int(s.Ingest.BulkRate())), 100*share,
			mark(s.Ingest.BulkRate() >= targetBulkRate), 100*s.LoadedShare(), mark(s.LoadedShare() >= targetLoadedShare))
	}, fmt.Sprintf("≥ %s; ≥ %.0f%% of empty", count(targetBulkRate), 100*targetLoadedShare))

	first := r.Sizes[0]
	for i := range firstReports(r) {
		q := first.Reports[i].Query
		row(q.Name+" p50 / p99 ("+q.Title+")", "", func(s SizeResult) string {
			rep := s.Reports[i]
			v := latencies(rep.Tally) + " " + mark(rep.Tally.P50 <= targetReportP50)
			if tenth, ok := tenthOf(r, s); ok {
				g := float64(rep.Tally.P50) / float64(tenth.Reports[i].Tally.P50)
				v += fmt.Sprintf("; %.1f× the %s p50 %s", g, countShort(tenth.Events), mark(g <= targetGrowth))
			}
			return v
		}, fmt.Sprintf("p50 ≤ %s; ≤ %.0f× for 10× events", ms(targetReportP50), targetGrowth))
		row(q.Name+" first answer", "", func(s SizeResult) string {
			rep := s.Reports[i]
			v := ms(rep.First)
			if rep.Refused > 0 {
				v += fmt.Sprintf(" (%d refused)", rep.Refused)
			}
			return v
		}, "")
		row(q.Name+" raw scan p50 (runs), speed-up", "", func(s SizeResult) string {
			rep := s.Reports[i]
			return fmt.Sprintf("%s (%d), %s %s", ms(rep.Baseline.P50), rep.Baseline.N, times(rep.Speedup()), mark(rep.Speedup() >= targetSpeedup))
		}, fmt.Sprintf("≥ %.0f×", targetSpeedup))
	}
	row("peak RSS", mib(r.CeilingRSS), func(s SizeResult) string {
		return mib(s.PeakRSS) + " " + mark(s.PeakRSS > 0 && s.PeakRSS <= targetRSS)
	}, "≤ "+mib(targetRSS))
	row("disk per event (db + wal)", "", func(s SizeResult) string {
		return fmt.Sprintf("%.0f B (%s)", s.BytesPerEvent(), mib(s.DiskBytes))
	}, "")
	t.write(bw)

	fmt.Fprintf(bw, "\n%s\n", verdict(r))
	return bw.Flush()
}

// firstReports ranges over the report indexes every size has.
func firstReports(r *Result) []struct{} {
	n := len(r.Sizes[0].Reports)
	for _, s := range r.Sizes {
		n = min(n, len(s.Reports))
	}
	return make([]struct{}, n)
}

// verdict lists the targets met and missed, at the size each is stated for.
func verdict(r *Result) string {
	var met, missed []string
	check := func(ok bool, what string) {
		if ok {
			met = append(met, what)
		} else {
			missed = append(missed, what)
		}
	}
	for _, s := range r.Sizes {
		n := countShort(s.Events)
		check(s.Ingest.SingleRate() >= targetSingleShare*r.Ceiling.SingleRate(), fmt.Sprintf("single ≥ 50%% of ceiling at %s", n))
		check(s.Ingest.BulkRate() >= targetBulkRate, fmt.Sprintf("bulk ≥ 100,000/s at %s", n))
		check(s.LoadedShare() >= targetLoadedShare, fmt.Sprintf("bulk into the loaded store ≥ 80%% of empty at %s", n))
		check(s.Restart <= targetRestart, fmt.Sprintf("restart ≤ 3 s at %s", n))
		if tenth, ok := tenthOf(r, s); ok {
			for i := range firstReports(r) {
				g := float64(s.Reports[i].Tally.P50) / float64(tenth.Reports[i].Tally.P50)
				check(g <= targetGrowth, fmt.Sprintf("%s p50 at %s ≤ 2× at %s", s.Reports[i].Query.Name, n, countShort(tenth.Events)))
			}
		}
		if !statedSize(s.Events) {
			continue // the report and memory targets are stated at 10M
		}
		for _, rep := range s.Reports {
			check(rep.Tally.P50 <= targetReportP50, fmt.Sprintf("%s p50 ≤ 25 ms at %s", rep.Query.Name, n))
			check(rep.Speedup() >= targetSpeedup, fmt.Sprintf("%s ≥ 50× raw scan at %s", rep.Query.Name, n))
		}
		check(s.PeakRSS > 0 && s.PeakRSS <= targetRSS, fmt.Sprintf("peak RSS ≤ 300 MiB at %s", n))
	}
	s := fmt.Sprintf("Targets: %d met, %d missed.", len(met), len(missed))
	if len(missed) > 0 {
		s += " Missed: " + strings.Join(missed, "; ") + "."
	}
	if !hasReportSize(r) {
		s += " The report and memory targets are stated at 10M events; this run has no such size."
	}
	return s
}

// tenthOf returns the size of the run with about a tenth of s's events,
// against which the growth target compares s.
func tenthOf(r *Result, s SizeResult) (SizeResult, bool) {
	for _, a := range r.Sizes {
		if s.Events >= 9*a.Events && s.Events <= 11*a.Events {
			return a, true
		}
	}
	return SizeResult{}, false
}

// statedSize reports whether n events is the size the report and memory
// targets are stated at (10M, within 10%).
func statedSize(n int) bool {
	return n >= targetReportEvents*9/10 && n <= targetReportEvents*11/10
}

func hasReportSize(r *Result) bool {
	for _, s := range r.Sizes {
		if statedSize(s.Events) {
			return true
		}
	}
	return false
}

// table is a Markdown table.
type table struct {
	head []string
	rows [][]string
}

func (t *table) write(w io.Writer) {
	line := func(cells []string) {
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	line(t.head)
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// count writes n with thousands separators.
func count(n int) string { return Thousands(int64(n)) }

// Thousands writes n with thousands separators, for tables.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// countShort writes a size the way people say it: 1M, 2.5M, 10M, 2k.
func countShort(n int) string {
	switch {
	case n >= 999_000:
		return strconv.FormatFloat(math.Round(float64(n)/1e5)/10, 'f', -1, 64) + "M"
	case n >= 1000:
		return strconv.Itoa((n+500)/1000) + "k"
	}
	return strconv.Itoa(n)
}

// seconds writes a duration of about a second: 0.42 s, 2.9 s, 31 s.
func seconds(d time.Duration) string {
	v := d.Seconds()
	switch {
	case v < 1:
		return fmt.Sprintf("%.2f s", v)
	case v < 10:
		return fmt.Sprintf("%.1f s", v)
	}
	return count(int(v+0.5)) + " s"
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.1f ms", v)
	}
	return count(int(v+0.5)) + " ms"
}

// times writes a ratio: 1.5×, 12×, 1,234×.
func times(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.1f×", r)
	}
	return count(int(r+0.5)) + "×"
}

func latencies(l Latencies) string {
	if l.N == 0 {
		return ""
	}
	return strings.TrimSuffix(ms(l.P50), " ms") + " / " + ms(l.P99)
}

func mib(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	if v := float64(b) / (1 << 20); v < 10 {
		return fmt.Sprintf("%.1f MiB", v)
	}
	return count(int(math.Round(float64(b)/(1<<20)))) + " MiB"
}
