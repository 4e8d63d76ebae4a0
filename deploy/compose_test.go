package deploy

import (
	"context"
	"encoding/base64"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
	"sigs.k8s.io/yaml"
)

const (
	composeFile = "compose.yaml"
	envExample  = ".env.example"
	// Where the images keep the health check binary (deploy/Dockerfile).
	healthprobePath = "/usr/local/bin/healthprobe"
)

// keygen is the one-shot service that writes the secrets every container
// shares into the secretsVolume, read through CONFIG_FILE.
const (
	keygen        = "keygen"
	secretsVolume = "bot-secrets"
)

// Backing services compose runs, and who needs them.
var (
	coreInfra = []string{keygen, "nats", "postgres", "redis"}
	chatInfra = append(slices.Clone(coreInfra), "minio")
	allInfra  = []string{keygen, "livekit", "mailpit", "minio", "nats", "postgres", "qdrant", "redis"}
	// Extra backing services of single-service profiles.
	serviceInfra = map[string][]string{"botdrive": {"minio"}, "botmail": {"mailpit"}, "botvideo": {"livekit"}}
)

// warnings collects compose-go's logrus warnings (it reports an unset
// variable as "The "X" variable is not set. Defaulting to a blank string.").
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warnings) Fire(e *logrus.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, e.Message)
	return nil
}

var (
	hookOnce sync.Once
	logged   = &warnings{}
)

// composeLoad is the result of loading compose.yaml once.
type composeLoad struct {
	project  *types.Project
	warnings []string
	lookedUp map[string]bool // every variable compose.yaml interpolates
}

