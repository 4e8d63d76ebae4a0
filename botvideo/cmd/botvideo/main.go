// Command botvideo runs the botvideo service alone: botvideo [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botvideo"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botvideo.Service()) }
