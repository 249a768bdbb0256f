package remote

import (
	"context"
	"time"

	"github.com/sperse/sperse/lang"
)

// InProcess evaluates remote cells in this process, the way a server would:
// the cell's code and scope are encoded to CBOR, decoded into a fresh
// interpreter that shares nothing with the client, evaluated there, and the
// result is encoded and decoded back into the client's interpreter. Whatever
// cannot travel fails here with the error it would get on the network.
type InProcess struct {
	Name   string       // the evaluator's name: what where() returns in its cells
	Client *lang.Interp // the client's interpreter, in which results (functions too) are made
}

// Eval implements the engine's Executor (reactive.Executor).
func (p *InProcess) Eval(ctx context.Context, req lang.Request) lang.Result {
	start := time.Now()
	v, err := p.eval(ctx, req)
	return lang.Result{Value: v, Err: err, Where: p.Name, Took: time.Since(start)}
}

func (p *InProcess) eval(ctx context.Context, req lang.Request) (lang.Value, error) {
	job, err := lang.EncodeJob(req.Cell, req.Scope)
	if err != nil {
		return nil, err
	}
	server := lang.NewInterp(p.Name)
	cell, scope, err := server.DecodeJob(job)
	if err != nil {
		return nil, err
	}
	v, err := server.Eval(ctx, cell, scope)
	if err != nil {
		return nil, err
	}
	result, err := lang.Encode(v)
	if err != nil {
		return nil, err
	}
	return p.Client.Decode(result)
}
