package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// Who may do what on a server: tokens, each perhaps limited to some of the
// server's names, tags and provided names (a scope), and the failures to
// authenticate that slow an address down (failures.go).

// Token is a client token and what it allows: a line of a token file (see
// ParseTokens), or an item of Config.ScopedTokens. A Token with neither
// Tags nor Provides allows what a token of Config.Tokens does: everything
// the server offers. Its String, GoString and LogValue never show Secret.
//
// A scope decides what a client may ask of a server, never what the code it
// sends may compute: any cell may use the builtins (the hermetic
// interpreter). Provides is what limits what code can reach; Tags limits
// which servers a token may use at all (a token file shared by several
// servers), and what its cells may select them by.
type Token struct {
	// Secret is what the client presents in its Hello: 1 to 1024 printable
	// ASCII characters, no spaces.
	Secret string

	// Tags, if not nil, limits the token to servers whose name, or one of
	// whose tags, it lists: a server that has none of them refuses the
	// token at the handshake. A server that accepts it advertises only the
	// tags it lists (in its Welcome, and for each member of its cluster in
	// Members, leaving out the members the token may not use), and runs a
	// cell with a selector (remote@sel) only if every item of the selector
	// is the server's name or one of those tags; any other is answered "not
	// permitted". A cell with no selector runs as usual.
	Tags []string

	// Provides, if not nil, limits the provided names (Config.Provide,
	// Modules, Databases) the token's code may use to those it lists; an
	// empty, non-nil Provides allows none, only the builtins. The server
	// advertises only those (for the members of its cluster too), and code
	// that uses another is answered "not permitted" without running: the
	// name does not exist for it. A database is allowed by its name, which
	// allows sql on that database only; sql allows every database. A
	// provided function of a module may itself use names the token does not
	// allow: allowing it allows what it does.
	Provides []string
}

// String describes t without its secret: "token tags=db,eu provides=sql".
func (t Token) String() string {
	var b strings.Builder
	b.WriteString("token")
	if t.Tags != nil {
		b.WriteString(" tags=" + strings.Join(t.Tags, ","))
	}
	if t.Provides != nil {
		b.WriteString(" provides=" + strings.Join(t.Provides, ","))
	}
	return b.String()
}

// GoString is String: %#v does not show the secret either.
func (t Token) GoString() string { return t.String() }

// LogValue is String: a log record with a Token does not show its secret.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// scoped reports whether t is limited.
func (t Token) scoped() bool { return t.Tags != nil || t.Provides != nil }

// access is who may use a server, and for what.
type access struct {
	tokens   tokenSet
	grants   []*grant // what each of tokens allows, by its index
	full     *grant   // what a token with no scope allows
	offers   []*offer // the offers of the grants, full's first (see refreshViews)
	failures failureLog
}

// grant is what a token allows on this server. Grants are made by New and
// never change, but for the view of their offer, which changes with the
// published functions (see current); tokens with the same scope share one.
type grant struct {
	scope   string // the scope as in a token file, "" for everything: for logs
	refusal string // if not "", the token may not use this server: the Refused message

	tags      []string        // the tags advertised in Welcome
	offer     *offer          // the provided names it may use, and where its code runs
	selectors map[string]bool // the names a cell's selector may use; nil: any

	peer bool // the token of the server's cluster: the client is another member

	// The scope as the token lists it (Token.Tags and Provides; nil: not
	// limited): what the client may see of the other members of the
	// cluster (see member).
	scopeTags     []string
	scopeProvides map[string]bool
}

// newAccess makes the grants of the tokens of s's configuration. The
// server's interpreter and provisions must be made.
func newAccess(s *Server) (*access, error) {
	cfg := &s.cfg
	all := &grant{tags: cfg.Tags, offer: &offer{}}
	offers := []*offer{all.offer}
	var secrets []string
	var grants []*grant
	for _, tok := range cfg.Tokens {
		secrets = append(secrets, tok)
		grants = append(grants, all)
	}
	byScope := map[string]*grant{}
	for i, tok := range cfg.ScopedTokens {
		secrets = append(secrets, tok.Secret)
		if !tok.scoped() {
			grants = append(grants, all)
			continue
		}
		key := tok.String()
		g := byScope[key]
		if g == nil {
			var err error
			if g, err = s.newGrant(tok); err != nil {
				return nil, fmt.Errorf("scoped token %d (%s): %w", i+1, tok, err)
			}
			offers = append(offers, g.offer)
			byScope[key] = g
			if g.refusal != "" {
				s.log.Info("a scoped token cannot use this server: it is refused here", "token", i+1, "scope", g.scope)
			}
		}
		grants = append(grants, g)
	}
	if cfg.Cluster != nil {
		peer := *all
		peer.peer = true
		secrets = append(secrets, peerToken(cfg.Cluster.Secret))
		grants = append(grants, &peer)
	}
	seen := make(map[string]int, len(secrets))
	for i, secret := range secrets {
		if j, dup := seen[secret]; dup {
			return nil, fmt.Errorf("a token is given twice (tokens %d and %d of Tokens and ScopedTokens together)", j+1, i+1)
		}
		seen[secret] = i
	}
	return &access{tokens: newTokenSet(secrets), grants: grants, full: all, offers: offers, failures: failureLog{addrs: map[failureKey]*failures{}}}, nil
}

