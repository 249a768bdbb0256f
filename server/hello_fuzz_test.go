package server

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/sperse/sperse/remote"
)

// FuzzServerHello feeds arbitrary bytes, as the control stream of a new
// connection, to what the server decodes there (see conn.go): a Hello, by
// the strict decoding or, for another version's Hello, by peekVersion; then
// Pings. It checks that nothing panics, that peekVersion agrees with a
// strict decoding that succeeds, that a Hello and a Ping that decode encode
// back to the same message, and that the client's name is cut to fit the
// logs. Run it with
//
//	go test -run XXX -fuzz FuzzServerHello -fuzztime 60s ./server/
func FuzzServerHello(f *testing.F) {
	hello := remote.Hello{Version: remote.ProtocolVersion, Token: testToken, Client: "sperse-tui on host"}
	for _, seed := range [][]byte{
		append(mustFrameTB(f, remote.MsgHello, hello), mustFrameTB(f, remote.MsgPing, remote.Ping{Seq: 3})...),
		mustFrameTB(f, remote.MsgHello, remote.Hello{Version: 0}),
		mustFrameTB(f, remote.MsgHello, map[int]any{1: 2, 2: testToken, 9: "a field of version 2"}),
		mustFrameTB(f, remote.MsgHello, map[int]any{1: 1, 2: testToken, 9: "unknown"}),
		mustFrameTB(f, remote.MsgHello, remote.Hello{Version: 1, Token: testToken, Client: string(bytes.Repeat([]byte("é"), 100))}),
		mustFrameTB(f, remote.MsgPing, remote.Ping{Seq: 1}),
		frame([]byte{0x82, 0x01, 0xa1, 0x01, 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		typ, body, err := remote.ReadFrame(br, maxControlMessage)
		if err != nil || typ != remote.MsgHello {
			return // refused: no hello
		}
		var h remote.Hello
		if err := remote.DecodeBody(typ, body, &h); err != nil {
			peekVersion(body) // refused, or answered as another version
			return
		}
		if v, ok := peekVersion(body); !ok || v != h.Version {
			t.Fatalf("hello %+v: peekVersion says %d, %v", h, v, ok)
		}
		var again remote.Hello
		if err := remote.DecodeBody(remote.MsgHello, reencode(t, remote.MsgHello, h), &again); err != nil || again != h {
			t.Fatalf("hello %+v encodes and decodes to %+v, %v", h, again, err)
		}
		if c := truncate(h.Client, 128); len(c) > 128 || utf8.ValidString(h.Client) && !utf8.ValidString(c) {
			t.Fatalf("client name cut to %q", c)
		}
		for {
			typ, body, err := remote.ReadFrame(br, maxControlMessage)
			if err != nil || typ != remote.MsgPing {
				return // the end, or a protocol error
			}
			var p, again remote.Ping
			if err := remote.DecodeBody(typ, body, &p); err != nil {
				return
			}
			if err := remote.DecodeBody(typ, reencode(t, typ, p), &again); err != nil || !reflect.DeepEqual(again, p) {
				t.Fatalf("ping %+v encodes and decodes to %+v, %v", p, again, err)
			}
		}
	})
}

func mustFrameTB(t testing.TB, typ remote.MsgType, body any) []byte {
	t.Helper()
	b, err := remote.AppendFrame(nil, typ, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reencode encodes msg as a frame of type typ, reads it back and returns
// its body.
func reencode(t *testing.T, typ remote.MsgType, msg any) []byte {
	t.Helper()
	b := mustFrameTB(t, typ, msg)
	gotT, body, err := remote.ReadFrame(bufio.NewReader(bytes.NewReader(b)), len(b))
	if err != nil || gotT != typ {
		t.Fatalf("read back %s %+v: %s, %v", typ, msg, gotT, err)
	}
	return body
}
