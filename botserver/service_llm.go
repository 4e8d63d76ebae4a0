//go:build !no_botllm

package botserver

import "github.com/botserver-go/botserver-go/botllm"

func init() { register("botllm", botllm.Service) }
