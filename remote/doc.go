// Package remote is the client side of remote evaluation: it sends a cell's
// code and scope to a place that evaluates it and brings the result back.
//
// Until the QUIC transport exists, InProcess is that place: an evaluator in
// the same process that takes exactly the path the network will take.
package remote
