package server

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"modernc.org/sqlite"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
)

// Published functions: publish(f) stores f under its name, with a new
// version, in the store of the server it reaches (an EvalPublish from a
// client, or publish() in code that runs on the server), and the store
// spreads it to the server's cluster (onPublish, mergePublished). The
// server provides each function current in its store as a name of its own,
// like a module's function: its code runs hermetically, in the caller's
// evaluation; its default values are evaluated when it is decoded, within
// decodeMaxSteps.
//
// The store keeps one document per name: every version (its number, the
// function as lang encodes it, its signature, when and by which server it
// was published), the current version (0: unpublished), and a stamp, a
// Lamport clock and the name of the server that made the change. Documents
// from different members merge by their stamps: the higher (clock, then
// origin) wins whole, and of two with equal stamps (which should be
// identical) the greater encoding, so that every member ends with the same
// documents whatever the order of the exchanges. Two members changing the
// same name at once keep one of the two changes: the last writer's.
//
// A server with a state directory keeps the documents in PublishedFile
// there (SQLite), written before a change is applied, so that they outlive
// restarts; one without keeps them in memory.
//
// Who may do what: a token with no scope (and a member of the cluster) may
// publish, roll back, unpublish and list versions. A scoped token (tags= or
// provides=) may change nothing: publishing changes what every client of
// the cluster runs. It may list the versions of a function, and call it, if
// its provides= lists it (or if it has no provides=), like any provided
// name.

// PublishedFile is the database of published functions in a state directory.
const PublishedFile = "published.db"

// Bounds of the published functions.
const (
	maxPublishedCode  = 256 << 10 // bytes of one version's function, encoded
	maxVersions       = 64        // versions kept per name: publishing drops the oldest past it
	maxPublishedNames = 4096      // documents a store keeps, and that one merge takes
	maxPublishedState = 64 << 20  // bytes mergePublished decodes
	maxParams         = 1024      // parameters of a signature
	maxVersion        = 1 << 30   // the highest version number
	maxClock          = 1 << 62   // the highest clock of a stamp: room to count on
)

// pubDoc is a published name as it is stored and spread. A document is
// never changed once stored: a change makes a new one.
type pubDoc struct {
	Name     string       `cbor:"1,keyasint"`
	Current  int          `cbor:"2,keyasint"` // the current version; 0: unpublished
	Versions []pubVersion `cbor:"3,keyasint"` // by version, ascending
	Stamp    pubStamp     `cbor:"4,keyasint"`
}

// pubVersion is one version of a published function.
type pubVersion struct {
	Version   int              `cbor:"1,keyasint"`
	Func      []byte           `cbor:"2,keyasint"` // lang.Encode of the function
	Signature remote.Signature `cbor:"3,keyasint"`
	Time      int64            `cbor:"4,keyasint"` // when it was published, in Unix nanoseconds
	By        string           `cbor:"5,keyasint"` // the server that published it
}

// pubStamp orders the changes of a name: a Lamport clock, then the server
// that made the change.
type pubStamp struct {
	Clock  uint64 `cbor:"1,keyasint"`
	Origin string `cbor:"2,keyasint"`
}

func (a pubStamp) compare(b pubStamp) int {
	return cmp.Or(cmp.Compare(a.Clock, b.Clock), strings.Compare(a.Origin, b.Origin))
}

// pubModes are the CBOR modes of documents: deterministic encoding, and
// decoding within limits (mergePublished takes bytes from the network).
var pubModes = sync.OnceValues(func() (cbor.EncMode, cbor.DecMode) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	dec, err := cbor.DecOptions{
		MaxNestedLevels:   16,
		MaxArrayElements:  maxPublishedNames,
		MaxMapPairs:       16,
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return enc, dec
})

// encodeDocs encodes docs as publishedState and onPublish give them: a
// CBOR array of documents.
func encodeDocs(docs []*pubDoc) []byte {
	enc, _ := pubModes()
	data, err := enc.Marshal(docs)
	if err != nil {
		panic(fmt.Sprintf("encode published documents: %v", err)) // plain data: cannot fail
	}
	return data
}

// encodeDoc encodes one document, as the database keeps it.
func encodeDoc(d *pubDoc) []byte {
	enc, _ := pubModes()
	data, err := enc.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("encode published document: %v", err))
	}
	return data
}

