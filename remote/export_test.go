package remote

import "slices"

// MembersOf returns the members of the cluster as the server called name
// last listed them (Members), or nil.
func (c *Client) MembersOf(name string) []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.servers {
		if s.name == name {
			return slices.Clone(s.members)
		}
	}
	return nil
}

// CallsSent returns how many Calls the client has sent on its connection to
// the server called name (the last Tag given), or 0.
func (c *Client) CallsSent(name string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.servers {
		if s.name == name && s.sess != nil {
			return s.sess.nextTag.Load()
		}
	}
	return 0
}