// loadCompose loads a compose file as `docker compose` does, with the
// given environment (nil: none at all) and profiles.
func loadCompose(t testing.TB, file string, env map[string]string, profiles ...string) composeLoad {
	t.Helper()
	hookOnce.Do(func() { logrus.AddHook(logged) })
	logged.mu.Lock()
	logged.msgs = nil
	logged.mu.Unlock()

	var mu sync.Mutex
	lookedUp := map[string]bool{}
	envList := make([]string, 0, len(env))
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithEnv(envList), // only this: not the test process's environment, not a local .env
		cli.WithProfiles(profiles),
		cli.WithLoadOptions(func(o *loader.Options) {
			if o.Interpolate == nil || o.Interpolate.LookupValue == nil {
				return // applied to option sets that do not interpolate too
			}
			lookup := o.Interpolate.LookupValue
			o.Interpolate.LookupValue = func(key string) (string, bool) {
				mu.Lock()
				lookedUp[key] = true
				mu.Unlock()
				return lookup(key)
			}
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose %v: %v", profiles, err)
	}
	logged.mu.Lock()
	defer logged.mu.Unlock()
	return composeLoad{project: project, warnings: slices.Clone(logged.msgs), lookedUp: lookedUp}
}

func readEnvExample(t testing.TB) map[string]string {
	t.Helper()
	env, err := dotenv.GetEnvFromFile(map[string]string{}, []string{envExample})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// The warning hook works: an unset variable is reported.
func TestComposeUnsetVariableIsCaught(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte("services:\n  a:\n    image: x:${SURELY_NOT_SET_ANYWHERE}\n    profiles: [p]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := loadCompose(t, file, nil, "p")
	if len(l.warnings) == 0 || !strings.Contains(strings.Join(l.warnings, "\n"), "SURELY_NOT_SET_ANYWHERE") {
		t.Fatalf("an unset variable went unreported (warnings: %q): the undefined-variable check is blind", l.warnings)
	}
}

// .env.example documents every variable compose.yaml uses, with the value
// compose uses when it is not set, and nothing else.
func TestComposeEnvExample(t *testing.T) {
	env := readEnvExample(t)
	withEnv := loadCompose(t, composeFile, env, "all", "allinone", "qdrant")
	bare := loadCompose(t, composeFile, nil, "all", "allinone", "qdrant")
	for name, l := range map[string]composeLoad{".env.example": withEnv, "no environment": bare} {
		if len(l.warnings) > 0 {
			t.Errorf("with %s: %s", name, strings.Join(l.warnings, "\n"))
		}
	}
	for v := range withEnv.lookedUp {
		if _, ok := env[v]; !ok {
			t.Errorf("compose.yaml uses ${%s}, which .env.example does not document", v)
		}
	}
	for v := range env {
		if !withEnv.lookedUp[v] {
			t.Errorf(".env.example documents %s, which compose.yaml does not use", v)
		}
	}
	a, err := withEnv.project.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	b, err := bare.project.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Errorf(".env.example's values differ from compose.yaml's defaults:\n%s", lineDiff(string(b), string(a)))
	}
}

func TestComposeProfiles(t *testing.T) {
	env := readEnvExample(t)
	services := workspaceServices(t)
	cases := map[string][]string{
		"chat":     append(slices.Clone(chatSet), chatInfra...),
		"all":      append(slices.Clone(services), allInfra...),
		"allinone": {allInOne, keygen, "livekit", "mailpit", "minio", "nats", "postgres", "redis"},
		"qdrant":   {"qdrant"},
	}
	for _, svc := range services {
		cases[svc] = append(append([]string{svc}, coreInfra...), serviceInfra[svc]...)
	}
	for profile, want := range cases {
		t.Run(profile, func(t *testing.T) {
			l := loadCompose(t, composeFile, env, profile)
			if len(l.warnings) > 0 {
				t.Errorf("warnings: %s", strings.Join(l.warnings, "\n"))
			}
			p := l.project
			if got := sorted(p.ServiceNames()); !slices.Equal(got, sorted(want)) {
				t.Errorf("--profile %s starts %v, want %v", profile, got, sorted(want))
			}
			checkComposeProject(t, p)
		})
	}
	// Profiles add up: chat plus one more service.
	l := loadCompose(t, composeFile, env, "chat", "botmail")
	if got, want := sorted(l.project.ServiceNames()), sorted(append(append(slices.Clone(chatSet), chatInfra...), "botmail", "mailpit")); !slices.Equal(got, want) {
		t.Errorf("--profile chat --profile botmail starts %v, want %v", got, want)
	}
}

// checkComposeProject checks the services a profile enables.
func checkComposeProject(t *testing.T, p *types.Project) {
	t.Helper()
	binaries := workspaceBinaries(t)
	root := repoRoot(t)
	for name, s := range p.Services {
		if len(s.Profiles) == 0 {
			t.Errorf("%s: no profile (it would start with every `docker compose up`)", name)
		}
		if !oneShot(s) && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
			t.Errorf("%s: no healthcheck", name)
		}
		// Dependencies that compose would refuse or wait on forever.
		for dep, d := range s.DependsOn {
			ds, ok := p.Services[dep]
			if !ok {
				if d.Required {
					t.Errorf("%s depends on %s, which this profile does not start", name, dep)
				}
				continue
			}
			if oneShot(ds) {
				if d.Condition != types.ServiceConditionCompletedSuccessfully {
					t.Errorf("%s: depends_on one-shot %s with condition %q, want %s", name, dep, d.Condition, types.ServiceConditionCompletedSuccessfully)
				}
				continue
			}
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: depends_on %s is not health-gated (condition %q)", name, dep, d.Condition)
			}
			if ds.HealthCheck == nil || len(ds.HealthCheck.Test) == 0 {
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
		if s.Build == nil {
			continue // a backing service's image
		}

		// A botserver-go image, built from this repository.
		t.Run(name, func(t *testing.T) {
			if !slices.Contains(binaries, name) {
				t.Fatalf("%s: no %s/cmd/%s in the workspace", name, name, name)
			}
			if arg := s.Build.Args["SERVICE"]; arg == nil || *arg != name {
				t.Errorf("build arg SERVICE=%v, want %s", deref(arg), name)
			}
			if filepath.Clean(s.Build.Context) != root {
				t.Errorf("build context %s, want the repository root %s", s.Build.Context, root)
			}
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("dockerfile: %v", err)
			}
			if repo, _, _ := strings.Cut(s.Image, ":"); !strings.HasSuffix(repo, "/"+name) {
				t.Errorf("image %s is not <registry>/%s:<tag>", s.Image, name)
			}
			uid, _, _ := strings.Cut(s.User, ":")
			if n, err := strconv.Atoi(uid); err != nil || n == 0 {
				t.Errorf("user %q: want a numeric non-root uid", s.User)
			}
			if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("read_only=%v cap_drop=%v security_opt=%v: want a read-only, capability-less container", s.ReadOnly, s.CapDrop, s.SecurityOpt)
			}
			if got := []string(s.HealthCheck.Test); !slices.Equal(got, []string{"CMD", healthprobePath}) {
				t.Errorf("healthcheck %v, want [CMD %s] (the image has no shell)", got, healthprobePath)
			}
			env := s.Environment
			for _, key := range []string{"DATABASE_URL", "NATS_URL", "DATA_DIR", "SERVICE_ADDRS"} {
				if v := env[key]; v == nil || *v == "" {
					t.Errorf("%s is not set: each container would work alone", key)
				}
			}
			writable := map[string]bool{}
			for _, tm := range s.Tmpfs {
				writable[strings.Split(tm, ":")[0]] = true
			}
			for _, v := range s.Volumes {
				writable[v.Target] = !v.ReadOnly
			}
			if d := deref(env["DATA_DIR"]); !writable[d] || !writable["/tmp"] {
				t.Errorf("DATA_DIR %s and /tmp must be writable (tmpfs or volume) on a read-only root: %v", d, writable)
			}
			for _, dep := range []string{"postgres", "nats", keygen} {
				if _, ok := s.DependsOn[dep]; !ok {
					t.Errorf("does not wait for %s", dep)
				}
			}
			checkSharedSecrets(t, s)
			// SERVICE_ADDRS points at compose services' gRPC port.
			for _, pair := range strings.Split(deref(env["SERVICE_ADDRS"]), ",") {
				svc, addr, ok := strings.Cut(pair, "=")
				if !ok || addr != svc+":9090" || !slices.Contains(binaries, svc) {
					t.Errorf("SERVICE_ADDRS entry %q: want <service>=<service>:9090", pair)
				}
			}
		})
	}
	// Every service of the file has a profile, enabled or not.
	for name, s := range p.DisabledServices {
		if len(s.Profiles) == 0 {
			t.Errorf("%s: no profile", name)
		}
	}
}

