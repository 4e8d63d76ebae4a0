// Command botauto runs the botauto service alone: botauto [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botauto"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botauto.Service()) }
