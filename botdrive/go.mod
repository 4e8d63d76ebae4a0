module github.com/botserver-go/botserver-go/botdrive

go 1.26.0

replace (
	github.com/botserver-go/botserver-go/botstate => ../botstate
	github.com/botserver-go/botserver-go/proto => ../proto
)
