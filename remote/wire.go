package remote

// The wire protocol of sperse, version 2 (version 1 had no call streams).
// ALPN "sperse/1" names the protocol; the version in Hello and Welcome, its
// revision: a client and a server of different versions refuse each other
// with a clear error.
//
// A client opens one QUIC connection (TLS 1.3, ALPN "sperse/1") to a server.
// The first bidirectional stream the client opens is the control stream: the
// client sends Hello with its token, the server answers Welcome (or Refused,
// and closes the connection). After that the control stream carries Ping and
// Pong both ways (liveness and round-trip time), Status from the server (its
// load), and GoAway from a server that is shutting down. A server whose
// provided names change (a function published, rolled back or withdrawn)
// sends Update: a Welcome with its new Tags, Provides and Signatures,
// which the client takes instead of the Welcome's (its name and limits do
// not change on a connection).
//
// Evaluations run on bidirectional evaluation streams, opened by the client
// after Welcome. A stream carries one evaluation at a time, one after
// another: the client sends an Eval without closing its side, the server
// answers with one Result without closing its side, and the stream is then
// idle until the client's next Eval. Evaluations in parallel use streams of
// their own. An idle stream waits as long as the connection lives (the
// server's read timeout starts with an Eval's first byte); the client keeps a
// bounded number of idle streams and closes or cancels the others. The server
// keeps the stream after a Result with a value or with the code's own error
// (CodeFailed); after any other Result (a bad request, too large, shutting
// down, ...) it closes the stream, and so does it after the Result of the
// evaluation in flight once it has sent GoAway (an idle stream then closes at
// once). To cancel, the client cancels the stream (both directions) with
// StreamCancelled and never uses it again; the server stops the interpreter
// at once and cancels the stream too. A client closing an idle stream makes
// the server close its side. A server never evaluates anything on a
// connection whose Hello it has not accepted.
//
// Small evaluations share a call stream instead: a bidirectional stream
// whose first message is a Call. On it the client sends Calls (an Eval with
// a Tag, unique on the connection and not 0) and Cancels, and the server
// answers each Call with one Reply (a Result with the Call's Tag) when the
// evaluation ends, in whatever order they end: a slow one never holds up
// another. (A lost packet does hold up the messages behind it on the
// stream until it is sent again, as on one TCP connection.) A Reply whose frame is over MaxCallFrame bytes travels instead on
// a unidirectional stream that the server opens for it and closes after it,
// so that a big value never holds up the small ones. To cancel a Call the
// client sends Cancel with its Tag; the server stops the interpreter at once
// and answers (CodeCancelled), unless it has answered already. A client
// has at most MaxCalls Calls without a Reply on a call stream. A Call whose
// frame is over MaxCallFrame bytes is a protocol error: the client sends
// such an Eval on an evaluation stream. A client that closes its side of a
// call stream has the server answer the Calls in flight and then close its
// side; a message that cannot be understood, a Tag in flight already or a
// Call past MaxCalls has the server cancel the stream both ways with
// StreamBadRequest, stopping its evaluations.
//
// A message on a stream is a frame: its length as a QUIC varint, then that
// many bytes holding one CBOR item, the array [type, body]. Lengths are
// checked against the limit before anything is allocated. The value payloads
// (Eval.Job, Result.Value) are CBOR byte strings holding lang's encodings,
// decoded separately by the value codec with its own limits.

import (
	"fmt"
	"time"
)

// ALPN is the TLS application protocol of sperse.
const ALPN = "sperse/1"

// ProtocolVersion is the version a client sends in Hello and a server in
// Welcome: 2 since call streams.
const ProtocolVersion = 2

// DefaultMaxMessage is the largest frame either side accepts unless configured
// otherwise: 64 MiB.
const DefaultMaxMessage = 64 << 20

// MsgType identifies a message.
type MsgType uint8

// The message types.
const (
	MsgHello   MsgType = 1  // client → server, control stream
	MsgWelcome MsgType = 2  // server → client, control stream
	MsgRefused MsgType = 3  // server → client, control stream, then the connection closes
	MsgPing    MsgType = 4  // either way, control stream
	MsgPong    MsgType = 5  // either way, control stream
	MsgStatus  MsgType = 6  // server → client, control stream
	MsgGoAway  MsgType = 7  // server → client, control stream
	MsgEval    MsgType = 8  // client → server, evaluation stream
	MsgResult  MsgType = 9  // server → client, evaluation stream
	MsgMembers MsgType = 10 // server → client, control stream
	MsgUpdate  MsgType = 11 // server → client, control stream
	MsgCall    MsgType = 12 // client → server, call stream
	MsgReply   MsgType = 13 // server → client, call stream or a reply stream of its own
	MsgCancel  MsgType = 14 // client → server, call stream
)

