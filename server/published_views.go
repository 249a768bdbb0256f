package server

import (
	"maps"
	"slices"
	"sync/atomic"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// What a grant offers changes with the published functions: the static
// provided names (Config.Provide, Databases, Modules) stay, the published
// ones come and go. Each grant's offer holds its current view, an immutable
// snapshot that an evaluation takes when its job is decoded and keeps to
// the end, so evaluations in flight are untouched by a change. A change
// makes new views for every offer (refreshViews) and tells every connection
// to send its client an Update if its view changed.

// offered is what the server provides at one time.
type offered struct {
	env       map[string]lang.Value       // every provided name: the static ones and the published functions
	names     []string                    // env's names, sorted
	published map[string]lang.Value       // the published functions provided here, by name
	sigs      map[string]remote.Signature // their signatures
}

// offer is the provided names that some grants may use: every one the
// server provides (the full offer, of the tokens with no scope and of the
// cluster's members), or those a scope allows. Its view changes with the
// published functions (see refreshViews).
type offer struct {
	// limit is what a scope's Provides lists, or nil for every name: a
	// published function is offered if it is listed.
	limit map[string]bool
	// static are the static provided names a limited offer allows, with
	// sql limited to the databases it allows; unused if limit is nil.
	static map[string]lang.Value
	// local makes the offer's interpreters run on() and pinned calls in
	// place: a scoped token is served only by the server it is presented
	// to, so its code's calls do not reach other members of the cluster.
	local bool
	// publisher, if not nil, is the Publisher of its interpreters: what a
	// scoped token's code may do with published functions (see
	// scopedPublisher). Nil keeps the server's.
	publisher lang.Publisher

	view atomic.Pointer[grantView]
}

// grantView is what an offer allows at one time. It never changes.
type grantView struct {
	provides []string                    // the provided names advertised in Welcome, sorted
	sigs     map[string]remote.Signature // the signatures of the published functions among provides
	in       *lang.Interp                // where code runs
	dec      *lang.Interp                // where code is decoded (see decoderOf)
	denied   []string                    // provided names it may not use, sorted; nil: none
}

// current returns what g allows now.
func (g *grant) current() *grantView { return g.offer.view.Load() }

// fullView returns what the full offer allows of o.
func (s *Server) fullView(o *offered) *grantView {
	v := &grantView{provides: o.names, sigs: o.sigs, in: s.interp}
	if len(o.published) > 0 {
		v.in = s.interp.With(o.env, s.interp.MaxSteps)
	}
	v.dec = decoderOf(v.in)
	return v
}

// viewOf returns what off, a scope's offer, allows of o.
func (s *Server) viewOf(off *offer, o *offered) *grantView {
	env := o.env
	var denied []string
	if off.limit != nil {
		env = maps.Clone(off.static)
		if env == nil {
			env = map[string]lang.Value{}
		}
		for name, f := range o.published {
			if off.limit[name] {
				env[name] = f
			}
		}
		for _, name := range o.names {
			if _, ok := env[name]; !ok {
				denied = append(denied, name)
			}
		}
	}
	v := &grantView{provides: slices.Sorted(maps.Keys(env)), denied: denied, in: s.interp.With(env, s.interp.MaxSteps)}
	for name := range o.sigs {
		if _, ok := env[name]; ok {
			if v.sigs == nil {
				v.sigs = map[string]remote.Signature{}
			}
			v.sigs[name] = o.sigs[name]
		}
	}
	if off.local {
		v.in.Remote = nil
	}
	if off.publisher != nil {
		v.in.Publisher = off.publisher
	}
	v.dec = decoderOf(v.in)
	return v
}

// refreshViews makes the views of every offer from o, and asks every
// connection to send an Update if what its client may use changed.
func (s *Server) refreshViews(o *offered) {
	full := s.fullView(o)
	for _, off := range s.access.offers {
		if off.limit == nil && !off.local {
			off.view.Store(full)
		} else {
			off.view.Store(s.viewOf(off, o))
		}
	}
	s.mu.Lock()
	for c := range s.conns {
		c.signalUpdate()
	}
	s.mu.Unlock()
}

// welcomeFor returns the Welcome of a client whose token allows g, with
// what it allows now, v.
func (s *Server) welcomeFor(g *grant, v *grantView) remote.Welcome {
	return remote.Welcome{
		Version:    remote.ProtocolVersion,
		Name:       s.cfg.Name,
		Tags:       g.tags,
		Provides:   v.provides,
		Signatures: v.sigs,
		Limits:     s.cfg.limits(),
	}
}

// sameAdvert reports whether a and b advertise the same provided names and
// signatures.
func sameAdvert(a, b *grantView) bool {
	return a == b || slices.Equal(a.provides, b.provides) && maps.EqualFunc(a.sigs, b.sigs, func(x, y remote.Signature) bool {
		return x.Version == y.Version && x.Varargs == y.Varargs && x.Kwargs == y.Kwargs && slices.Equal(x.Params, y.Params)
	})
}

// signalUpdate asks writeControl to send an Update if c's client may now
// use other provided names than it was last told.
func (c *conn) signalUpdate() {
	select {
	case c.updateSig <- struct{}{}:
	default:
	}
}

// nextUpdate returns the Update writeControl is to send c's client, if
// what it may use changed since sent, the view it was last told; and the
// view it tells now.
func (c *conn) nextUpdate(sent *grantView) (*remote.Welcome, *grantView) {
	if c.grant == nil {
		return nil, sent
	}
	v := c.grant.current()
	if sent != nil && sameAdvert(v, sent) {
		return nil, sent
	}
	w := c.srv.welcomeFor(c.grant, v)
	return &w, v
}