// oneShot: a service that runs to completion (restart "no"), like keygen.
func oneShot(s types.ServiceConfig) bool { return s.Restart == types.RestartPolicyNo }

// checkSharedSecrets: a botserver-go container reads the shared secrets from
// keygen's file, and nothing in its environment shadows them (a variable set
// in the environment, even empty, wins over CONFIG_FILE).
func checkSharedSecrets(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	file := deref(s.Environment["CONFIG_FILE"])
	if file == "" {
		t.Fatal("CONFIG_FILE is not set: the container would not read keygen's shared secrets")
	}
	mounted := false
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source == secretsVolume && v.Target == filepath.Dir(file) {
			mounted = true
			if !v.ReadOnly {
				t.Errorf("volume %s is mounted read-write; only keygen writes it", secretsVolume)
			}
		}
	}
	if !mounted {
		t.Errorf("CONFIG_FILE %s: volume %s is not mounted at %s", file, secretsVolume, filepath.Dir(file))
	}
	for _, key := range keygenSettings(t) {
		if _, set := s.Environment[key]; set {
			t.Errorf("%s is in the environment, which hides keygen's value in CONFIG_FILE", key)
		}
	}
}

// keygenSettings are the settings keygen writes: the variables it gets.
func keygenSettings(t *testing.T) []string {
	t.Helper()
	l := loadCompose(t, composeFile, nil, "chat")
	s, ok := l.project.Services[keygen]
	if !ok {
		t.Fatalf("no %s service in the chat profile", keygen)
	}
	keys := sortedKeys(s.Environment)
	if !slices.Contains(keys, "AUTH_SERVICE_KEY") {
		t.Fatalf("%s does not handle AUTH_SERVICE_KEY: %v", keygen, keys)
	}
	return keys
}

