package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "helm/botserver"
	release     = "bots"
	namespace   = "bots"
	kubeVersion = "1.30.0"
	// ci/test-values.yaml: the smallest values the chart accepts.
	testValues = "helm/botserver/ci/test-values.yaml"
	chatValues = "helm/botserver/values-chat.yaml"
)

// helmBin finds the helm binary: $HELM, the project's pinned install
// (mk/deploy.mk: make deploy-tools), or PATH.
func helmBin(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	bin := os.Getenv("TOOLS_BIN")
	if bin == "" {
		if home, err := os.UserHomeDir(); err == nil {
			bin = filepath.Join(home, ".cache", "botserver-go", "tools", "bin")
		}
	}
	if p := filepath.Join(bin, "helm"); bin != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	t.Fatal("helm not found: run `make deploy-tools` (installs the pinned helm into ~/.cache/botserver-go/tools/bin) or set HELM")
	return ""
}

// helmTemplate runs `helm template` on the chart and returns its output.
func helmTemplate(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), append([]string{"template", release, chartDir,
		"--namespace", namespace, "--kube-version", kubeVersion}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// rendered is a chart render decoded into typed objects, by name.
type rendered struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs        map[string]*policyv1.PodDisruptionBudget
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	accounts    map[string]*corev1.ServiceAccount
	jobs        map[string]*batchv1.Job
	ingresses   map[string]*networkingv1.Ingress
	all         []metav1.Object
}

// decode splits a multi-document YAML stream and decodes every document
// strictly (unknown or duplicate fields are errors) into the Kubernetes API
// type of its apiVersion/kind. A kind outside the list is an error too.
func decode(t testing.TB, out []byte) *rendered {
	t.Helper()
	r := &rendered{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		accounts: map[string]*corev1.ServiceAccount{}, jobs: map[string]*batchv1.Job{},
		ingresses: map[string]*networkingv1.Ingress{},
	}
	reader := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	seen := map[string]bool{}
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		if tm.Kind == "" && tm.APIVersion == "" {
			var probe map[string]any
			if err := yaml.Unmarshal(doc, &probe); err != nil || len(probe) == 0 {
				continue // only comments
			}
			t.Fatalf("document %d has no apiVersion/kind:\n%s", i, doc)
		}
		var obj metav1.Object
		switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
		case "apps/v1/Deployment":
			obj = strictInto(t, doc, r.deployments)
		case "v1/Service":
			obj = strictInto(t, doc, r.services)
		case "autoscaling/v2/HorizontalPodAutoscaler":
			obj = strictInto(t, doc, r.hpas)
		case "policy/v1/PodDisruptionBudget":
			obj = strictInto(t, doc, r.pdbs)
		case "v1/ConfigMap":
			obj = strictInto(t, doc, r.configMaps)
		case "v1/Secret":
			obj = strictInto(t, doc, r.secrets)
		case "v1/ServiceAccount":
			obj = strictInto(t, doc, r.accounts)
		case "batch/v1/Job":
			obj = strictInto(t, doc, r.jobs)
		case "networking.k8s.io/v1/Ingress":
			obj = strictInto(t, doc, r.ingresses)
		default:
			t.Fatalf("document %d: unexpected %s (add it to decode if the chart should render it)", i, gvk)
		}
		key := tm.Kind + "/" + obj.GetName()
		if seen[key] {
			t.Errorf("%s rendered twice", key)
		}
		seen[key] = true
		checkMeta(t, tm.Kind, obj)
		r.all = append(r.all, obj)
	}
	if len(r.all) == 0 {
		t.Fatal("the chart rendered nothing")
	}
	return r
}

// strictInto decodes doc into a new T and files it under its name.
func strictInto[T any, PT interface {
	*T
	metav1.Object
}](t testing.TB, doc []byte, into map[string]PT) metav1.Object {
	t.Helper()
	obj := PT(new(T))
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("strict decoding into %T: %v\n%s", obj, err, doc)
	}
	into[obj.GetName()] = obj
	return obj
}

