package lang

import (
	"errors"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// convertError turns an error from the Starlark parser, resolver or
// interpreter into an *Error with a position. Other errors are returned as
// they are.
func convertError(err error) error {
	var (
		serr syntax.Error
		rerr resolve.ErrorList
		eerr *starlark.EvalError
	)
	switch {
	case errors.As(err, &serr):
		return &Error{Pos: toPos(serr.Pos), Msg: serr.Msg}
	case errors.As(err, &rerr) && len(rerr) > 0:
		msgs := make([]string, len(rerr))
		for i, e := range rerr {
			msgs[i] = e.Msg
		}
		// The first error's position; all the messages, as the user fixes them at once.
		return &Error{Pos: toPos(rerr[0].Pos), Msg: strings.Join(dedupe(msgs), "; ")}
	case errors.As(err, &eerr):
		e := &Error{Msg: eerr.Msg, Backtrace: eerr.Backtrace(), cause: eerr.Unwrap()}
		// The innermost frame with a position in source code.
		for i := len(eerr.CallStack) - 1; i >= 0; i-- {
			if p := eerr.CallStack[i].Pos; p.IsValid() && p.Filename() != "<builtin>" {
				e.Pos = toPos(p)
				break
			}
		}
		return e
	}
	return err
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
