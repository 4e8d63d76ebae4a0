//go:build !no_botdrive

package botserver

import "github.com/botserver-go/botserver-go/botdrive"

func init() { register("botdrive", botdrive.Service) }
