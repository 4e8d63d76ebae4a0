//go:build !no_botvectordb

package botserver

import "github.com/botserver-go/botserver-go/botvectordb"

func init() { register("botvectordb", botvectordb.Service) }
