// Command testprogress shows a `go test -json` run as it goes: a line for
// each test as it ends, the output of those that fail, and a summary. It
// exits 1 if anything failed, so
//
//	go test -json ./... | go run ./internal/testprogress
//
// fails when the tests do.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// module is the module whose packages are named short.
const module = "github.com/caisse/caisse"

// event is one line of `go test -json` (see `go doc cmd/test2json`), or of
// the build output it interleaves.
type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout, time.Now))
}

// run reads events from in and reports on out; it returns the exit status.
func run(in io.Reader, out io.Writer, now func() time.Time) int {
	start := now()
	output := map[string]*strings.Builder{} // package and test → what it printed
	running := map[string]bool{}            // packages started and tests run, not ended yet
	var passed, failed, skipped, packages int
	var failures []string
	sawEnd := false
	key := func(e event) string { return e.Package + " " + e.Test }
	short := func(pkg string) string {
		if pkg == module {
			return "caisse"
		}
		return strings.TrimPrefix(pkg, module+"/")
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(out, "%s\n", line) // not an event: go's own message
			continue
		}
		switch e.Action {
		case "start", "run":
			running[key(e)] = true
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "build-fail":
			failed++
			failures = append(failures, e.ImportPath+" (build)")
		case "output":
			b := output[key(e)]
			if b == nil {
				b = &strings.Builder{}
				output[key(e)] = b
			}
			b.WriteString(e.Output)
		case "pass", "fail", "skip":
			delete(running, key(e))
			name := short(e.Package)
			if e.Test != "" {
				name += "." + e.Test
			}
			switch {
			case e.Test == "" && e.Action == "skip":
				// A package without tests.
			case e.Test == "":
				packages++
				sawEnd = true
				word := "ok  "
				if e.Action == "fail" {
					word = "FAIL"
					// Tests still running when their package failed: a
					// timeout, a panic, an os.Exit. Their output says why.
					for k := range running {
						if pkg, test, _ := strings.Cut(k, " "); pkg == e.Package && test != "" {
							delete(running, k)
							if strings.Contains(test, "/") {
								continue
							}
							failed++
							failures = append(failures, name+"."+test)
							fmt.Fprintf(out, "FAIL %s.%s (did not finish)\n", name, test)
							if b := output[k]; b != nil {
								fmt.Fprint(out, b.String())
							}
						}
					}
					if b := output[key(e)]; b != nil && !strings.Contains(b.String(), "--- FAIL") {
						fmt.Fprint(out, b.String()) // a panic or a TestMain that failed
					}
					failures = append(failures, short(e.Package))
				}
				fmt.Fprintf(out, "%s %s (%.1fs)\n", word, name, e.Elapsed)
			case e.Action == "pass":
				passed++
				if !strings.Contains(e.Test, "/") {
					fmt.Fprintf(out, "PASS %s (%.2fs)\n", name, e.Elapsed)
				}
			case e.Action == "skip":
				skipped++
				reason := ""
				if b := output[key(e)]; b != nil {
					reason = lastLine(b.String())
				}
				fmt.Fprintf(out, "SKIP %s: %s\n", name, reason)
			default:
				failed++
				failures = append(failures, name)
				fmt.Fprintf(out, "FAIL %s (%.2fs)\n", name, e.Elapsed)
				if b := output[key(e)]; b != nil {
					fmt.Fprint(out, b.String())
				}
			}
			delete(output, key(e))
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "reading the test events: %v\n", err)
		return 1
	}
	// Packages that started and never ended: go test itself stopped (it
	// was killed, or the machine ran out of memory).
	for k := range running {
		if pkg, test, _ := strings.Cut(k, " "); test == "" {
			failures = append(failures, short(pkg)+" (did not finish)")
		}
	}
	took := now().Sub(start).Round(100 * time.Millisecond)
	fmt.Fprintf(out, "\n%d tests passed, %d failed, %d skipped, in %d packages, %s\n", passed, failed, skipped, packages, took)
	if len(failures) > 0 {
		fmt.Fprintf(out, "FAILED: %s\n", strings.Join(failures, ", "))
		return 1
	}
	if !sawEnd {
		fmt.Fprintf(out, "no test ran: did `go test -json` start? Run it alone to see why.\n")
		return 1
	}
	return 0
}

// lastLine is the last line a test printed before go test's own.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "--- ") && !strings.HasPrefix(l, "=== ") {
			return l
		}
	}
	return ""
}
