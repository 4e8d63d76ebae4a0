// Command bottasks runs the bottasks service alone: bottasks [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/bottasks"
)

func main() { app.Main(app.Options{}, bottasks.Service()) }
