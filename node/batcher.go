package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/raftnet"
)

// A batcher is this node's group commit: proposals made while earlier
// batches are in flight are gathered into one log entry (fsm.KindBatch).
// A commit costs one disk write and one round trip to the leader (and the
// followers) whatever its size, so under concurrency one entry for many
// commands multiplies throughput, and a follower forwards one RPC per
// batch instead of one per command. There is no artificial delay: an idle
// node sends a lone proposal at once, as a plain entry.
//
// Exactly-once is unchanged: every command keeps its own key, which the
// state machine deduplicates; when a batch's outcome is unknown every
// caller in it is told so and retries its own command with its own key.
type batcher struct {
	apply   func(context.Context, []byte) ([]byte, error)
	timeout time.Duration // bound of one batch's Apply
	log     *slog.Logger

	maxCount int           // commands per batch
	maxBytes int           // encoded bytes per batch (a larger command goes alone)
	stall    time.Duration // a batch out longer gives up its slot
	// observe, when set (before the first submit), is told each batch's
	// command count (metrics).
	observe func(commands int)

	// slots bounds the batches in flight: while they are all out,
	// proposals queue up and leave together when one comes back.
	slots chan struct{}
	wake  chan struct{} // capacity 1: "the queue may be non-empty"

	mu     sync.Mutex
	queue  []*proposal
	closed bool

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// Proposal states: queued until the batcher takes it, or abandoned by a
// caller who gave up first, in which case it is never sent.
const (
	stateQueued int32 = iota
	stateTaken
	stateAbandoned
)

type proposal struct {
	cmd   []byte
	state atomic.Int32
	done  chan outcome // capacity 1, written once
}

type outcome struct {
	res []byte
	err error
}

// One batch in flight per node: the next one fills while it commits. On a
// 2-core host with 3 local nodes, 2 or 4 in flight cost more CPU per
// command (smaller batches, more disk commits on every node) for no
// measurable gain in throughput; the leader's Raft already joins the
// nodes' concurrent batches into one disk write. The caps keep an entry
// (and a forwarded frame) well under a MiB.
//
// A batch that has been out for batchStall gives its slot up (it still
// completes on its own): a forward to a leader that vanished behind a
// partition only ends with the caller's deadline, and the proposals behind
// it must not wait that long once a new leader is known. 200 ms is well
// above a loaded commit and below the quickest failover (a follower waits
// at least raftnet's 250 ms heartbeat timeout before an election).
const (
	batchMaxCount    = 512
	batchMaxBytes    = 1 << 20
	batchMaxInFlight = 1
	batchStall       = 200 * time.Millisecond
)

func newBatcher(apply func(context.Context, []byte) ([]byte, error), timeout time.Duration, inFlight int, log *slog.Logger) *batcher {
	b := &batcher{apply: apply, timeout: timeout, log: log, maxCount: batchMaxCount, maxBytes: batchMaxBytes, stall: batchStall,
		slots: make(chan struct{}, max(inFlight, 1)), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	b.wg.Add(1)
	go b.run()
	return b
}

// errBatcherClosed is returned for proposals made or still queued when the
// node stops: they were never sent.
var errBatcherClosed = fmt.Errorf("%w: the node is stopping", raftnet.ErrShutdown)

// submit proposes one encoded command and returns the state machine's
// result for it, with raftnet.Apply's error classes: a raftnet.ErrUnknownOutcome
// means the command may have committed (retry with the same key).
func (b *batcher) submit(ctx context.Context, cmd []byte) ([]byte, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errBatcherClosed
	}
	if len(b.queue) == 0 {
		select {
		case b.slots <- struct{}{}:
			// Nothing waits and a batch may leave: this command goes
			// alone, as the loop would send it at once, but from this
			// goroutine. Waking the loop and a sender goroutine cost
			// a lone writer two scheduler hand-offs per commit.
			b.mu.Unlock()
			return b.sendAlone(ctx, cmd)
		default:
		}
	}
	p := &proposal{cmd: cmd, done: make(chan outcome, 1)}
	b.queue = append(b.queue, p)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(stateQueued, stateAbandoned) {
			// Still queued: it will never be sent, so the outcome is known.
			return nil, fmt.Errorf("%w: %w", raftnet.ErrNoLeader, ctx.Err())
		}
		// Sent, or about to be: it may still commit.
		return nil, fmt.Errorf("%w: %w", raftnet.ErrUnknownOutcome, ctx.Err())
	}
}

