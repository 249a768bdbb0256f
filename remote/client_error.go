package remote

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/quic-go/quic-go"
)

// ServerError is an error about a server rather than in a cell's code: a
// refused connection, a server lost, no server able to run a cell, or an
// error a server reported with a code other than CodeFailed. The engine
// classifies it by its methods Unavailable and ServerLost (see
// reactive.Executor).
type ServerError struct {
	Code    ErrorCode // what happened, and so what to do
	Server  string    // the server's name (its address before its first handshake); "" if about no one server
	Message string    // the whole message, naming the server
	Err     error     // the cause, if any
}

func (e *ServerError) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *ServerError) Unwrap() error { return e.Err }

// Unavailable reports whether no server can run the cell now (CodeUnavailable):
// the engine runs it again when servers change.
func (e *ServerError) Unavailable() bool { return e.Code == CodeUnavailable }

// ServerLost reports whether the evaluation did not finish through no fault of
// the cell's code, so that running it again (elsewhere, or later) is safe and
// expected: the connection was lost during the evaluation (CodeDisconnected),
// the server is shutting down (CodeShutdown) or stopped the evaluation itself
// (CodeCancelled), or it is too busy (CodeOverloaded: the cell is retried on
// the client's next change, such as the server's next Status).
func (e *ServerError) ServerLost() bool {
	switch e.Code {
	case CodeDisconnected, CodeShutdown, CodeCancelled, CodeOverloaded:
		return true
	}
	return false
}

// unavailableLocked is the error of a cell no server can run: what, then the
// servers known. A server that took the client's token as scoped
// (Welcome.Scoped) shows only what the token is permitted to use, so what
// the cell needs may be there but hidden: the error says so, naming the
// connected servers that scope the token.
func (c *Client) unavailableLocked(what string) error {
	list := make([]string, len(c.servers))
	var scoped []string
	for i, s := range c.servers {
		list[i] = s.describe()
		if s.sess != nil && s.welcome.Scoped {
			scoped = append(scoped, s.name)
		}
	}
	msg := fmt.Sprintf("%s (servers: %s)", what, strings.Join(list, ", "))
	if len(scoped) > 0 {
		shows := "which shows"
		if len(scoped) > 1 {
			shows = "which show"
		}
		msg += fmt.Sprintf("; your token is scoped on %s, %s only what it is permitted to use: what is missing may be there but not permitted to you",
			strings.Join(scoped, ", "), shows)
	}
	return &ServerError{Code: CodeUnavailable, Message: msg}
}

// ErrClientClosed is returned by Connect, and wrapped by Eval's errors,
// after Close.
var ErrClientClosed = errors.New("remote client closed")

// refusedError is the error of a Refused message (or of a connection the
// server closed with ConnRefused) during the handshake.
func refusedError(addr string, code ErrorCode, msg string) *ServerError {
	if msg == "" {
		msg = code.String()
	}
	text := fmt.Sprintf("server %s refused the connection: %s", addr, msg)
	if code == CodeUnauthorized {
		text += " (give the server's token with --token or SPERSE_TOKEN)"
	}
	return &ServerError{Code: code, Server: addr, Message: text}
}

// describeLoss says in words why a connection was lost.
func describeLoss(err error) string {
	var (
		app   *quic.ApplicationError
		idle  *quic.IdleTimeoutError
		reset *quic.StatelessResetError
	)
	switch {
	case errors.As(err, &app) && app.Remote:
		switch app.ErrorCode {
		case ConnShutdown:
			return "the server shut down"
		case ConnClosed:
			return "the server closed the connection"
		case ConnProtocol:
			return "the server closed the connection for a protocol error: " + app.ErrorMessage
		case ConnBusy:
			return "the server is at its connection limit: " + app.ErrorMessage
		}
	case errors.As(err, &app) && app.ErrorMessage == noPongs:
		return "no response from the server (no answer to pings)"
	case errors.As(err, &app):
		return "the client closed the connection"
	case errors.As(err, &idle):
		return "no response from the server (idle timeout)"
	case errors.As(err, &reset):
		return "the server restarted (stateless reset)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server ended the stream without a result"
	}
	return err.Error()
}

// isConnLoss reports whether err, from reading or writing a stream, means the
// whole connection is gone (every quic-go connection error wraps net.ErrClosed).
func isConnLoss(err error) bool {
	return errors.Is(err, net.ErrClosed)
}
