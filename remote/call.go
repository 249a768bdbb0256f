package remote

import (
	"context"

	"github.com/sperse/sperse/lang"
)

// CallRemote implements lang.RemoteCaller: it runs fn(*args, **kwargs), a
// call of a pinned function, on a server that matches sel, as a remote cell
// of its own (so routing, cancellation and errors are those of any cell).
func (c *Client) CallRemote(ctx context.Context, sel []string, fn, args, kwargs lang.Value) (lang.Value, error) {
	res := c.Eval(ctx, lang.Request{Cell: lang.CallCell(sel), Scope: lang.CallScope(fn, args, kwargs)})
	return res.Value, res.Err
}
