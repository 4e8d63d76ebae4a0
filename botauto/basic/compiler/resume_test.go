package compiler

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

// threeHears exercises what a suspended state must carry: globals, a shared
// array, an object, a FOR loop's hidden slots, a procedure frame with its
// parameters, ON ERROR RESUME NEXT and ERR.
const threeHears = `
ON ERROR RESUME NEXT
x = 1 / 0
names = []
alias = names
profile.greeting = "Hello"
FUNCTION ask(question, n)
  TALK question + " (" + n + ")"
  HEAR answer AS NAME
  RETURN answer
END FUNCTION
FOR i = 1 TO 2
  PUSH(names, ask("Your name?", i))
NEXT i
HEAR age AS INTEGER
TALK profile.greeting + " " + JOIN(alias, " & ") + ", ages " + (age + 1) + " next year; err=" + ERR
RETURN LEN(names)
`

var threeInputs = []string{"Ana", "Bo", "41"}

// uninterrupted answers on the same in-memory Machine.
func uninterrupted(t *testing.T, p *vm.Program) ([]vm.Output, *vm.Result) {
	ctx := context.Background()
	m, res := vm.Start(ctx, p, testOptions())
	outs := append([]vm.Output{}, res.Outputs...)
	for _, in := range threeInputs {
		if res.Status != vm.Waiting {
			t.Fatalf("status %v, want waiting", res.Status)
		}
		res = m.Answer(ctx, in)
		outs = append(outs, res.Outputs...)
	}
	return outs, res
}

func TestResumeEqualsUninterrupted(t *testing.T) {
	p, diags := Compile("ask.bas", threeHears)
	if diags != nil {
		t.Fatal(diags)
	}
	want, wantRes := uninterrupted(t, p)
	if wantRes.Status != vm.Done || wantRes.Value.String() != "2" {
		t.Fatalf("uninterrupted run: %v %v", wantRes.Status, wantRes.Err)
	}
	if got := want[len(want)-1].Text; got != "Hello Ana & Bo, ages 42 next year; err=division by zero" {
		t.Fatalf("last talk %q", got)
	}

	// Serialised: every turn on a fresh Machine from bytes that went through
	// a JSON round trip (as they would through a database column).
	ctx := context.Background()
	res := vm.Run(ctx, p, testOptions())
	got := append([]vm.Output{}, res.Outputs...)
	for _, in := range threeInputs {
		if res.Status != vm.Waiting {
			t.Fatalf("status %v, want waiting", res.Status)
		}
		var generic any
		if err := json.Unmarshal(res.State, &generic); err != nil {
			t.Fatal(err)
		}
		state, _ := json.Marshal(generic)
		if v, err := vm.StateVersion(state); err != nil || v != p.Version {
			t.Fatalf("StateVersion = %q, %v", v, err)
		}
		// A fresh compile of the same source has the same version.
		p2, _ := Compile("ask.bas", threeHears)
		res = vm.Resume(ctx, p2, state, in, testOptions())
		got = append(got, res.Outputs...)
	}
	if res.Status != vm.Done || res.Value.String() != "2" {
		t.Fatalf("resumed run ended %v %v", res.Status, res.Err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outputs differ\n got %v\nwant %v", got, want)
	}
}

// TestResumeInAnotherProcess resumes each turn in a separate OS process (this
// test binary re-executed), as a different replica would after a restart.
func TestResumeInAnotherProcess(t *testing.T) {
	if os.Getenv("BASIC_RESUME_HELPER") != "" {
		t.Skip("helper mode")
	}
	p, _ := Compile("ask.bas", threeHears)
	want, _ := uninterrupted(t, p)
	res := vm.Run(context.Background(), p, testOptions())
	got := append([]vm.Output{}, res.Outputs...)
	state := res.State
	dir := t.TempDir()
	for i, in := range threeInputs {
		sf := filepath.Join(dir, "state.json")
		if err := os.WriteFile(sf, state, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestResumeHelper$")
		cmd.Env = append(os.Environ(), "BASIC_RESUME_HELPER="+sf, "BASIC_RESUME_INPUT="+in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if out, err := cmd.Output(); err != nil {
			t.Fatalf("turn %d: %v\n%s%s", i, err, out, stderr.String())
		}
		var turn struct {
			Status  string
			Outputs []vm.Output
			State   []byte
		}
		b, err := os.ReadFile(sf + ".out")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &turn); err != nil {
			t.Fatal(err)
		}
		got = append(got, turn.Outputs...)
		state = turn.State
		if i == len(threeInputs)-1 && turn.Status != "done" {
			t.Fatalf("last turn status %s", turn.Status)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outputs differ\n got %v\nwant %v", got, want)
	}
}

func TestResumeHelper(t *testing.T) {
	sf := os.Getenv("BASIC_RESUME_HELPER")
	if sf == "" {
		t.Skip("only run as a child process")
	}
	state, err := os.ReadFile(sf)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := Compile("ask.bas", threeHears)
	res := vm.Resume(context.Background(), p, state, os.Getenv("BASIC_RESUME_INPUT"), testOptions())
	if res.Status == vm.Failed {
		t.Fatal(res.Err)
	}
	b, _ := json.Marshal(map[string]any{"Status": res.Status.String(), "Outputs": res.Outputs, "State": res.State})
	if err := os.WriteFile(sf+".out", b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestResumeRefusesOtherVersionAndGarbage(t *testing.T) {
	p, _ := Compile("ask.bas", threeHears)
	res := vm.Run(context.Background(), p, testOptions())
	other, _ := Compile("ask.bas", threeHears+"\nTALK 1")
	r := vm.Resume(context.Background(), other, res.State, "Ana", testOptions())
	if r.Status != vm.Failed || !strings.Contains(r.Err.Msg, "belongs to version "+p.Version+" of ask.bas") {
		t.Fatalf("got %v %v", r.Status, r.Err)
	}
	for _, bad := range []string{"", "{", `{"format":2}`, `{"format":1,"program":"` + p.Version + `","frames":[{"proc":9}]}`,
		`{"format":1,"program":"` + p.Version + `","globals":[],"frames":[]}`} {
		r := vm.Resume(context.Background(), p, []byte(bad), "x", testOptions())
		if r.Status != vm.Failed {
			t.Errorf("%q: status %v", bad, r.Status)
		}
	}
}

// Shared references and a self-containing array survive the round trip.
func TestResumeKeepsSharing(t *testing.T) {
	src := "a = [1]\nb = a\nPUSH(a, a)\nHEAR x\nb[0] = x\nTALK a[0] & \" \" & LEN(a[1]) & \" \" & (a[1][0])"
	if got := transcript(t, src, "z"); got != "hear x\ntalk: z 2 z" {
		t.Fatalf("got %q", got)
	}
}
