package deploy

import (
	"bytes"
	"fmt"
	goparser "go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

const (
	dockerfile = "Dockerfile"
	// The ldflags every image binary is linked with (and make images-bin).
	versionLDFlags = `-ldflags "-s -w -X github.com/botserver-go/botserver-go/botstate/app.Version=`
)

// parsedDockerfile is the Dockerfile as BuildKit reads it.
type parsedDockerfile struct {
	stages   []instructions.Stage
	metaArgs map[string]string // ARGs before the first FROM, with defaults
	text     string
}

func parseDockerfile(t testing.TB, path string) parsedDockerfile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", path, w.Short)
	}
	// BuildKit's build checks (what `docker build --check` reports) that run
	// while parsing instructions.
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		t.Errorf("%s:%d: build check %s: %s", path, line, rule, msg)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	args := map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			args[kv.Key] = kv.ValueString()
		}
	}
	return parsedDockerfile{stages: stages, metaArgs: args, text: string(data)}
}

// argDefault returns the default of an ARG declared in a stage, unquoted
// as BuildKit does.
func argDefault(t testing.TB, stage instructions.Stage, name string) (string, bool) {
	t.Helper()
	for _, c := range stage.Commands {
		if a, ok := c.(*instructions.ArgCommand); ok {
			for _, kv := range a.Args {
				if kv.Key == name && kv.Value != nil {
					v, _, err := shell.NewLex('\\').ProcessWord(*kv.Value, noEnv{})
					if err != nil {
						t.Fatalf("ARG %s=%s: %v", name, *kv.Value, err)
					}
					return v, true
				}
			}
		}
	}
	return "", false
}

// noEnv is an empty build environment for the shell lexer.
type noEnv struct{}

func (noEnv) Get(string) (string, bool) { return "", false }
func (noEnv) Keys() []string            { return nil }