// checkMeta validates names and labels as the API server would.
func checkMeta(t testing.TB, kind string, obj metav1.Object) {
	t.Helper()
	name := obj.GetName()
	check := validation.IsDNS1123Subdomain
	if kind == "Service" {
		check = validation.IsDNS1035Label // Service names are DNS labels
	}
	for _, msg := range check(name) {
		t.Errorf("%s %q: invalid name: %s", kind, name, msg)
	}
	if obj.GetNamespace() != "" && obj.GetNamespace() != namespace {
		t.Errorf("%s %q: namespace %q", kind, name, obj.GetNamespace())
	}
	for k, v := range obj.GetLabels() {
		for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
			t.Errorf("%s %q: label %s=%s: %s", kind, name, k, v, msg)
		}
	}
}

func render(t testing.TB, args ...string) *rendered {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

// chartExpect is what one render must contain.
type chartExpect struct {
	enabled        []string
	existingSecret string
	fixedReplicas  map[string]int32 // services with the HPA off
	ingress        bool
}

func TestChartAllServices(t *testing.T) {
	t.Parallel()
	r := render(t, "-f", testValues, "--set", "ingress.enabled=true", "--set", "ingress.hosts[0].host=bots.example.com")
	checkChart(t, r, chartExpect{enabled: workspaceServices(t), ingress: true})
}

func TestChartChatSet(t *testing.T) {
	t.Parallel()
	r := render(t, "-f", testValues, "-f", chatValues)
	checkChart(t, r, chartExpect{enabled: chatSet})
}

func TestChartExistingSecret(t *testing.T) {
	t.Parallel()
	r := render(t, "--set", "existingSecret=bots-env", "-f", chatValues)
	checkChart(t, r, chartExpect{enabled: chatSet, existingSecret: "bots-env"})
}

func TestChartFixedReplicas(t *testing.T) {
	t.Parallel()
	r := render(t, "-f", testValues, "-f", chatValues,
		"--set", "services.botchat.hpa.enabled=false", "--set", "services.botchat.replicas=3",
		"--set", "services.botmail.enabled=true")
	checkChart(t, r, chartExpect{enabled: append(slices.Clone(chatSet), "botmail"), fixedReplicas: map[string]int32{"botchat": 3}})
}

func TestChartRefusesIncompleteValues(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no database":    {[]string{"--set", "nats.url=nats://nats:4222"}, "postgres.url"},
		"no nats":        {[]string{"--set", "postgres.url=postgres://db/bots"}, "nats.url"},
		"no services":    {append([]string{"-f", testValues}, disableAll(workspaceServices(t))...), "no service enabled"},
		"unknown key":    {[]string{"-f", testValues, "--set", "services.botchat.replica=3"}, "replica"},
		"unknown name":   {[]string{"-f", testValues, "--set", "services.botfoo.enabled=true"}, "botfoo"},
		"bad url":        {[]string{"-f", testValues, "--set", "postgres.url=mysql://db"}, "postgres"},
		"no service key": {[]string{"-f", testValues, "--set", "auth.serviceKey="}, "auth.serviceKey"},
		"one service, two pods, no service key": {append([]string{"-f", testValues, "--set", "auth.serviceKey=",
			"--set", "services.botchat.enabled=true"}, disableAll(slices.DeleteFunc(workspaceServices(t), func(s string) bool { return s == "botchat" }))...), "auth.serviceKey"},
		"bad service key":        {[]string{"-f", testValues, "--set", "auth.serviceKey=not-a-key"}, "serviceKey"},
		"no drive secret":        {[]string{"-f", testValues, "--set", "drive.urlSecret="}, "drive.urlSecret"},
		"short drive secret":     {[]string{"-f", testValues, "--set", "drive.urlSecret=short"}, "urlSecret"},
		"admin without password": {[]string{"-f", testValues, "--set", "auth.bootstrapAdmin.email=a@example.com"}, "auth.bootstrapAdmin.password"},
		"password without admin": {[]string{"-f", testValues, "--set", "auth.bootstrapAdmin.password=0123456789abcdef"}, "auth.bootstrapAdmin.email"},
		"unknown provider":       {[]string{"-f", testValues, "--set", "llm.provider=gemini"}, "provider"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := helmTemplate(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("helm template %v: got %v, want an error about %q", tc.args, err, tc.want)
			}
		})
	}
}

