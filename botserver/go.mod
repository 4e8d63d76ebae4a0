module github.com/botserver-go/botserver-go/botserver

go 1.26.0

replace (
	github.com/botserver-go/botserver-go/botstate => ../botstate
	github.com/botserver-go/botserver-go/proto => ../proto
)
