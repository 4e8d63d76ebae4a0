// Command botdrive runs the botdrive service alone: botdrive [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botdrive"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botdrive.Service()) }
