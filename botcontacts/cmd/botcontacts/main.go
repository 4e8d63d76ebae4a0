// Command botcontacts runs the botcontacts service alone: botcontacts [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botcontacts"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botcontacts.Service()) }
