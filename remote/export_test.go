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
