// Command sperse-server is a sperse evaluation server: clients connect over
// QUIC with a token and evaluate cells on it.
//
// Usage:
//
//	sperse-server --name NAME [--listen HOST:PORT] [--tag T]...
//	    [--token TOKEN | --token-file FILE] [--client-ca FILE] [--state-dir DIR]
//	    [--max-concurrency N] [--max-steps N] [--timeout D] [--grace D]
//	    [--module NAME=FILE.star]... [--sqlite NAME=PATH]... [--sqlite-rw]
//	    [--max-rows N] [--max-conns N] [--max-streams N]
//	    [--idle-timeout D] [--handshake-timeout D]
//
// On start it prints its address and certificate fingerprint, and the full
// address to give clients (HOST:PORT#sha256:...). The certificate is
// generated on first start and kept in the state directory, so the
// fingerprint stays the same across restarts.
//
// The server provides names beyond the builtins, and advertises them to
// clients, which send a remote cell that uses such a name to a server that
// provides it. --module NAME=FILE.star loads a Starlark file at start and
// provides its public top-level names (functions and values; a name that
// starts with _ is private); NAME names the module in logs and errors. A
// file that fails to load stops the start with its position
// (file:line:col) and exit status 1. --sqlite NAME=PATH opens an existing
// SQLite database, read-only unless --sqlite-rw, and provides
// sql(NAME, query, *args), which returns the rows as a list of dicts, with
// args bound to the query's ? parameters; at most --max-rows rows. NAME
// is provided too (as the string "NAME"), so a cell that writes
// sql(NAME, ...) unquoted goes to a server that has that database.
//
// Clients need a token. With no --token, --token-file or SPERSE_TOKEN, the
// server generates one on first start, keeps it in the state directory
// (readable by its owner only) and prints it that once; later starts say
// where it is kept. --token-file holds one token per line (# comments and
// blank lines are ignored), each optionally limited, as in
// "TOKEN tags=db,eu provides=sql,echo": to servers named or tagged with
// one of tags= (and to selecting this one by them), and to the provided
// names of provides= (see server.Token); a malformed line stops the start
// with the file and line. A token given with --token is visible to other
// users of the machine in the process list: prefer --token-file or
// SPERSE_TOKEN. Failed attempts are logged with the client's address, and
// answered more slowly each time from the same address.
//
// --client-ca FILE requires every client to present, besides its token, a
// certificate signed by the CA in FILE (PEM): mutual TLS. Clients give
// theirs with --client-cert and --client-key.
//
// SIGINT or SIGTERM shuts the server down gracefully: it sends GoAway to its
// clients, lets the evaluations in flight complete (for at most --grace) and
// exits 0. A second signal stops it at once.
//
// What one client may hold is bounded, so that a client that opens
// connections or streams and sends nothing cannot crowd out the others: at
// most --max-conns connections at once (more are turned away, and clients
// try again later), --max-streams evaluation streams a connection, and a
// connection on which nothing arrives for --idle-timeout is closed, its
// evaluations stopped (a client that vanished mid-evaluation frees its
// slots then). A new connection has --handshake-timeout to say Hello.
//
// Exit status: 0 after a shutdown by signal, 1 if the server cannot start or
// fails, 2 for bad usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
