package lang

import (
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// TestJobSharing checks that a big value of a job's scope travels inline
// or as a ValueRef, as has says, that the decoder reports both with the
// same hash, and that the value a ValueRef stands for, put back in the
// scope, gives the same result as the value sent inline.
func TestJobSharing(t *testing.T) {
	in := NewInterp("test")
	big := codecEval(t, "list(range(100000))")
	small := codecEval(t, "[1, 2, 3]")
	c := ParseCell("t.sp", 1, "n = len(big) + len(small)")
	scope := map[string]Value{"big": big, "small": small}
	const min = 64 << 10
	enc, err := Encode(big)
	if err != nil {
		t.Fatal(err)
	}

	inlineJob, shared, err := EncodeJobSharing(c, scope, min, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := EncodeJob(c, scope)
	if err != nil {
		t.Fatal(err)
	}
	if string(inlineJob) != string(plain) {
		t.Errorf("EncodeJobSharing with nothing kept differs from EncodeJob")
	}
	want := SharedValue{Name: "big", Ref: RefTo(enc), Size: len(enc), Inline: true}
	if len(shared) != 1 || shared[0] != want {
		t.Fatalf("shared = %+v, want [%+v]", shared, want)
	}

	refJob, shared, err := EncodeJobSharing(c, scope, min, func(r ValueRef) bool { return r == want.Ref })
	if err != nil {
		t.Fatal(err)
	}
	if len(shared) != 1 || shared[0].Inline || shared[0].Ref != want.Ref {
		t.Fatalf("shared = %+v, want big by reference", shared)
	}
	if len(refJob) > 200 {
		t.Errorf("the job with a reference takes %d bytes", len(refJob))
	}

	// Inline: the decoder hashes the big value as the encoder did.
	cell, got, dshared, err := in.DecodeJobSharing(inlineJob, min)
	if err != nil {
		t.Fatal(err)
	}
	if len(dshared) != 1 || dshared[0].Ref != want.Ref || !dshared[0].Inline || dshared[0].Size != len(enc) || dshared[0].Value != got["big"] {
		t.Fatalf("decoded shared = %+v", dshared)
	}
	missed := evalRepr(t, in, cell, got)

	// By reference: the scope holds the ValueRef until it is resolved.
	cell, got, dshared, err = in.DecodeJobSharing(refJob, min)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := got["big"].(ValueRef); !ok || r != want.Ref || len(dshared) != 1 || dshared[0].Inline {
		t.Fatalf("decoded scope big = %v, shared %+v; want the ValueRef", got["big"], dshared)
	}
	got["big"] = big // as a place that keeps it resolves it
	if hit := evalRepr(t, in, cell, got); hit != missed {
		t.Errorf("with the value kept: %s; sent inline: %s", hit, missed)
	}
	if missed != "100003" {
		t.Errorf("n = %s, want 100003", missed)
	}
}

func evalRepr(t *testing.T, in *Interp, c *Cell, scope map[string]Value) string {
	t.Helper()
	v, err := in.Eval(t.Context(), c, scope)
	if err != nil {
		t.Fatal(err)
	}
	return v.String()
}

// TestValueRefOnlyInScope checks that a ValueRef is refused outside a
// job's scope, and that a malformed one is a *DecodeError.
func TestValueRefOnlyInScope(t *testing.T) {
	in := NewInterp("test")
	r := RefTo([]byte("x"))
	if _, err := Encode(r); err == nil {
		t.Error("Encode of a ValueRef succeeded")
	}
	e := encoder{}
	e.valueRef(r)
	if _, err := in.Decode(e.buf); err == nil {
		t.Error("Decode of a ValueRef outside a job succeeded")
	}
	job, err := EncodeJob(ParseCell("t.sp", 1, "y = x"), map[string]Value{"x": r})
	if err != nil {
		t.Fatal(err)
	}
	// Cut the hash short: 31 bytes, then the end of the job.
	i := strings.Index(string(job), string(r[:]))
	bad := append(append([]byte{}, job[:i-1]...), 0x58, 31)
	bad = append(bad, r[:31]...)
	_, _, err = in.DecodeJob(bad)
	var de *DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "32 bytes") {
		t.Errorf("DecodeJob of a short ValueRef: %v, want a *DecodeError about 32 bytes", err)
	}
	if _, _, err = in.DecodeJob(job); err != nil {
		t.Errorf("DecodeJob: %v", err)
	}
}

// TestCellCacheBounded checks that the cells an Interp keeps for DecodeJob
// are bounded in number and in bytes of source, the least recently used
// going first, and that a cell decoded again is the one kept.
func TestCellCacheBounded(t *testing.T) {
	in := NewInterp("test")
	job := func(src string) []byte {
		b, err := EncodeJob(ParseCell("t.sp", 1, src), nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first, _, err := in.DecodeJob(job("x = 0"))
	if err != nil {
		t.Fatal(err)
	}
	again, _, _ := in.DecodeJob(job("x = 0"))
	if again != first {
		t.Error("the same code decoded twice gives two cells")
	}
	for i := range maxJobCells + 10 {
		if _, _, err := in.DecodeJob(job("x = " + starlark.MakeInt(i+1).String())); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := in.cells.len(); n != maxJobCells {
		t.Errorf("%d cells kept, want %d", n, maxJobCells)
	}
	if c, _, _ := in.DecodeJob(job("x = 0")); c == first {
		t.Error("the least recently used cell was kept")
	}
	for i := range 5 {
		long := "x = '" + strings.Repeat(string(rune('a'+i)), maxJobCellBytes/4) + "'"
		if _, _, err := in.DecodeJob(job(long)); err != nil {
			t.Fatal(err)
		}
	}
	if n, bytes := in.cells.len(); bytes > maxJobCellBytes || n < 3 {
		t.Errorf("%d cells with %d bytes of source kept, want 3 with at most %d", n, bytes, maxJobCellBytes)
	}
}
