package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/botserver-go/botserver-go/botauto/basic/compiler"
	"github.com/botserver-go/botserver-go/botauto/basic/vm"
)

var update = flag.Bool("update", false, "rewrite golden files")

func load(t *testing.T) *Tool {
	t.Helper()
	src, err := os.ReadFile("testdata/store_hours.bas")
	if err != nil {
		t.Fatal(err)
	}
	p, diags := compiler.Compile("bots/demo.gbdialog/store_hours.bas", string(src))
	if diags != nil {
		t.Fatal(diags)
	}
	tool, ok := FromProgram(p)
	if !ok {
		t.Fatal("not a tool")
	}
	return tool
}

func TestSchemaGolden(t *testing.T) {
	b, err := json.MarshalIndent(load(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	const golden = "testdata/store_hours.json"
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("schema differs from %s (go test -update to accept):\n%s", golden, b)
	}
}

func TestNotATool(t *testing.T) {
	p, _ := compiler.Compile("start.bas", `TALK "hi"`)
	if _, ok := FromProgram(p); ok {
		t.Fatal("start.bas is not a tool")
	}
}

func TestArgsAndRun(t *testing.T) {
	tool := load(t)
	for _, bad := range []struct{ args, msg string }{
		{`{"kind":"store","contact":"a@b.c"}`, "tool store_hours: missing required argument city"},
		{`{"city":5,"kind":"store","contact":"a@b.c"}`, "tool store_hours: argument city must be string"},
		{`{"city":"x","kind":"mall","contact":"a@b.c"}`, "tool store_hours: argument kind must be one of store, outlet"},
		{`{"city":"x","kind":"store","contact":"a@b.c","people":2.5}`, "tool store_hours: argument people must be integer"},
		{`[1]`, "tool store_hours: arguments are not a JSON object: json: cannot unmarshal array into Go value of type map[string]interface {}"},
	} {
		if _, err := tool.Args([]byte(bad.args)); err == nil || err.Error() != bad.msg {
			t.Errorf("%s: got %v, want %s", bad.args, err, bad.msg)
		}
	}
	vars, err := tool.Args([]byte(`{"City":"Lisbon","kind":"store","contact":"a@b.c"}`))
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("testdata/store_hours.bas")
	p, _ := compiler.Compile("store_hours.bas", string(src))
	host := vm.HostFunc(func(_ context.Context, c *vm.Call) (vm.Value, error) {
		return vm.FromGo(map[string]any{"open": "09:00", "filter": c.Args[1].String()}), nil
	})
	res := vm.Run(context.Background(), p, vm.Options{Vars: vars, Host: host})
	if res.Status != vm.Done || res.Outputs[0].Text != "Our Lisbon store opens at 09:00" ||
		res.Value.String() != `{"filter":"city=Lisbon","open":"09:00"}` {
		t.Fatalf("got %v %v %v %v", res.Status, res.Err, res.Outputs, res.Value)
	}
}