// One pod of one service needs no shared service key or URL secret.
func TestChartSinglePodNeedsNoSharedKeys(t *testing.T) {
	t.Parallel()
	args := []string{"--set", "postgres.url=postgres://db/bots", "--set", "nats.url=nats://nats:4222",
		"--set", "services.botdrive.hpa.enabled=false", "--set", "services.botdrive.replicas=1"}
	others := slices.DeleteFunc(workspaceServices(t), func(s string) bool { return s == "botdrive" })
	r := render(t, append(args, disableAll(others)...)...)
	env := r.deployments[release+"-botdrive"].Spec.Template.Spec.Containers[0].Env
	for _, key := range []string{"AUTH_SERVICE_KEY", "DRIVE_URL_SECRET"} {
		e := findEnv(env, key)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Fatalf("botdrive: %s is not read from the Secret", key)
		}
		if o := e.ValueFrom.SecretKeyRef.Optional; o == nil || !*o {
			t.Errorf("botdrive alone in one pod: %s should be optional", key)
		}
	}
}

func findEnv(env []corev1.EnvVar, name string) *corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			return &env[i]
		}
	}
	return nil
}

func disableAll(services []string) []string {
	var args []string
	for _, s := range services {
		args = append(args, "--set", "services."+s+".enabled=false")
	}
	return args
}

