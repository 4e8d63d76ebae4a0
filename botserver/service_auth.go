//go:build !no_botauth

package botserver

import "github.com/botserver-go/botserver-go/botauth"

func init() { register("botauth", botauth.Service) }
