package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// Config configures a Server. The zero value of a field means its default.
type Config struct {
	// Name is the server's name: what where() returns in the code it runs,
	// and what clients select with remote@name. Required: letters, digits,
	// '_', '.' and '-', at most 64 of them.
	Name string

	// Tags are further names clients may select the server by (remote@tag),
	// with the same rules as Name.
	Tags []string

	// Tokens are the tokens a client may present in its Hello, each
	// allowing everything the server offers. At least one token, here or
	// in ScopedTokens, is required. Tokens are compared in constant time
	// and never logged.
	Tokens []string

	// ScopedTokens are further tokens, each perhaps limited to some of the
	// server's names, tags and provided names (see Token; ReadTokenFile
	// reads them). Tokens and ScopedTokens together hold at least one
	// token, each once.
	ScopedTokens []Token

	// ClientCAs, if not nil, requires every client to present a TLS
	// certificate signed by one of these authorities (mutual TLS; see
	// LoadClientCAs), in addition to its token. A client without one, or
	// with another, is refused during the TLS handshake, and the log says
	// why.
	ClientCAs *x509.CertPool

	// Certificate is the server's TLS certificate. If it is empty, New
	// generates one in memory (GenerateCertificate), whose fingerprint
	// changes every time.
	Certificate tls.Certificate

	// MaxConcurrency is how many evaluations run at once; more wait their
	// turn. Default: runtime.NumCPU().
	MaxConcurrency int

	// MaxQueue is how many evaluations may wait for a slot; more are
	// answered CodeOverloaded. Default: 64 × MaxConcurrency.
	MaxQueue int

	// MaxSteps is how many Starlark steps one evaluation may take.
	// Default: DefaultMaxSteps.
	MaxSteps uint64

	// Timeout is how long one evaluation may run, not counting its wait for a
	// slot. Default: DefaultTimeout.
	Timeout time.Duration

	// MaxMessage is the largest frame the server accepts or sends, in bytes:
	// an Eval larger than this is refused with CodeTooLarge, and so is a
	// result. Default: remote.DefaultMaxMessage; at least MinMaxMessage.
	MaxMessage int

	// ValueCache is how many bytes of big values the server keeps for the
	// jobs that refer to them by content hash (see remote.SharedValueMin),
	// counting each value by the size of its encoding; the least recently
	// used go first. Decoded values take more memory than their encodings
	// (some 16 times for a list of small ints). Default: DefaultValueCache;
	// negative: none are kept, and clients send every value.
	ValueCache int64

	// Provide are names the server provides beyond the builtins, for a
	// program that embeds a server: a Go function (wrapped by lang.GoFunc:
	// code calls it like a builtin), Go data (converted by lang.FromGo), or
	// a lang.Value. Each name must be an identifier that is not a builtin
	// and does not start with '_'. Values are frozen, and shared by every
	// evaluation: a Go function is called from many goroutines at once.
	Provide map[string]any

	// Modules are Starlark files whose top-level names the server provides
	// (see Module). New loads them in order; a module that fails to load is
	// New's error, with its position ("file:line:col: message").
	Modules []Module

	// Databases are SQLite databases the server provides: code calls
	// sql(NAME, query, *args), which runs query on database NAME with args
	// bound to its ? parameters (never spliced into its text) and returns
	// the rows as a list of dicts from column name to value (None, int,
	// float, string or bytes; times as RFC 3339 strings). A statement that
	// returns no rows returns []. An SQL error is the call's error, naming
	// the database. A database is read-only unless Writable, and code
	// cannot ATTACH other files.
	//
	// The server provides sql, and each database's Name too, as a string
	// holding that name: a cell that writes sql(sales, "select ...")
	// (unquoted) uses the provided name sales, so clients send it to a
	// server that has database sales with no selector; sql("sales", ...)
	// goes to any server that has sql.
	Databases []Database

	// MaxRows bounds the rows one sql call returns; a query that returns
	// more is an error. Default: DefaultMaxRows.
	MaxRows int

	// StateDir is where the server keeps what outlives it: its published
	// functions, in the SQLite database PublishedFile there (created with
	// the directory if need be). "" keeps them in memory: they are lost
	// when the server stops, unless its cluster has them.
	StateDir string

	// MaxConnections bounds the client connections open at once, counted
	// from the end of their QUIC handshake (those that have not said Hello
	// yet included); a connection past it is closed at once with
	// remote.ConnBusy, and the client tries again later. Default:
	// DefaultMaxConnections.
	MaxConnections int

	// MaxStreams bounds the evaluation streams one connection may have open
	// at once (QUIC's stream limit): a client that wants more waits for one
	// of its streams to close. Default: DefaultMaxStreams.
	MaxStreams int

	// HandshakeTimeout bounds how long a new connection may take to
	// complete its QUIC handshake, and then to open its control stream and
	// send Hello. Default: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// IdleTimeout closes a connection on which nothing arrives from the
	// client for this long (QUIC's idle timeout: a live client's QUIC stack
	// sends keep-alives, and sperse's client pings every second), and stops
	// its evaluations: it bounds how long a client that vanished holds its
	// slots. Default: DefaultIdleTimeout.
	IdleTimeout time.Duration

	// Cluster, if not nil, lets the server join a cluster of servers
	// (JoinCluster): members learn of each other by gossip, forward work
	// to each other, and clients that know one member learn the others.
	Cluster *Cluster

	// Logger receives the server's structured logs: connections opened and
	// closed, refusals with their reason, and one record per evaluation.
	// Default: no logs.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	// DefaultMaxSteps is the default step limit of one evaluation: a billion
	// Starlark steps, some tens of seconds of pure Starlark on a current core,
	// so that DefaultTimeout usually stops a runaway loop first and the step
	// limit bounds work that the clock cannot see (a loaded machine).
	DefaultMaxSteps = 1_000_000_000

	// DefaultTimeout is the default time limit of one evaluation.
	DefaultTimeout = 60 * time.Second

	// MinMaxMessage is the smallest Config.MaxMessage New accepts: room for
	// an error's message and backtrace.
	MinMaxMessage = 16 << 10

	// DefaultValueCache is the default Config.ValueCache: 256 MiB.
	DefaultValueCache = 256 << 20

	// queuePerSlot is the default MaxQueue per slot of MaxConcurrency.
	queuePerSlot = 64
)

