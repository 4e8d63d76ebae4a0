//go:build !no_botchat

package botserver

import "github.com/botserver-go/botserver-go/botchat"

func init() { register("botchat", botchat.Service) }
