// Command gguftiny writes a tiny random-weight llama GGUF model, enough for
// llama.cpp's llama-server to load and stream gibberish (local testing of
// botllm without downloading a model):
//
//	go run ./botllm/cmd/gguftiny -o /tmp/tiny.gguf
//	llama-server -m /tmp/tiny.gguf --port 8081   # then LLM_URL=http://127.0.0.1:8081
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/botserver-go/botserver-go/botllm/internal/gguftiny"
)

func main() {
	out := flag.String("o", "tiny.gguf", "output file")
	seed := flag.Uint64("seed", 1, "random seed of the weights")
	layers := flag.Int("layers", 2, "transformer blocks")
	embd := flag.Int("embd", 64, "embedding size")
	flag.Parse()
	if err := gguftiny.WriteFile(*out, gguftiny.Config{Seed: *seed, Layers: *layers, Embedding: *embd}); err != nil {
		fmt.Fprintln(os.Stderr, "gguftiny:", err)
		os.Exit(1)
	}
}
