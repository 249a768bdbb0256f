package remote

import (
	"slices"
)

// A server in a cluster lists its members (Members) after Welcome and
// whenever they change. The client connects to every member it learns of
// this way, pinning the certificate the listing server vouches for, and
// presenting its own token: members that take it are used directly, as if
// given to Connect. A member the client cannot use directly (it refuses the
// token, or cannot be reached) is still reachable through the member that
// listed it, which forwards the work it cannot run itself (see
// eligibleLocked). A learned member that no connected member lists any
// more is forgotten (the lists of members the client has lost the
// connection to do not count: they may be dead).

// members records the Members that s sent and connects to, or forgets, the
// members they add or drop.
func (c *Client) members(s *server, m Members) {
	c.mu.Lock()
	if slices.Contains(c.servers, s) {
		s.members = m.List
	}
	c.mu.Unlock()
	c.reconcileMembers()
}

// reconcileMembers connects to the members that connected servers list and
// the client does not know, and forgets learned ones that none lists.
func (c *Client) reconcileMembers() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	listed := map[string]string{} // normalized address → full address
	lists := 0
	for _, o := range c.servers {
		if o.sess == nil || o.members == nil {
			continue
		}
		lists++
		for _, mem := range o.members {
			addr, _, err := SplitAddress(mem.Address)
			if err != nil {
				continue
			}
			if addr, err = NormalizeAddr(addr); err == nil {
				listed[addr] = mem.Address
			}
		}
	}
	for addr := range c.learning {
		if _, ok := listed[addr]; !ok {
			delete(c.learning, addr) // tried again if it is listed again
		}
	}
	var learn []string
	for addr, full := range listed {
		if c.findLocked(addr) == nil && !c.learning[addr] {
			c.learning[addr] = true
			learn = append(learn, full)
		}
	}
	var forget []*server
	for _, o := range c.servers {
		if _, ok := listed[o.addr]; !ok && o.via != "" && lists > 0 {
			forget = append(forget, o)
		}
	}
	for _, o := range forget {
		c.removeLocked(o)
	}
	for _, full := range learn {
		via := c.listerLocked(full)
		c.wg.Go(func() { c.learn(full, via) })
	}
	c.mu.Unlock()
	for _, o := range forget {
		c.log.Info("cluster member left", "server", o.name, "addr", o.addr)
	}
	c.changed() // what s forwards may have changed
}

// listerLocked returns the name of a connected server that lists the member
// at address.
func (c *Client) listerLocked(address string) string {
	for _, o := range c.servers {
		if o.sess != nil && slices.ContainsFunc(o.members, func(m Member) bool { return m.Address == address }) {
			return o.name
		}
	}
	return ""
}

// learn connects to the member at address, listed by the server named via.
// A member that refuses the client (its token, say) is not tried again
// while it stays listed: the client reaches it through via.
func (c *Client) learn(address, via string) {
	err := c.connect(c.ctx, address, via)
	addr, _, _ := SplitAddress(address)
	addr, _ = NormalizeAddr(addr)
	if err != nil {
		if c.ctx.Err() == nil {
			c.log.Info("cluster member not usable directly; reached through "+via, "addr", addr, "err", err)
		}
		return
	}
	c.mu.Lock()
	delete(c.learning, addr)
	c.mu.Unlock()
}

// forwardsLocked reports whether s can take work for r that it cannot run
// itself, because another member of its cluster can: s forwards it. A
// server that took the client's token as scoped (Welcome.Scoped) forwards
// nothing: it serves a scoped token only itself.
func (s *server) forwardsLocked(r route) bool {
	if s.welcome.Scoped {
		return false
	}
	for _, m := range s.members {
		if m.Name != s.name && memberMatches(m, r.sel) && memberProvides(m, r.need) {
			return true
		}
	}
	return false
}

// memberMatches reports whether every item of sel is m's name or a tag of it.
func memberMatches(m Member, sel []string) bool {
	for _, item := range sel {
		if item != m.Name && !slices.Contains(m.Tags, item) {
			return false
		}
	}
	return true
}

// memberProvides reports whether m provides every name in need.
func memberProvides(m Member, need []string) bool {
	for _, name := range need {
		if !slices.Contains(m.Provides, name) {
			return false
		}
	}
	return true
}

// memberNames returns the names of ms.
func memberNames(ms []Member) []string {
	if len(ms) == 0 {
		return nil
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return names
}
