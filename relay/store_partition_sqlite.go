package relay

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// partitionsFile is the file, in a relay's data directory, that records how
// many SQLite partitions its store was created with.
const partitionsFile = "store-partitions"

// MaxStorePartitions bounds a store's partitions: every sync asks each.
const MaxStorePartitions = 64

// OpenSQLitePartitions opens the SQLite store of a relay whose data is
// spread over n partitions (PartitionStore): partition 0 is the database in
// dir, where a relay of one partition keeps it, and partition i the one in
// dir/partitions/i. Each has its own writer, so commits of conversations in
// different partitions run side by side. The count is recorded in dir when
// the store is created and cannot change: a conversation is found where its
// id hashes, so opening with another count is refused, and so is opening a
// store of one partition that already holds data with more. With n = 1 and
// nothing recorded, it is the store OpenSQLite opens.
func OpenSQLitePartitions(dir string, n int, o SQLiteOptions) (Store, error) {
	if n < 1 || n > MaxStorePartitions {
		return nil, fmt.Errorf("relay: %d store partitions: from 1 to %d", n, MaxStorePartitions)
	}
	recorded, err := readPartitions(dir)
	if err != nil {
		return nil, err
	}
	parts := make([]PartStore, 0, n)
	closeAll := func() {
		for _, p := range parts {
			p.Close()
		}
	}
	for i := range n {
		d := dir
		if i > 0 {
			d = filepath.Join(dir, "partitions", strconv.Itoa(i))
		}
		s, err := OpenSQLite(d, o)
		if err != nil {
			closeAll()
			return nil, err
		}
		parts = append(parts, s)
		if err := s.SetPartition(i, n); err != nil {
			closeAll()
			return nil, err
		}
	}
	if recorded == 0 {
		// Nothing recorded: a new store, or one partition's data of a
		// relay that ran without partitions.
		counter, err := parts[0].Advance(context.Background(), 0)
		if err != nil {
			closeAll()
			return nil, err
		}
		if counter > 0 {
			recorded = 1
		}
	}
	if recorded != 0 && recorded != n {
		closeAll()
		return nil, fmt.Errorf("relay: --store-partitions is %d but the data in %s is in %d store partitions; it cannot change once the relay holds data", n, dir, recorded)
	}
	if n == 1 {
		return parts[0], nil
	}
	if recorded == 0 {
		if err := os.WriteFile(filepath.Join(dir, partitionsFile), []byte(strconv.Itoa(n)+"\n"), 0o600); err != nil {
			closeAll()
			return nil, fmt.Errorf("relay: recording the store partitions: %w", err)
		}
	}
	return NewPartitionStore(parts)
}

// StorePartitionsRecorded returns the number of partitions the store in dir
// was created with, 0 when none is recorded (a store of one partition, or
// no store yet).
func StorePartitionsRecorded(dir string) (int, error) { return readPartitions(dir) }

func readPartitions(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, partitionsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("relay: reading the store partitions: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 1 || n > MaxStorePartitions {
		return 0, fmt.Errorf("relay: %s holds %q, not a number of store partitions", filepath.Join(dir, partitionsFile), strings.TrimSpace(string(b)))
	}
	return n, nil
}
