package server_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/sperse/sperse/server"
)

// An embedded server, as sperse run starts one when no server is given: a
// certificate generated in memory, a random token, loopback on a free port.
// The client dials addr with the token; the fingerprint in addr pins the
// certificate.
func Example_embedded() {
	token, err := server.NewToken()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{Name: "local", Tokens: []string{token}}) // Certificate empty: generated
	if err != nil {
		log.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pc) }()
	addr := pc.LocalAddr().String() + "#" + srv.Fingerprint()
	fmt.Println(addr != "")

	// ... connect a client to addr with token, evaluate ...

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx) // or srv.Close() to stop at once
	<-served          // ErrServerClosed
	pc.Close()
	// Output: true
}
