package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tenantapi/tenantapi/bench/internal/benchkit"
)

// service is a server process under test.
type service struct {
	name string
	cmd  *exec.Cmd
	url  string
	log  *os.File
	// app is the application_name prefix of its database connections.
	app string
	// done is closed when the process has exited and been reaped.
	done chan struct{}
	// started is just before the exec; ready when the probe first
	// answered 200 (the probe is tried every 2 ms).
	started, ready time.Time
}

func (s *service) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits; past the timeout, SIGKILL.
func (s *service) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.log.Close()
}

// startService starts argv with env (nothing inherited but PATH and HOME),
// its output in a log file under dir, and waits until GET probe on port
// answers 200.
func startService(ctx context.Context, dir, name, app string, port int, probe string, env []string, argv ...string) (*service, error) {
	log, err := os.CreateTemp(dir, name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Stdout, cmd.Stderr = log, log
	started := time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	s := &service{name: name, cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), log: log, app: app,
		done: make(chan struct{}), started: started}
	go func() { cmd.Wait(); close(s.done) }()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.url + probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				s.ready = time.Now()
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-s.done:
			s.stop()
			b, _ := os.ReadFile(log.Name())
			return nil, fmt.Errorf("%s exited at start:\n%s", name, lastLines(b, 20))
		case <-time.After(2 * time.Millisecond):
		}
	}
	s.stop()
	b, _ := os.ReadFile(log.Name())
	return nil, fmt.Errorf("%s did not answer %s within 60 s:\n%s", name, probe, lastLines(b, 20))
}

// serviceCPU is the CPU time of the service and its children so far.
func (s *service) cpu() float64 { return benchkit.TreeCPU(s.pid()) }

// peakRSS sums VmHWM over the service's process tree (gunicorn's master
// and workers; tenantapi and the bare peer are one process).
func (s *service) peakRSS() int64 {
	sum := benchkit.PeakRSS(s.pid())
	for _, p := range benchkit.Descendants(s.pid()) {
		sum += benchkit.PeakRSS(p)
	}
	return sum
}

func lastLines(b []byte, n int) string {
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			lines++
			if lines > n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

// buildAll builds the programs the harness runs into dir.
func buildAll(ctx context.Context, dir string, lambda bool) (map[string]string, error) {
	bins := map[string]string{}
	type build struct {
		name string
		env  []string
		args []string
	}
	builds := []build{
		{"tenantapi", nil, []string{"-trimpath", "./cmd/tenantapi"}},
		{"bare", nil, []string{"./bench/peers/bare"}},
		{"loadgen", nil, []string{"./bench/loadgen"}},
		{"fleet", nil, []string{"./bench/fleet"}},
	}
	if lambda {
		builds = append(builds,
			build{"bootstrap", []string{"CGO_ENABLED=0"}, []string{"-tags", "lambda.norpc", "-trimpath", "./cmd/tenantapi"}},
			build{"aws-lambda-rie", []string{"CGO_ENABLED=0"}, []string{"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"}})
	}
	for _, b := range builds {
		out := filepath.Join(dir, b.name)
		args := append([]string{"build", "-o", out}, b.args...)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Env = append(os.Environ(), b.env...)
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go %v: %w\n%s", args, err, o)
		}
		bins[b.name] = out
	}
	return bins, nil
}
