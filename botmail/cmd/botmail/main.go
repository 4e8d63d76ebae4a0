// Command botmail runs the botmail service alone: botmail [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botmail"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botmail.Service()) }
