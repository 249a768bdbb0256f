package server

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Failed authentications slow their address down: the server answers the
// n-th bad token from an address within failForget of the one before after
// failDelay(n), so a client can try few tokens a minute from one address
// however it goes about it, while the first mistake costs nothing and a
// client with a good token is never slowed.
const (
	// failDelayBase is the delay of the second failure; each further one
	// doubles it, up to failDelayMax.
	failDelayBase = 250 * time.Millisecond
	failDelayMax  = 5 * time.Second

	// failForget is how long an address's failures are remembered after
	// its last one.
	failForget = 15 * time.Minute

	// maxFailAddrs bounds the addresses remembered: past it, the one whose
	// last failure is oldest is forgotten.
	maxFailAddrs = 4096

	// maxPendingFails bounds the refusals of one address being delayed at
	// once: a client that opens more connections with bad tokens gets
	// "try again later" without its token being checked, rather than
	// holding more of the server's connections.
	maxPendingFails = 4
)

// failDelay is how long the server waits before refusing the n-th bad token
// in a row from an address.
func failDelay(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	d := failDelayBase
	for i := 2; i < n && d < failDelayMax; i++ {
		d *= 2
	}
	return min(d, failDelayMax)
}

// failureKey is the address failures are counted by: an IPv4 address, or
// the /64 an IPv6 address is in (a host usually has a whole /64).
type failureKey netip.Addr

// keyOf returns the failureKey of a connection's remote address.
func keyOf(a net.Addr) failureKey {
	var ip netip.Addr
	if ua, ok := a.(*net.UDPAddr); ok {
		ip = ua.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return failureKey(ip)
}

func (k failureKey) String() string { return netip.Addr(k).String() }

// failureLog remembers the recent failed authentications of each address.
// Its memory is bounded (maxFailAddrs). It is safe for concurrent use.
type failureLog struct {
	mu    sync.Mutex
	addrs map[failureKey]*failures
}

// failures are the recent failures of one address.
type failures struct {
	n       int       // failures in a row, none more than failForget after the one before
	last    time.Time // of the last failure
	pending int       // refusals being delayed now
}

// crowded reports whether key has as many refusals being delayed as it may.
func (l *failureLog) crowded(key failureKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[key]
	return f != nil && f.pending >= maxPendingFails
}

// count returns the failures of key remembered.
func (l *failureLog) count(key failureKey) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.addrs[key]; f != nil {
		return f.n
	}
	return 0
}

// fail records a failure of key at now, and returns how many failures in a
// row key has had and how long to wait before refusing it. The caller
// calls done once it has refused.
func (l *failureLog) fail(key failureKey, now time.Time) (int, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[key]
	if f == nil {
		if len(l.addrs) >= maxFailAddrs {
			l.evict(now)
		}
		f = &failures{}
		l.addrs[key] = f
	}
	if now.Sub(f.last) > failForget {
		f.n = 0
	}
	f.n++
	f.last = now
	f.pending++
	return f.n, failDelay(f.n)
}

// done records that a refusal of key that fail delayed was sent.
func (l *failureLog) done(key failureKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.addrs[key]; f != nil {
		f.pending--
	}
}

// forget forgets the failures of key: it presented a good token.
func (l *failureLog) forget(key failureKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.addrs[key]; f != nil {
		if f.pending == 0 {
			delete(l.addrs, key)
		} else {
			f.n = 0
		}
	}
}

// evict makes room for another address: it forgets the addresses whose last
// failure is older than failForget, or else the one whose last failure is
// the oldest. An address with refusals pending is kept (at most
// Config.MaxConnections are).
func (l *failureLog) evict(now time.Time) {
	var oldest failureKey
	var oldestAt time.Time
	for k, f := range l.addrs {
		switch {
		case f.pending > 0:
		case now.Sub(f.last) > failForget:
			delete(l.addrs, k)
		case oldestAt.IsZero() || f.last.Before(oldestAt):
			oldest, oldestAt = k, f.last
		}
	}
	if len(l.addrs) >= maxFailAddrs && !oldestAt.IsZero() {
		delete(l.addrs, oldest)
	}
}