// keygen's script, run with sh: it generates the secrets once, keeps them,
// takes .env's values instead and refuses a malformed service key.
func TestComposeKeygen(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	l := loadCompose(t, composeFile, nil, "chat")
	s := l.project.Services[keygen]
	if s.Restart != types.RestartPolicyNo || len(s.Command) != 3 || s.Command[0] != "sh" {
		t.Fatalf("%s: restart %q command %q, want a one-shot sh script", keygen, s.Restart, s.Command)
	}
	if len(s.Volumes) != 1 || s.Volumes[0].Source != secretsVolume {
		t.Fatalf("%s: volumes %+v, want %s only", keygen, s.Volumes, secretsVolume)
	}
	dir := t.TempDir()
	// The script as the container runs it, with its volume moved to dir and
	// chown (root only) left out.
	script := strings.ReplaceAll(s.Command[2], s.Volumes[0].Target, dir)
	script = strings.ReplaceAll(script, "chown 0:65532", ": chown")
	run := func(env ...string) (string, error) {
		cmd := exec.Command(sh, s.Command[1], script)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	read := func() map[string]string {
		data, err := os.ReadFile(filepath.Join(dir, "settings.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := yaml.UnmarshalStrict(data, &m); err != nil {
			t.Fatalf("settings.yaml: %v\n%s", err, data)
		}
		return m
	}
	if out, err := run(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	first := read()
	if got := sortedKeys(first); !slices.Equal(got, keygenSettings(t)) {
		t.Errorf("settings.yaml has %v, want %v", got, keygenSettings(t))
	}
	seed, err := base64.StdEncoding.DecodeString(first["AUTH_SERVICE_KEY"])
	if err != nil || len(seed) != 32 {
		t.Errorf("generated AUTH_SERVICE_KEY %q: %d bytes, %v; want base64 of 32", first["AUTH_SERVICE_KEY"], len(seed), err)
	}
	if len(first["DRIVE_URL_SECRET"]) < 32 {
		t.Errorf("generated DRIVE_URL_SECRET %q is shorter than 32", first["DRIVE_URL_SECRET"])
	}
	if out, err := run(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if again := read(); !maps.Equal(again, first) {
		t.Errorf("a second run changed the secrets: %v -> %v (running containers would disagree)", first, again)
	}
	mine := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	if out, err := run("AUTH_SERVICE_KEY=" + mine); err != nil {
		t.Fatalf("run with AUTH_SERVICE_KEY: %v\n%s", err, out)
	}
	if got := read(); got["AUTH_SERVICE_KEY"] != mine || got["DRIVE_URL_SECRET"] != first["DRIVE_URL_SECRET"] {
		t.Errorf("with AUTH_SERVICE_KEY=%s from .env: %v", mine, got)
	}
	for _, bad := range []string{"AUTH_SERVICE_KEY=short", "AUTH_SERVICE_KEY=" + strings.Repeat("*", 44), "DRIVE_URL_SECRET=too-short"} {
		if out, err := run(bad); err == nil {
			t.Errorf("%s accepted:\n%s", bad, out)
		}
	}
}

// Every workspace binary has a compose service and its own profile.
func TestComposeCoversWorkspace(t *testing.T) {
	l := loadCompose(t, composeFile, readEnvExample(t), "all", "allinone")
	for _, b := range workspaceBinaries(t) {
		s, ok := l.project.Services[b]
		if !ok {
			t.Errorf("no compose service %s", b)
			continue
		}
		own := b
		if b == allInOne {
			own = "allinone"
		}
		if !slices.Contains(s.Profiles, own) {
			t.Errorf("%s: profiles %v, want its own profile %s", b, s.Profiles, own)
		}
	}
	// The default SERVICE_ADDRS is the chat set.
	var listed []string
	for _, pair := range strings.Split(readEnvExample(t)["SERVICE_ADDRS"], ",") {
		name, _, _ := strings.Cut(pair, "=")
		listed = append(listed, name)
	}
	if got := sorted(listed); !slices.Equal(got, sorted(chatSet)) {
		t.Errorf(".env.example SERVICE_ADDRS lists %v, want the chat set %v", got, chatSet)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// lineDiff shows the lines of b that a does not have and the reverse.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
