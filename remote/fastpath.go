package remote

import (
	"encoding/binary"
	"math"
	"time"
)

// The messages of every evaluation, Eval and a Result with a value, are
// encoded and decoded here by hand: reflection in the CBOR library cost more
// than the rest of their handling. The bytes are the library's (core
// deterministic: a map with its keys in order, every head in its shortest
// form), which a test checks; anything the hand-written decoders do not
// expect, such as a Result with an error, goes to the library, whose errors
// name what is wrong.

// appendEval appends the CBOR of ev: {1: kind, 2: job, 3: id, 4: tag},
// without the id or the tag if it is 0.
func appendEval(dst []byte, ev Eval) []byte {
	n := byte(2)
	if ev.ID != 0 {
		n++
	}
	if ev.Tag != 0 {
		n++
	}
	dst = append(dst, 0xa0|n, 0x01)
	dst = appendHead(dst, 0x00, uint64(ev.Kind))
	dst = append(dst, 0x02)
	dst = appendHead(dst, 0x40, uint64(len(ev.Job)))
	dst = append(dst, ev.Job...)
	if ev.ID != 0 {
		dst = appendHead(append(dst, 0x03), 0x00, ev.ID)
	}
	if ev.Tag != 0 {
		dst = appendHead(append(dst, 0x04), 0x00, ev.Tag)
	}
	return dst
}

// appendResult appends the CBOR of res, which has no error:
// {1: value, 3: took, 4: tag}, without the value if it is empty or the tag
// if it is 0.
func appendResult(dst []byte, res Result) []byte {
	n := byte(1)
	if len(res.Value) != 0 {
		n++
	}
	if res.Tag != 0 {
		n++
	}
	dst = append(dst, 0xa0|n)
	if len(res.Value) != 0 {
		dst = append(dst, 0x01)
		dst = appendHead(dst, 0x40, uint64(len(res.Value)))
		dst = append(dst, res.Value...)
	}
	dst = append(dst, 0x03)
	if res.Took < 0 {
		dst = appendHead(dst, 0x20, uint64(-1-res.Took))
	} else {
		dst = appendHead(dst, 0x00, uint64(res.Took))
	}
	if res.Tag != 0 {
		dst = appendHead(append(dst, 0x04), 0x00, res.Tag)
	}
	return dst
}

// appendHead appends the head of a CBOR item of major type major (its top
// three bits) with argument n, in its shortest form.
func appendHead(dst []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(dst, major|byte(n))
	case n <= math.MaxUint8:
		return append(dst, major|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, major|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, major|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, major|27), n)
}

// parseEval decodes b as appendEval writes it, with ev.Job pointing into b.
// It reports false for anything else.
func parseEval(b []byte, ev *Eval) bool {
	if len(b) < 2 || b[0] < 0xa2 || b[0] > 0xa4 || b[1] != 0x01 {
		return false
	}
	pairs := int(b[0] - 0xa0)
	kind, b, ok := cutHead(b[2:], 0x00)
	if !ok || kind > math.MaxUint8 || len(b) == 0 || b[0] != 0x02 {
		return false
	}
	job, b, ok := cutBytes(b[1:])
	if !ok {
		return false
	}
	id, tag, b, ok := cutIDs(b, pairs-2)
	if !ok || len(b) != 0 {
		return false
	}
	*ev = Eval{Kind: EvalKind(kind), Job: job, ID: id, Tag: tag}
	return true
}

// cutIDs cuts n pairs from the front of b: 3: id, then 4: tag, each
// optional (in that order) and not 0 when present.
func cutIDs(b []byte, n int) (id, tag uint64, rest []byte, ok bool) {
	for ; n > 0; n-- {
		if len(b) == 0 || b[0] != 0x03 && b[0] != 0x04 || b[0] == 0x03 && (id != 0 || tag != 0) || b[0] == 0x04 && tag != 0 {
			return 0, 0, nil, false
		}
		key := b[0]
		var v uint64
		if v, b, ok = cutHead(b[1:], 0x00); !ok || v == 0 {
			return 0, 0, nil, false
		}
		if key == 0x03 {
			id = v
		} else {
			tag = v
		}
	}
	return id, tag, b, true
}

// parseResult decodes b as appendResult writes it, with res.Value pointing
// into b. It reports false for anything else.
func parseResult(b []byte, res *Result) bool {
	if len(b) < 2 || b[0] < 0xa1 || b[0] > 0xa3 {
		return false
	}
	pairs := int(b[0] - 0xa0)
	b = b[1:]
	var value []byte
	if b[0] == 0x01 {
		var ok bool
		if value, b, ok = cutBytes(b[1:]); !ok || len(value) == 0 {
			return false
		}
		pairs--
	}
	if pairs == 0 || len(b) < 2 || b[0] != 0x03 {
		return false
	}
	neg := b[1]&0xe0 == 0x20
	major := byte(0x00)
	if neg {
		major = 0x20
	}
	n, b, ok := cutHead(b[1:], major)
	if !ok || n > math.MaxInt64 {
		return false
	}
	took := time.Duration(n)
	if neg {
		took = -1 - took
	}
	var tag uint64
	switch pairs {
	case 1:
	case 2:
		if len(b) == 0 || b[0] != 0x04 {
			return false
		}
		if tag, b, ok = cutHead(b[1:], 0x00); !ok || tag == 0 {
			return false
		}
	default:
		return false
	}
	if len(b) != 0 {
		return false
	}
	*res = Result{Value: value, Took: took, Tag: tag}
	return true
}

// cutBytes cuts a byte string from the front of b.
func cutBytes(b []byte) (s, rest []byte, ok bool) {
	n, b, ok := cutHead(b, 0x40)
	if !ok || n > uint64(len(b)) {
		return nil, nil, false
	}
	return b[:n:n], b[n:], true
}

// cutHead cuts the head of an item of major type major from the front of b
// and returns its argument.
func cutHead(b []byte, major byte) (n uint64, rest []byte, ok bool) {
	if len(b) == 0 || b[0]&0xe0 != major {
		return 0, nil, false
	}
	info := b[0] & 0x1f
	b = b[1:]
	if info < 24 {
		return uint64(info), b, true
	}
	size := 0
	switch info {
	case 24:
		size = 1
	case 25:
		size = 2
	case 26:
		size = 4
	case 27:
		size = 8
	default:
		return 0, nil, false
	}
	if len(b) < size {
		return 0, nil, false
	}
	var buf [8]byte
	copy(buf[8-size:], b[:size])
	return binary.BigEndian.Uint64(buf[:]), b[size:], true
}
