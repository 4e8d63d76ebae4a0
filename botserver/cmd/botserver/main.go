// Command botserver runs any set of botserver-go services in one process:
//
//	botserver [--services=all|chat,auth,...] [serve|migrate|settings]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/botserver-go/botserver-go/botserver"
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botstate/natsembed"
)

func main() {
	flags := flag.NewFlagSet("botserver", flag.ExitOnError)
	spec := flags.String("services", envOr("BOT_SERVICES", "all"),
		"services to run: all, or a list such as chat,auth (compiled in: "+strings.Join(botserver.Available(), ",")+")")
	_ = flags.Parse(os.Args[1:])
	services, err := botserver.Select(*spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "botserver:", err)
		os.Exit(2)
	}
	os.Args = append(os.Args[:1], flags.Args()...)
	app.Main(app.Options{EmbedNATS: natsembed.Connect}, services...)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
