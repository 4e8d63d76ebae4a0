// Command botcore runs the public gateway alone: botcore [serve|migrate|settings].
// Set SERVICE_ADDRS to reach the services behind it.
package main

import (
	"github.com/botserver-go/botserver-go/botcore"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botcore.Service()) }
