// Command botcompliance runs the botcompliance service alone: botcompliance [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botcompliance"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botcompliance.Service()) }
