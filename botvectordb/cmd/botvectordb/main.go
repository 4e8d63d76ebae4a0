// Command botvectordb runs the botvectordb service alone: botvectordb [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botstate/app"
	"github.com/botserver-go/botserver-go/botvectordb"
)

func main() { app.Main(app.Options{}, botvectordb.Service()) }
