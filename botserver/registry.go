// Package botserver links the services into one all-in-one binary. Each
// service registers itself from a file of its own; build tags leave services
// out entirely (`-tags minimal` keeps the chat set: core, auth, chat, auto,
// llm, vectordb, drive; `-tags no_botmail` drops one service).
package botserver

import (
	"fmt"
	"sort"
	"strings"

	"github.com/botserver-go/botserver-go/botstate/app"
)

// order is the start order in the all-in-one: identity first, the public
// gateway last, so it serves once the services behind it are registered.
var order = []string{"botauth", "botdrive", "botllm", "botvectordb", "botauto", "botchat",
	"botmail", "bottasks", "botcontacts", "botcompliance", "botvideo", "botcore"}

var registry = map[string]func() *app.Service{}

func register(name string, f func() *app.Service) { registry[name] = f }

// Available lists the services compiled into this binary, in start order.
func Available() []string {
	var out []string
	for _, n := range order {
		if _, ok := registry[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// Select resolves a --services value: "all", or a comma-separated list of
// names with or without the "bot" prefix ("chat,auth" or "botchat,botauth").
func Select(spec string) ([]*app.Service, error) {
	want := map[string]bool{}
	for _, n := range strings.Split(spec, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		switch {
		case n == "":
			continue
		case n == "all":
			for _, a := range Available() {
				want[a] = true
			}
			continue
		case !strings.HasPrefix(n, "bot"):
			n = "bot" + n
		}
		if _, ok := registry[n]; !ok {
			known := Available()
			sort.Strings(known)
			return nil, fmt.Errorf("unknown or not compiled-in service %q (this build has: %s)", n, strings.Join(known, ", "))
		}
		want[n] = true
	}
	var out []*app.Service
	for _, n := range Available() {
		if want[n] {
			out = append(out, registry[n]())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--services=%q selects no service", spec)
	}
	return out, nil
}
