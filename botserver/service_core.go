//go:build !no_botcore

package botserver

import "github.com/botserver-go/botserver-go/botcore"

func init() { register("botcore", botcore.Service) }