func commandsOf[T instructions.Command](stage instructions.Stage) []T {
	var out []T
	for _, c := range stage.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	df := parseDockerfile(t, dockerfile)
	byName := map[string]instructions.Stage{}
	for _, s := range df.stages {
		if s.Name == "" {
			t.Errorf("stage FROM %s has no name", s.BaseName)
		}
		byName[s.Name] = s
	}
	final := df.stages[len(df.stages)-1]
	if final.Name != "service" {
		t.Errorf("the last (default) stage is %q, want service", final.Name)
	}

	// Build stages: the Go image of the workspace's version.
	goVersion := df.metaArgs["GO_VERSION"]
	if work := workGoVersion(t); !strings.HasPrefix(work, goVersion) {
		t.Errorf("GO_VERSION=%s, but go.work says go %s", goVersion, work)
	}
	for _, s := range df.stages[:len(df.stages)-1] {
		if !strings.HasPrefix(s.BaseName, "golang:${GO_VERSION}") && byName[s.BaseName].Name == "" {
			t.Errorf("stage %s: FROM %s, want golang:${GO_VERSION} or an earlier stage", s.Name, s.BaseName)
		}
	}

	// Runtime: distroless static (no shell, no libc) or scratch, non-root.
	if final.BaseName != "${RUNTIME_IMAGE}" {
		t.Errorf("final stage FROM %s, want ${RUNTIME_IMAGE}", final.BaseName)
	}
	if rt := df.metaArgs["RUNTIME_IMAGE"]; !(strings.Contains(rt, "distroless/static") && strings.HasSuffix(rt, ":nonroot")) && rt != "scratch" {
		t.Errorf("RUNTIME_IMAGE=%s, want distroless static :nonroot (or scratch)", rt)
	}
	users := commandsOf[*instructions.UserCommand](final)
	if len(users) == 0 {
		t.Fatal("final stage has no USER: the image would run as root")
	}
	user := users[len(users)-1].User
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %s: want a numeric non-root uid (Kubernetes' runAsNonRoot cannot check a name)", user)
	} else if n != 65532 {
		t.Errorf("USER %s: the chart and compose run uid 65532", user)
	}
	if gid != "" {
		if n, err := strconv.Atoi(gid); err != nil || n == 0 {
			t.Errorf("USER %s: want a numeric non-root gid", user)
		}
	}

	// What the final stage copies comes from build stages, and the
	// entrypoint, the health check and DATA_DIR are among it.
	copied := map[string]bool{}
	for _, c := range commandsOf[*instructions.CopyCommand](final) {
		if _, ok := byName[c.From]; !ok {
			t.Errorf("COPY --from=%s: no such stage", c.From)
		}
		copied[strings.TrimSuffix(c.DestPath, "/")] = true
	}
	entry := commandsOf[*instructions.EntrypointCommand](final)
	if len(entry) != 1 || entry[0].PrependShell || !copied[entry[0].CmdLine[0]] {
		t.Errorf("ENTRYPOINT must be exec form and run a copied binary: %+v", entry)
	}
	hc := commandsOf[*instructions.HealthCheckCommand](final)
	if len(hc) != 1 || len(hc[0].Health.Test) < 2 || hc[0].Health.Test[0] != "CMD" || hc[0].Health.Test[1] != healthprobePath || !copied[healthprobePath] {
		t.Errorf("HEALTHCHECK must run the copied %s without a shell: %+v", healthprobePath, hc)
	}
	var dataDir string
	for _, e := range commandsOf[*instructions.EnvCommand](final) {
		for _, kv := range e.Env {
			if kv.Key == "DATA_DIR" {
				dataDir = kv.Value
			}
		}
	}
	if dataDir == "" || !copied[dataDir] {
		t.Errorf("DATA_DIR=%q must be set and created (owned by the runtime user) in the image", dataDir)
	}
	if !regexp.MustCompile(`(?m)^COPY --from=build --chown=65532:65532 \S+ ` + regexp.QuoteMeta(dataDir) + `$`).MatchString(df.text) {
		t.Errorf("DATA_DIR %s is not copied with --chown=65532:65532: the non-root user could not write it", dataDir)
	}

	// Every binary it can build is a cmd/ of the workspace, and the reverse.
	build, ok := byName["build"]
	if !ok {
		t.Fatal("no build stage")
	}
	list, ok := argDefault(t, build, "SERVICES")
	if !ok {
		t.Fatal("build stage: no ARG SERVICES (the binaries SERVICE may name)")
	}
	services := strings.Fields(list)
	if got, want := sorted(services), workspaceBinaries(t); !slices.Equal(got, want) {
		t.Errorf("SERVICES=%v, but the workspace's <dir>/cmd/<dir> binaries are %v", got, want)
	}
	for _, s := range services {
		if _, err := os.Stat(filepath.Join(repoRoot(t), s, "cmd", s, "main.go")); err != nil {
			t.Errorf("SERVICES names %s: %v", s, err)
		}
	}
	if def, _ := argDefault(t, build, "SERVICE"); !slices.Contains(services, def) {
		t.Errorf("default SERVICE=%s is not in SERVICES", def)
	}

	// The build command: static, trimmed, stamped, the binary of SERVICE.
	var goBuild string
	for _, r := range commandsOf[*instructions.RunCommand](build) {
		if line := strings.Join(r.CmdLine, " "); strings.Contains(line, "go build") {
			goBuild = line
		}
	}
	for _, want := range []string{"-trimpath", versionLDFlags + "$VERSION", "./$SERVICE/cmd/$SERVICE", `-tags "$BUILD_TAGS"`} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("build stage's go build lacks %s: %s", want, goBuild)
		}
	}
	if !regexp.MustCompile(`(?m)^ENV .*\bCGO_ENABLED=0\b`).MatchString(df.text) {
		t.Error("CGO_ENABLED=0 is not set: the binary would not be static")
	}

	// CI builds the same binaries with mk/deploy.mk's images-bin: same flags.
	mk, err := os.ReadFile(filepath.Join(repoRoot(t), "mk", "deploy.mk"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build -trimpath", "-s -w -X github.com/botserver-go/botserver-go/botstate/app.Version=", "-tags minimal"} {
		if !strings.Contains(string(mk), want) {
			t.Errorf("mk/deploy.mk (images-bin) lacks %q: it must build as the Dockerfile does", want)
		}
	}
}

