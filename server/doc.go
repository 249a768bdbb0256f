// Package server is the sperse evaluation server: it accepts QUIC
// connections from sperse clients, authenticates them with a token, and
// evaluates the cells and chunks of split work they send, each on a
// bidirectional stream of its own (the protocol is in package remote).
//
// # Model
//
// A Server is configured once (Config) and then serves one or more
// net.PacketConns (Serve, ListenAndServe) until Shutdown or Close, like
// net/http's and quic-go's http3 servers:
//
//   - Every connection starts with a control stream. The client's Hello must
//     carry the protocol version and one of Config.Tokens; otherwise the
//     server answers Refused and closes the connection, and no evaluation
//     stream of that connection is ever accepted. A good Hello is answered
//     with Welcome (name, tags, provided names, limits); the control stream then carries Ping
//     and Pong, Status (the server's load, coalesced to at most one every
//     100ms) and, on Shutdown, GoAway.
//   - Every evaluation stream carries one Eval and one Result. At most
//     Config.MaxConcurrency evaluations run at once; more wait their turn in
//     a bounded queue, and past that are answered CodeOverloaded. Each
//     evaluation has a step limit (Config.MaxSteps) and a time limit
//     (Config.Timeout), and stops at once when the client cancels its
//     stream, which frees its slot.
//   - Anything a client sends that cannot be understood is answered with an
//     error on that stream (CodeBadRequest, CodeTooLarge); the connection and
//     the server keep serving.
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