// newGrant makes the grant of tok, a scoped token. A scoped token is
// served only by the server it is presented to: its code's on() and pinned
// calls do not reach other members of the cluster (offer.local); and it
// may not change the published functions (scopedPublisher).
func (s *Server) newGrant(tok Token) (*grant, error) {
	cfg := &s.cfg
	g := &grant{scope: strings.TrimPrefix(tok.String(), "token "), tags: cfg.Tags, offer: &offer{local: true}, scopeTags: tok.Tags}
	g.offer.publisher = scopedPublisher{s: s, g: g}
	if tok.Tags != nil {
		g.tags = nil
		g.selectors = map[string]bool{cfg.Name: true}
		for _, tag := range cfg.Tags {
			if slices.Contains(tok.Tags, tag) {
				g.tags = append(g.tags, tag)
				g.selectors[tag] = true
			}
		}
		if len(g.tags) == 0 && !slices.Contains(tok.Tags, cfg.Name) {
			g.refusal = fmt.Sprintf("this token is not permitted on server %s: it is limited to servers named or tagged %s",
				cfg.Name, strings.Join(tok.Tags, ", "))
		}
	}
	if tok.Provides == nil {
		return g, nil
	}
	// The published functions it lists are offered when they are published.
	g.offer.limit = map[string]bool{}
	for _, name := range tok.Provides {
		g.offer.limit[name] = true
	}
	g.scopeProvides = g.offer.limit
	allowed := map[string]bool{}
	for _, name := range tok.Provides {
		if _, ok := s.provided.env[name]; ok {
			allowed[name] = true
		}
	}
	// Databases: sql allows every one; a database's name allows sql on it.
	var dbs []string
	for _, db := range s.provided.dbs {
		if allowed["sql"] {
			allowed[db.name] = true
		}
		if allowed[db.name] {
			dbs = append(dbs, db.name)
		}
	}
	if len(dbs) > 0 {
		allowed["sql"] = true
	}
	env := make(map[string]lang.Value, len(allowed))
	for name := range allowed {
		env[name] = s.provided.env[name]
	}
	if len(dbs) > 0 && len(dbs) < len(s.provided.dbs) {
		sql, err := s.provided.sqlOnly(cfg, dbs)
		if err != nil {
			return nil, err
		}
		env["sql"] = sql
	}
	g.offer.static = env
	return g, nil
}

// member returns m, another member of the cluster, as the client of a
// token that g allows may see it in Members: with only the tags and the
// provided names the token lists (applied as this server knows the token;
// m applies its own token file when the client connects to it, and its
// Welcome is exact). A database on m is shown only if the token lists it by
// name: this server does not know which of m's names are databases, and
// shows less rather than more. ok is false if the token lists neither m's
// name nor any of its tags: m would refuse it (with the same token file),
// and the client is not told of it at all.
func (g *grant) member(m remote.Member) (_ remote.Member, ok bool) {
	if g.scope == "" {
		return m, true
	}
	if g.scopeTags != nil {
		m.Tags = slices.DeleteFunc(slices.Clone(m.Tags), func(tag string) bool { return !slices.Contains(g.scopeTags, tag) })
		if len(m.Tags) == 0 && !slices.Contains(g.scopeTags, m.Name) {
			return remote.Member{}, false
		}
	}
	if g.scopeProvides != nil {
		m.Provides = slices.DeleteFunc(slices.Clone(m.Provides), func(name string) bool { return !g.scopeProvides[name] })
	}
	return m, true
}

// members returns list, the cluster's members with this server first, as
// the client of a token that g allows may see them: this server as its
// Welcome (or latest Update) shows it, the others as member shows them.
func (g *grant) members(list []remote.Member) []remote.Member {
	if g.scope == "" || len(list) == 0 {
		return list
	}
	self := list[0]
	self.Tags, self.Provides = g.tags, g.current().provides
	out := []remote.Member{self}
	for _, m := range list[1:] {
		if m, ok := g.member(m); ok {
			out = append(out, m)
		}
	}
	return out
}

