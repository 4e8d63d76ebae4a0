package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The binaries' settings are listed in the README's table, which is
// generated from them (`botserver settings`) and checked by a test of the
// botserver module; parsing it here is fast and needs no build.
const (
	readmeFile     = "README.md"
	settingsHeader = "| setting | default | description |"
)

// Variables that are not botserver-go settings but may still appear.
var (
	// .env.example: read by compose itself or by the backing services.
	composeOnlyVars = map[string]string{
		"IMAGE_REGISTRY":      "image names",
		"IMAGE_TAG":           "image names",
		"VERSION":             "build arg",
		"POSTGRES_USER":       "the postgres container",
		"POSTGRES_PASSWORD":   "the postgres container",
		"POSTGRES_DB":         "the postgres container",
		"MINIO_ROOT_USER":     "the minio container",
		"MINIO_ROOT_PASSWORD": "the minio container",
		"MAILPIT_UI_PORT":     "host port",
		"LIVEKIT_PORT":        "host port",
		"LIVEKIT_API_KEY":     "the livekit container's key pair",
		"LIVEKIT_API_SECRET":  "the livekit container's key pair",
		"PUBLIC_PORT":         "host port",
		"BOTS_HOST_DIR":       "host folder mounted as BOTS_DIR",
		"BOT_SERVICES":        "the all-in-one's --services default (botserver/cmd/botserver)",
	}
	// Environment of botserver-go containers (compose and chart).
	containerOnlyVars = map[string]string{
		"BOT_SERVICES": "the all-in-one's --services default (botserver/cmd/botserver)",
		"GOMEMLIMIT":   "Go runtime, from the memory limit",
	}
	// .env.example values that differ from the binary's default on purpose.
	deliberateDefaults = map[string]string{
		"S3_FORCE_PATH_STYLE": "MinIO needs path-style URLs",
	}
)

// settingsTable parses the README's settings table: name -> default.
func settingsTable(t testing.TB) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), readmeFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == settingsHeader:
			if in || len(out) > 0 {
				t.Fatalf("%s has two settings tables", readmeFile)
			}
			in = true
		case !in:
		case line == "":
			in = false
		case strings.HasPrefix(line, "|---"):
		default:
			cells := strings.Split(line, "|")
			if len(cells) < 4 {
				t.Fatalf("%s: settings row %q has no default/description columns", readmeFile, line)
			}
			name := strings.Trim(strings.TrimSpace(cells[1]), "`")
			if name == "" || strings.ToUpper(name) != name || strings.ContainsAny(name, " `") {
				t.Fatalf("%s: settings row %q: bad name %q", readmeFile, line, name)
			}
			out[name] = strings.Trim(strings.TrimSpace(cells[2]), "`")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Guard against parsing nothing (or something else) and passing blindly.
	for _, must := range []string{"DATABASE_URL", "AUTH_SERVICE_KEY", "S3_ENDPOINT", "LLM_URL"} {
		if _, ok := out[must]; !ok {
			t.Fatalf("%s's settings table (after %q) has no %s: parsed %d names", readmeFile, settingsHeader, must, len(out))
		}
	}
	return out
}

func TestSettingsTableParses(t *testing.T) {
	s := settingsTable(t)
	if s["LOG_LEVEL"] != "info" || s["DATABASE_URL"] != "" {
		t.Errorf("defaults parsed wrongly: LOG_LEVEL=%q DATABASE_URL=%q", s["LOG_LEVEL"], s["DATABASE_URL"])
	}
	for _, notOne := range []string{"SMTP_HOST", "GOMEMLIMIT", "POSTGRES_USER"} {
		if _, ok := s[notOne]; ok {
			t.Errorf("%s parsed as a setting", notOne)
		}
	}
}

// checkNames reports every name that is neither a setting nor allowed.
func checkNames(t *testing.T, where string, names []string, settings map[string]string, allowed map[string]string) {
	t.Helper()
	for _, n := range names {
		if _, ok := settings[n]; ok {
			continue
		}
		if _, ok := allowed[n]; ok {
			continue
		}
		t.Errorf("%s sets %s, which no binary reads (not in %s's settings table; an infrastructure variable belongs in the test's allowed list)", where, n, readmeFile)
	}
}

// .env.example documents real settings (and compose's own variables), with
// the binaries' defaults unless deliberately different.
func TestSettingsEnvExample(t *testing.T) {
	settings := settingsTable(t)
	env := readEnvExample(t)
	checkNames(t, envExample, sortedKeys(env), settings, composeOnlyVars)
	for name, val := range env {
		def, isSetting := settings[name]
		if !isSetting || val == "" || def == "" {
			continue
		}
		if _, ok := deliberateDefaults[name]; !ok && val != def {
			t.Errorf("%s: %s=%s, the binaries' default is %s: leave it empty, use the default, or list it in deliberateDefaults", envExample, name, val, def)
		}
	}
	for name := range composeOnlyVars {
		if _, isSetting := settings[name]; isSetting {
			t.Errorf("%s is allowed as a compose-only variable but is a setting: remove it from composeOnlyVars", name)
		}
	}
}

