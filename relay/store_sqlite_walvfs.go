//go:build !js

package relay

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The writer's WAL goes through walVFS, a shim over SQLite's own unix VFS
// that gathers the writes of a transaction into one buffer and hands them to
// the file in one pwrite when SQLite syncs. SQLite writes a WAL frame with
// two system calls, its 24-byte header and then its page, and a one-to-one
// message dirties 4-5 scattered pages: some ten pwrites a message, each
// costing more CPU than the copy it makes. Gathered, a commit is one pwrite
// and one fsync.
//
// This keeps SQLite's guarantees because of what it asks of a WAL write: a
// frame counts only once SQLite has synced the file (synchronous=FULL syncs
// on every commit, before it publishes the frames in the WAL index that other
// connections read), and every call through which SQLite or another handle
// could look at the bytes — read, sync, truncate, size, file control, close —
// writes the buffer out first. A write that does not continue the buffer
// flushes it first, so the file sees the writes in SQLite's order. With
// synchronous=NORMAL a commit does not sync the WAL, so frames would be
// published while still buffered: the store uses walVFS under FULL only.
//
// Every other file (the database, its shared memory) and every other VFS
// method is the unix VFS's own.

// walVFSName is the name walVFS registers under (a DSN's vfs parameter).
const walVFSName = "unix-walbatch"

// walBufMax bounds a WAL file's buffer: a write that would pass it flushes
// first. A commit of 256 messages writes some 5 MiB.
const walBufMax = 8 << 20

// walWriteMax is the most the unix VFS writes in one call: it masks a
// write's length to 17 bits (os_unix.c, seekAndWriteFd), so a longer
// buffer goes in pieces.
const walWriteMax = 124 << 10

// walShimFile is the sqlite3_file SQLite allocates for a file of walVFS: for
// a WAL file, its methods are walMethods and the unix VFS's file follows at
// real; any other file is the unix VFS's own, from offset 0.
type walShimFile struct {
	methods uintptr
	real    sqlite3.Tsqlite3_file // the start of the unix VFS's file
}

// walFile is the state of one open WAL file of walVFS.
type walFile struct {
	real uintptr // the unix VFS's sqlite3_file
	buf  []byte  // writes not handed to the file yet, from off
	off  int64
}

var (
	walVFSOnce sync.Once
	walVFSErr  error
	walVFS     sqlite3.Tsqlite3_vfs // registered; never freed
	walBase    *sqlite3.Tsqlite3_vfs
	walMethods sqlite3.Tsqlite3_io_methods

	walFilesMu sync.Mutex
	walFiles   = map[uintptr]*walFile{} // by the address of its walShimFile
)

// writerVFS is the VFS the writer connection opens the database with under
// synchronous=FULL: walVFS, registered on first use.
func writerVFS() (string, error) { return walVFSName, registerWALVFS() }

// registerWALVFS registers walVFS once per process.
func registerWALVFS() error {
	walVFSOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		base := sqlite3.Xsqlite3_vfs_find(tls, 0)
		if base == 0 {
			walVFSErr = errors.New("relay: SQLite has no default VFS")
			return
		}
		walBase = (*sqlite3.Tsqlite3_vfs)(ptr(base))
		walVFS = *walBase
		walVFS.FpNext = 0
		walVFS.FszOsFile = int32(unsafe.Offsetof(walShimFile{}.real)) + walBase.FszOsFile
		// The name lives in the library's C heap, not Go's: SQLite walks
		// it with pointer arithmetic (strcmp in sqlite3_vfs_find), which
		// Go's checkptr (on under -race) refuses on a Go allocation.
		name, err := libc.CString(walVFSName)
		if err != nil {
			walVFSErr = fmt.Errorf("relay: the WAL VFS's name: %w", err)
			return
		}
		walVFS.FzName = name
		setFn(&walVFS.FxOpen, walOpen)

		walMethods.FiVersion = 1
		setFn(&walMethods.FxClose, walClose)
		setFn(&walMethods.FxRead, walRead)
		setFn(&walMethods.FxWrite, walWrite)
		setFn(&walMethods.FxTruncate, walTruncate)
		setFn(&walMethods.FxSync, walSync)
		setFn(&walMethods.FxFileSize, walFileSize)
		setFn(&walMethods.FxLock, walLock)
		setFn(&walMethods.FxUnlock, walUnlock)
		setFn(&walMethods.FxCheckReservedLock, walCheckReservedLock)
		setFn(&walMethods.FxFileControl, walFileControl)
		setFn(&walMethods.FxSectorSize, walSectorSize)
		setFn(&walMethods.FxDeviceCharacteristics, walDeviceCharacteristics)
		if rc := sqlite3.Xsqlite3_vfs_register(tls, uintptr(unsafe.Pointer(&walVFS)), 0); rc != sqlite3.SQLITE_OK {
			walVFSErr = fmt.Errorf("relay: registering the WAL VFS: SQLite error %d", rc)
		}
	})
	return walVFSErr
}

// ptr turns an address SQLite handed over into a pointer (the memory is
// SQLite's, not Go's heap).
func ptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