// decodeDocs decodes what encodeDocs made, within limits, and checks every
// document. It returns the documents that are well formed, and an error
// naming the others; a decoding error if data is not an array of documents.
func decodeDocs(data []byte) ([]*pubDoc, error) {
	if len(data) > maxPublishedState {
		return nil, fmt.Errorf("published documents: %d bytes, over the limit of %d", len(data), maxPublishedState)
	}
	_, dec := pubModes()
	var docs []*pubDoc
	if err := dec.Unmarshal(data, &docs); err != nil {
		return nil, fmt.Errorf("published documents: %w", err)
	}
	var errs []error
	good := docs[:0]
	for i, d := range docs {
		if d == nil {
			errs = append(errs, fmt.Errorf("published document %d: null", i+1))
			continue
		}
		if err := d.check(); err != nil {
			errs = append(errs, fmt.Errorf("published document %d: %w", i+1, err))
			continue
		}
		good = append(good, d)
	}
	return good, errors.Join(errs...)
}

// check checks that d is well formed.
func (d *pubDoc) check() error {
	if err := lang.CheckPublishName(d.Name); err != nil {
		return fmt.Errorf("%q: %w", truncate(d.Name, 64), err)
	}
	if len(d.Versions) == 0 || len(d.Versions) > maxVersions {
		return fmt.Errorf("%s: %d versions, want 1 to %d", d.Name, len(d.Versions), maxVersions)
	}
	prev, current := 0, d.Current == 0
	for _, v := range d.Versions {
		switch {
		case v.Version <= prev || v.Version > maxVersion:
			return fmt.Errorf("%s: version %d after %d: want versions ascending from 1 (to %d)", d.Name, v.Version, prev, maxVersion)
		case len(v.Func) == 0 || len(v.Func) > maxPublishedCode:
			return fmt.Errorf("%s version %d: function of %d bytes, want 1 to %d", d.Name, v.Version, len(v.Func), maxPublishedCode)
		case !validName(v.By):
			return fmt.Errorf("%s version %d: published by %q, not a server name", d.Name, v.Version, truncate(v.By, 64))
		case v.Signature.Version != v.Version:
			return fmt.Errorf("%s version %d: its signature is of version %d", d.Name, v.Version, v.Signature.Version)
		}
		if err := checkSignature(v.Signature); err != nil {
			return fmt.Errorf("%s version %d: signature: %w", d.Name, v.Version, err)
		}
		prev, current = v.Version, current || v.Version == d.Current
	}
	if !current {
		return fmt.Errorf("%s: current version %d is none of its versions", d.Name, d.Current)
	}
	if d.Stamp.Clock == 0 || d.Stamp.Clock > maxClock || !validName(d.Stamp.Origin) {
		return fmt.Errorf("%s: bad stamp (clock %d, origin %q)", d.Name, d.Stamp.Clock, truncate(d.Stamp.Origin, 64))
	}
	return nil
}

// checkSignature checks that sig's names are identifiers.
func checkSignature(sig remote.Signature) error {
	if len(sig.Params) > maxParams {
		return fmt.Errorf("%d parameters, over %d", len(sig.Params), maxParams)
	}
	for _, p := range sig.Params {
		if !lang.IsIdentifier(p.Name) || len(p.Default) > 1024 {
			return fmt.Errorf("bad parameter %q", truncate(p.Name, 64))
		}
	}
	for _, name := range []string{sig.Varargs, sig.Kwargs} {
		if name != "" && !lang.IsIdentifier(name) {
			return fmt.Errorf("bad parameter %q", truncate(name, 64))
		}
	}
	return nil
}

// newer reports whether document a supersedes b, of the same name.
func newer(a, b *pubDoc) bool {
	if c := a.Stamp.compare(b.Stamp); c != 0 {
		return c > 0
	}
	return bytes.Compare(encodeDoc(a), encodeDoc(b)) > 0
}

// currentVersion returns d's current version, or nil.
func (d *pubDoc) currentVersion() *pubVersion {
	for i := range d.Versions {
		if d.Versions[i].Version == d.Current {
			return &d.Versions[i]
		}
	}
	return nil
}

// pubStore is a server's published functions: a document per name, in
// memory and, with a state directory, in a database. Safe for concurrent
// use.
type pubStore struct {
	self string  // the server's name: the origin of its stamps
	db   *sql.DB // nil: in memory only
	path string  // the database's file, for errors

	mu    sync.Mutex
	docs  map[string]*pubDoc
	clock uint64 // at least every clock of a stamp seen
}

