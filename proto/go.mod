module github.com/botserver-go/botserver-go/proto

go 1.26
