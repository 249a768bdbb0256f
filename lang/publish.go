package lang

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.starlark.net/starlark"
)

// Published functions: publish(f) stores a function in a cluster of
// servers under its name, with a new version; code sent to those servers
// can then call it by that name, as a name they provide. versions(name),
// rollback(name) and unpublish(name) look after what is published. The
// builtins ask the interpreter's Publisher: on a client the remote client
// (which asks a server), on a server the server's own store.

// init adds publish, versions, rollback and unpublish to the builtins
// (interp.go): publish checks names against the builtins, a cycle Go does
// not allow in a variable's initializer.
func init() {
	for _, b := range []*starlark.Builtin{
		starlark.NewBuiltin("publish", builtinPublish),
		starlark.NewBuiltin("versions", builtinVersions),
		starlark.NewBuiltin("rollback", builtinRollback),
		starlark.NewBuiltin("unpublish", builtinUnpublish),
	} {
		builtins[b.Name()] = b
	}
}

// Publisher keeps published functions. Its methods are safe for concurrent
// use; an error in what was asked (a name never published, no version to
// roll back to) says so, naming the function.
type Publisher interface {
	// Publish stores fn, a def function or a lambda, under name, with a new
	// version, which it returns and which becomes the current one.
	Publish(ctx context.Context, name string, fn Value) (version int, err error)

	// Versions returns the versions of name, oldest first.
	Versions(ctx context.Context, name string) ([]PublishedVersion, error)

	// Rollback makes the version before the current one current again,
	// and returns it.
	Rollback(ctx context.Context, name string) (version int, err error)

	// Unpublish withdraws name: code can no longer call it. Its versions
	// are kept; publishing it again continues their numbering.
	Unpublish(ctx context.Context, name string) error
}

// PublishedVersion is one version of a published function.
type PublishedVersion struct {
	Version   int
	Published time.Time // when it was published
	By        string    // the name of the server that published it
	Signature string    // as its def wrote it: "f(x, y=1, *args)"
	Current   bool      // the version code calls (none is after unpublish)
}

// CheckPublishName returns an error if name cannot be published: it must be
// an identifier, not a builtin, not starting with '_' (private, as in a
// module).
func CheckPublishName(name string) error {
	switch {
	case !IsIdentifier(name):
		return fmt.Errorf("cannot publish %q: not a name code can call (an identifier)", name)
	case strings.HasPrefix(name, "_"):
		return fmt.Errorf("cannot publish %s: a name starting with _ is private", name)
	case IsBuiltin(name):
		return fmt.Errorf("cannot publish %s: it is a builtin, which code would call instead; rename the function", name)
	}
	return nil
}

// publisher returns the Publisher of the evaluation running in thread, or
// the error of the builtin fname without one.
func publisher(thread *starlark.Thread, fname string) (Publisher, context.Context, error) {
	s := state(thread)
	if s.in.Publisher == nil {
		return nil, nil, fmt.Errorf("%s needs a server: code running on %s has no store of published functions (connect a server)", fname, s.in.Where)
	}
	return s.in.Publisher, s.ctx, nil
}

// builtinPublish is publish(f, name=None): f stored under its name (or
// name, which a lambda needs) with a new version, which it returns.
func builtinPublish(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var f, nameArg starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "f", &f, "name?", &nameArg); err != nil {
		return nil, err
	}
	fn, err := publishable(f)
	if err != nil {
		return nil, fmt.Errorf("publish: %v", err)
	}
	name := fn.Name()
	if nameArg != nil && nameArg != starlark.None {
		s, ok := starlark.AsString(nameArg)
		if !ok {
			return nil, fmt.Errorf("publish: name= is %s, want a string", nameArg.Type())
		}
		name = s
	} else if name == "lambda" {
		return nil, fmt.Errorf("publish: a lambda has no name: give one with publish(f, name=\"...\")")
	}
	if err := CheckPublishName(name); err != nil {
		return nil, fmt.Errorf("publish: %v", err)
	}
	p, ctx, err := publisher(thread, b.Name())
	if err != nil {
		return nil, err
	}
	v, err := p.Publish(ctx, name, fn)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", name, err)
	}
	return starlark.MakeInt(v), nil
}