// openPubStore opens the store of the server called self, in dir (a state
// directory) or, if dir is "", in memory. It reads the documents of the
// database; one that cannot be read is logged and left out.
func openPubStore(dir, self string, log *slog.Logger) (*pubStore, error) {
	st := &pubStore{self: self, docs: map[string]*pubDoc{}}
	if dir == "" {
		return st, nil
	}
	if err := makeStateDir(dir); err != nil {
		return nil, err
	}
	path, err := filepath.Abs(filepath.Join(dir, PublishedFile))
	if err != nil {
		return nil, err
	}
	st.path = path
	c, err := sqlite.NewConnector("file:" + (&url.URL{Path: path}).EscapedPath() + "?_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	st.db = sql.OpenDB(c)
	st.db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	if err := st.load(ctx, log); err != nil {
		st.db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// load creates the table of documents if need be, and reads them.
func (st *pubStore) load(ctx context.Context, log *slog.Logger) error {
	if _, err := st.db.ExecContext(ctx, "create table if not exists published (name text primary key, doc blob not null)"); err != nil {
		return err
	}
	rows, err := st.db.QueryContext(ctx, "select name, doc from published")
	if err != nil {
		return err
	}
	defer rows.Close()
	_, dec := pubModes()
	for rows.Next() {
		var (
			name string
			data []byte
		)
		if err := rows.Scan(&name, &data); err != nil {
			return err
		}
		d := new(pubDoc)
		err := dec.Unmarshal(data, d)
		if err == nil {
			err = d.check()
		}
		if err == nil && d.Name != name {
			err = fmt.Errorf("the document of %q is of %q", truncate(name, 64), d.Name)
		}
		if err != nil {
			log.Warn("a published function cannot be read; left out", "file", st.path, "name", truncate(name, 64), "error", err)
			continue
		}
		st.docs[name] = d
		st.clock = max(st.clock, d.Stamp.Clock)
	}
	return rows.Err()
}

// close closes the database.
func (st *pubStore) close() {
	if st != nil && st.db != nil {
		st.db.Close()
	}
}

// put writes docs to the database in one transaction.
func (st *pubStore) put(docs []*pubDoc) error {
	if st.db == nil || len(docs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", st.path, err)
	}
	defer tx.Rollback()
	for _, d := range docs {
		if _, err := tx.ExecContext(ctx, "insert into published (name, doc) values (?, ?) on conflict (name) do update set doc = excluded.doc",
			d.Name, encodeDoc(d)); err != nil {
			return fmt.Errorf("%s: %w", st.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", st.path, err)
	}
	return nil
}

// errNotPublished is the error of an operation on name, which is not
// published (and never was, if d is nil).
func errNotPublished(name string, d *pubDoc) error {
	if d == nil {
		return fmt.Errorf("%s is not published: no function %s was ever published", name, name)
	}
	return fmt.Errorf("%s is not published (it was withdrawn; publishing it again makes version %d)", name, d.Versions[len(d.Versions)-1].Version+1)
}

// change applies a local change to the document of name: f returns the new
// document (with no stamp) and the version to answer, or an error. The new
// document is stamped, written to the database and kept.
func (st *pubStore) change(name string, f func(old *pubDoc) (*pubDoc, int, error)) (*pubDoc, int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	old := st.docs[name]
	if old == nil && len(st.docs) >= maxPublishedNames {
		return nil, 0, fmt.Errorf("cannot publish %s: the store holds %d names, its limit", name, maxPublishedNames)
	}
	d, n, err := f(old)
	if err != nil {
		return nil, 0, err
	}
	st.clock++
	d.Stamp = pubStamp{Clock: st.clock, Origin: st.self}
	if err := st.put([]*pubDoc{d}); err != nil {
		return nil, 0, fmt.Errorf("cannot keep the published function %s: %w", name, err)
	}
	st.docs[name] = d
	return d, n, nil
}

// publish stores fn, with its signature sig, as the next version of name.
func (st *pubStore) publish(name string, fn []byte, sig remote.Signature, now time.Time) (*pubDoc, int, error) {
	return st.change(name, func(old *pubDoc) (*pubDoc, int, error) {
		d := &pubDoc{Name: name}
		next := 1
		if old != nil {
			d.Versions = slices.Clone(old.Versions)
			next = old.Versions[len(old.Versions)-1].Version + 1
		}
		sig.Version = next
		d.Versions = append(d.Versions, pubVersion{Version: next, Func: fn, Signature: sig, Time: now.UnixNano(), By: st.self})
		if n := len(d.Versions); n > maxVersions {
			d.Versions = slices.Clone(d.Versions[n-maxVersions:])
		}
		d.Current = next
		return d, next, nil
	})
}

// rollback makes the version before the current one of name current.
func (st *pubStore) rollback(name string) (*pubDoc, int, error) {
	return st.change(name, func(old *pubDoc) (*pubDoc, int, error) {
		if old == nil || old.Current == 0 {
			return nil, 0, errNotPublished(name, old)
		}
		prev := 0
		for _, v := range old.Versions {
			if v.Version < old.Current {
				prev = v.Version
			}
		}
		if prev == 0 {
			return nil, 0, fmt.Errorf("%s has no version before version %d to roll back to", name, old.Current)
		}
		return &pubDoc{Name: name, Current: prev, Versions: old.Versions}, prev, nil
	})
}

// unpublish withdraws name.
func (st *pubStore) unpublish(name string) (*pubDoc, error) {
	d, _, err := st.change(name, func(old *pubDoc) (*pubDoc, int, error) {
		if old == nil || old.Current == 0 {
			return nil, 0, errNotPublished(name, old)
		}
		return &pubDoc{Name: name, Versions: old.Versions}, 0, nil
	})
	return d, err
}

// versions returns the versions of name.
func (st *pubStore) versions(name string) ([]lang.PublishedVersion, error) {
	st.mu.Lock()
	d := st.docs[name]
	st.mu.Unlock()
	if d == nil {
		return nil, fmt.Errorf("no function %s was ever published", name)
	}
	vs := make([]lang.PublishedVersion, len(d.Versions))
	for i, v := range d.Versions {
		vs[i] = lang.PublishedVersion{Version: v.Version, Published: time.Unix(0, v.Time).UTC(), By: v.By,
			Signature: v.Signature.Lang(name).String(), Current: v.Version == d.Current}
	}
	return vs, nil
}

// merge takes the documents of docs that supersede the store's (see
// newer), writes them to the database and keeps them. It returns the
// names that changed.
func (st *pubStore) merge(docs []*pubDoc) ([]string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	won := map[string]*pubDoc{}
	for _, d := range docs {
		st.clock = max(st.clock, d.Stamp.Clock)
		cur := won[d.Name]
		if cur == nil {
			cur = st.docs[d.Name]
		}
		if cur == nil && len(st.docs)+len(won) >= maxPublishedNames {
			continue
		}
		if cur == nil || newer(d, cur) {
			won[d.Name] = d
		}
	}
	names := slices.Sorted(maps.Keys(won))
	list := make([]*pubDoc, len(names))
	for i, name := range names {
		list[i] = won[name]
	}
	if err := st.put(list); err != nil {
		return nil, fmt.Errorf("cannot keep published functions: %w", err)
	}
	for _, d := range list {
		st.docs[d.Name] = d
	}
	return names, nil
}

// all returns every document, by name.
func (st *pubStore) all() []*pubDoc {
	st.mu.Lock()
	defer st.mu.Unlock()
	docs := make([]*pubDoc, 0, len(st.docs))
	for _, name := range slices.Sorted(maps.Keys(st.docs)) {
		docs = append(docs, st.docs[name])
	}
	return docs
}

// openPublished opens the server's store of published functions and
// provides those it holds.
func (s *Server) openPublished() error {
	st, err := openPubStore(s.cfg.StateDir, s.cfg.Name, s.log)
	if err != nil {
		return fmt.Errorf("published functions: %w", err)
	}
	s.pub = st
	s.refreshPublished()
	return nil
}

// refreshPublished makes what the server provides from its static names
// and the functions current in its store, and tells the clients. A
// function is decoded in an interpreter with the static names and the
// functions decoded before it (so one may use another by name); one that
// cannot be decoded here (it uses a name this server does not provide, or
// its name is one of the static names) is left out, and logged.
func (s *Server) refreshPublished() {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	o := &offered{env: maps.Clone(s.provided.env), published: map[string]lang.Value{}, sigs: map[string]remote.Signature{}}
	var pending []*pubDoc
	for _, d := range s.pub.all() {
		if d.Current == 0 {
			continue
		}
		if from, ok := s.provided.from[d.Name]; ok {
			s.log.Warn("published function not provided here: the server provides the name already", "function", d.Name, "from", from)
			continue
		}
		pending = append(pending, d)
	}
	errs := map[string]error{}
	for len(pending) > 0 {
		dec := decoderOf(s.interp.With(o.env, s.interp.MaxSteps))
		got := map[string]lang.Value{}
		var next []*pubDoc
		for _, d := range pending {
			cur := d.currentVersion()
			f, err := dec.DecodeLimited(cur.Func, lang.DecodeLimits{MaxSize: maxPublishedCode})
			var sig lang.Signature
			if err == nil {
				sig, err = lang.SignatureOf(d.Name, cur.Version, f)
			}
			if err != nil {
				errs[d.Name] = err
				next = append(next, d)
				continue
			}
			delete(errs, d.Name)
			f.Freeze()
			got[d.Name] = f
			o.sigs[d.Name] = remote.WireSignature(sig)
		}
		if len(got) == 0 {
			break
		}
		for name, f := range got {
			o.env[name], o.published[name] = f, f
		}
		pending = next
	}
	for _, name := range slices.Sorted(maps.Keys(errs)) {
		s.log.Warn("published function not provided here: it cannot be decoded", "function", name, "error", errs[name])
	}
	o.names = slices.Sorted(maps.Keys(o.env))
	s.refreshViews(o)
	if c := s.clusterOf(); c != nil {
		c.signal() // the Members that clients get list what s provides
	}
}

// changedPublished provides what a local change made, and hands its
// document to the cluster (onPublish).
func (s *Server) changedPublished(d *pubDoc) {
	s.refreshPublished()
	s.mu.Lock()
	hook := s.onPublish
	s.mu.Unlock()
	if hook != nil {
		hook(encodeDocs([]*pubDoc{d}))
	}
}

// publishedState returns every document of the store, encoded (for a full
// exchange of state between members; mergePublished takes it).
func (s *Server) publishedState() []byte {
	return encodeDocs(s.pub.all())
}

// mergePublished merges documents encoded by publishedState or given to
// onPublish by another member: those that supersede the store's are kept
// (written to the database first) and provided. Data that does not decode
// is an error and changes nothing; documents that are not well formed are
// left out, and named in the error, and the others merged.
func (s *Server) mergePublished(data []byte) error {
	docs, bad := decodeDocs(data)
	if len(docs) == 0 {
		return bad
	}
	names, err := s.pub.merge(docs)
	if err != nil {
		return errors.Join(err, bad)
	}
	if len(names) > 0 {
		s.log.Info("published functions merged", "changed", strings.Join(names, ","))
		s.refreshPublished()
	}
	return bad
}

// runPublish runs job, an operation on published functions that the
// client's token permits, and returns what its builtin returns.
func (s *Server) runPublish(job remote.PublishJob) (lang.Value, error) {
	switch job.Op {
	case remote.OpPublish:
		n, err := s.publishFunc(job.Name, job.Func)
		if err != nil {
			return nil, err
		}
		return lang.FromGo(n)
	case remote.OpVersions:
		vs, err := s.pub.versions(job.Name)
		if err != nil {
			return nil, err
		}
		return lang.VersionsValue(vs), nil
	case remote.OpRollback:
		n, err := s.rollbackFunc(job.Name)
		if err != nil {
			return nil, err
		}
		return lang.FromGo(n)
	case remote.OpUnpublish:
		if err := s.unpublishFunc(job.Name); err != nil {
			return nil, err
		}
		return lang.FromGo(nil)
	}
	return nil, fmt.Errorf("unknown operation %s", job.Op)
}

// publishFunc publishes fn, a function as lang encodes it, under name, and
// returns its version. The function must decode here, with what the server
// provides (so its default values run, within decodeMaxSteps).
func (s *Server) publishFunc(name string, fn []byte) (int, error) {
	if err := lang.CheckPublishName(name); err != nil {
		return 0, err
	}
	if from, ok := s.provided.from[name]; ok {
		return 0, fmt.Errorf("cannot publish %s: server %s provides %s already (%s); rename the function", name, s.cfg.Name, name, from)
	}
	if len(fn) > maxPublishedCode {
		return 0, fmt.Errorf("cannot publish %s: the function takes %d bytes encoded (code and captured values), over the limit of %d", name, len(fn), maxPublishedCode)
	}
	// The errors are flattened (%v): a *lang.Error inside would stand for
	// the whole as the code's own error, losing what was refused.
	v, err := s.access.full.current().dec.DecodeLimited(fn, lang.DecodeLimits{MaxSize: maxPublishedCode})
	if err != nil {
		return 0, fmt.Errorf("cannot publish %s: %v", name, err)
	}
	sig, err := lang.SignatureOf(name, 0, v)
	if err != nil {
		return 0, fmt.Errorf("cannot publish %s: %v", name, err)
	}
	d, n, err := s.pub.publish(name, fn, remote.WireSignature(sig), time.Now())
	if err != nil {
		return 0, err
	}
	sig.Version = n
	s.log.Info("published", "function", name, "version", n, "signature", sig.String())
	s.changedPublished(d)
	return n, nil
}

// rollbackFunc makes the version of name before the current one current,
// and returns it.
func (s *Server) rollbackFunc(name string) (int, error) {
	d, n, err := s.pub.rollback(name)
	if err != nil {
		return 0, err
	}
	s.log.Info("rolled back", "function", name, "version", n)
	s.changedPublished(d)
	return n, nil
}

// unpublishFunc withdraws name.
func (s *Server) unpublishFunc(name string) error {
	d, err := s.pub.unpublish(name)
	if err != nil {
		return err
	}
	s.log.Info("unpublished", "function", name)
	s.changedPublished(d)
	return nil
}

// permitPublish checks that g permits job: a token with no scope may do
// anything; a scoped one may list the versions of a name its scope allows,
// and change nothing.
func (g *grant) permitPublish(srv string, job remote.PublishJob) *remote.Error {
	if g.scope == "" {
		return nil
	}
	if job.Op == remote.OpVersions {
		if g.offer.limit == nil || g.offer.limit[job.Name] {
			return nil
		}
		return &remote.Error{Code: remote.CodeNotPermitted, Message: fmt.Sprintf(
			"not permitted: versions of %s: this client's token may not use %s on server %s", job.Name, job.Name, srv)}
	}
	return &remote.Error{Code: remote.CodeNotPermitted, Message: fmt.Sprintf(
		"not permitted: %s %s: this client's token is scoped (%s) and may not publish, roll back or unpublish on server %s; a token with no scope may",
		job.Op, job.Name, g.scope, srv)}
}

// publisher is the Publisher of code that runs on the server for a token
// with no scope (lang.Interp.Publisher): the server's store.
type publisher Server

func (p *publisher) Publish(ctx context.Context, name string, fn lang.Value) (int, error) {
	fnData, err := lang.Encode(fn)
	if err != nil {
		return 0, err
	}
	return (*Server)(p).publishFunc(name, fnData)
}

func (p *publisher) Versions(ctx context.Context, name string) ([]lang.PublishedVersion, error) {
	return p.pub.versions(name)
}

func (p *publisher) Rollback(ctx context.Context, name string) (int, error) {
	return (*Server)(p).rollbackFunc(name)
}

func (p *publisher) Unpublish(ctx context.Context, name string) error {
	return (*Server)(p).unpublishFunc(name)
}

// scopedPublisher is the Publisher of code that runs for a scoped token:
// it may list versions as permitPublish says, and change nothing.
type scopedPublisher struct {
	s *Server
	g *grant
}

// permit returns the error of op on name, or nil.
func (p scopedPublisher) permit(op remote.PublishOp, name string) error {
	if e := p.g.permitPublish(p.s.cfg.Name, remote.PublishJob{Op: op, Name: name}); e != nil {
		return errors.New(e.Message)
	}
	return nil
}

func (p scopedPublisher) Publish(ctx context.Context, name string, fn lang.Value) (int, error) {
	return 0, p.permit(remote.OpPublish, name)
}

func (p scopedPublisher) Versions(ctx context.Context, name string) ([]lang.PublishedVersion, error) {
	if err := p.permit(remote.OpVersions, name); err != nil {
		return nil, err
	}
	return p.s.pub.versions(name)
}

func (p scopedPublisher) Rollback(ctx context.Context, name string) (int, error) {
	return 0, p.permit(remote.OpRollback, name)
}

func (p scopedPublisher) Unpublish(ctx context.Context, name string) error {
	return p.permit(remote.OpUnpublish, name)
}
