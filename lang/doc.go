// Package lang is the sperse cell language: parsing a workspace into cells,
// finding what each cell depends on, evaluating cells in a Starlark interpreter
// with step limits and cancellation, and encoding values (functions included)
// as CBOR so that a cell's code and scope can be shipped to another place and
// evaluated there.
//
// The interpreter is go.starlark.net. Value is an alias of starlark.Value so the
// rest of sperse can hold values without importing starlark.
//
// # Cells
//
// A workspace is a sequence of cells (see ParseFile):
//
//	name = expr             a value cell
//	name = remote expr      a value cell evaluated on a server
//	name = remote@sel expr  ... only on servers matching sel (names or tags, joined by ",")
//	def name(params): ...   a function cell
//	expr                    an anonymous cell, named _1, _2, ... in order
//
// # Functions as values
//
// A Starlark function value is shipped as code: the source text of its def or
// lambda, its name, and its captured scope (the values of the free names it
// uses that are not builtins, and the variables it closes over), recursively.
// To find a function's source, every module compiled by an Interp carries, in
// its predeclared environment, a hidden table of the functions defined in its
// source (see unit); nothing is kept in a global registry.
//
// # Limits
//
// An evaluation stops, with an *Error that names the limit, at its step
// limit (Interp.MaxSteps), when its context is done, when its calls nest
// deeper than MaxCallDepth, and when the process's live heap is over
// Interp.MaxMemory (the heap is the process's: see limits.go for who is
// stopped). A repetition of a literal ([0] * n) that would go over the
// memory limit is refused before it allocates, and json.decode refuses
// input nested deeper than 10,000 levels: Go's stack limit, which these
// checks keep deep recursion from, ends the whole process.
//
// # Vecs and native builtins
//
// A Vec (the vec module) is an immutable array of 64-bit ints, floats or
// bools whose operations run in Go, element by element, each giving what
// Starlark gives for the elements (an int past 64 bits is an error, never
// a wrong number). sum, min, max and sorted have native paths over ranges,
// vecs and lists of numbers whose results are exactly the generic ones
// (native.go). Native work costs steps in proportion to the elements it
// goes through, and a vec is checked against the memory limit before it is
// allocated (meter.go). Vecs travel as RFC 8746 typed arrays
// (vec_codec.go) and are split into vecs.
//
// # Split work
//
// pmap(f, xs, on=None) and mapreduce(mapper, reducer, xs, on=None) hand their
// work to the Interp's Splitter as a SplitJob: it cuts xs into chunks (a
// range into ranges, never expanded, a vec into vecs: SplitItems), runs each chunk
// (RunChunk, wherever it chooses) and returns the results in order. on is a
// selector with the grammar of remote@sel ("gpu", "eu,db"). The remote
// client is the Splitter of a workspace: it spreads the chunks over its
// servers. Without one, InProcess runs them in fresh interpreters of this
// process, each chunk through the codec as if it travelled. An evaluation
// whose context carries a reporter (WithProgress) reports its chunks done
// of total as they complete.
package lang
