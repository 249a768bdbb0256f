package server_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/sperse/sperse/lang"
	"github.com/sperse/sperse/remote"
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

// A program that embeds a server provides names beyond the builtins: a Go
// function, which code calls like a builtin, and Go data. Clients see the
// names in the server's handshake, and send a remote cell that uses them to
// this server, with no selector needed.
func Example_provide() {
	token, err := server.NewToken()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Name:   "weather",
		Tokens: []string{token},
		Provide: map[string]any{
			"fahrenheit": func(celsius float64) float64 { return celsius*9/5 + 32 },
			"cities":     map[string]int{"Oslo": -5, "Rome": 20},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	go srv.Serve(pc)
	defer srv.Close()
	fmt.Println("provides:", srv.Provides())

	client := remote.NewClient(remote.ClientConfig{Token: token})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.Connect(ctx, pc.LocalAddr().String()+"#"+srv.Fingerprint()); err != nil {
		log.Fatal(err)
	}
	cell := lang.ParseCell("example.sp", 1, "warm = remote {city: fahrenheit(c) for city, c in cities.items()}")
	res := client.Eval(ctx, lang.Request{Cell: cell})
	if res.Err != nil {
		log.Fatal(res.Err)
	}
	fmt.Println(cell.Name, "=", res.Value, "on", res.Where)
	// Output:
	// provides: [cities fahrenheit]
	// warm = {"Oslo": 23.0, "Rome": 68.0} on weather
}
