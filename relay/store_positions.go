package relay

import (
	"context"
	"fmt"
)

// Change positions across partitions. A PartitionStore spreads the
// conversations over several stores, each numbering its changes with its own
// counter. Two rules make their positions one order that a single cursor can
// walk:
//
//   - partition i of n hands out only positions ≡ i (mod n), so no two
//     partitions ever hand out the same one (positions.next);
//   - a partition's counter can be moved forward (Advance), so that one
//     that changes rarely does not hold every user's cursor back behind a
//     busy one (a Lamport clock: the PartitionStore passes each partition
//     the highest position it has seen from any of them).

// positions is how a store's counter moves: to the next value above it
// that is ≡ offset (mod stride). The zero value counts 1, 2, 3…
type positions struct{ stride, offset uint64 }

// next returns the first position above after.
func (p positions) next(after uint64) uint64 {
	n := after + 1
	if p.stride <= 1 {
		return n
	}
	r := n % p.stride
	if r <= p.offset {
		return n + p.offset - r
	}
	return n + p.stride - r + p.offset
}

// partitionPositions returns the positions of partition i of n.
func partitionPositions(i, n int) (positions, error) {
	if n < 1 || i < 0 || i >= n {
		return positions{}, fmt.Errorf("relay: partition %d of %d", i, n)
	}
	return positions{stride: uint64(n), offset: uint64(i)}, nil
}

// Positioner is a store that can be one partition of a PartitionStore.
// The store hands out the positions of its partition once its
// SetPartition(i, n) was called, before its first write (MemoryStore,
// SQLiteStore).
type Positioner interface {
	// Advance moves the store's change counter to floor when it is below,
	// durably, and returns the counter: every position the store hands
	// out later is above it, and every change at or below it is visible
	// to a read that starts after Advance returns.
	Advance(ctx context.Context, floor uint64) (uint64, error)
}

var (
	_ Positioner = (*MemoryStore)(nil)
	_ Positioner = (*SQLiteStore)(nil)
)

// nextPos takes the next change position; the caller holds s.mu.
func (s *MemoryStore) nextPos() uint64 {
	s.counter = s.pos.next(s.counter)
	return s.counter
}

// SetPartition makes the store hand out only the positions of partition i
// of n (PartitionStore). Call it once, before the first write.
func (s *MemoryStore) SetPartition(i, n int) error {
	p, err := partitionPositions(i, n)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pos = p
	return nil
}

// Advance implements Positioner.
func (s *MemoryStore) Advance(ctx context.Context, floor uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	s.counter = max(s.counter, clampPos(floor))
	return s.counter, nil
}

// SetPartition makes the store hand out only the positions of partition i
// of n (PartitionStore). Call it once when the store opens, before the
// first write; a store's partition never changes.
func (s *SQLiteStore) SetPartition(i, n int) error {
	p, err := partitionPositions(i, n)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.pos = p
	return nil
}

// Advance implements Positioner. Moving the counter is a write of its own;
// a counter already at or above floor costs nothing but the writer's lock.
func (s *SQLiteStore) Advance(ctx context.Context, floor uint64) (uint64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if floor = clampPos(floor); floor > s.counter {
		if err := s.writeTxAbove(ctx, floor, func(func() uint64) error { return nil }); err != nil {
			return 0, wrapStoreErr("advance", err)
		}
	}
	return s.counter, nil
}

// maxPos is the highest position a store hands out or moves to: positions
// are stored as SQLite's signed 64-bit integers.
const maxPos = 1<<62 - 1

// clampPos caps a floor at maxPos.
func clampPos(p uint64) uint64 { return min(p, maxPos) }