func (t MsgType) String() string {
	switch t {
	case MsgHello:
		return "hello"
	case MsgWelcome:
		return "welcome"
	case MsgRefused:
		return "refused"
	case MsgPing:
		return "ping"
	case MsgPong:
		return "pong"
	case MsgStatus:
		return "status"
	case MsgGoAway:
		return "goaway"
	case MsgEval:
		return "eval"
	case MsgResult:
		return "result"
	case MsgMembers:
		return "members"
	case MsgUpdate:
		return "update"
	case MsgCall:
		return "call"
	case MsgReply:
		return "reply"
	case MsgCancel:
		return "cancel"
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Hello is the client's first message: who it is and its token.
type Hello struct {
	Version int    `cbor:"1,keyasint"`
	Token   string `cbor:"2,keyasint"`
	Client  string `cbor:"3,keyasint,omitempty"` // a name for logs, e.g. "sperse-tui on host"
}

// Welcome accepts a client and advertises the server.
type Welcome struct {
	Version  int      `cbor:"1,keyasint"`
	Name     string   `cbor:"2,keyasint"`
	Tags     []string `cbor:"3,keyasint,omitempty"`
	Provides []string `cbor:"4,keyasint,omitempty"` // names beyond the builtins that code may use there
	Limits   Limits   `cbor:"5,keyasint"`

	// Signatures are the signatures of the published functions among
	// Provides, by name: a client checks the calls of a cell against them
	// before it sends the cell (see Signature).
	Signatures map[string]Signature `cbor:"6,keyasint,omitempty"`

	// Scoped says that the client's token is limited (a scoped token): the
	// server advertises, here and in its Members, only what the token may
	// use, so a name or tag it does not show may exist there but not be
	// permitted. Such a server runs the client's work itself, never
	// forwarding it to another member. It does not change on a connection
	// (an Update's is ignored).
	Scoped bool `cbor:"7,keyasint,omitempty"`
}

// Limits are what a server allows one evaluation and how much it runs at once.
type Limits struct {
	MaxConcurrency int           `cbor:"1,keyasint"` // evaluations at once; more wait their turn
	MaxSteps       uint64        `cbor:"2,keyasint"` // Starlark steps per evaluation
	Timeout        time.Duration `cbor:"3,keyasint"` // per evaluation (nanoseconds on the wire)
	MaxMessage     int           `cbor:"4,keyasint"` // largest frame accepted or sent

	// ValueCache is how many bytes of big values (by the size of their
	// encodings) the server keeps for the jobs that refer to them with a
	// lang.ValueRef; 0: it keeps none, and a client sends it none.
	ValueCache int64 `cbor:"5,keyasint,omitempty"`
}

// Signature is the signature of a published function as a server
// advertises it (lang.Signature without its name, which is its key).
type Signature struct {
	Version int     `cbor:"1,keyasint"` // the version current there
	Params  []Param `cbor:"2,keyasint,omitempty"`
	Varargs string  `cbor:"3,keyasint,omitempty"` // the name of *args; "" if none
	Kwargs  string  `cbor:"4,keyasint,omitempty"` // the name of **kwargs; "" if none
}

// Param is one parameter of a Signature.
type Param struct {
	Name    string `cbor:"1,keyasint"`
	Default string `cbor:"2,keyasint,omitempty"` // the repr of its default, shortened; "" if required
	KwOnly  bool   `cbor:"3,keyasint,omitempty"`
}

// Refused says why a server will not serve a client.
type Refused struct {
	Code    ErrorCode `cbor:"1,keyasint"`
	Message string    `cbor:"2,keyasint"`
}

// Ping asks for a Pong with the same Seq.
type Ping struct {
	Seq uint64 `cbor:"1,keyasint"`
}

// Pong answers a Ping.
type Pong struct {
	Seq uint64 `cbor:"1,keyasint"`
}

// Status is a server's load, sent when it changes (at most a few times a second).
type Status struct {
	InFlight int `cbor:"1,keyasint"` // evaluations running
	Queued   int `cbor:"2,keyasint"` // evaluations waiting for a slot
}

// GoAway tells the client the server is shutting down: send no new work.
// Evaluations already accepted still complete.
type GoAway struct {
	Reason string `cbor:"1,keyasint"`
}

// Members lists the members of a server's cluster, the server itself
// included, as far as it knows them: sent after Welcome, and again whenever
// the list changes. A server in no cluster sends none. A client may connect
// to the members (each Address pins the certificate the server vouches
// for) and may send this server work that only another member can run: the
// server forwards it. To a client with a scoped token (Welcome.Scoped) the
// list shows each member with only the tags and provided names the token
// may use, and leaves out the members whose name and tags the token lists
// none of (they would refuse it); and the server forwards none of its work.
type Members struct {
	List []Member `cbor:"1,keyasint"`
}

// Member is one member of a cluster.
type Member struct {
	Name     string   `cbor:"1,keyasint"`
	Address  string   `cbor:"2,keyasint"` // HOST:PORT#sha256:FINGERPRINT, for Client.Connect
	Tags     []string `cbor:"3,keyasint,omitempty"`
	Provides []string `cbor:"4,keyasint,omitempty"`
}

// EvalKind says what an Eval's job is.
type EvalKind uint8

// The kinds of job.
const (
	EvalCell  EvalKind = 1 // a cell: lang.EncodeJob
	EvalChunk EvalKind = 2 // a chunk of split work: the tuple (map, reduce, items)

	// EvalPublish is an operation on published functions: the job is a
	// PublishJob (CBOR), the Result's value lang.Encode of what the
	// builtin of the operation returns (publish and rollback: the version,
	// an int; versions: lang.VersionsValue; unpublish: None).
	EvalPublish EvalKind = 3
)

// Eval asks the server to evaluate one job.
//
// Promise pipelining: an Eval with an ID asks the server to keep its result
// for a while (at least KeepResults after it ends, unless the server is
// short of room) under that ID, which the client chooses, unique within the
// connection. A later job on the same connection may then carry, in its
// scope, a lang.Ref to the ID instead of a value: the server waits for
// that result and uses its value (or fails with "depends on failed x"). A
// Ref the server cannot resolve is answered with CodeNoRef: the client sends
// the value instead. A job may arrive before the one it refers to (they
// travel on different streams): the server waits a moment for it.
type Eval struct {
	Kind EvalKind `cbor:"1,keyasint"`
	Job  []byte   `cbor:"2,keyasint"`           // the job's encoding by lang
	ID   uint64   `cbor:"3,keyasint,omitempty"` // keep the result under this ID
	Tag  uint64   `cbor:"4,keyasint,omitempty"` // a Call's tag; 0 in an Eval
}

// MaxCallFrame is the largest frame of a Call or a Reply on a call stream:
// bigger ones travel on streams of their own.
const MaxCallFrame = 32 << 10

// MaxCalls is how many Calls a client may have without a Reply on a call
// stream.
const MaxCalls = 256

// Cancel asks the server to stop the Call with the Tag, if it still runs.
type Cancel struct {
	Tag uint64 `cbor:"1,keyasint"`
}

// PublishOp is what an EvalPublish asks of the server's published functions.
type PublishOp uint8

// The operations on published functions, as the builtins of lang name them.
const (
	OpPublish   PublishOp = 1 // store PublishJob.Func under Name with a new version
	OpVersions  PublishOp = 2
	OpRollback  PublishOp = 3
	OpUnpublish PublishOp = 4
)

func (op PublishOp) String() string {
	switch op {
	case OpPublish:
		return "publish"
	case OpVersions:
		return "versions"
	case OpRollback:
		return "rollback"
	case OpUnpublish:
		return "unpublish"
	}
	return fmt.Sprintf("PublishOp(%d)", uint8(op))
}

// PublishJob is the job of an EvalPublish: Op on the published function
// called Name.
type PublishJob struct {
	Op   PublishOp `cbor:"1,keyasint"`
	Name string    `cbor:"2,keyasint"`
	Func []byte    `cbor:"3,keyasint,omitempty"` // OpPublish: lang.Encode of the function
}

// KeepResults is how long a server keeps the result of an Eval with an ID
// after it ends, at least.
const KeepResults = 30 * time.Second

// Values by content: a server whose Limits.ValueCache is not 0 keeps the
// big values of the jobs it receives, each value of a job's scope whose
// encoding takes at least SharedValueMin bytes, by the SHA-256 of that
// encoding, least recently used out past ValueCache bytes. A client that
// has sent such a value to a server, and had a Result with a value or the
// code's own error (so the server decoded the job), may send, in later
// jobs, a lang.ValueRef (the hash) instead of the value. A server that
// does not keep it (evicted, restarted) answers CodeNoValue, naming the
// hashes it lacks, and nothing runs: the client sends the job again with
// the values. A server keeps values apart for each token scope: a client
// can refer only to values sent with a token of its own scope (guessing a
// 256-bit hash is infeasible anyway).
const SharedValueMin = 64 << 10

// Result is the outcome of an Eval: a value, or an error.
type Result struct {
	Value []byte        `cbor:"1,keyasint,omitempty"` // lang.Encode of the value
	Error *Error        `cbor:"2,keyasint,omitempty"`
	Took  time.Duration `cbor:"3,keyasint"`           // time spent evaluating on the server
	Tag   uint64        `cbor:"4,keyasint,omitempty"` // a Reply's: its Call's tag; 0 in a Result
}

// Error is an error as it travels: what happened and what the client should do.
type Error struct {
	Code      ErrorCode `cbor:"1,keyasint"`
	Message   string    `cbor:"2,keyasint"`
	File      string    `cbor:"3,keyasint,omitempty"` // the position of a code error
	Line      int       `cbor:"4,keyasint,omitempty"`
	Col       int       `cbor:"5,keyasint,omitempty"`
	Backtrace string    `cbor:"6,keyasint,omitempty"`
}

// ErrorCode says what kind of error happened, and so what the client should do.
type ErrorCode uint8

// The error codes.
const (
	CodeFailed       ErrorCode = 1 // the code's own error: never retried
	CodeOverloaded   ErrorCode = 2 // the server is too busy: retry later
	CodeDisconnected ErrorCode = 3 // the server went away: retry elsewhere (cells are hermetic)
	CodeUnavailable  ErrorCode = 4 // no server provides what the cell needs
	CodeUnauthorized ErrorCode = 5 // bad or missing token: nothing was evaluated
	CodeBadRequest   ErrorCode = 6 // a message that could not be understood
	CodeTooLarge     ErrorCode = 7 // a message or result over the size limit
	CodeVersion      ErrorCode = 8 // another protocol version
	CodeShutdown     ErrorCode = 9 // the server is shutting down: retry elsewhere
	CodeCancelled    ErrorCode = 10
	CodeNoRef        ErrorCode = 11 // a lang.Ref the server cannot resolve: send the value
	CodeNotPermitted ErrorCode = 12 // the client's token does not allow what the cell uses there: never retried there
	CodeNoValue      ErrorCode = 13 // a lang.ValueRef the server does not keep: send the value
)

func (c ErrorCode) String() string {
	switch c {
	case CodeFailed:
		return "failed"
	case CodeOverloaded:
		return "overloaded"
	case CodeDisconnected:
		return "disconnected"
	case CodeUnavailable:
		return "unavailable"
	case CodeUnauthorized:
		return "unauthorized"
	case CodeBadRequest:
		return "bad request"
	case CodeTooLarge:
		return "too large"
	case CodeVersion:
		return "version mismatch"
	case CodeShutdown:
		return "shutting down"
	case CodeCancelled:
		return "cancelled"
	case CodeNoRef:
		return "no such reference"
	case CodeNotPermitted:
		return "not permitted"
	case CodeNoValue:
		return "no such value"
	}
	return fmt.Sprintf("ErrorCode(%d)", uint8(c))
}

// QUIC application error codes, for closing connections and cancelling streams.
const (
	ConnClosed       = 0x0   // normal close
	ConnRefused      = 0x101 // the server refused the client (see Refused)
	ConnProtocol     = 0x102 // the peer broke the protocol
	ConnShutdown     = 0x103 // the server shut down
	ConnBusy         = 0x104 // the server has too many connections: try again later
	StreamCancelled  = 0x201 // the client cancelled the evaluation
	StreamBadRequest = 0x202 // the stream's message could not be understood
)