// validName reports whether s can be a server name or tag: what a client's
// selector can match, at most 64 bytes.
func validName(s string) bool { return len(s) <= 64 && lang.IsSelectorName(s) }

// withDefaults checks c and returns it with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if !validName(c.Name) {
		return c, fmt.Errorf("server name %q: want 1 to 64 letters, digits, '_', '.' or '-'", c.Name)
	}
	for _, tag := range c.Tags {
		if !validName(tag) {
			return c, fmt.Errorf("server tag %q: want 1 to 64 letters, digits, '_', '.' or '-'", tag)
		}
	}
	if err := c.checkTokens(); err != nil {
		return c, err
	}
	if c.MaxConcurrency <= 0 {
		c.MaxConcurrency = runtime.NumCPU()
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = queuePerSlot * c.MaxConcurrency
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = remote.DefaultMaxMessage
	}
	if c.MaxMessage < MinMaxMessage {
		return c, fmt.Errorf("MaxMessage %d is below the minimum of %d bytes", c.MaxMessage, MinMaxMessage)
	}
	if c.MaxRows <= 0 {
		c.MaxRows = DefaultMaxRows
	}
	switch {
	case c.ValueCache == 0:
		c.ValueCache = DefaultValueCache
	case c.ValueCache < 0:
		c.ValueCache = 0
	}
	if err := c.limitDefaults(); err != nil {
		return c, err
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Cluster != nil {
		cc := *c.Cluster
		if len(cc.Secret) < minSecret {
			return c, fmt.Errorf("cluster secret: %d bytes, want at least %d", len(cc.Secret), minSecret)
		}
		if cc.JoinTimeout <= 0 {
			cc.JoinTimeout = 10 * time.Second
		}
		c.Cluster = &cc
	}
	c.Tags = append([]string(nil), c.Tags...)
	c.Tokens = append([]string(nil), c.Tokens...)
	c.Modules = append([]Module(nil), c.Modules...)
	c.Databases = append([]Database(nil), c.Databases...)
	return c, nil
}

// limits returns the limits the server advertises in Welcome.
func (c *Config) limits() remote.Limits {
	return remote.Limits{
		MaxConcurrency: c.MaxConcurrency,
		MaxSteps:       c.MaxSteps,
		Timeout:        c.Timeout,
		MaxMessage:     c.MaxMessage,
		ValueCache:     c.ValueCache,
	}
}
