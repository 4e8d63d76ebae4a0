//go:build !no_botauto

package botserver

import "github.com/botserver-go/botserver-go/botauto"

func init() { register("botauto", botauto.Service) }
