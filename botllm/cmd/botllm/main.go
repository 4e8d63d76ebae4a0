// Command botllm runs the botllm service alone: botllm [serve|migrate|settings].
package main

import (
	"github.com/botserver-go/botserver-go/botllm"
	"github.com/botserver-go/botserver-go/botstate/app"
)

func main() { app.Main(app.Options{}, botllm.Service()) }
