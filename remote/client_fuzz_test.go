package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sperse/sperse/lang"
)

// fuzzAddr is the address of the server the fuzzed bytes come from.
const fuzzAddr = "127.0.0.1:7700"

// frames returns the frames of msgs, one after another, as a server sends
// them: each msg is a MsgType followed by its body.
func frames(t testing.TB, msgs ...any) []byte {
	t.Helper()
	var b []byte
	for i := 0; i < len(msgs); i += 2 {
		var err error
		if b, err = AppendFrame(b, msgs[i].(MsgType), msgs[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// FuzzClientControl feeds arbitrary bytes to the client as what a server
// sends on the control stream: the answer to Hello (decodeWelcome), then
// messages (decodeControl), as the handshake and readControl read them. It
// checks that nothing panics, that a refusal or a broken protocol is a
// *ServerError naming the server, and that what is accepted encodes back
// to a frame that decodes to the same message. Run it with
//
//	go test -run XXX -fuzz FuzzClientControl -fuzztime 60s ./remote/
func FuzzClientControl(f *testing.F) {
	for _, seed := range controlSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		typ, body, err := ReadFrame(br, maxControlMessage)
		if err != nil {
			return
		}
		w, permanent, err := decodeWelcome(fuzzAddr, typ, body)
		if err != nil {
			var serr *ServerError
			if !errors.As(err, &serr) || serr.Server != fuzzAddr || !strings.Contains(serr.Message, fuzzAddr) {
				t.Fatalf("handshake error %v (%T) does not name the server", err, err)
			}
			if !permanent && serr.Code != CodeShutdown && serr.Code != CodeOverloaded && serr.Code != CodeDisconnected {
				t.Fatalf("%v (%s) is to be retried", err, serr.Code)
			}
			return
		}
		if typ != MsgWelcome || w.Version != ProtocolVersion || w.maxMessage() <= 0 {
			t.Fatalf("accepted %s %+v (max message %d)", typ, w, w.maxMessage())
		}
		typ, body = roundTrip(t, MsgWelcome, w)
		again, _, err := decodeWelcome(fuzzAddr, typ, body)
		if err != nil || !reflect.DeepEqual(emptyNil(again), emptyNil(w)) {
			t.Fatalf("welcome %+v encodes and decodes to %+v, %v", w, again, err)
		}
		for {
			typ, body, err := ReadFrame(br, maxControlMessage)
			if err != nil {
				return
			}
			msg, err := decodeControl(typ, body)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("an error without a message")
				}
				return // the client closes the connection
			}
			again, err := decodeControl(roundTrip(t, typ, msg))
			if err != nil || !reflect.DeepEqual(normalControl(again), normalControl(msg)) {
				t.Fatalf("%s %+v encodes and decodes to %+v, %v", typ, msg, again, err)
			}
		}
	})
}

