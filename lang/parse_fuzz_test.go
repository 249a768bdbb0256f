package lang

import "testing"

// FuzzParseFile checks that no input makes the parser panic, and that every
// cell it returns is either parsed (a name, no error) or carries an error.
func FuzzParseFile(f *testing.F) {
	for _, seed := range []string{
		"x = 1\n", "x = remote@a,b y\n", "def f(x):\n    return x\n", "1 +\n", "a = [\n",
		"s = '''\n", "remote\n", "c = a + \\\n  b\n", "\tx = 1\n", "x = 1; y = 2\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cells, err := ParseFile("fuzz.sp", src)
		if err != nil {
			return
		}
		for _, c := range cells {
			if c.Err == nil && c.Name == "" {
				t.Errorf("cell at %s parsed without a name", c.Pos)
			}
		}
	})
}