// The build stage leaves deploy out of the workspace and keeps modules and
// compiled packages in cache mounts; the probe stage builds healthprobe from
// the deploy module alone, without downloading anything.
func TestDockerfileBuildStages(t *testing.T) {
	df := parseDockerfile(t, dockerfile)
	stages := map[string]instructions.Stage{}
	for _, s := range df.stages {
		stages[s.Name] = s
	}
	var goBuild *instructions.RunCommand
	for _, r := range commandsOf[*instructions.RunCommand](stages["build"]) {
		if strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
			goBuild = r
		}
	}
	if goBuild == nil {
		t.Fatal("build stage: no go build")
	}
	line := strings.Join(goBuild.CmdLine, " ")
	if !strings.Contains(line, "go work edit -dropuse=./deploy &&") {
		t.Error("the build stage must drop ./deploy from go.work before go build (deploy's test dependencies are not the images')")
	}
	for _, target := range []string{"/go/pkg/mod", "/root/.cache/go-build"} {
		if !regexp.MustCompile(`--mount=type=cache,[^ ]*target=` + regexp.QuoteMeta(target) + `( |$)`).MatchString(df.text) {
			t.Errorf("go build has no cache mount at %s", target)
		}
	}
	if !slices.Contains(goBuild.FlagsUsed, "mount") {
		t.Errorf("go build's RUN uses no --mount: %v", goBuild.FlagsUsed)
	}

	probe, ok := stages["probe"]
	if !ok {
		t.Fatal("no probe stage")
	}
	for _, c := range commandsOf[*instructions.CopyCommand](probe) {
		for _, src := range c.SourcePaths {
			if src != "deploy/go.mod" && src != "deploy/go.sum" && src != "deploy/healthprobe" {
				t.Errorf("probe stage copies %s: healthprobe needs only deploy/go.mod, go.sum and healthprobe/", src)
			}
			if _, err := os.Stat(filepath.Join(repoRoot(t), src)); err != nil {
				t.Errorf("probe stage: COPY %s: %v", src, err)
			}
		}
	}
	env := map[string]string{}
	for _, e := range commandsOf[*instructions.EnvCommand](probe) {
		for _, kv := range e.Env {
			env[kv.Key] = kv.Value
		}
	}
	if env["GOWORK"] != "off" || env["CGO_ENABLED"] != "0" {
		t.Errorf("probe stage env %v: want GOWORK=off (only deploy/ is there) and CGO_ENABLED=0", env)
	}
}

// Dockerfile.dockerignore keeps out what the build does not need and
// nothing it does.
func TestDockerignore(t *testing.T) {
	f, err := os.Open("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.work", "go.work.sum", "deploy/go.mod", "deploy/go.sum", "deploy/healthprobe/main.go", "deploy/Dockerfile"}
	for _, m := range workspaceModules(t) {
		needed = append(needed, m+"/go.mod")
	}
	for _, b := range workspaceBinaries(t) {
		needed = append(needed, b+"/cmd/"+b+"/main.go")
	}
	for _, p := range needed {
		if ignored, err := pm.MatchesOrParentMatches(p); err != nil || ignored {
			t.Errorf("%s is excluded from the build context (%v)", p, err)
		}
	}
	for _, p := range []string{".git/config", "bin/botchat", ".data/nats", "botchat/.data/x"} {
		if ignored, _ := pm.MatchesOrParentMatches(p); !ignored {
			t.Errorf("%s is sent to the build context", p)
		}
	}
}

// The images leave deploy out of the workspace; that must not change the
// versions their binaries are built with (MVS over the whole workspace).
func TestImageBuildListWithoutDeploy(t *testing.T) {
	root := repoRoot(t)
	if !slices.Contains(workspaceModules(t), "deploy") {
		t.Skip("go.work does not use ./deploy: images and `make build` see the same workspace")
	}
	if testing.Short() {
		t.Skip("runs go list twice")
	}
	var pkgs []string
	for _, b := range workspaceBinaries(t) {
		pkgs = append(pkgs, "./"+b+"/cmd/"+b)
	}
	list := func(gowork string) string {
		cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{with .Module}}{{.Path}}@{{.Version}}{{end}}"}, pkgs...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOWORK="+gowork, "GOFLAGS=-mod=readonly")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOWORK=%s): %v\n%s", gowork, err, stderr.String())
		}
		mods := slices.Compact(slices.Sorted(slices.Values(strings.Fields(string(out)))))
		return strings.Join(mods, "\n")
	}
	// go.work without ./deploy, with absolute paths so it can live in a temp dir.
	var b strings.Builder
	fmt.Fprintf(&b, "go %s\n\nuse (\n", workGoVersion(t))
	for _, m := range workspaceModules(t) {
		if m != "deploy" {
			fmt.Fprintf(&b, "\t%s\n", filepath.Join(root, m))
		}
	}
	b.WriteString(")\n")
	tmp := filepath.Join(t.TempDir(), "go.work")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if sum, err := os.ReadFile(filepath.Join(root, "go.work.sum")); err == nil {
		if err := os.WriteFile(tmp+".sum", sum, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	with, without := list(filepath.Join(root, "go.work")), list(tmp)
	if with != without {
		t.Errorf("deploy's dependencies change the images' build list (go.work with vs without ./deploy):\n%s", lineDiff(without, with))
	}
}

func workGoVersion(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.work has no go line")
	}
	return string(m[1])
}

// healthprobe imports only the standard library: the probe stage builds it
// without downloading a module, and it stays small.
func TestHealthprobeStdlibOnly(t *testing.T) {
	files, err := filepath.Glob("healthprobe/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("healthprobe sources: %v %v", files, err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := goparser.ParseFile(fset, f, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s: healthprobe must use the standard library only", f, path)
			}
		}
	}
}
