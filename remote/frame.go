package remote

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/quic-go/quic-go/quicvarint"
)

// wireModes are the CBOR modes of the protocol: one encoding mode (core
// deterministic) and one decoding mode with limits on nesting and sizes, so
// a hostile peer cannot make either side allocate without bound.
var wireModes = sync.OnceValues(func() (cbor.EncMode, cbor.DecMode) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	dec, err := cbor.DecOptions{
		MaxNestedLevels:   16,
		MaxArrayElements:  4096,
		MaxMapPairs:       4096, // Welcome.Signatures: one pair per published function
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return enc, dec
})

// ErrTooLarge is returned for a frame over the size limit.
var ErrTooLarge = errors.New("message too large")

// AppendFrame appends the frame of a message of type t with the given body.
// The item's array header and type (always under 24: one byte) are written
// by hand, so the body is encoded once.
func AppendFrame(dst []byte, t MsgType, body any) ([]byte, error) {
	switch b := body.(type) {
	case Eval:
		return appendFrameFunc(dst, t, b, appendEval, 16+len(b.Job)), nil
	case Result:
		if b.Error == nil {
			return appendFrameFunc(dst, t, b, appendResult, 16+len(b.Value)), nil
		}
	}
	enc, _ := wireModes()
	b, err := enc.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	dst = quicvarint.Append(dst, uint64(2+len(b)))
	dst = append(dst, 0x82, byte(t))
	return append(dst, b...), nil
}

// appendFrameFunc appends the frame of a message of type t whose body
// appendBody appends, and which is about size bytes long.
func appendFrameFunc[T any](dst []byte, t MsgType, body T, appendBody func([]byte, T) []byte, size int) []byte {
	// The item is appended after room for the longest length, which is
	// then written in its shortest form, and the item moved up to it.
	const room = 8
	start := len(dst)
	dst = slices.Grow(dst, room+2+size)
	dst = append(dst, make([]byte, room)...)
	dst = appendBody(append(dst, 0x82, byte(t)), body)
	n := uint64(len(dst) - start - room)
	l := quicvarint.Len(n)
	quicvarint.Append(dst[:start], n)
	copy(dst[start+l:], dst[start+room:])
	return dst[:len(dst)-room+l]
}

// WriteFrame writes one message to w in a single Write.
func WriteFrame(w io.Writer, t MsgType, body any) error {
	buf, err := AppendFrame(nil, t, body)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// ReadFrame reads one frame from r and returns its type and undecoded body.
// It returns io.EOF only if r ends before the frame's first byte;
// io.ErrUnexpectedEOF (perhaps wrapped) if r ends within a frame.
// A frame longer than max bytes is refused with an error wrapping ErrTooLarge
// before its body is read; the memory used grows with the bytes read, not
// with the length announced.
func ReadFrame(r *bufio.Reader, max int) (MsgType, cbor.RawMessage, error) {
	if _, err := r.Peek(1); err != nil {
		return 0, nil, err // io.EOF: the stream ended between frames
	}
	n, err := quicvarint.Read(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // within the length
		}
		return 0, nil, err
	}
	if n > uint64(max) {
		return 0, nil, fmt.Errorf("frame of %d bytes: %w (limit %d)", n, ErrTooLarge, max)
	}
	if n <= 64<<10 {
		// A small frame is read into a buffer of its size at once.
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, fmt.Errorf("read frame: %w", err)
		}
		return ParseFrame(buf)
	}
	// The buffer grows as the bytes arrive (from at most 64 KiB), so a peer
	// that announces a large frame and sends little cannot make the reader
	// allocate the whole limit.
	var buf bytes.Buffer
	buf.Grow(int(min(n, 64<<10)))
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("read frame: %w", err)
	}
	return ParseFrame(buf.Bytes())
}

// ParseFrame decodes the CBOR item of a frame into its type and body.
func ParseFrame(item []byte) (MsgType, cbor.RawMessage, error) {
	// The array header and the type by hand; the body is left to DecodeBody,
	// whose decode checks it (well-formed, one item, within the limits).
	if len(item) < 3 || item[0] != 0x82 {
		return 0, nil, fmt.Errorf("decode frame: not the array [type, body]")
	}
	t, body := uint64(item[1]), item[2:]
	if t == 0x18 { // a one-byte unsigned integer
		t, body = uint64(body[0]), body[1:]
	}
	if t < uint64(MsgHello) || t > uint64(MsgCancel) {
		return 0, nil, fmt.Errorf("decode frame: unknown message type %d", t)
	}
	return MsgType(t), body, nil
}