// Every variable a compose service built from this repository gets is a
// setting, and so is every one keygen writes into CONFIG_FILE.
func TestSettingsComposeContainers(t *testing.T) {
	settings := settingsTable(t)
	l := loadCompose(t, composeFile, readEnvExample(t), "all", "allinone")
	n := 0
	for name, s := range l.project.Services {
		if s.Build == nil {
			continue
		}
		n++
		checkNames(t, composeFile+" service "+name, sortedKeys(s.Environment), settings, containerOnlyVars)
	}
	if n < len(workspaceBinaries(t)) {
		t.Fatalf("checked %d botserver-go services, want %d", n, len(workspaceBinaries(t)))
	}
	checkNames(t, composeFile+" service "+keygen, keygenSettings(t), settings, nil)
}

// fullValues fills every settings knob of the chart, so that the render
// shows each variable name the chart can set.
const fullValues = `
auth:
  bootstrapAdmin: {email: admin@example.com, password: example-password-0123}
s3: {endpoint: "http://minio:9000", region: eu-west-1, bucket: bots, prefix: p/, forcePathStyle: "true", accessKeyId: id, secretAccessKey: secret}
qdrant: {url: "http://qdrant:6334", apiKey: key}
llm: {url: "http://llm:8080/v1", model: m, provider: openai, timeout: 2m, key: key}
embedding: {url: "http://llm:8080/v1", model: e, dimensions: "768", key: key}
redis: {url: "redis://redis:6379/0"}
config: {OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel:4317", AUTH_ACCESS_TTL: 10m}
`

// Every variable the chart sets in a pod (ConfigMap, Secret, env) is a
// setting, and every Secret key a pod reads is one the chart's Secret can hold.
func TestSettingsChart(t *testing.T) {
	settings := settingsTable(t)
	file := filepath.Join(t.TempDir(), "full.yaml")
	if err := os.WriteFile(file, []byte(fullValues), 0o644); err != nil {
		t.Fatal(err)
	}
	r := render(t, "-f", testValues, "-f", file)
	secret := r.secrets[release+"-env"]
	if secret == nil {
		t.Fatalf("no Secret %s-env", release)
	}
	for name, cm := range r.configMaps {
		checkNames(t, "ConfigMap "+name, sortedKeys(cm.Data), settings, nil)
	}
	for name, s := range r.secrets {
		checkNames(t, "Secret "+name, sortedKeys(s.StringData), settings, nil)
	}
	var pods []corev1.PodSpec
	for _, d := range r.deployments {
		pods = append(pods, d.Spec.Template.Spec)
	}
	for _, j := range r.jobs {
		pods = append(pods, j.Spec.Template.Spec)
	}
	for _, pod := range pods {
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			var names []string
			for _, e := range c.Env {
				names = append(names, e.Name)
				if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
					if _, ok := secret.StringData[ref.SecretKeyRef.Key]; !ok {
						t.Errorf("container %s reads Secret key %s, which the chart's Secret never holds (values.yaml secretEnv vs _helpers.tpl secretData)", c.Name, ref.SecretKeyRef.Key)
					}
				}
			}
			checkNames(t, "container "+c.Name, names, settings, containerOnlyVars)
		}
	}
	// The knobs above reached the pods.
	cm := r.configMaps[release+"-config"]
	for _, key := range []string{"BOOTSTRAP_ADMIN_EMAIL", "S3_ENDPOINT", "LLM_PROVIDER", "LLM_TIMEOUT", "EMBEDDING_URL", "EMBEDDING_DIMENSIONS", "QDRANT_URL", "AUTH_ACCESS_TTL"} {
		if cm.Data[key] == "" {
			t.Errorf("ConfigMap has no %s", key)
		}
	}
	for _, key := range []string{"AUTH_SERVICE_KEY", "BOOTSTRAP_ADMIN_PASSWORD", "DRIVE_URL_SECRET", "S3_SECRET_ACCESS_KEY", "LLM_KEY", "EMBEDDING_KEY", "QDRANT_API_KEY"} {
		if secret.StringData[key] == "" {
			t.Errorf("Secret has no %s", key)
		}
		if _, leaked := cm.Data[key]; leaked {
			t.Errorf("secret %s is in the ConfigMap", key)
		}
	}
}
