//go:build !js

package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/proto"
)

// uploadCountingStore is a memory store whose AddUploads records the size
// of each call, and holds the first call until release is closed.
type uploadCountingStore struct {
	*MemoryStore
	*heldCalls
}

func (s *uploadCountingStore) AddUploads(ctx context.Context, ups []Upload) error {
	s.enter(len(ups))
	return s.MemoryStore.AddUploads(ctx, ups)
}

// A burst of uploads (clients sending the attachments they queued while
// offline, as they come back after a relay restart) is recorded in the
// store a batch per transaction: each upload took a transaction, and an
// fsync, of its own on the store's writer, and the messages waited behind
// them. Every upload is still recorded before RecordUpload returns.
func TestUploadsRecordedInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &uploadCountingStore{MemoryStore: NewMemoryStore(), heldCalls: newHeldCalls()}
	r := startRelay(t, func(o *Options) { o.Store = store })
	const n, users = 1000, 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.srv.RecordUpload(ctx, fmt.Sprintf("u%d", i%users), fmt.Sprintf("%032x", i))
		}()
	}
	// The first call holds the store: wait until every upload is in a
	// call or waits for one.
	store.releaseWhen(t, "uploads", n, r.srv.uploadIndex.waiting)
	wg.Wait()
	for _, err := range errs {
		ok(t, err)
	}
	total := 0
	for u := range users {
		ids, err := store.UploadsOf(ctx, fmt.Sprintf("u%d", u), "", n)
		ok(t, err)
		total += len(ids)
	}
	equal(t, total, n, "uploads recorded")
	store.check(t, "uploads", n, uploadBatch, 1+(n-1+uploadBatch-1)/uploadBatch, true)
}

// readCountingStore is a memory store whose MarkReads records the size of
// each call, and holds the first call until release is closed.
type readCountingStore struct {
	*MemoryStore
	*heldCalls
}

func (s *readCountingStore) MarkReads(ctx context.Context, marks []ReadMark) ([]ReadResult, error) {
	s.enter(len(marks))
	return s.MemoryStore.MarkReads(ctx, marks)
}

// Read marks come in bursts: clients send the marks the relay has not
// confirmed as they connect, and readers mark each message they are shown.
// The marks made at once are stored a batch per transaction: each took a
// transaction, and an fsync, of its own on the store's writer, and the
// messages waited behind them. Each mark is still stored, or refused on
// its own, before its answer.
func TestReadsStoredInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &readCountingStore{MemoryStore: NewMemoryStore(), heldCalls: newHeldCalls()}
	r := startRelay(t, func(o *Options) { o.Store = store })
	const n, stranger = 600, 7
	var reqs []AppendRequest
	for i := range n {
		reqs = append(reqs, AppendRequest{Sender: "alice", Send: proto.Send{ConvID: proto.P2PID("alice", fmt.Sprintf("u%04d", i)),
			ClientID: fmt.Sprintf("c%d", i), MsgType: proto.MsgText, Text: "hi"}, CreatedAt: 1})
	}
	_, err := store.Append(ctx, reqs)
	ok(t, err)
	var wg sync.WaitGroup
	type result struct {
		conv  proto.Conversation
		moved bool
		err   error
	}
	out := make([]result, n)
	for i := range n {
		user := fmt.Sprintf("u%04d", i)
		if i == stranger {
			user = "mallory" // a party of no conversation here
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res result
			res.conv, res.moved, res.err = r.srv.env.markRead(ctx, ReadMark{User: user, Conv: reqs[i].Send.ConvID, Seq: 1})
			out[i] = res
		}()
	}
	// The first call holds the store: wait until every mark is in a call
	// or waits for one.
	store.releaseWhen(t, "marks", n, r.srv.env.reads.waiting)
	wg.Wait()
	for i, res := range out {
		if i == stranger {
			equal(t, storeCode(res.err), proto.CodeForbidden, "the stranger's mark")
			continue
		}
		ok(t, res.err)
		equal(t, [2]any{res.moved, res.conv.ReadSeq}, [2]any{true, uint64(1)}, fmt.Sprintf("mark %d", i))
	}
	store.check(t, "marks", n, readBatch, 1+(n-1+readBatch-1)/readBatch, true)
}

// appendCountingStore is a memory store whose Append records the size of
// each call, and holds the first call until release is closed.
type appendCountingStore struct {
	*MemoryStore
	*heldCalls
}

func (s *appendCountingStore) Append(ctx context.Context, batch []AppendRequest) ([]AppendResult, error) {
	s.enter(len(batch))
	return s.MemoryStore.Append(ctx, batch)
}

// A network cut or a relay restart ends the calls of all the sessions it
// ends at once, and each call leaves a record in its conversation. The
// records are appended a batch per transaction: each took a transaction,
// and an fsync, of its own on the store's writer, ahead of the message
// commits. Each record is still stored and delivered.
func TestCallRecordsInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &appendCountingStore{MemoryStore: NewMemoryStore(), heldCalls: newHeldCalls()}
	r := startRelay(t, func(o *Options) { o.Store = store })
	const n = 200
	k := r.srv.env.calls
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.write(&record{req: AppendRequest{Sender: "alice", Device: "d", CreatedAt: 1, Send: proto.Send{
				ConvID: proto.P2PID("alice", fmt.Sprintf("u%04d", i)), ClientID: fmt.Sprintf("call.%d", i), MsgType: proto.MsgCall, Body: []byte(`{}`)}}})
		}()
	}
	// The first call holds the store: wait until every record is in a
	// call or waits for one.
	store.releaseWhen(t, "records", n, k.records.waiting)
	wg.Wait()
	convs, _, err := store.Sync(ctx, "alice", 0, n+1)
	ok(t, err)
	equal(t, len(convs), n, "a conversation per record")
	store.check(t, "records", n, recordBatch, 1+(n-1+recordBatch-1)/recordBatch, true)
}

// A store call that fails fails every item it carried, and only those:
// the items waiting behind it are written by the next calls, a batch of
// at most max each, and every result reaches its own caller.
func TestWriteBatcherFailure(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var mu sync.Mutex
	var calls [][]int
	b := newWriteBatcher(4, func(ctx context.Context, items []int) ([]int, error) {
		mu.Lock()
		calls = append(calls, items)
		n := len(calls)
		mu.Unlock()
		if n == 1 {
			<-release
			return nil, errors.New("store down")
		}
		if n == 2 {
			return nil, errors.New("store down again")
		}
		out := make([]int, len(items))
		for i, x := range items {
			out[i] = x * 10
		}
		return out, nil
	})
	const n = 9
	res, errs := make([]int, n), make([]error, n)
	var wg sync.WaitGroup
	do := func(i int) {
		defer wg.Done()
		res[i], errs[i] = b.do(context.Background(), i)
	}
	wg.Add(1)
	go do(0)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		began := len(calls) == 1
		mu.Unlock()
		if began {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first call never began")
		}
	}
	for i := 1; i < n; i++ {
		wg.Add(1)
		go do(i)
	}
	for deadline := time.Now().Add(30 * time.Second); b.waiting() < n-1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d waiting", b.waiting(), n-1)
		}
	}
	close(release)
	wg.Wait()
	equal(t, len(calls), 3, "calls: the first, then the eight waiting four at a time: "+fmt.Sprint(calls))
	failed := 0
	for i := range n {
		if errs[i] != nil {
			failed++
			continue
		}
		equal(t, res[i], i*10, fmt.Sprintf("item %d", i))
	}
	equal(t, failed, 1+len(calls[1]), "the items of the two failed calls")
	equal(t, b.waiting(), 0, "nothing left waiting")
}
