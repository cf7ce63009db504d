// Package stripemock gives caisse's tests two stand-ins for Stripe's API: the
// real stripe-mock (Start), which checks every request against Stripe's
// OpenAPI spec and answers with Stripe's fixtures, and Fake, a small stateful
// server for what stripe-mock cannot show (state across calls, exactly what
// was sent).
package stripemock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Version is the stripe-mock the tests are written against, pinned in go.mod
// as a tool: `go tool stripe-mock` builds it from the module cache, so the
// tests need nothing installed by hand.
const Version = "v0.203.0"

// TestKey is a test-mode secret key; stripe-mock accepts any that looks like
// one, and Fake accepts any sk_test_ key.
const TestKey = "sk_test_123"

// startTimeout bounds how long stripe-mock may take to load its spec and
// answer. Alone it takes about a second; under `go test -race ./...` on a
// small machine it shares the CPUs with every other test binary.
const startTimeout = 60 * time.Second

// listening is how stripe-mock reports the address it bound, once the socket
// is listening.
const listening = "Listening for HTTP at address: "

// mainRunning says Main is running the tests, so the shared stripe-mock will
// be stopped when they end.
var mainRunning atomic.Bool

// shared is the one stripe-mock of the test binary.
var shared struct {
	once sync.Once
	url  string
	err  error
	proc *process
}

// Main runs a package's tests, then stops the stripe-mock they shared. Every
// package whose tests call Start calls it from TestMain:
//
//	func TestMain(m *testing.M) { stripemock.Main(m) }
func Main(m *testing.M) {
	mainRunning.Store(true)
	code := m.Run()
	if shared.proc != nil {
		shared.proc.stop()
	}
	os.Exit(code)
}

// Start returns the base URL (http://127.0.0.1:PORT) of a running stripe-mock.
// The first call in a test binary starts it and every test shares it:
// stripe-mock keeps no state, and loading its spec costs about a CPU-second,
// so one per test would make a package's tests slower the more it has. The
// test fails, naming the install command, if stripe-mock is not installed.
func Start(t testing.TB) string {
	t.Helper()
	if !mainRunning.Load() {
		t.Fatal("stripemock.Start needs stripemock.Main to stop stripe-mock when the tests end: add `func TestMain(m *testing.M) { stripemock.Main(m) }` to the package's tests")
	}
	shared.once.Do(func() {
		shared.proc, shared.err = start()
		if shared.err == nil {
			shared.url = shared.proc.url
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.url
}

// find returns the stripe-mock pinned in go.mod, built by the go command
// (`go tool -n` builds the tool into the build cache and prints its path).
func find() (string, error) {
	// Only standard output holds the path: on a machine whose module cache
	// is empty, the go command says "go: downloading …" on standard error
	// first.
	var stderr strings.Builder
	cmd := exec.Command("go", "tool", "-n", "stripe-mock")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("error building stripe-mock %s, the tool pinned in go.mod (go tool -n stripe-mock): %v: %s",
			Version, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// process is a running stripe-mock.
type process struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	out  *tail
}

// start runs stripe-mock on ports the system chooses, on 127.0.0.1 only, and
// waits until it answers. Letting stripe-mock bind port 0 and report the
// address avoids picking a free port that another test binary takes first.
func start() (*process, error) {
	bin, err := find()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("error starting stripe-mock: %w", err)
	}
	p := &process{done: make(chan struct{}), out: &tail{}}
	// stripe-mock serves HTTPS too unless told where; bind that to 127.0.0.1
	// as well, never to every interface.
	p.cmd = exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.cmd.SysProcAttr = sysProcAttr()
	started := make(chan error, 1)
	go func() {
		// On Linux stripe-mock is killed when the thread that started it
		// ends (see sysProcAttr), which also covers a test binary killed by
		// -timeout. Go ends threads it no longer needs, so this goroutine
		// keeps its thread until stripe-mock has exited.
		runtime.LockOSThread()
		err := p.cmd.Start()
		started <- err
		if err == nil {
			p.cmd.Wait()
		}
		close(p.done)
	}()
	err = <-started
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("error starting stripe-mock %s: %w", bin, err)
	}
	addr := make(chan string, 1)
	go p.out.read(r, addr)

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	select {
	case a, ok := <-addr:
		if !ok {
			<-p.done
			return nil, fmt.Errorf("stripe-mock %s exited before listening: %s", bin, p.out)
		}
		p.url = "http://" + a
	case <-deadline.C:
		p.stop()
		return nil, fmt.Errorf("stripe-mock %s did not report its address within %s: %s", bin, startTimeout, p.out)
	}
	if err := p.waitAnswering(deadline.C); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// waitAnswering polls stripe-mock with an authenticated GET until it answers
// 200.
func (p *process) waitAnswering(deadline <-chan time.Time) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := p.get()
		if err == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-p.done:
			return fmt.Errorf("stripe-mock exited before answering: %s", p.out)
		case <-deadline:
			return fmt.Errorf("stripe-mock at %s did not answer within %s: %w", p.url, startTimeout, err)
		}
	}
}

// get asks stripe-mock for something any account has.
func (p *process) get() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/v1/webhook_endpoints", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+TestKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("stripe-mock answered %s", res.Status)
	}
	return nil
}

// stop kills stripe-mock and waits for it to exit.
func (p *process) stop() {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return
	}
	<-p.done
}

// tail keeps the last lines stripe-mock printed, for error messages.
type tail struct {
	mu    sync.Mutex
	lines []string
}

// read reads stripe-mock's output until it exits, sending the HTTP address
// it reports on addr, and closes addr when the output ends.
func (o *tail) read(r *os.File, addr chan<- string) {
	defer r.Close()
	defer close(addr)
	sent := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		o.mu.Lock()
		o.lines = append(o.lines, line)
		if len(o.lines) > 20 {
			o.lines = o.lines[1:]
		}
		o.mu.Unlock()
		if a, ok := strings.CutPrefix(line, listening); ok && !sent {
			addr <- strings.TrimSpace(a)
			sent = true
		}
	}
}

func (o *tail) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) == 0 {
		return "(no output)"
	}
	return strings.Join(o.lines, " | ")
}
