// Command botauth runs the botauth service alone: botauth [serve|migrate|settings|bootstrap --email .. --password ..].
package main

import (
	"github.com/botserver-go/botserver-go/botauth"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botauth.Service()) }
