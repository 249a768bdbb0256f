package lang

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// memPublisher is a Publisher in memory: the versions of each name.
type memPublisher struct {
	versions map[string][]PublishedVersion
}

func (p *memPublisher) Publish(ctx context.Context, name string, fn Value) (int, error) {
	sig, err := SignatureOf(name, 0, fn)
	if err != nil {
		return 0, err
	}
	vs := p.versions[name]
	for i := range vs {
		vs[i].Current = false
	}
	n := len(vs) + 1
	p.versions[name] = append(vs, PublishedVersion{Version: n, Published: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		By: "mem", Signature: sig.String(), Current: true})
	return n, nil
}

func (p *memPublisher) Versions(ctx context.Context, name string) ([]PublishedVersion, error) {
	if p.versions[name] == nil {
		return nil, fmt.Errorf("no function %s was ever published", name)
	}
	return p.versions[name], nil
}

func (p *memPublisher) Rollback(ctx context.Context, name string) (int, error) {
	vs := p.versions[name]
	for i := range vs {
		if vs[i].Current && i > 0 {
			vs[i].Current, vs[i-1].Current = false, true
			return vs[i-1].Version, nil
		}
	}
	return 0, fmt.Errorf("%s has no version to roll back to", name)
}

func (p *memPublisher) Unpublish(ctx context.Context, name string) error {
	for i := range p.versions[name] {
		p.versions[name][i].Current = false
	}
	return nil
}

func TestPublishBuiltins(t *testing.T) {
	in := &Interp{Where: "local", Publisher: &memPublisher{versions: map[string][]PublishedVersion{}}}
	double := funcValue(t, "def double(x):\n    return 2 * x")
	square := funcValue(t, "square = lambda x: x * x")
	pinned := funcValue(t, "remote def triple(x, k=3): return k * x")
	scope := map[string]Value{"double": double, "square": square, "triple": pinned}
	eval := func(src string) (string, error) {
		t.Helper()
		v, err := in.Eval(context.Background(), ParseCell("ws.sp", 1, src), scope)
		if err != nil {
			return "", err
		}
		return v.String(), nil
	}
	for _, tc := range []struct{ src, want string }{
		{"a = publish(double)", "1"},
		{"a = publish(double)", "2"},
		{`a = publish(square, name="sq")`, "1"},
		{"a = publish(triple)", "1"},
		{`a = [v["version"] for v in versions("double")]`, "[1, 2]"},
		{`a = versions("triple")`, `[{"version": 1, "published": "2026-11-22T10:00:00Z", "by": "mem", "signature": "triple(x, k=3)", "current": True}]`},
		{`a = rollback("double")`, "1"},
		{`a = [v["current"] for v in versions("double")]`, "[True, False]"},
		{`a = unpublish("double")`, "None"},
	} {
		got, err := eval(tc.src)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.src, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{"a = publish(1)", "publish: got int, want a function (def or lambda)"},
		{"a = publish(square)", `publish: a lambda has no name: give one with publish(f, name="...")`},
		{`a = publish(double, name="len")`, "publish: cannot publish len: it is a builtin, which code would call instead; rename the function"},
		{`a = publish(double, name="_d")`, "publish: cannot publish _d: a name starting with _ is private"},
		{`a = publish(double, name="a b")`, `publish: cannot publish "a b": not a name code can call (an identifier)`},
		{`a = versions("nope")`, "versions of nope: no function nope was ever published"},
		{`a = rollback("square")`, "rollback square: square has no version to roll back to"},
		{`a = versions(1)`, "versions: for parameter name: got int, want string"},
	} {
		_, err := eval(tc.src)
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one ending %q", tc.src, err, tc.want)
		}
	}

	// With no Publisher, the builtins say what they need.
	_, err := NewInterp("local").Eval(context.Background(), ParseCell("ws.sp", 1, "a = publish(double)"), scope)
	if err == nil || !strings.Contains(err.Error(), "publish needs a server: code running on local has no store of published functions") {
		t.Errorf("publish without a Publisher: %v", err)
	}
}

func TestVersionsValue(t *testing.T) {
	want := []PublishedVersion{
		{Version: 1, Published: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), By: "a", Signature: "f(x)"},
		{Version: 3, Published: time.Date(2026, 1, 3, 3, 4, 5, 0, time.UTC), By: "b", Signature: "f(x, y)", Current: true},
	}
	data, err := Encode(VersionsValue(want))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewInterp("local").Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VersionsFromValue(v)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for _, bad := range []string{`1`, `[1]`, `[{"version": "x"}]`, `[{"version": 1, "published": "yesterday"}]`} {
		v := funcValue(t, "v = "+bad)
		if _, err := VersionsFromValue(v); err == nil {
			t.Errorf("VersionsFromValue(%s): no error", bad)
		}
	}
}
