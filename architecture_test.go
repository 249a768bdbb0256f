// Package sperse_test checks rules that span the whole module: the direction
// of imports that DESIGN.md fixes, and formatting.
package sperse_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/sperse/sperse/"

// allowed lists, for each top-level package, the packages of this module it
// may import (directly or not). cmd/* may import anything.
var allowed = map[string][]string{
	"lang":     {},
	"reactive": {"lang"},
	"remote":   {"lang"},
	"server":   {"lang", "remote"},
	"tui":      {"reactive", "remote", "themes", "lang"},
	"themes":   {},
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		top := strings.SplitN(pkg, "/", 2)[0]
		ok, checked := allowed[top]
		if !checked {
			continue
		}
		for _, dep := range fields[1:] {
			if !strings.HasPrefix(dep, module) {
				continue
			}
			depTop := strings.SplitN(strings.TrimPrefix(dep, module), "/", 2)[0]
			if depTop == top {
				continue
			}
			found := false
			for _, a := range ok {
				found = found || a == depTop
			}
			if !found {
				t.Errorf("%s imports %s: DESIGN.md allows %s to import only %v", pkg, dep, top, ok)
			}
		}
	}
}

func TestGofmt(t *testing.T) {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	gofmt := filepath.Join(strings.TrimSpace(string(goroot)), "bin", "gofmt")
	out, err := exec.Command(gofmt, "-l", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("gofmt: %v\n%s", err, out)
	}
	if files := strings.TrimSpace(string(out)); files != "" {
		t.Errorf("files not gofmt-ed:\n%s", files)
	}
}
