package botserver_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

const prefix = "github.com/botserver-go/botserver-go/"

var services = []string{"botcore", "botauth", "botchat", "botauto", "botllm", "botvectordb",
	"botdrive", "botmail", "bottasks", "botcontacts", "botcompliance", "botvideo"}

// TestServicesImportOnlyBotstateAndProto keeps the system a set of services:
// a service module may depend on botstate, proto and third-party code, never
// on another service (ARCHITECTURE.md §1). Checked on both go.mod and the
// packages actually linked (go list -deps, tests included).
func TestServicesImportOnlyBotstateAndProto(t *testing.T) {
	allowed := map[string]bool{prefix + "botstate": true, prefix + "proto": true}
	for _, svc := range services {
		dir := filepath.Join("..", svc)
		raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		mf, err := modfile.Parse("go.mod", raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range mf.Require {
			if strings.HasPrefix(r.Mod.Path, prefix) && !allowed[r.Mod.Path] {
				t.Errorf("%s/go.mod requires %s: services must not depend on each other", svc, r.Mod.Path)
			}
		}
		cmd := exec.Command("go", "list", "-deps", "-test", "-f", "{{.ImportPath}}", "./...")
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list in %s: %v", svc, err)
		}
		for _, pkg := range strings.Fields(string(out)) {
			if !strings.HasPrefix(pkg, prefix) {
				continue
			}
			if mod := moduleOf(pkg); mod != prefix+svc && !allowed[mod] {
				t.Errorf("%s links %s: services reach each other over gRPC and events, not imports", svc, pkg)
			}
		}
	}
	// botstate and proto are shared: they must not import any service either.
	for _, shared := range []string{"botstate", "proto"} {
		cmd := exec.Command("go", "list", "-deps", "-test", "-f", "{{.ImportPath}}", "./...")
		cmd.Dir = filepath.Join("..", shared)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list in %s: %v", shared, err)
		}
		for _, pkg := range strings.Fields(string(out)) {
			for _, svc := range append(services, "botserver") {
				if moduleOf(pkg) == prefix+svc {
					t.Errorf("%s links service package %s", shared, pkg)
				}
			}
		}
	}
}

// moduleOf names the workspace module a package belongs to. `go list -test`
// also lists a module's external test package ("botcore_test") and test
// main ("botcore.test"); they belong to the module they test.
func moduleOf(pkg string) string {
	if !strings.HasPrefix(pkg, prefix) {
		return ""
	}
	first := strings.SplitN(strings.TrimPrefix(pkg, prefix), "/", 2)[0]
	first = strings.TrimSuffix(strings.TrimSuffix(first, ".test"), "_test")
	return prefix + first
}

// TestMinimalBuildLinksNoExcludedService: `-tags minimal` compiles no code of
// the services outside the chat set.
func TestMinimalBuildLinksNoExcludedService(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "minimal", "./cmd/botserver").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := string(out)
	for _, gone := range []string{"botmail", "bottasks", "botcontacts", "botcompliance", "botvideo"} {
		if strings.Contains(deps, prefix+gone) {
			t.Errorf("minimal build links %s", gone)
		}
	}
	for _, kept := range []string{"botcore", "botauth", "botchat", "botauto", "botllm", "botvectordb", "botdrive"} {
		if !strings.Contains(deps, prefix+kept+"\n") {
			t.Errorf("minimal build lacks %s", kept)
		}
	}
}
