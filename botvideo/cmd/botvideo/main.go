// Command botvideo runs the botvideo service alone: botvideo [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botvideo"
)

func main() { app.Main(app.Options{}, botvideo.Service()) }
