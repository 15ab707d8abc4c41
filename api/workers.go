package api

import "time"

// workerIdle is how long a request goroutine waits for more work before it
// exits.
const workerIdle = 10 * time.Second

// workers runs WebSocket requests on goroutines that outlive one request.
// A fresh goroutine per request grows its stack from the minimum on every
// request (runtime.copystack was about 8% of a node's CPU under
// document:get load); a goroutine that stays for the next request keeps
// the stack it grew. There are never more workers than requests running
// at once, and idle ones exit after workerIdle.
type workers struct {
	idle chan func() // unbuffered: a send succeeds only to a waiting worker
}

func newWorkers() *workers { return &workers{idle: make(chan func())} }

// run runs f on an idle worker, or on a new one if none waits.
func (w *workers) run(f func()) {
	select {
	case w.idle <- f:
	default:
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		t.Reset(workerIdle)
		select {
		case f = <-w.idle:
		case <-t.C:
			return
		}
	}
}