// sendAlone applies one command in the caller's goroutine, holding the
// slot the caller took. The caller's cancellation reaches raftnet.Apply,
// whose errors tell a command never sent (ErrNoLeader) from one that may
// commit (ErrUnknownOutcome), as submit's do.
func (b *batcher) sendAlone(ctx context.Context, cmd []byte) ([]byte, error) {
	p := &proposal{cmd: cmd, done: make(chan outcome, 1)}
	b.holdingSlot(func() { b.send(ctx, []*proposal{p}) })
	o := <-p.done
	return o.res, o.err
}

// holdingSlot runs send, which holds a slot already taken, and gives the
// slot back when send returns or once it has been out for b.stall.
func (b *batcher) holdingSlot(send func()) {
	var once sync.Once
	release := func() { once.Do(func() { <-b.slots }) }
	stalled := time.AfterFunc(b.stall, release)
	defer func() {
		stalled.Stop()
		release()
	}()
	send()
}

// close fails what is still queued and stops the loop; batches in flight
// finish on their own (raft's shutdown ends them).
func (b *batcher) close() {
	b.stopOnce.Do(func() {
		close(b.stop)
		b.wg.Wait()
		b.mu.Lock()
		b.closed = true
		q := b.queue
		b.queue = nil
		b.mu.Unlock()
		for _, p := range q {
			if p.state.CompareAndSwap(stateQueued, stateTaken) {
				p.done <- outcome{err: errBatcherClosed}
			}
		}
	})
}

func (b *batcher) run() {
	defer b.wg.Done()
	for {
		select {
		case <-b.wake:
		case <-b.stop:
			return
		}
		for {
			select {
			case b.slots <- struct{}{}:
			case <-b.stop:
				return
			}
			batch := b.take()
			if len(batch) == 0 {
				<-b.slots
				break
			}
			// The loop's batches are not any one caller's: a caller
			// that gives up leaves its proposal to its outcome.
			go b.holdingSlot(func() { b.send(context.Background(), batch) })
		}
	}
}

// take removes from the queue what fits in one batch, skipping abandoned
// proposals.
func (b *batcher) take() []*proposal {
	b.mu.Lock()
	defer b.mu.Unlock()
	var batch []*proposal
	size, n := 0, 0
	for n < len(b.queue) && len(batch) < b.maxCount {
		p := b.queue[n]
		if len(batch) > 0 && size+len(p.cmd) > b.maxBytes {
			break
		}
		n++
		if !p.state.CompareAndSwap(stateQueued, stateTaken) {
			continue
		}
		batch = append(batch, p)
		size += len(p.cmd) + 1
	}
	// Shift rather than reslice, so the backing array does not keep
	// growing at the front under steady load.
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch
}

// send applies a batch, bounded by ctx and b.timeout, and routes each
// sub-command's result to its caller.
func (b *batcher) send(ctx context.Context, batch []*proposal) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if b.observe != nil {
		b.observe(len(batch))
	}
	if len(batch) == 1 {
		res, err := b.apply(ctx, batch[0].cmd)
		batch[0].done <- outcome{res: res, err: err}
		return
	}
	cmds := make([][]byte, len(batch))
	for i, p := range batch {
		cmds[i] = p.cmd
	}
	res, err := b.apply(ctx, fsm.EncodeBatch(cmds))
	var subs []fsm.SubResult
	if err == nil {
		subs, err = fsm.DecodeBatchResult(res)
		if err == nil && len(subs) != len(batch) {
			err = fmt.Errorf("a batch of %d commands returned %d results", len(batch), len(subs))
		}
		if err != nil {
			// Committed, but the answer is unreadable: the commands
			// were applied once and must not be retried.
			b.log.Error("unreadable batch result", "err", err)
			err = &raftnet.FSMError{Msg: err.Error()}
		}
	}
	for i, p := range batch {
		switch {
		case err != nil:
			p.done <- outcome{err: err}
		case subs[i].Failed:
			p.done <- outcome{err: &raftnet.FSMError{Msg: subs[i].Err}}
		default:
			p.done <- outcome{res: subs[i].Result}
		}
	}
}
