package botserver_test

import (
	"os"
	"strings"
	"testing"

	"github.com/botserver-go/botserver-go/botserver"
	"github.com/botserver-go/botserver-go/botstate/app"
)

// TestREADMESettingsTableIsCurrent: the README's settings table is the one
// the binaries print (`botserver settings`); regenerate it when this fails.
func TestREADMESettingsTableIsCurrent(t *testing.T) {
	services, err := botserver.Select("all")
	if err != nil {
		t.Fatal(err)
	}
	want := app.SettingsTable(services...)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), want) {
		t.Fatalf("README.md settings table is stale; replace it with the output of `go run ./botserver/cmd/botserver settings`:\n%s", want)
	}
}
