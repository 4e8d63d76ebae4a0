//go:build !minimal && !no_botmail

package botserver

import "github.com/botserver-go/botserver-go/botmail"

func init() { register("botmail", botmail.Service) }
