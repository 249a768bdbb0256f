package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sperse/sperse/server"
)

func TestLimitFlags(t *testing.T) {
	o, err := parseOptions([]string{"--name", "a"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := limits{maxConns: server.DefaultMaxConnections, maxStreams: server.DefaultMaxStreams,
		idleTimeout: server.DefaultIdleTimeout, handshakeTimeout: server.DefaultHandshakeTimeout}
	if o.limits != want {
		t.Errorf("defaults %+v, want %+v", o.limits, want)
	}
	o, err = parseOptions([]string{"--name", "a", "--max-conns", "7", "--max-streams", "9", "--idle-timeout", "3s", "--handshake-timeout", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (limits{7, 9, 3 * time.Second, 2 * time.Second}); o.limits != want {
		t.Errorf("limits %+v, want %+v", o.limits, want)
	}
	for _, bad := range [][]string{
		{"--max-conns", "0"},
		{"--max-streams", "-1"},
		{"--idle-timeout", "0s"},
		{"--handshake-timeout", "-1s"},
	} {
		_, err := parseOptions(append([]string{"--name", "a"}, bad...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v, want an error naming the flag", bad, err)
		}
	}
}
