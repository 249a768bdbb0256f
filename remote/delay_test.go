package remote_test

import (
	"net"
	"sync"
	"testing"
	"time"
)

// delayProxy forwards UDP datagrams between clients and a server, each
// after a delay: a network with that one-way latency, for benchmarks that
// count round trips. Clients dial its address instead of the server's.
type delayProxy struct {
	addr   string
	delay  time.Duration
	in     net.PacketConn
	target *net.UDPAddr

	mu  sync.Mutex
	out map[string]*net.UDPConn // a socket towards the target per client
}

// startDelayProxy starts a proxy to target with the given one-way delay.
// It stops when the test ends.
func startDelayProxy(tb testing.TB, target string, delay time.Duration) *delayProxy {
	tb.Helper()
	to, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		tb.Fatal(err)
	}
	in, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &delayProxy{addr: in.LocalAddr().String(), delay: delay, in: in, target: to, out: make(map[string]*net.UDPConn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.forward()
	}()
	tb.Cleanup(func() {
		in.Close()
		<-done
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.out {
			c.Close()
		}
	})
	return p
}

// forward carries the clients' datagrams to the target until in closes.
func (p *delayProxy) forward() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.in.ReadFrom(buf)
		if err != nil {
			return
		}
		out, err := p.outFor(from)
		if err != nil {
			continue
		}
		p.later(buf[:n], func(b []byte) { out.Write(b) })
	}
}

// outFor returns the socket towards the target for the client at from,
// opening it (and starting to carry its replies back) on first use.
func (p *delayProxy) outFor(from net.Addr) (*net.UDPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if out := p.out[from.String()]; out != nil {
		return out, nil
	}
	out, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil, err
	}
	p.out[from.String()] = out
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := out.Read(buf)
			if err != nil {
				return
			}
			p.later(buf[:n], func(b []byte) { p.in.WriteTo(b, from) })
		}
	}()
	return out, nil
}

// later sends a copy of b with send after the delay.
func (p *delayProxy) later(b []byte, send func([]byte)) {
	b = append([]byte(nil), b...)
	time.AfterFunc(p.delay, func() { send(b) })
}