// DecodeBody decodes the body of a message of type t into v, which must be a
// pointer to the type's struct (for example *Hello for MsgHello). The byte
// slices of an Eval or a Result may point into body.
func DecodeBody(t MsgType, body cbor.RawMessage, v any) error {
	switch m := v.(type) {
	case *Eval:
		if parseEval(body, m) {
			return nil
		}
	case *Result:
		if parseResult(body, m) {
			return nil
		}
	}
	_, dec := wireModes()
	if err := dec.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", t, err)
	}
	return nil
}

// FrameBuffered reports whether br holds a whole frame already, so that
// ReadFrame will not wait for the network.
func FrameBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	n, l, err := quicvarint.Parse(b)
	return err == nil && n <= uint64(len(b)-l)
}

// A FrameWriter writes frames to a stream from a goroutine of its own, in
// the order they were added. The frames added while a Write runs go out
// together in the next one, and so do those added while the writer, woken
// by a first frame, lets the goroutines that are ready run first: fewer
// writes make fewer packets, each a system call. Adding never waits for
// the network.
type FrameWriter struct {
	w       deadlineWriter
	timeout time.Duration // the time each Write may take; 0 for no limit
	// written is called by the writer after each Write, with the number of
	// frames it carried and its error; if the error is not nil, the
	// writer has stopped, and the frames counted include those dropped.
	written func(frames int, err error)
	done    chan struct{} // closed when the writer has returned

	mu      sync.Mutex
	more    sync.Cond // signalled when buf grows or stopped is set
	buf     []byte    // the frames not yet written
	n       int       // how many
	err     error     // the error of a Write; then nothing more is written
	stopped bool      // Stop was called
}

// deadlineWriter is a stream's send side.
type deadlineWriter interface {
	io.Writer
	SetWriteDeadline(t time.Time) error
}

// ErrWriterStopped is what FrameWriter.Add returns after Stop.
var ErrWriterStopped = errors.New("frame writer stopped")

// NewFrameWriter returns a FrameWriter to w, each of whose Writes fails
// after timeout (if not 0), and which calls written (if not nil) after each.
func NewFrameWriter(w deadlineWriter, timeout time.Duration, written func(frames int, err error)) *FrameWriter {
	fw := &FrameWriter{w: w, timeout: timeout, written: written, done: make(chan struct{})}
	fw.more.L = &fw.mu
	go fw.run()
	return fw
}

// Add queues frame (copying it) to be written. It returns the error of a
// Write that failed, or ErrWriterStopped after Stop; the frame is then
// dropped.
func (fw *FrameWriter) Add(frame []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	switch {
	case fw.err != nil:
		return fw.err
	case fw.stopped:
		return ErrWriterStopped
	}
	fw.buf = append(fw.buf, frame...)
	fw.n++
	fw.more.Signal()
	return nil
}

// Stop has the writer return once the frames added so far are written (or
// a Write fails), without waiting for it.
func (fw *FrameWriter) Stop() {
	fw.mu.Lock()
	fw.stopped = true
	fw.more.Signal()
	fw.mu.Unlock()
}

// Close stops the writer and waits for it to return.
func (fw *FrameWriter) Close() {
	fw.Stop()
	<-fw.done
}

func (fw *FrameWriter) run() {
	defer close(fw.done)
	var out []byte
	fw.mu.Lock()
	for {
		for len(fw.buf) == 0 && !fw.stopped {
			fw.more.Wait()
			// Let the goroutines that are ready add theirs first.
			fw.mu.Unlock()
			runtime.Gosched()
			fw.mu.Lock()
		}
		if len(fw.buf) == 0 {
			fw.mu.Unlock()
			return
		}
		out, fw.buf = fw.buf, out[:0]
		n := fw.n
		fw.n = 0
		fw.mu.Unlock()
		if fw.timeout > 0 {
			fw.w.SetWriteDeadline(time.Now().Add(fw.timeout))
		}
		_, err := fw.w.Write(out)
		if err != nil {
			fw.mu.Lock()
			fw.err = err
			n += fw.n // the frames added meanwhile are dropped with these
			fw.buf, fw.n = nil, 0
			fw.mu.Unlock()
		}
		if fw.written != nil {
			fw.written(n, err)
		}
		if err != nil {
			return
		}
		fw.mu.Lock()
	}
}
