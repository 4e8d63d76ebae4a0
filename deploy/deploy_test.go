package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// chatSet is what a chat-only deployment runs: `make build-minimal`'s
// MINIMAL, compose's chat profile, the chart's values-chat.yaml.
var chatSet = []string{"botauth", "botauto", "botchat", "botcore", "botdrive", "botllm", "botvectordb"}

// allInOne is the binary that links every service.
const allInOne = "botserver"

// repoRoot is the workspace root: the parent of deploy/.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(wd)
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("no go.work above %s: %v", wd, err)
	}
	return root
}

// workspaceBinaries lists the folders of the workspace that hold a binary
// of their own name, <dir>/cmd/<dir>/main.go: every service and botserver.
func workspaceBinaries(t testing.TB) []string {
	t.Helper()
	root := repoRoot(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), "cmd", e.Name(), "main.go")); err == nil {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	if !slices.Contains(out, allInOne) {
		t.Fatalf("no %s/cmd/%s in the workspace: found %v", allInOne, allInOne, out)
	}
	return out
}

// workspaceServices is workspaceBinaries without the all-in-one.
func workspaceServices(t testing.TB) []string {
	t.Helper()
	return slices.DeleteFunc(workspaceBinaries(t), func(s string) bool { return s == allInOne })
}

// workspaceModules lists go.work's use directives as clean relative paths.
func workspaceModules(t testing.TB) []string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "go.work")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wf, err := modfile.ParseWork(path, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range wf.Use {
		out = append(out, filepath.ToSlash(filepath.Clean(u.Path)))
	}
	slices.Sort(out)
	return out
}

func TestWorkspaceShape(t *testing.T) {
	services := workspaceServices(t)
	if len(services) == 0 {
		t.Fatal("no services found")
	}
	for _, s := range chatSet {
		if !slices.Contains(services, s) {
			t.Errorf("chat set service %s has no %s/cmd/%s", s, s, s)
		}
	}
	// The Makefile's MINIMAL (build-minimal) is the same chat set.
	if mk, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile")); err == nil {
		for _, line := range strings.Split(string(mk), "\n") {
			if name, val, ok := strings.Cut(line, ":="); ok && strings.TrimSpace(name) == "MINIMAL" {
				minimal := strings.Fields(val)
				slices.Sort(minimal)
				if !slices.Equal(minimal, chatSet) {
					t.Errorf("Makefile MINIMAL = %v, the deploy chat set is %v: keep them equal", minimal, chatSet)
				}
			}
		}
	}
}

// The deploy module stays on the workspace's Go line: a dependency upgrade
// that needs a newer Go (BuildKit >= v0.32 does) would raise go.work's too.
func TestGoVersionLine(t *testing.T) {
	data, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := mf.Go.Version; v != "1.26" && v != "1.26.0" {
		t.Errorf("deploy/go.mod says go %s: keep go 1.26 (pin the dependency that raised it)", v)
	}
}