// decodeMaxSteps bounds the Starlark steps of decoding one function of a
// job (see decoderOf).
const decodeMaxSteps = 100_000

// decoderOf returns the interpreter in which the server decodes the jobs
// that run in in: in with a step limit of decodeMaxSteps. Decoding a
// function evaluates its default values (as a def statement does): code
// the client chose, which runs before the evaluation has a slot and a
// time limit, so it must be short. The functions decoded are the same as
// in's would be (the same builtins and provided names). Default values
// cannot publish: the decoder has no Publisher.
func decoderOf(in *lang.Interp) *lang.Interp {
	dec := in.With(in.Provided, decodeMaxSteps)
	dec.Publisher = nil
	return dec
}

// authenticate checks the token of c's Hello. It returns what the token
// allows; or, for a token the server does not accept, nil, having refused c
// after a delay that grows with the recent failures from c's address (see
// failureLog). The token never shows in the refusal or the log.
func (s *Server) authenticate(c *conn, token string) *grant {
	key := keyOf(c.qc.RemoteAddr())
	fl := &s.access.failures
	if fl.crowded(key) {
		s.refuse(c, remote.CodeOverloaded, fmt.Sprintf(
			"server %s: too many failed authentications from your address at once; try again later", s.cfg.Name),
			"failures", fl.count(key))
		return nil
	}
	var g *grant
	if i, ok := s.access.tokens.lookup(token); ok {
		g = s.access.grants[i]
	}
	if g != nil {
		fl.forget(key)
		if g.refusal != "" {
			s.refuse(c, remote.CodeUnauthorized, g.refusal, "scope", g.scope)
			return nil
		}
		return g
	}
	msg := fmt.Sprintf("bad token: server %s does not accept it; use the token its operator gave you", s.cfg.Name)
	if token == "" {
		msg = fmt.Sprintf("bad token: none given; server %s requires one (the token its operator gave you)", s.cfg.Name)
	}
	n, delay := fl.fail(key, time.Now())
	defer fl.done(key)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.qc.Context().Done():
		case <-s.stop:
		}
		t.Stop()
	}
	s.refuse(c, remote.CodeUnauthorized, msg, "failures", n, "delay", delay)
	return nil
}

// permit checks that t, decoded in the interpreter of v (what g allows
// now), is within g: the selector of a cell, and the provided names it uses
// that are not in its scope (names its functions use are checked when they
// are decoded: one v does not allow does not exist in v's interpreter); or
// an operation on published functions (see permitPublish).
func (g *grant) permit(srv string, v *grantView, t *task) *remote.Error {
	if t.kind == remote.EvalPublish {
		return g.permitPublish(srv, t.publish)
	}
	if t.kind != remote.EvalCell {
		return nil
	}
	if g.selectors != nil {
		var bad []string
		for _, item := range t.cell.Selector {
			if !g.selectors[item] {
				bad = append(bad, item)
			}
		}
		if len(bad) > 0 {
			return &remote.Error{Code: remote.CodeNotPermitted, Message: fmt.Sprintf(
				"not permitted: cell %s selects %s, which this client's token may not use on server %s (it may select it by %s)",
				t.name, strings.Join(bad, ", "), srv, strings.Join(slices.Sorted(maps.Keys(g.selectors)), ", "))}
		}
	}
	if v.denied == nil {
		return nil
	}
	var used []string
	for _, name := range t.cell.Free {
		if _, ok := t.scope[name]; !ok && name != t.cell.Name && v.deniedName(name) {
			used = append(used, name)
		}
	}
	return v.notPermitted(srv, "cell "+t.name, used)
}

// deniedName reports whether v does not allow the provided name.
func (v *grantView) deniedName(name string) bool {
	_, ok := slices.BinarySearch(v.denied, name)
	return ok
}

// notPermitted is the error of what, which uses the provided names used
// (some perhaps allowed), or nil if v allows all of them.
func (v *grantView) notPermitted(srv, what string, used []string) *remote.Error {
	used = slices.DeleteFunc(slices.Clone(used), func(name string) bool { return !v.deniedName(name) })
	if len(used) == 0 {
		return nil
	}
	slices.Sort(used)
	may := "no provided names"
	if len(v.provides) > 0 {
		may = strings.Join(v.provides, ", ")
	}
	return &remote.Error{Code: remote.CodeNotPermitted, Message: fmt.Sprintf(
		"not permitted: %s uses %s, which this client's token may not use on server %s (it may use %s)",
		what, strings.Join(slices.Compact(used), ", "), srv, may)}
}

