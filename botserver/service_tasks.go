//go:build !minimal && !no_bottasks

package botserver

import "github.com/botserver-go/botserver-go/bottasks"

func init() { register("bottasks", bottasks.Service) }
