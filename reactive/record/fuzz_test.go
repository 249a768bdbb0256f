package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// FuzzRead reads arbitrary bytes as a recording. Reading never panics; what
// it reads, written again, reads back whole and writes the same; and reading
// one byte at a time gives what reading at once gives. Seeds are in
// testdata/fuzz/FuzzRead: a whole recording of an engine, a torn one, one
// with garbage in the middle, a newer version, an empty file, a header
// alone, events without a header, CRLF line ends.
func FuzzRead(f *testing.F) {
	f.Add([]byte(header + `{"seq":1,"t":1,"kind":"marker","text":"m"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Read(bytes.NewReader(data))
		slow, slowErr := Read(iotest.OneByteReader(bytes.NewReader(data)))
		if fmt.Sprint(err) != fmt.Sprint(slowErr) {
			t.Fatalf("Read: %v; one byte at a time: %v", err, slowErr)
		}
		if rec == nil {
			if slow != nil {
				t.Fatal("one byte at a time read a recording, at once none")
			}
			return
		}
		if len(rec.Events) != len(slow.Events) || len(rec.Notes) != len(slow.Notes) {
			t.Fatalf("%d events, %d one byte at a time", len(rec.Events), len(slow.Events))
		}
		again := write(rec)
		rec2, err := Read(bytes.NewReader(again))
		if err != nil {
			t.Fatalf("reading what was written back: %v\n%s", err, again)
		}
		if len(rec2.Notes) > 0 || len(rec2.Events) != len(rec.Events) {
			t.Fatalf("written back: %d events (notes %q), read %d", len(rec2.Events), rec2.Notes, len(rec.Events))
		}
		if again2 := write(rec2); !bytes.Equal(again, again2) {
			t.Fatalf("written back twice differs:\n%s\n%s", again, again2)
		}
		// Replaying it does not panic.
		rec.Final()
	})
}

// write writes rec as it is, seq and offsets included.
func write(rec *Recording) []byte {
	buf := append(appendHeader(nil, &rec.Header), '\n')
	for i := range rec.Events {
		buf = append(appendEvent(buf, &rec.Events[i]), '\n')
	}
	return buf
}

// TestReadChunks reads a recording through readers that return it in
// pieces of every size up to 64 bytes.
func TestReadChunks(t *testing.T) {
	data := []byte(header + `{"seq":1,"t":1,"kind":"marker","text":"m"}` + "\n" + `{"seq":2,"t":2,"kind":"typed","text":"é"}` + "\n" + `{"seq":3,"t":3,"kind":"ty`)
	for n := 1; n <= 64; n++ {
		rec, err := Read(&chunkReader{data: data, n: n})
		if err != nil || len(rec.Events) != 2 || len(rec.Notes) != 1 {
			t.Fatalf("chunks of %d: %v, %+v", n, err, rec)
		}
	}
}

type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data[:min(r.n, len(r.data))])
	r.data = r.data[n:]
	return n, nil
}

// FuzzParseEvent checks the fast parser of event lines against
// encoding/json: whatever line the fast parser takes, encoding/json takes
// too, with the same result.
func FuzzParseEvent(f *testing.F) {
	for _, line := range []string{
		`{"seq":1,"t":0.068,"kind":"defined","cell":"u","version":1,"state":"queued","source":"u = \"x\".upper","pos":{"file":"/tmp/w.sp","line":11,"col":1}}`,
		`{"seq":3,"t":3.1,"kind":"resolved","cell":"b","version":1,"state":"ready","where":"embedded-1","took_ms":2.45,"value":{"type":"int","repr":"21","cbor":"FQ=="}}`,
		`{"seq":4,"t":3.2,"kind":"failed","cell":"bad","version":1,"state":"error","where":"local","took_ms":0.03,"error":"w.sp:5:9: floored division by zero","error_pos":{"file":"w.sp","line":5,"col":9},"backtrace":"Traceback\n  x"}`,
		`{"seq":5,"t":3.2,"kind":"changed","cell":"up","version":1,"state":"upstream-error","error":"depends on failed bad","input":"bad","root":"z"}`,
		`{"seq":1,"t":1,"kind":"defined","cell":"d","version":1,"state":"error","source":"d = 1","dups":[{"source":"d = 2","pos":{"file":"w.sp","line":10,"col":1}}],"error":"twice"}`,
		`{"seq":6,"t":950,"kind":"server-left","server":{"name":"e","addr":"127.0.0.1:1","tags":["a","b"],"provides":[],"connected":true,"error":"lost"}}`,
		`{"seq":7,"t":1200.5e0,"kind":"marker","text":"before \u00e9 the fix\t\\ \/"}`,
		`{"seq":8,"t":-0,"kind":"typed","text":"é"}`,
		`{"seq":6,"t":612.2,"kind":"progress","cell":"sq","version":1,"state":"running","where":"remote","progress":{"done":3,"total":8}}`,
		`{"seq":3,"t":3.1,"kind":"resolved","cell":"b","version":1,"state":"ready","where":"e","took_ms":2.45,"attempts":2,"progress":{"done":8,"total":8},"value":{"type":"int","repr":"21","cbor":"FQ=="}}`,
		`{"seq":9,"t":1,"kind":"resolved","cell":"u","version":1,"state":"ready","value":{"type":"builtin_function_or_method","repr":"<built-in>","repr_len":0,"no_cbor":"cannot encode"}}`,
	} {
		f.Add([]byte(line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var fast wireEvent
		p := fastParser{b: line, t: new(float64), intern: map[string]string{}}
		if !p.event(&fast) || p.i != len(line) {
			return
		}
		var slow wireEvent
		if err := json.Unmarshal(line, &slow); err != nil {
			t.Fatalf("the fast parser takes %q, encoding/json does not: %v", line, err)
		}
		if (fast.T == nil) != (slow.T == nil) || fast.T != nil && *fast.T != *slow.T {
			t.Fatalf("t: fast %v, encoding/json %v", fast.T, slow.T)
		}
		fast.T, slow.T = nil, nil
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast          %#v\nencoding/json %#v", line, fast, slow)
		}
	})
}
