package twin

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Restart pauses of a supervised service: doubled after each quick exit, up to the maximum;
// a run longer than restartReset starts over from the minimum.
const (
	restartMin   = time.Second
	restartMax   = 30 * time.Second
	restartReset = time.Minute
)

// supervised is a service the node keeps running, as Talos restarts its services: a process
// that exits (the controller manager and scheduler do on losing their lease; anything may
// crash) is started again after a pause, with its output appended to the same log.
type supervised struct {
	name, path, log string
	args            []string
	say             func(format string, args ...any)

	mu       sync.Mutex
	cur      *child
	restarts int
	lastExit error // why the last run ended
	startErr error // why the process could not be started at all

	cancel context.CancelFunc
	done   chan struct{}
}

// supervise starts name and keeps it running until stop.
func supervise(ctx context.Context, name, path string, args []string, log string, say func(string, ...any)) *supervised {
	ctx, cancel := context.WithCancel(ctx)
	s := &supervised{name: name, path: path, args: args, log: log, say: say, cancel: cancel, done: make(chan struct{})}

	go s.run(ctx)

	return s
}

func (s *supervised) run(ctx context.Context) {
	defer close(s.done)

	pause := restartMin

	for {
		started := time.Now()

		c, err := startChild(s.name, s.path, s.args, s.log)

		s.mu.Lock()
		s.cur, s.startErr = c, err
		s.mu.Unlock()

		if err == nil {
			select {
			case <-ctx.Done():
				_ = c.stop(context.Background()) //nolint:errcheck // stopping; the exit is not news

				return
			case <-c.done:
			}

			_, exitErr := c.exited()
			_ = c.stop(ctx) //nolint:errcheck // closes the log; the process already ended

			s.mu.Lock()
			s.restarts++
			s.lastExit = exitErr
			s.mu.Unlock()
		}

		if time.Since(started) > restartReset {
			pause = restartMin
		}

		s.say("%s: %s; starting it again in %s", s.name, describeExit(err, s.lastExitErr()), pause)

		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}

		pause = min(2*pause, restartMax)
	}
}

func (s *supervised) lastExitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.lastExit
}

func describeExit(startErr, exitErr error) string {
	switch {
	case startErr != nil:
		return startErr.Error()
	case exitErr != nil:
		return fmt.Sprintf("exited: %v", exitErr)
	default:
		return "exited"
	}
}

// stop ends the supervision and the process (SIGTERM, then SIGKILL after stopGrace).
func (s *supervised) stop(ctx context.Context) error {
	s.cancel()

	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", s.name, ctx.Err())
	}
}

// service reports the supervised process as ServiceList does: Running with check's result
// while the process runs, Waiting (with why it ended and how often) between runs.
func (s *supervised) service(ctx context.Context, check func(context.Context) error) Service {
	s.mu.Lock()
	cur, restarts, lastExit, startErr := s.cur, s.restarts, s.lastExit, s.startErr
	s.mu.Unlock()

	if startErr != nil {
		return Service{ID: s.name, State: "Waiting", Message: "cannot start: " + startErr.Error()}
	}

	if cur == nil {
		return Service{ID: s.name, State: "Preparing", HealthUnknown: true, Message: "starting"}
	}

	if done, _ := cur.exited(); done {
		return Service{ID: s.name, State: "Waiting", Message: fmt.Sprintf("%s; restarted %d times", describeExit(nil, lastExit), restarts)}
	}

	svc := Service{ID: s.name, State: "Running", Healthy: true, Message: "Health check successful"}
	if check == nil {
		svc.Healthy, svc.HealthUnknown, svc.Message = false, true, "running"
	} else if err := check(ctx); err != nil {
		svc.Healthy, svc.Message = false, err.Error()
	}

	if restarts > 0 {
		svc.Message += fmt.Sprintf(" (restarted %d times, last: %s)", restarts, describeExit(nil, lastExit))
	}

	svc.Message = cur.withCPU(svc.Message)

	return svc
}