func checkChart(t *testing.T, r *rendered, want chartExpect) {
	t.Helper()
	prefix := release
	name := func(svc string) string { return prefix + "-" + svc }

	// Settings: the ConfigMap every pod reads, the Secret (or existingSecret).
	cm := r.configMaps[prefix+"-config"]
	if cm == nil {
		t.Fatalf("no ConfigMap %s-config", prefix)
	}
	secretName := want.existingSecret
	if secretName == "" {
		secretName = prefix + "-env"
		s := r.secrets[secretName]
		if s == nil {
			t.Fatalf("no Secret %s", secretName)
		}
		for _, key := range []string{"DATABASE_URL", "NATS_URL", "AUTH_SERVICE_KEY"} {
			if s.StringData[key] == "" {
				t.Errorf("Secret %s has no %s", secretName, key)
			}
		}
		if _, leaked := cm.Data["DATABASE_URL"]; leaked {
			t.Error("DATABASE_URL is in the ConfigMap")
		}
	} else if s, ok := r.secrets[secretName]; ok {
		t.Errorf("existingSecret %s rendered by the chart: %v", secretName, s.Name)
	}

	// SERVICE_ADDRS names exactly the enabled services, at their Services.
	addrs := map[string]string{}
	for _, pair := range strings.Split(cm.Data["SERVICE_ADDRS"], ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			t.Fatalf("SERVICE_ADDRS entry %q is not name=host:port", pair)
		}
		addrs[k] = v
	}
	if got := sortedKeys(addrs); !slices.Equal(got, sorted(want.enabled)) {
		t.Errorf("SERVICE_ADDRS lists %v, want %v", got, sorted(want.enabled))
	}
	for svc, addr := range addrs {
		if addr != name(svc)+":9090" {
			t.Errorf("SERVICE_ADDRS: %s=%s, want %s:9090", svc, addr, name(svc))
		}
	}
	dataDir := cm.Data["DATA_DIR"]
	if dataDir == "" || cm.Data["GRPC_ADDR"] != ":9090" || cm.Data["OPS_ADDR"] != ":9091" {
		t.Errorf("ConfigMap: DATA_DIR=%q GRPC_ADDR=%q OPS_ADDR=%q", dataDir, cm.Data["GRPC_ADDR"], cm.Data["OPS_ADDR"])
	}

	// Per enabled service: Deployment, Service, HPA (unless fixed replicas), PDB.
	for _, svc := range want.enabled {
		t.Run(svc, func(t *testing.T) {
			d := r.deployments[name(svc)]
			if d == nil {
				t.Fatalf("no Deployment %s", name(svc))
			}
			podLabels := labels.Set(d.Spec.Template.Labels)
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(podLabels) {
				t.Fatalf("Deployment %s: selector %v does not select its pods %v (%v)", d.Name, d.Spec.Selector, podLabels, err)
			}
			for other, od := range r.deployments {
				if other != d.Name && sel.Matches(labels.Set(od.Spec.Template.Labels)) {
					t.Errorf("Deployment %s's selector also selects %s's pods", d.Name, other)
				}
			}
			checkPod(t, r, svc, &d.Spec.Template.Spec, secretName, dataDir, false)
			c := d.Spec.Template.Spec.Containers[0]
			// Several pods: each must get the shared key or not start at all.
			required := []string{"DATABASE_URL", "AUTH_SERVICE_KEY"}
			if svc == "botdrive" {
				required = append(required, "DRIVE_URL_SECRET")
			}
			for _, key := range required {
				e := findEnv(c.Env, key)
				if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Key != key {
					t.Errorf("%s: %s is not read from the Secret", svc, key)
				} else if o := e.ValueFrom.SecretKeyRef.Optional; o != nil && *o {
					t.Errorf("%s: %s is optional: without it the pod would start and be refused by the others", svc, key)
				}
			}
			if len(c.Args) > 0 && c.Args[0] != "serve" {
				t.Errorf("%s: args %v, want serve", svc, c.Args)
			}
			if d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable == nil ||
				d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
				t.Errorf("%s: a rollout may take pods down before new ones are ready: %+v", svc, d.Spec.Strategy)
			}
			for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				if p == nil || p.GRPC == nil || p.GRPC.Port != 9090 {
					t.Fatalf("%s: want gRPC startup, liveness and readiness probes on port 9090, got %+v / %+v / %+v",
						svc, c.StartupProbe, c.LivenessProbe, c.ReadinessProbe)
				}
			}
			if !hasContainerPort(c, "grpc", 9090) || !hasContainerPort(c, "ops", 9091) {
				t.Errorf("%s: container ports %+v, want grpc 9090 and ops 9091", svc, c.Ports)
			}
			grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
			if drain, stop := seconds(t, cm.Data["DRAIN_DELAY"]), seconds(t, cm.Data["SHUTDOWN_TIMEOUT"]); grace == nil || *grace <= drain+stop {
				t.Errorf("%s: terminationGracePeriodSeconds %v must exceed DRAIN_DELAY+SHUTDOWN_TIMEOUT (%ds)", svc, grace, drain+stop)
			}

			s := r.services[name(svc)]
			if s == nil {
				t.Fatalf("no Service %s", name(svc))
			}
			ssel := labels.SelectorFromSet(s.Spec.Selector)
			if len(s.Spec.Selector) == 0 || !ssel.Matches(podLabels) {
				t.Errorf("Service %s: selector %v does not select the Deployment's pods %v", s.Name, s.Spec.Selector, podLabels)
			}
			for other, od := range r.deployments {
				if other != d.Name && ssel.Matches(labels.Set(od.Spec.Template.Labels)) {
					t.Errorf("Service %s also selects %s's pods", s.Name, other)
				}
			}
			grpcPort := false
			for _, p := range s.Spec.Ports {
				if !hasContainerPort(c, p.TargetPort.String(), 0) {
					t.Errorf("Service %s: port %s targets %q, which the container does not declare", s.Name, p.Name, p.TargetPort.String())
				}
				grpcPort = grpcPort || (p.Name == "grpc" && p.Port == 9090)
			}
			if !grpcPort {
				t.Errorf("Service %s: no grpc port 9090 (SERVICE_ADDRS points there)", s.Name)
			}

			hpa := r.hpas[name(svc)]
			if n, fixed := want.fixedReplicas[svc]; fixed {
				if hpa != nil {
					t.Errorf("%s: HPA rendered although hpa.enabled=false", svc)
				}
				if d.Spec.Replicas == nil || *d.Spec.Replicas != n {
					t.Errorf("%s: replicas %v, want %d", svc, d.Spec.Replicas, n)
				}
			} else {
				if hpa == nil {
					t.Fatalf("no HorizontalPodAutoscaler %s", name(svc))
				}
				ref := hpa.Spec.ScaleTargetRef
				if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
					t.Errorf("HPA %s targets %+v, want Deployment %s", hpa.Name, ref, d.Name)
				}
				if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 1 || *hpa.Spec.MinReplicas > hpa.Spec.MaxReplicas {
					t.Errorf("HPA %s: min %v max %d", hpa.Name, hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
				}
				cpu := false
				for _, m := range hpa.Spec.Metrics {
					cpu = cpu || (m.Resource != nil && m.Resource.Name == corev1.ResourceCPU)
				}
				if !cpu {
					t.Errorf("HPA %s: no CPU metric", hpa.Name)
				}
				if d.Spec.Replicas != nil {
					t.Errorf("%s: Deployment sets replicas although its HPA owns them (each upgrade would reset the scale)", svc)
				}
			}

			pdb := r.pdbs[name(svc)]
			if pdb == nil {
				t.Fatalf("no PodDisruptionBudget %s", name(svc))
			}
			psel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || psel.Empty() || !psel.Matches(podLabels) {
				t.Errorf("PDB %s: selector %v does not select the Deployment's pods (%v)", pdb.Name, pdb.Spec.Selector, err)
			}
			for other, od := range r.deployments {
				if other != d.Name && psel.Matches(labels.Set(od.Spec.Template.Labels)) {
					t.Errorf("PDB %s also selects %s's pods", pdb.Name, other)
				}
			}
			if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
				t.Errorf("PDB %s: want exactly one of minAvailable/maxUnavailable", pdb.Name)
			}
		})
	}

	// Disabled services render nothing.
	for _, svc := range workspaceServices(t) {
		if slices.Contains(want.enabled, svc) {
			continue
		}
		for _, obj := range r.all {
			if obj.GetName() == name(svc) || obj.GetLabels()["app.kubernetes.io/component"] == svc {
				t.Errorf("disabled service %s: rendered %T %s", svc, obj, obj.GetName())
			}
		}
	}
	if got := len(r.deployments); got != len(want.enabled) {
		t.Errorf("%d Deployments, want %d", got, len(want.enabled))
	}

	checkMigrations(t, r, want, secretName, dataDir)

	// The public entry: only botcore serves HTTP, the Ingress points at it.
	if want.ingress {
		ing := r.ingresses[name("botcore")]
		if ing == nil {
			t.Fatal("ingress.enabled: no Ingress")
		}
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b == nil || b.Name != name("botcore") || b.Port.Name != "http" {
					t.Errorf("Ingress path %s: backend %+v, want %s port http", p.Path, p.Backend, name("botcore"))
				}
			}
		}
	} else if len(r.ingresses) > 0 {
		t.Error("Ingress rendered while disabled")
	}
}