// setFn stores f in a method slot, as the transpiled library stores and
// calls function pointers.
func setFn[F any](slot *uintptr, f F) { *(*F)(unsafe.Pointer(slot)) = f }

// fn reads the function in a method slot.
func fn[F any](slot uintptr) F { return *(*F)(unsafe.Pointer(&struct{ uintptr }{slot})) }

func realMethods(f uintptr) *sqlite3.Tsqlite3_io_methods {
	return (*sqlite3.Tsqlite3_io_methods)(ptr((*sqlite3.Tsqlite3_file)(ptr(f)).FpMethods))
}

func walOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	open := fn[func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32](walBase.FxOpen)
	base := uintptr(unsafe.Pointer(walBase))
	if flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return open(tls, base, zName, pFile, flags, pOutFlags)
	}
	shim := (*walShimFile)(ptr(pFile))
	shim.methods = 0
	real := pFile + unsafe.Offsetof(walShimFile{}.real)
	if rc := open(tls, base, zName, real, flags, pOutFlags); rc != sqlite3.SQLITE_OK {
		return rc
	}
	walFilesMu.Lock()
	walFiles[pFile] = &walFile{real: real}
	walFilesMu.Unlock()
	shim.methods = uintptr(unsafe.Pointer(&walMethods))
	return sqlite3.SQLITE_OK
}

func walFileOf(pFile uintptr) *walFile {
	walFilesMu.Lock()
	defer walFilesMu.Unlock()
	return walFiles[pFile]
}

// flush hands the buffer to the file.
func (w *walFile) flush(tls *libc.TLS) int32 {
	if len(w.buf) == 0 {
		return sqlite3.SQLITE_OK
	}
	write := fn[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](realMethods(w.real).FxWrite)
	rc := int32(sqlite3.SQLITE_OK)
	for at := 0; at < len(w.buf) && rc == sqlite3.SQLITE_OK; at += walWriteMax {
		n := min(walWriteMax, len(w.buf)-at)
		rc = write(tls, w.real, uintptr(unsafe.Pointer(&w.buf[at])), int32(n), w.off+int64(at))
	}
	w.buf = w.buf[:0]
	return rc
}

func walWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	w := walFileOf(pFile)
	src := unsafe.Slice((*byte)(ptr(zBuf)), iAmt)
	if len(w.buf) > 0 && iOfst == w.off+int64(len(w.buf)) && len(w.buf)+len(src) <= walBufMax {
		w.buf = append(w.buf, src...)
		return sqlite3.SQLITE_OK
	}
	if rc := w.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	w.off = iOfst
	w.buf = append(w.buf, src...)
	return sqlite3.SQLITE_OK
}

func walClose(tls *libc.TLS, pFile uintptr) int32 {
	w := walFileOf(pFile)
	rc := w.flush(tls)
	walFilesMu.Lock()
	delete(walFiles, pFile)
	walFilesMu.Unlock()
	if crc := fn[func(*libc.TLS, uintptr) int32](realMethods(w.real).FxClose)(tls, w.real); rc == sqlite3.SQLITE_OK {
		rc = crc
	}
	return rc
}

func walRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	w := walFileOf(pFile)
	if rc := w.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](realMethods(w.real).FxRead)(tls, w.real, zBuf, iAmt, iOfst)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	w := walFileOf(pFile)
	if rc := w.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, int64) int32](realMethods(w.real).FxTruncate)(tls, w.real, size)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	w := walFileOf(pFile)
	if rc := w.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, int32) int32](realMethods(w.real).FxSync)(tls, w.real, flags)
}

func walFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	w := walFileOf(pFile)
	if rc := w.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, uintptr) int32](realMethods(w.real).FxFileSize)(tls, w.real, pSize)
}

func walLock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	w := walFileOf(pFile)
	return fn[func(*libc.TLS, uintptr, int32) int32](realMethods(w.real).FxLock)(tls, w.real, lock)
}

func walUnlock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	w := walFileOf(pFile)
	return fn[func(*libc.TLS, uintptr, int32) int32](realMethods(w.real).FxUnlock)(tls, w.real, lock)
}

func walCheckReservedLock(tls *libc.TLS, pFile, pResOut uintptr) int32 {
	w := walFileOf(pFile)
	return fn[func(*libc.TLS, uintptr, uintptr) int32](realMethods(w.real).FxCheckReservedLock)(tls, w.real, pResOut)
}

func walFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	w := walFileOf(pFile)
	if rc := w.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, int32, uintptr) int32](realMethods(w.real).FxFileControl)(tls, w.real, op, pArg)
}

func walSectorSize(tls *libc.TLS, pFile uintptr) int32 {
	w := walFileOf(pFile)
	return fn[func(*libc.TLS, uintptr) int32](realMethods(w.real).FxSectorSize)(tls, w.real)
}

func walDeviceCharacteristics(tls *libc.TLS, pFile uintptr) int32 {
	w := walFileOf(pFile)
	return fn[func(*libc.TLS, uintptr) int32](realMethods(w.real).FxDeviceCharacteristics)(tls, w.real)
}