// explainDecode explains why ev, which the interpreter of v could not
// decode, is not permitted: it decodes it with every provided name, and
// returns the error naming the names v does not allow that its functions
// use, or nil if that is not why.
func (s *Server) explainDecode(ev remote.Eval, v *grantView) *remote.Error {
	if v.denied == nil {
		return nil
	}
	t, err := decodeTaskIn(s.access.full.current().dec, ev, s.cfg.MaxMessage, false)
	if err != nil {
		return nil // not decodable at all: the error is the decoder's
	}
	var used []string
	what := "chunk"
	switch t.kind {
	case remote.EvalCell:
		what = "cell " + t.name
		for _, v := range t.scope {
			used = append(used, funcNeeds(v)...)
		}
	case remote.EvalChunk:
		used = append(funcNeeds(t.chunk.Map), funcNeeds(t.chunk.Reduce)...)
		used = append(used, funcNeeds(t.chunk.Items)...)
	}
	return v.notPermitted(s.cfg.Name, what, used)
}

// funcNeeds is lang.FuncNeeds, seeing through the pinned functions ("remote
// def") in v too.
func funcNeeds(v lang.Value) []string {
	if p, ok := v.(*lang.Pinned); ok {
		return lang.FuncNeeds(p.Fn)
	}
	return lang.FuncNeeds(v)
}

// sqlOnly returns the function sql of a token that may use only the
// databases named in dbs: sql on another of the server's databases is
// answered "not permitted" (and one the server does not have, as usual,
// without naming the others).
func (p *provisions) sqlOnly(cfg *Config, dbs []string) (lang.Value, error) {
	some := map[string]*database{}
	for _, db := range p.dbs {
		if slices.Contains(dbs, db.name) {
			some[db.name] = db
		}
	}
	query := sqlFunc(cfg.Name, some, cfg.MaxRows)
	return lang.GoFunc("sql", func(ctx context.Context, name, q string, args ...any) (any, error) {
		if some[name] == nil && slices.ContainsFunc(p.dbs, func(db *database) bool { return db.name == name }) {
			return nil, fmt.Errorf("not permitted: database %s: this client's token may use only %s on server %s",
				name, strings.Join(dbs, ", "), cfg.Name)
		}
		return query(ctx, name, q, args...)
	})
}

// checkTokens checks the tokens of c (Tokens and ScopedTokens) and copies
// ScopedTokens.
func (c *Config) checkTokens() error {
	if len(c.Tokens) == 0 && len(c.ScopedTokens) == 0 {
		return fmt.Errorf("server %s has no token: a server requires at least one client token", c.Name)
	}
	for i, tok := range c.Tokens {
		if err := checkToken(tok); err != nil {
			return fmt.Errorf("token %d: %w", i+1, err)
		}
	}
	scoped := make([]Token, len(c.ScopedTokens))
	for i, tok := range c.ScopedTokens {
		if err := checkToken(tok.Secret); err != nil {
			return fmt.Errorf("scoped token %d: %w", i+1, err)
		}
		for _, tag := range tok.Tags {
			if !validName(tag) {
				return fmt.Errorf("scoped token %d: tag %q: want 1 to 64 letters, digits, '_', '.' or '-'", i+1, tag)
			}
		}
		if tok.Tags != nil && len(tok.Tags) == 0 {
			return fmt.Errorf("scoped token %d: Tags is empty but not nil: it would allow no server", i+1)
		}
		for _, name := range tok.Provides {
			if !lang.IsIdentifier(name) {
				return fmt.Errorf("scoped token %d: provided name %q is not an identifier", i+1, name)
			}
		}
		// Clone keeps an empty, non-nil Provides so.
		scoped[i] = Token{Secret: tok.Secret, Tags: slices.Clone(tok.Tags), Provides: slices.Clone(tok.Provides)}
	}
	c.ScopedTokens = scoped
	return nil
}

// logAttrs are what the log of an accepted client says about its access:
// its token's scope, if limited, and the subject of its certificate, if it
// presented one.
func (g *grant) logAttrs(c *conn) []any {
	var attrs []any
	if g.scope != "" {
		attrs = append(attrs, "scope", g.scope)
	}
	if certs := c.qc.ConnectionState().TLS.PeerCertificates; len(certs) > 0 {
		attrs = append(attrs, "certificate", certs[0].Subject.String())
	}
	return attrs
}
