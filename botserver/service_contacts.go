//go:build !minimal && !no_botcontacts

package botserver

import "github.com/botserver-go/botserver-go/botcontacts"

func init() { register("botcontacts", botcontacts.Service) }
