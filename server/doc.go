// Package server is the sperse evaluation server: it accepts QUIC
// connections from sperse clients, authenticates them with a token, and
// evaluates the cells and chunks of split work they send, each on a
// bidirectional stream of its own or as a Call on a call stream that many
// share (the protocol is in package remote).
//
// # Model
//
// A Server is configured once (Config) and then serves one or more
// net.PacketConns (Serve, ListenAndServe) until Shutdown or Close, like
// net/http's and quic-go's http3 servers:
//
//   - Every connection starts with a control stream. The client's Hello must
//     carry the protocol version and one of Config.Tokens or
//     Config.ScopedTokens (compared in constant time); otherwise the server
//     answers Refused and closes the connection, and no evaluation stream of
//     that connection is ever accepted. A bad token is logged with the
//     client's address (never the token), and answered later each time
//     from the same address (failures.go). With Config.ClientCAs the client
//     must also present a certificate signed by one of them (mutual TLS). A
//     good Hello is answered with Welcome (name, tags, provided names,
//     limits: only the tags and names the token allows, see Token); the
//     control stream then carries Ping and Pong, Status (the server's load,
//     coalesced to at most one every 100ms) and, on Shutdown, GoAway.
//   - Every evaluation stream carries one Eval and one Result at a time; a
//     call stream carries Calls, each answered by a Reply when it ends, in
//     any order, and Cancels (calls.go). At most Config.MaxConcurrency
//     evaluations run at once; more wait their turn in a bounded queue, and
//     past that are answered CodeOverloaded. Each evaluation has a step
//     limit (Config.MaxSteps) and a time limit (Config.Timeout), and stops
//     at once when the client cancels its stream or its Call, which frees
//     its slot.
//   - A cell outside its token's scope (a selector it may not use, a
//     provided name it may not use) is answered CodeNotPermitted without
//     running. Code that a token may run sees only the provided names it
//     allows: it is decoded and runs in an interpreter of its own.
//   - Anything a client sends that cannot be understood is answered with an
//     error on that stream (CodeBadRequest, CodeTooLarge); the connection and
//     the server keep serving.
//   - What one client holds is bounded, so that clients that connect and
//     send nothing cannot crowd out the others: Config.MaxConnections
//     connections at once (more are closed with remote.ConnBusy),
//     Config.MaxStreams streams a connection, remote.MaxCalls Calls in
//     flight on a call stream, Config.HandshakeTimeout to say
//     Hello, and a connection on which nothing arrives for
//     Config.IdleTimeout is closed and its evaluations stopped (see
//     limits.go).
//
// # Provided names
//
// A server provides names beyond the builtins, which code it runs may use
// like builtins, and advertises them, sorted, in Welcome.Provides; a client
// sends a remote cell that uses such a name to a server that provides it.
// They come from three places, gathered by New (see Config):
//
//   - Config.Provide: Go functions and data of a program that embeds the
//     server (lang.GoFunc and lang.FromGo convert them);
//   - Config.Databases: SQLite databases (modernc.org/sqlite, no cgo),
//     queried with sql(NAME, query, *args) with bound parameters, read-only
//     unless Writable. The server provides sql and each database's NAME, a
//     string holding itself, so that sql(sales, ...) with the name unquoted
//     routes a cell to a server that has database sales;
//   - Config.Modules: Starlark files, loaded at start, whose public
//     top-level names (functions and values) are provided.
//
// A name given twice, a builtin's name, or a module that fails to load is
// an error of New. Provided values are frozen and shared by every
// evaluation. A module's function travels as code, like any function value,
// but does not carry the provided names it uses: where it is decoded must
// provide them too.
//
// # Goroutines
//
// Every goroutine a Server starts is counted by one WaitGroup and stops when
// its connection closes or the server closes; Close and the end of Shutdown
// wait for all of them.
//
// # State
//
// LoadOrCreateCertificate and LoadOrCreateToken keep a server's identity in
// a state directory (DefaultStateDir) across restarts, so clients can pin the
// certificate's fingerprint. An embedded server uses GenerateCertificate and
// a random token instead and keeps nothing.
package server
