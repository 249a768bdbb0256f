// Package remote is the wire protocol of sperse and its client side: a
// Client keeps one QUIC connection to each server, watches it, reconnects
// when it is lost, and evaluates remote cells there (see Client.Eval), on a
// stream of their own or, many in flight, as Calls sharing a call stream,
// carrying the cell's code and scope as CBOR. A
// cell whose server is lost is run again on another eligible one (bounded).
// The Client is also the lang.Splitter of pmap and mapreduce: it spreads
// their chunks over the servers in proportion to their concurrency (see
// Client.Split).
//
// Servers are trusted by the fingerprint of their certificate: pinned in the
// address ("host:port#sha256:..."), or trusted on first use and remembered in
// known_servers (see KnownServers), like SSH's known_hosts.
package remote
