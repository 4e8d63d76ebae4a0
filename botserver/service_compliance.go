//go:build !minimal && !no_botcompliance

package botserver

import "github.com/botserver-go/botserver-go/botcompliance"

func init() { register("botcompliance", botcompliance.Service) }
