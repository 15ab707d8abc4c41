package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"
)

const (
	// Magic opens every backup file.
	Magic = "KORUMBAK"
	// Version is the format version this package writes and reads.
	Version = 1
	// MaxHeaderSize bounds the JSON header a reader accepts.
	MaxHeaderSize = 64 << 10

	endMagic   = "KORUMEND"
	prefixSize = len(Magic) + 2 + 4
	// trailerSize stays untyped (a literal): it is used as int and int64.
	trailerSize = 8 + 8 + 32
)

// ErrFormat is wrapped by every error about a file that is not a valid
// backup (bad magic, unknown version, damaged or truncated content).
var ErrFormat = errors.New("not a valid korum backup")

// Header says what a backup holds.
type Header struct {
	// Index is the Raft log index the state corresponds to: every entry up
	// to it, and none after it, is in the backup.
	Index uint64 `json:"index"`
	// Term is the Raft term of the entry at Index (the node's current term
	// when that entry was no longer known to it).
	Term uint64 `json:"term"`
	// ClusterID and NodeID name the cluster and the node it was taken on.
	ClusterID string `json:"clusterId"`
	NodeID    string `json:"nodeId"`
	// StorageEngine is the source cluster's storage.engine: in
	// "elasticsearch" mode the documents are not in the backup.
	StorageEngine string    `json:"storageEngine"`
	KorumVersion  string    `json:"korumVersion"`
	CreatedAt     time.Time `json:"createdAt"`
}

// Writer writes one backup: the header at creation, the payload through
// Write, the trailer at Close.
type Writer struct {
	w    io.Writer
	sum  hash.Hash
	n    uint64
	done bool
}

// NewWriter writes the magic, version and header to w.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("backup: encoding the header: %w", err)
	}
	if len(hb) > MaxHeaderSize {
		return nil, fmt.Errorf("backup: header of %d bytes is too large", len(hb))
	}
	bw := &Writer{w: w, sum: sha256.New()}
	buf := make([]byte, 0, prefixSize+len(hb))
	buf = append(buf, Magic...)
	buf = binary.BigEndian.AppendUint16(buf, Version)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(hb)))
	buf = append(buf, hb...)
	if err := bw.raw(buf); err != nil {
		return nil, err
	}
	return bw, nil
}

func (bw *Writer) raw(p []byte) error {
	bw.sum.Write(p)
	_, err := bw.w.Write(p)
	return err
}

// Write adds payload bytes.
func (bw *Writer) Write(p []byte) (int, error) {
	if bw.done {
		return 0, errors.New("backup: write after Close")
	}
	bw.sum.Write(p)
	n, err := bw.w.Write(p)
	bw.n += uint64(n)
	return n, err
}

// Close writes the trailer. It does not close the underlying writer.
func (bw *Writer) Close() error {
	if bw.done {
		return nil
	}
	bw.done = true
	buf := make([]byte, 0, trailerSize)
	buf = append(buf, endMagic...)
	buf = binary.BigEndian.AppendUint64(buf, bw.n)
	bw.sum.Write(buf)
	buf = bw.sum.Sum(buf)
	_, err := bw.w.Write(buf)
	return err
}

// ReadHeader decodes the magic, version and header at the start of r and
// returns the header and the number of bytes they took. It checks nothing
// past the header: use Verify for that.
func ReadHeader(r io.Reader) (Header, int64, error) {
	var h Header
	var pre [prefixSize]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return h, 0, fmt.Errorf("%w: reading the header: %w", ErrFormat, err)
	}
	if string(pre[:len(Magic)]) != Magic {
		return h, 0, fmt.Errorf("%w: bad magic %q", ErrFormat, pre[:len(Magic)])
	}
	if v := binary.BigEndian.Uint16(pre[len(Magic):]); v != Version {
		return h, 0, fmt.Errorf("%w: format version %d (this korum reads version %d)", ErrFormat, v, Version)
	}
	size := binary.BigEndian.Uint32(pre[len(Magic)+2:])
	if size > MaxHeaderSize {
		return h, 0, fmt.Errorf("%w: header of %d bytes (at most %d)", ErrFormat, size, MaxHeaderSize)
	}
	hb := make([]byte, size)
	if _, err := io.ReadFull(r, hb); err != nil {
		return h, 0, fmt.Errorf("%w: reading the header: %w", ErrFormat, err)
	}
	dec := json.NewDecoder(bytes.NewReader(hb))
	if err := dec.Decode(&h); err != nil {
		return h, 0, fmt.Errorf("%w: decoding the header: %w", ErrFormat, err)
	}
	if dec.More() {
		return h, 0, fmt.Errorf("%w: trailing data after the header", ErrFormat)
	}
	if h.Index == 0 {
		return h, 0, fmt.Errorf("%w: the header names no log index", ErrFormat)
	}
	return h, int64(prefixSize) + int64(size), nil
}

// Info is a verified backup's header and layout.
type Info struct {
	Header
	PayloadOffset int64    // where the payload starts
	PayloadSize   int64    // its length
	Size          int64    // the whole file's
	SHA256        [32]byte // the trailer's checksum, verified
}

// Verify reads a whole backup from r, checking its header, its length and
// its checksum.
func Verify(r io.Reader) (Info, error) {
	var info Info
	sum := sha256.New()
	tr := io.TeeReader(r, sum)
	h, off, err := ReadHeader(tr)
	if err != nil {
		return info, err
	}
	info.Header, info.PayloadOffset = h, off
	// Everything after the header goes to the checksum except the last
	// sha256.Size bytes, which are the checksum: hold them back until the
	// stream ends.
	var n int64
	tail := make([]byte, 0, 2*trailerSize)
	buf := make([]byte, 64<<10)
	for {
		k, rerr := r.Read(buf)
		chunk := buf[:k]
		if k > 0 {
			n += int64(k)
			tail = append(tail, chunk...)
			if over := len(tail) - trailerSize; over > 0 {
				sum.Write(tail[:over])
				tail = append(tail[:0], tail[over:]...)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return info, fmt.Errorf("backup: reading: %w", rerr)
		}
	}
	if len(tail) < trailerSize {
		return info, fmt.Errorf("%w: truncated (no trailer)", ErrFormat)
	}
	if string(tail[:len(endMagic)]) != endMagic {
		return info, fmt.Errorf("%w: truncated or damaged (bad trailer)", ErrFormat)
	}
	plen := binary.BigEndian.Uint64(tail[len(endMagic):])
	if plen != uint64(n-trailerSize) {
		return info, fmt.Errorf("%w: payload of %d bytes, the trailer says %d", ErrFormat, n-trailerSize, plen)
	}
	sum.Write(tail[:len(endMagic)+8])
	got := sum.Sum(nil)
	copy(info.SHA256[:], tail[len(endMagic)+8:])
	if !bytes.Equal(got, info.SHA256[:]) {
		return info, fmt.Errorf("%w: checksum mismatch (the file is damaged)", ErrFormat)
	}
	info.PayloadSize = int64(plen)
	info.Size = off + n
	return info, nil
}

// File is an opened, verified backup file.
type File struct {
	Info
	f *os.File
}

// Open opens and verifies the backup at path.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := Verify(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{Info: info, f: f}, nil
}

// Payload reads the state machine's snapshot held in the file.
func (f *File) Payload() io.Reader {
	return io.NewSectionReader(f.f, f.PayloadOffset, f.PayloadSize)
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }
