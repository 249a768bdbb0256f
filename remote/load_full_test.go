//go:build load

package remote_test

import "testing"

// TestLoad is the full load: 50 clients × 2,000 evaluations on one server
// (see runLoad). It takes a minute or two on a 2-core machine:
//
//	go test -tags load -run 'TestLoad$' -v ./remote/
func TestLoad(t *testing.T) {
	runLoad(t, 50, 2000)
}