// FuzzClientResult feeds arbitrary bytes to the client as what a server
// answers on an evaluation stream: a frame, decoded by decodeResult, whose
// error becomes the cell's (resultError) and whose value is decoded into
// the client's interpreter with the session's limit, as evalOn does. It
// checks that nothing panics, that a value that decodes encodes again, that
// a value that does not is a *lang.DecodeError, and that a server's error
// is a *lang.Error (the code's own) or a *ServerError naming the server.
// Run it with
//
//	go test -run XXX -fuzz FuzzClientResult -fuzztime 60s ./remote/
func FuzzClientResult(f *testing.F) {
	in := lang.NewInterp("local")
	for _, seed := range resultSeeds(f) {
		f.Add(seed)
	}
	const max = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(data)), max)
		if err != nil {
			if errors.Is(err, io.EOF) && len(data) > 0 {
				t.Fatalf("a frame cut short is io.EOF, want io.ErrUnexpectedEOF: %v", err)
			}
			return
		}
		res, err := decodeResult(typ, body)
		if err != nil {
			return // the client cancels the stream: a bad request
		}
		if res.Error != nil {
			err := resultError("srv", "cell x", res.Error)
			var (
				le   *lang.Error
				serr *ServerError
			)
			switch {
			case res.Error.Code == CodeFailed && errors.As(err, &le):
			case res.Error.Code != CodeFailed && errors.As(err, &serr) && serr.Server == "srv" && strings.Contains(serr.Message, "server srv could not run cell x: "):
			default:
				t.Fatalf("error %+v becomes %v (%T)", res.Error, err, err)
			}
			return
		}
		again, err := decodeResult(roundTrip(t, MsgResult, res))
		if err != nil || !bytes.Equal(again.Value, res.Value) || again.Took != res.Took {
			t.Fatalf("result %+v encodes and decodes to %+v, %v", res, again, err)
		}
		v, err := in.DecodeLimited(res.Value, lang.DecodeLimits{MaxSize: max})
		if err != nil {
			var de *lang.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("decoding the value: %v (%T), want a *lang.DecodeError", err, err)
			}
			return
		}
		if _, err := lang.Encode(v); err != nil {
			t.Fatalf("value %s decodes but does not encode: %v", v.Type(), err)
		}
	})
}

// controlSeeds returns the seeds of FuzzClientControl, by name: what a
// server sends on the control stream.
func controlSeeds(t testing.TB) map[string][]byte {
	welcome := Welcome{Version: ProtocolVersion, Name: "gpu1", Tags: []string{"gpu", "eu"}, Provides: []string{"sql", "sales"},
		Limits: Limits{MaxConcurrency: 2, MaxSteps: 1e9, Timeout: time.Minute, MaxMessage: 1 << 20}}
	updated := welcome
	updated.Provides = []string{"f", "sales", "sql"}
	updated.Signatures = map[string]Signature{"f": {Version: 3, Params: []Param{{Name: "x"}, {Name: "k", Default: "1", KwOnly: true}}, Varargs: "args"}}
	return map[string][]byte{
		"session":        frames(t, MsgWelcome, welcome, MsgPing, Ping{Seq: 7}, MsgPong, Pong{Seq: 1}, MsgStatus, Status{InFlight: 2, Queued: 5}, MsgGoAway, GoAway{Reason: "shutting down"}),
		"update":         frames(t, MsgWelcome, welcome, MsgUpdate, updated),
		"welcome_bare":   frames(t, MsgWelcome, Welcome{Version: ProtocolVersion}),
		"refused":        frames(t, MsgRefused, Refused{Code: CodeUnauthorized, Message: "bad token"}),
		"refused_later":  frames(t, MsgRefused, Refused{Code: CodeShutdown}),
		"newer_version":  frames(t, MsgWelcome, Welcome{Version: ProtocolVersion + 1, Name: "future"}),
		"result_on_ctrl": frames(t, MsgWelcome, welcome, MsgResult, Result{Value: []byte{1}}),
		"ping_first":     frames(t, MsgPing, Ping{Seq: 1}),
		"unknown_field":  frames(t, MsgWelcome, map[int]any{1: ProtocolVersion, 2: "x", 9: "a field of version 2"}),
		"garbage":        []byte("\x05\x82\x02\xa1\x01\x01"),
		"empty":          {},
	}
}