// checkPod checks what every pod of the chart needs: non-root and locked
// down, resources, writable DATA_DIR and /tmp on a read-only root, and
// settings from objects that exist.
func checkPod(t *testing.T, r *rendered, svc string, pod *corev1.PodSpec, secretName, dataDir string, job bool) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod must run as a non-root uid: %+v", svc, psc)
	} else if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccomp profile %+v, want RuntimeDefault", svc, psc.SeccompProfile)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token is mounted; the services do not use the API", svc)
	}
	if sa := pod.ServiceAccountName; !job && sa != "" && sa != "default" && r.accounts[sa] == nil {
		t.Errorf("%s: ServiceAccount %s is not rendered", svc, sa)
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
	}
	containers := append(slices.Clone(pod.InitContainers), pod.Containers...)
	if len(pod.Containers) == 0 {
		t.Fatalf("%s: no containers", svc)
	}
	for _, c := range containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s/%s: no securityContext", svc, c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s/%s: root filesystem is writable", svc, c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s/%s: privilege escalation allowed", svc, c.Name)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s/%s: privileged", svc, c.Name)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s/%s: capabilities %+v, want drop ALL", svc, c.Name, sc.Capabilities)
		}
		req, lim := c.Resources.Requests, c.Resources.Limits
		if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
			t.Errorf("%s/%s: resources %+v: want cpu and memory requests and a memory limit", svc, c.Name, c.Resources)
		} else if req.Memory().Cmp(*lim.Memory()) > 0 {
			t.Errorf("%s/%s: memory request above its limit", svc, c.Name)
		}
		if !strings.HasSuffix(strings.Split(c.Image, ":")[0], "/"+svc) && !job {
			t.Errorf("%s/%s: image %s is not the %s image", svc, c.Name, c.Image, svc)
		}
		// Writable paths on a read-only root: DATA_DIR and /tmp.
		mounts := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s/%s: mounts undefined volume %s", svc, c.Name, m.Name)
			}
			mounts[m.MountPath] = !m.ReadOnly
		}
		if !mounts[dataDir] || !mounts["/tmp"] {
			t.Errorf("%s/%s: DATA_DIR %s and /tmp must be writable mounts, have %v", svc, c.Name, dataDir, mounts)
		}
		// Settings come from objects that exist.
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && r.configMaps[ef.ConfigMapRef.Name] == nil {
				t.Errorf("%s/%s: envFrom ConfigMap %s is not rendered", svc, c.Name, ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil && ef.SecretRef.Name != secretName && r.secrets[ef.SecretRef.Name] == nil {
				t.Errorf("%s/%s: envFrom Secret %s is neither rendered nor existingSecret", svc, c.Name, ef.SecretRef.Name)
			}
		}
		hasDB := false
		for _, e := range c.Env {
			for _, msg := range validation.IsEnvVarName(e.Name) {
				t.Errorf("%s/%s: env %q: %s", svc, c.Name, e.Name, msg)
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				if ref.Name != secretName {
					t.Errorf("%s/%s: %s from Secret %s, want %s", svc, c.Name, e.Name, ref.Name, secretName)
				}
				hasDB = hasDB || ref.Key == "DATABASE_URL"
			}
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && r.configMaps[e.ValueFrom.ConfigMapKeyRef.Name] == nil {
				t.Errorf("%s/%s: %s from a ConfigMap that is not rendered", svc, c.Name, e.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			hasDB = hasDB || (ef.SecretRef != nil && ef.SecretRef.Name == secretName)
		}
		if !hasDB {
			t.Errorf("%s/%s: no DATABASE_URL from the Secret", svc, c.Name)
		}
	}
}

// checkMigrations: one pre-install/pre-upgrade hook Job migrates exactly the
// enabled services with their own images, before the Deployments change.
func checkMigrations(t *testing.T, r *rendered, want chartExpect, secretName, dataDir string) {
	t.Helper()
	job := r.jobs[release+"-migrate"]
	if job == nil {
		t.Fatalf("no migration Job %s-migrate", release)
	}
	hooks := strings.Split(job.Annotations["helm.sh/hook"], ",")
	if !slices.Contains(hooks, "pre-install") || !slices.Contains(hooks, "pre-upgrade") {
		t.Errorf("migration Job hooks %v, want pre-install and pre-upgrade", hooks)
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		t.Errorf("migration Job restartPolicy %q", pod.RestartPolicy)
	}
	var migrated []string
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		if !slices.Equal(c.Args, []string{"migrate"}) {
			t.Errorf("migration container %s: args %v, want [migrate]", c.Name, c.Args)
		}
		repo := strings.Split(c.Image, ":")[0]
		migrated = append(migrated, repo[strings.LastIndex(repo, "/")+1:])
		// The Job's Secret must exist when the hook runs: existingSecret, or
		// a hook Secret with a lower weight.
		for _, ef := range c.EnvFrom {
			if ef.SecretRef == nil || ef.SecretRef.Name == want.existingSecret {
				continue
			}
			s := r.secrets[ef.SecretRef.Name]
			if s == nil || s.Annotations["helm.sh/hook"] != job.Annotations["helm.sh/hook"] ||
				atoi(t, s.Annotations["helm.sh/hook-weight"]) >= atoi(t, job.Annotations["helm.sh/hook-weight"]) {
				t.Errorf("migration Job reads Secret %s, which is not a hook created before it", ef.SecretRef.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				t.Errorf("migration container %s reads ConfigMap %s, which does not exist yet at pre-install", c.Name, ef.ConfigMapRef.Name)
			}
		}
	}
	if got := sorted(migrated); !slices.Equal(got, sorted(want.enabled)) {
		t.Errorf("migration Job migrates %v, want the enabled services %v", got, sorted(want.enabled))
	}
	migrateSecret := secretName
	if want.existingSecret == "" {
		migrateSecret = release + "-migrate"
	}
	checkPod(t, r, "migrate", &pod, migrateSecret, dataDir, true)
}

func hasContainerPort(c corev1.Container, name string, port int32) bool {
	for _, p := range c.Ports {
		if p.Name == name && (port == 0 || p.ContainerPort == port) {
			return true
		}
	}
	return false
}

func seconds(t *testing.T, d string) int64 {
	t.Helper()
	v, err := time.ParseDuration(d)
	if err != nil {
		t.Fatalf("duration %q: %v", d, err)
	}
	return int64(v.Seconds())
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("hook weight %q: %v", s, err)
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
