package lang

import (
	"context"
	"testing"
)

// BenchmarkMulLoop is a Starlark loop whose body multiplies: two names
// (the operator's right operand goes through the repetition guard, see
// guardOperands), a name and a literal, and two numbers by their syntax
// (neither is guarded). It reports ns/elem, the time per iteration.
//
//	go test -run XXX -bench MulLoop -benchtime 3x ./lang/
func BenchmarkMulLoop(b *testing.B) {
	const n = 1_000_000
	for _, bc := range []struct{ name, body string }{
		{"names", "acc += x * k"},
		{"literal", "acc += x * 3"},
		{"numbers", "acc += (x - 0) * (k + 0)"},
		{"none", "acc += x + k"},
	} {
		for _, kind := range []struct{ name, k string }{{"int", "7"}, {"float", "0.5"}} {
			b.Run(bc.name+"/"+kind.name, func(b *testing.B) {
				in := NewInterp("local")
				src := "def loop(n, k):\n    acc = 0\n    for x in range(n):\n        " + bc.body + "\n    return acc"
				loop, err := in.Eval(context.Background(), mustParse(b, src), nil)
				if err != nil {
					b.Fatal(err)
				}
				benchEval(b, in, "x = loop(1000000, "+kind.k+")", map[string]Value{"loop": loop}, n)
			})
		}
	}
}
