package addr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// MaxFileSize is the largest catalog, in bytes, that [File] and [ReadFile]
// read and [WriteFile] writes. It bounds the memory a corrupt or hostile
// file can make a resolver allocate.
const MaxFileSize = 1 << 20

// File is a resolver backed by a catalog file: a JSON array of addresses,
// such as ["127.0.0.1:7001", "127.0.0.1:7002"], that redundant servers write
// themselves into with [WriteFile]. Each element is decoded into an A with
// encoding/json, so A may be a string or a struct.
//
// Resolve rotates through the catalog like [List]. It stats the file on
// every call and re-reads it when its size, modification time or identity
// (os.SameFile: a rename by WriteFile makes a new file) differ from the
// version it read last. A changed catalog restarts the rotation at its first
// element; a file rewritten with identical bytes keeps the rotation where it
// was.
//
// A File is safe for concurrent use and must not be copied after first use.
type File[A any] struct {
	path string

	mu    sync.Mutex
	info  fs.FileInfo // the version the fields below describe; nil: none
	data  []byte
	addrs []A
	err   error // why data is unusable; nil when addrs is good
	next  int
}

// NewFile returns a resolver for the catalog at path. Nothing is read until
// the first Resolve, so the file need not exist yet.
func NewFile[A any](path string) *File[A] {
	return &File[A]{path: path}
}

// Resolve returns the next address of the catalog, re-reading the file first
// if it changed.
//
// It never serves a stale list: when the file is missing or unreadable
// (wrapping the *fs.PathError, so errors.Is(err, fs.ErrNotExist) works),
// larger than [MaxFileSize] ([ErrTooLarge]), not a JSON array of addresses
// ([ErrMalformed] and the decoder's error) or empty ([ErrNoAddresses]),
// Resolve returns an [*Error] naming the file ("file /path") and keeps doing
// so until the file is fixed. When ctx is already done the error wraps
// ctx.Err() and the file is not touched.
func (f *File[A]) Resolve(ctx context.Context) (A, error) {
	var zero A
	name := "file " + f.path
	if err := ctxError(ctx, name); err != nil {
		return zero, err
	}
	fi, err := os.Stat(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.info = nil
		return zero, &Error{Resolver: name, Err: err}
	}
	if f.info == nil || !sameVersion(f.info, fi) {
		f.load()
	}
	if f.err != nil {
		return zero, &Error{Resolver: name, Err: f.err}
	}
	a := f.addrs[f.next]
	f.next = (f.next + 1) % len(f.addrs)
	return a, nil
}

// load reads and decodes the file into f's cache.
func (f *File[A]) load() {
	info, data, err := readCatalog(f.path)
	if info == nil { // could not even open it: retry on the next call
		f.info, f.data, f.addrs, f.err = nil, nil, nil, err
		return
	}
	if err == nil && f.err == nil && f.info != nil && bytes.Equal(data, f.data) {
		f.info = info // same catalog rewritten: keep the rotation
		return
	}
	f.info, f.data, f.addrs, f.err, f.next = info, data, nil, err, 0
	if err != nil {
		return
	}
	f.addrs, f.err = decodeCatalog[A](data)
	if f.err == nil && len(f.addrs) == 0 {
		f.err = ErrNoAddresses
	}
}

// sameVersion reports whether two stats of a file describe the same version.
func sameVersion(a, b fs.FileInfo) bool {
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && os.SameFile(a, b)
}

// readCatalog reads the file at path, at most MaxFileSize bytes of it. info
// is the stat of the opened file, nil when it could not be opened.
func readCatalog(path string) (info fs.FileInfo, data []byte, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	info, err = fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	if info.Size() > MaxFileSize {
		return info, nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, info.Size(), MaxFileSize)
	}
	data, err = io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return info, nil, err
	}
	if len(data) > MaxFileSize {
		return info, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxFileSize)
	}
	return info, data, nil
}

// decodeCatalog decodes a JSON array of addresses. JSON null decodes to an
// empty list.
func decodeCatalog[A any](data []byte) ([]A, error) {
	var addrs []A
	if err := json.Unmarshal(data, &addrs); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return addrs, nil
}

// ReadFile reads the catalog at path, as [File] does, and returns its
// addresses; an empty catalog is an empty list and no error. Servers use it
// to add themselves to a catalog: ReadFile, append, [WriteFile].
//
// Errors are [*Error] values naming the file: a missing or unreadable file
// wraps the *fs.PathError (errors.Is(err, fs.ErrNotExist) tells a catalog
// that does not exist yet), a file larger than [MaxFileSize] wraps
// [ErrTooLarge], and anything but a JSON array of addresses wraps
// [ErrMalformed].
func ReadFile[A any](path string) ([]A, error) {
	_, data, err := readCatalog(path)
	if err == nil {
		var addrs []A
		addrs, err = decodeCatalog[A](data)
		if err == nil {
			return addrs, nil
		}
	}
	return nil, &Error{Resolver: "file " + path, Err: err}
}

// WriteFile writes addrs to the catalog at path as a JSON array, atomically:
// it writes a temporary file in the same directory, syncs it to disk and
// renames it over path, so a reader sees either the old catalog or the new
// one, never a partial file. A nil addrs is written as an empty array. The
// file keeps the permissions of the catalog it replaces, or gets 0644.
//
// WriteFile makes each write atomic, not a read-modify-write: servers that
// update a shared catalog at the same time must take turns (a lock file, or
// one writer), or the last rename wins.
//
// Errors are [*Error] values naming the file: [ErrTooLarge] if the catalog
// would exceed [MaxFileSize], the encoder's error if an address cannot be
// encoded as JSON, or the file system's error. On error the catalog is
// unchanged and no temporary file is left behind.
func WriteFile[A any](path string, addrs []A) error {
	name := "file " + path
	if addrs == nil {
		addrs = []A{}
	}
	data, err := json.MarshalIndent(addrs, "", "  ")
	if err != nil {
		return &Error{Resolver: name, Err: err}
	}
	data = append(data, '\n')
	if len(data) > MaxFileSize {
		return &Error{Resolver: name, Err: fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), MaxFileSize)}
	}
	perm := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	if err := writeAtomic(path, data, perm); err != nil {
		return &Error{Resolver: name, Err: err}
	}
	return nil
}

// writeAtomic replaces the file at path with data through a temporary file
// and a rename.
func writeAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
