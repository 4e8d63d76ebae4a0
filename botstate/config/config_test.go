package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testSettings struct {
	Addr   string        `env:"T_ADDR" envDefault:":1" desc:"an address"`
	Names  []string      `env:"T_NAMES" desc:"names"`
	Wait   time.Duration `env:"T_WAIT" envDefault:"2s"`
	Secret string        `env:"T_SECRET,required" desc:"needed"`
}

func TestPrecedenceEnvOverFileOverDefault(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("t_addr: \":2\"\nT_NAMES: [a, b]\nt_secret: s3\nT_WAIT: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var s testSettings
	if err := LoadFrom([]string{FileVar + "=" + file, "T_WAIT=7s"}, &s); err != nil {
		t.Fatal(err)
	}
	if s.Addr != ":2" || strings.Join(s.Names, "|") != "a|b" || s.Wait != 7*time.Second || s.Secret != "s3" {
		t.Fatalf("got %+v", s)
	}
}

func TestErrorsAreReportedTogether(t *testing.T) {
	var s testSettings
	b := &Base{}
	err := LoadFrom([]string{"T_WAIT=soon", "LOG_LEVEL=loud", "NATS_URL=http://x", "DATABASE_URL=mysql://x"}, &s, b)
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"T_SECRET", "T_WAIT", "LOG_LEVEL", "NATS_URL", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestBadFileIsClear(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	_ = os.WriteFile(file, []byte("nested:\n  a: 1\n"), 0o600)
	err := LoadFrom([]string{FileVar + "=" + file}, &Base{})
	if err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("want error naming the key, got %v", err)
	}
	err = LoadFrom([]string{FileVar + "=/nonexistent.yaml"}, &Base{})
	if err == nil || !strings.Contains(err.Error(), FileVar) {
		t.Fatalf("want error naming %s, got %v", FileVar, err)
	}
}

func TestBaseDefaultsValidate(t *testing.T) {
	b := &Base{}
	if err := LoadFrom([]string{"SERVICE_ADDRS=botauth=auth:9090,botchat=chat:9090"}, b); err != nil {
		t.Fatal(err)
	}
	if b.GRPCAddr != ":9090" || b.Addrs["botchat"] != "chat:9090" || b.ShutdownTimeout != 30*time.Second {
		t.Fatalf("defaults: %+v", b)
	}
}

func TestDescribeAndMarkdown(t *testing.T) {
	md := Markdown(Describe(&testSettings{}), Describe(&testSettings{}))
	if strings.Count(md, "`T_ADDR`") != 1 || !strings.Contains(md, "| `T_SECRET` | **required** | needed |") {
		t.Fatalf("table:\n%s", md)
	}
}

func TestRedact(t *testing.T) {
	for _, raw := range []string{"nats://u:pw@h:4222", "nats://u:pw@h1:4222,nats://v:pw@h2:4222", "nats://u:pw@h:4222,%zz"} {
		if got := Redact(raw); strings.Contains(got, "pw") {
			t.Fatalf("%s -> %s", raw, got)
		}
	}
	if got := Redact("nats://a:pw@h1,nats://h2"); got != "nats://a:xxxxx@h1,nats://h2" {
		t.Fatal(got)
	}
}
