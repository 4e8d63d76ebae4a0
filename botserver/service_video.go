//go:build !minimal && !no_botvideo

package botserver

import "github.com/botserver-go/botserver-go/botvideo"

func init() { register("botvideo", botvideo.Service) }
