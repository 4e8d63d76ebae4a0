// Command botchat runs the botchat service alone: botchat [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botchat"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botchat.Service()) }