// resultSeeds returns the seeds of FuzzClientResult, by name: what a
// server answers to an Eval.
func resultSeeds(t testing.TB) map[string][]byte {
	in := lang.NewInterp("local")
	value := func(src string) []byte {
		c := lang.ParseCell("f.sp", 1, src)
		v, err := in.Eval(context.Background(), c, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := lang.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string][]byte{
		"value":        frames(t, MsgResult, Result{Value: value("x = [1, 'a', (2.5, None), {'k': b'v'}]"), Took: time.Millisecond}),
		"function":     frames(t, MsgResult, Result{Value: value("def f(n):\n    return n * 2"), Took: 1}),
		"range":        frames(t, MsgResult, Result{Value: value("r = range(0, 10, 3)")}),
		"code_error":   frames(t, MsgResult, Result{Error: &Error{Code: CodeFailed, Message: "division by zero", File: "w.sp", Line: 3, Col: 7, Backtrace: "Traceback"}}),
		"overloaded":   frames(t, MsgResult, Result{Error: &Error{Code: CodeOverloaded, Message: "busy"}}),
		"unknown_code": frames(t, MsgResult, Result{Error: &Error{Code: 200}}),
		"nothing":      frames(t, MsgResult, Result{Took: 5}),
		"bad_value":    frames(t, MsgResult, Result{Value: []byte{0x9f}}),
		"not_a_result": frames(t, MsgStatus, Status{InFlight: 1}),
		"empty_result": []byte("\x03\x82\x09\xa0"),
	}
}

// roundTrip encodes msg as a frame of type typ and reads it back.
func roundTrip(t *testing.T, typ MsgType, msg any) (MsgType, []byte) {
	t.Helper()
	b, err := AppendFrame(nil, typ, msg)
	if err != nil {
		t.Fatalf("encode %s %+v: %v", typ, msg, err)
	}
	gotT, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), len(b))
	if err != nil {
		t.Fatalf("read back %s %+v: %v", typ, msg, err)
	}
	return gotT, body
}

// emptyNil makes the empty lists of w nil, as they decode (omitempty).
func emptyNil(w Welcome) Welcome {
	if len(w.Tags) == 0 {
		w.Tags = nil
	}
	if len(w.Provides) == 0 {
		w.Provides = nil
	}
	if len(w.Signatures) == 0 {
		w.Signatures = nil
	}
	for name, sig := range w.Signatures {
		if len(sig.Params) == 0 {
			sig.Params = nil
			w.Signatures[name] = sig
		}
	}
	return w
}

// normalControl returns m, a message decodeControl returns, with its empty
// lists and maps nil (as they decode when encoded without them), for
// reflect.DeepEqual.
func normalControl(m any) any {
	switch m := m.(type) {
	case update:
		return update(emptyNil(Welcome(m)))
	case Members:
		list := slices.Clone(m.List)
		for i := range list {
			if len(list[i].Tags) == 0 {
				list[i].Tags = nil
			}
			if len(list[i].Provides) == 0 {
				list[i].Provides = nil
			}
		}
		return Members{List: list}
	}
	return m
}

// FuzzClientReply checks how the client reads what a server sends on a call
// stream or a reply stream: whatever readReply accepts is a Reply with a
// Tag, which encodes and reads back the same; everything else is an error.
//
//	go test -run XXX -fuzz FuzzClientReply -fuzztime 60s ./remote/
func FuzzClientReply(f *testing.F) {
	for name, seed := range resultSeeds(f) {
		if name == "value" || name == "code_error" || name == "nothing" {
			f.Add(seed) // a Result without a tag: refused
		}
	}
	f.Add(frames(f, MsgReply, Result{Value: []byte{0x18, 42}, Took: 7, Tag: 1}))
	f.Add(frames(f, MsgReply, Result{Error: &Error{Code: CodeCancelled, Message: "cancelled"}, Tag: 1 << 40}))
	f.Add(frames(f, MsgReply, Result{Value: []byte{0x01}, Tag: 2}, MsgReply, Result{Value: []byte{0x02}, Tag: 3}))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		for {
			res, err := readReply(br, 1<<20)
			if err != nil {
				return
			}
			if res.Tag == 0 {
				t.Fatalf("accepted a reply without a tag: %+v", res)
			}
			again, err := readReply(bufio.NewReader(bytes.NewReader(frames(t, MsgReply, res))), 1<<20)
			if err != nil || again.Tag != res.Tag || again.Took != res.Took || !bytes.Equal(again.Value, res.Value) ||
				(again.Error == nil) != (res.Error == nil) {
				t.Fatalf("reply %+v encodes and reads back as %+v, %v", res, again, err)
			}
		}
	})
}