// nameArg unpacks the one argument of the builtin b, the name of a
// published function.
func nameArg(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, error) {
	var name string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
		return "", err
	}
	if !IsIdentifier(name) {
		return "", fmt.Errorf("%s: %q is not the name of a function", b.Name(), name)
	}
	return name, nil
}

// builtinVersions is versions(name): the versions of a published function,
// oldest first, each a dict of version, published (RFC 3339), by,
// signature and current.
func builtinVersions(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, err := nameArg(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	p, ctx, err := publisher(thread, b.Name())
	if err != nil {
		return nil, err
	}
	vs, err := p.Versions(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("versions of %s: %w", name, err)
	}
	return VersionsValue(vs), nil
}

// builtinRollback is rollback(name): the version before the current one
// made current again; it returns that version.
func builtinRollback(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, err := nameArg(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	p, ctx, err := publisher(thread, b.Name())
	if err != nil {
		return nil, err
	}
	v, err := p.Rollback(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("rollback %s: %w", name, err)
	}
	return starlark.MakeInt(v), nil
}

// builtinUnpublish is unpublish(name): the function withdrawn; None.
func builtinUnpublish(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, err := nameArg(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	p, ctx, err := publisher(thread, b.Name())
	if err != nil {
		return nil, err
	}
	if err := p.Unpublish(ctx, name); err != nil {
		return nil, fmt.Errorf("unpublish %s: %w", name, err)
	}
	return starlark.None, nil
}

// The keys of a version's dict in the value of versions().
const (
	keyVersion   = "version"
	keyPublished = "published"
	keyBy        = "by"
	keySignature = "signature"
	keyCurrent   = "current"
)

// VersionsValue returns vs as versions() does: a list of dicts.
func VersionsValue(vs []PublishedVersion) Value {
	list := make([]starlark.Value, len(vs))
	for i, v := range vs {
		d := starlark.NewDict(5)
		d.SetKey(starlark.String(keyVersion), starlark.MakeInt(v.Version))
		d.SetKey(starlark.String(keyPublished), starlark.String(v.Published.UTC().Format(time.RFC3339)))
		d.SetKey(starlark.String(keyBy), starlark.String(v.By))
		d.SetKey(starlark.String(keySignature), starlark.String(v.Signature))
		d.SetKey(starlark.String(keyCurrent), starlark.Bool(v.Current))
		list[i] = d
	}
	return starlark.NewList(list)
}

// VersionsFromValue converts a value made by VersionsValue (as it arrives
// from a server) back to versions, checking its form.
func VersionsFromValue(v Value) ([]PublishedVersion, error) {
	list, ok := v.(*starlark.List)
	if !ok {
		return nil, fmt.Errorf("versions: got %s, want a list", v.Type())
	}
	vs := make([]PublishedVersion, list.Len())
	for i := range vs {
		d, ok := list.Index(i).(*starlark.Dict)
		if !ok {
			return nil, fmt.Errorf("versions: element %d is %s, want a dict", i, list.Index(i).Type())
		}
		get := func(key string) starlark.Value {
			x, _, _ := d.Get(starlark.String(key))
			if x == nil {
				return starlark.None
			}
			return x
		}
		n, err := starlark.AsInt32(get(keyVersion))
		if err != nil {
			return nil, fmt.Errorf("versions: element %d: version: %v", i, err)
		}
		published, _ := starlark.AsString(get(keyPublished))
		t, err := time.Parse(time.RFC3339, published)
		if err != nil {
			return nil, fmt.Errorf("versions: element %d: published: %v", i, err)
		}
		by, _ := starlark.AsString(get(keyBy))
		sig, _ := starlark.AsString(get(keySignature))
		current, _ := get(keyCurrent).(starlark.Bool)
		vs[i] = PublishedVersion{Version: n, Published: t, By: by, Signature: sig, Current: bool(current)}
	}
	return vs, nil
}
