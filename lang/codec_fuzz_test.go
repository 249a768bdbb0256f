package lang

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// FuzzDecode checks that Decode never panics, that its errors are
// *DecodeError, and that whatever it accepts re-encodes, decodes again to an
// equal value, and re-encodes to the same bytes. Run it with
//
//	go test -run XXX -fuzz FuzzDecode -fuzztime 60s ./lang/
//
// Seeds are the encodings of codecRoundTripCases, a few bad inputs below, and
// the files in testdata/fuzz/FuzzDecode (crashers found earlier).
func FuzzDecode(f *testing.F) {
	for _, src := range codecRoundTripCases {
		data, err := Encode(codecEval(f, src))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, h := range []string{
		"", "ff", "9f01ff", "a10102", "d97371828001", "d97373830001" + "00",
		"d9737487616660600101608461620161610" + "2",
		"c243000007", "f93e00", "fa3fc00000", "3bffffffffffffffff",
		"9b7fffffffffffffff00", "d9737761ff",
	} {
		data, _ := hex.DecodeString(h)
		f.Add(data)
	}
	in := NewInterp("fuzz")
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := in.Decode(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%x): error %v is not a *DecodeError", data, err)
			}
			return
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("Decode(%x) = %s, which does not encode: %v", data, reprForError(v), err)
		}
		again, err := in.Decode(enc)
		if err != nil {
			t.Fatalf("re-encoding %x of %s does not decode: %v", enc, reprForError(v), err)
		}
		enc2, err := Encode(again)
		if err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("re-encoding of %x is not stable: %x then %x (%v)", data, enc, enc2, err)
		}
		// Functions are equal only to themselves: for values that hold them,
		// equal encodings (checked above) and reprs are what equal means.
		if !codecEqual(t, again, v) && again.String() != v.String() {
			t.Fatalf("round trip of %x: got %s, want %s", data, reprForError(again), reprForError(v))
		}
	})
}
