// Package record is the recording format of sperse sessions: a Recorder
// writes one, following an engine; Read and Reader read one back; Workspace
// replays it.
//
// # Format
//
// A recording is a JSON Lines file (UTF-8, one JSON object a line, each
// ending in a newline), so a pager, grep and jq read it. The first line is
// the header:
//
//	{"format":"sperse-recording","version":1,"program":"sperse (devel)",
//	 "started":"2026-05-04T16:54:16.123456789Z","width":0,"height":0,
//	 "title":"sperse run w.sp","servers":[{"name":"embedded-1",
//	 "addr":"127.0.0.1:40001","tags":["embedded"],"connected":true}]}
//
// (shown folded; it is one line). width and height are the terminal's size,
// 0 when headless; servers are those known when the recording started.
// Every other line is an event:
//
//	{"seq":1,"t":0.412,"kind":"defined","cell":"a","version":1,"state":"queued","source":"a = 20","pos":{"file":"w.sp","line":4,"col":1}}
//	{"seq":2,"t":0.52,"kind":"dispatched","cell":"b","version":1,"state":"running","where":"remote"}
//	{"seq":3,"t":3.1,"kind":"resolved","cell":"b","version":1,"state":"ready","where":"embedded-1","took_ms":2.45,"attempts":1,"value":{"type":"int","repr":"21","cbor":"FQ=="}}
//	{"seq":4,"t":3.2,"kind":"failed","cell":"bad","version":1,"state":"error","where":"local","took_ms":0.03,"error":"w.sp:5:9: floored division by zero","error_pos":{"file":"w.sp","line":5,"col":9}}
//	{"seq":5,"t":3.2,"kind":"changed","cell":"up","version":1,"state":"upstream-error","error":"depends on failed bad","input":"bad"}
//	{"seq":6,"t":612.2,"kind":"progress","cell":"sq","version":1,"state":"running","where":"remote","progress":{"done":3,"total":8}}
//	{"seq":7,"t":950,"kind":"server-left","server":{"name":"embedded-2","addr":"127.0.0.1:40002","tags":["embedded"],"error":"no answer to ping for 4s"}}
//	{"seq":8,"t":1200.5,"kind":"marker","text":"before the fix"}
//	{"seq":9,"t":1300,"kind":"typed","text":"a = 21"}
//
// seq counts the events from 1; t is the time since "started" in
// milliseconds (to the microsecond, never less than the event before's).
// The kinds are listed with Kind. A cell event carries the cell's name,
// version and state just after the change, and what it has then: where it
// runs or ran, took_ms, attempts, the progress of its split work, its value
// when ready, its error otherwise; applying the events in order gives the
// workspace at any point (see Workspace). A value has its type, its display form (repr, cut to MaxRepr bytes, with
// repr_len the full length when cut) and its exact encoding (cbor: base64
// of lang.Encode), or no_cbor saying why it has none (a value that cannot
// travel, or an encoding over MaxCBOR bytes). Empty fields are left out.
// Readers ignore fields they do not know; a new kind or state, or a change
// of meaning, makes a new FormatVersion.
//
// # Durability
//
// A Recorder writes whole lines, and each call returns only once its lines
// are handed to the file (a batch of engine events, as one Next of a
// subscription returns them, goes in writes of up to 64 KiB: a write per
// event would cost some forty times its formatting; see
// BenchmarkRecordEngine), so a crash leaves every line a call returned for,
// plus at most one torn line at the end. Nothing is held in the recorder
// between calls; the file is not synced. Follow takes an engine's events
// every 100 µs while it is busy, and at once when it is quiet: an event
// typically reaches the file a fraction of a millisecond after it happened.
// A reader ignores a torn last line (with a note) and rejects a broken line
// in the middle, naming it, with what comes before it read. A Reader reads
// whole lines only, so it can follow a recording while it is written.
package record
