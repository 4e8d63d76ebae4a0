// Package gguftiny writes a tiny llama-architecture model in GGUF (version
// 3) with random weights and a SentencePiece-style vocabulary, so tests can
// run a real llama.cpp llama-server without downloading a model. Its output
// is gibberish, produced by the real inference path.
//
// The weights are shaped so the model rarely ends or emits partial UTF-8:
// every token embedding shares a large component along dimension 0, and the
// output rows of control and non-ASCII byte tokens point against it.
package gguftiny

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
)

// Config shapes the model. The zero value gets small defaults.
type Config struct {
	Embedding   int // n_embd (default 64)
	Layers      int // default 2
	Heads       int // default 4
	FeedForward int // default 128
	Context     int // trained context length (default 2048)
	Seed        uint64
}

func (c *Config) defaults() {
	if c.Embedding == 0 {
		c.Embedding = 64
	}
	if c.Layers == 0 {
		c.Layers = 2
	}
	if c.Heads == 0 {
		c.Heads = 4
	}
	if c.FeedForward == 0 {
		c.FeedForward = 128
	}
	if c.Context == 0 {
		c.Context = 2048
	}
}

// Token types of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
const (
	typeNormal  = 1
	typeUnknown = 2
	typeControl = 3
	typeByte    = 6
)

// vocab returns SentencePiece tokens: <unk>, <s>, </s>, the 256 byte
// fallbacks <0x00>..<0xFF>, then printable ASCII characters, the same with
// the word-start mark ▁, and a few common English words.
func vocab() (tokens []string, scores []float32, types []int32) {
	seen := map[string]bool{}
	add := func(t string, s float32, ty int32) {
		if seen[t] { // llama.cpp requires every piece once
			return
		}
		seen[t] = true
		tokens, scores, types = append(tokens, t), append(scores, s), append(types, ty)
	}
	add("<unk>", 0, typeUnknown)
	add("<s>", 0, typeControl)
	add("</s>", 0, typeControl)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), 0, typeByte)
	}
	add("▁", -1, typeNormal)
	for c := '!'; c <= '~'; c++ {
		add(string(c), -2, typeNormal)
		add("▁"+string(c), -3, typeNormal)
	}
	for i, w := range []string{"the", "and", "to", "of", "a", "in", "is", "it", "you", "that", "he", "was", "for", "on", "are", "with", "as", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by", "hot", "word", "but", "what", "some", "we", "can", "out", "other", "were", "all", "there", "when", "up", "use", "your", "how", "said", "an", "each", "she", "which", "do", "their", "time", "if", "will", "way", "about", "many", "then", "them", "write", "would", "like", "so", "these", "her", "long", "make", "thing", "see", "him", "two", "has", "look", "more", "day", "could", "go", "come", "did", "number", "sound", "no", "most", "people", "my", "over", "know", "water", "than", "call", "first", "who", "may", "down", "side", "been", "now", "find", "hello", "world", "bot", "library", "book"} {
		add("▁"+w, float32(-4-i%7), typeNormal)
	}
	return
}

// Write writes the model to w.
func Write(w io.Writer, c Config) error {
	c.defaults()
	if c.Embedding%c.Heads != 0 {
		return fmt.Errorf("embedding %d is not a multiple of heads %d", c.Embedding, c.Heads)
	}
	tokens, scores, types := vocab()
	nv, ne, nff := len(tokens), c.Embedding, c.FeedForward
	rng := rand.New(rand.NewPCG(c.Seed, 0x9e3779b97f4a7c15))
	normal := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
		return v
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	type tensor struct {
		name string
		dims []uint64 // ggml order: ne[0] is the row length
		data []float32
	}
	// Embeddings: row t is ne values; dimension 0 is the shared component.
	embd := normal(nv*ne, 0.05)
	out := normal(nv*ne, 0.5)
	for t := 0; t < nv; t++ {
		embd[t*ne] = 1
		out[t*ne] = 3
		if types[t] != typeNormal {
			out[t*ne] = -3
		}
		if types[t] == typeByte && t-3 < 0x80 && t-3 >= 0x20 {
			out[t*ne] = 3 // printable ASCII bytes are harmless
		}
	}
	ts := []tensor{
		{"token_embd.weight", []uint64{uint64(ne), uint64(nv)}, embd},
		{"output_norm.weight", []uint64{uint64(ne)}, ones(ne)},
		{"output.weight", []uint64{uint64(ne), uint64(nv)}, out},
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			tensor{p + "attn_norm.weight", []uint64{uint64(ne)}, ones(ne)},
			tensor{p + "attn_q.weight", []uint64{uint64(ne), uint64(ne)}, normal(ne*ne, 0.02)},
			tensor{p + "attn_k.weight", []uint64{uint64(ne), uint64(ne)}, normal(ne*ne, 0.02)},
			tensor{p + "attn_v.weight", []uint64{uint64(ne), uint64(ne)}, normal(ne*ne, 0.02)},
			tensor{p + "attn_output.weight", []uint64{uint64(ne), uint64(ne)}, normal(ne*ne, 0.02)},
			tensor{p + "ffn_norm.weight", []uint64{uint64(ne)}, ones(ne)},
			tensor{p + "ffn_gate.weight", []uint64{uint64(ne), uint64(nff)}, normal(ne*nff, 0.02)},
			tensor{p + "ffn_up.weight", []uint64{uint64(ne), uint64(nff)}, normal(ne*nff, 0.02)},
			tensor{p + "ffn_down.weight", []uint64{uint64(nff), uint64(ne)}, normal(nff*ne, 0.02)},
		)
	}

	bw := bufio.NewWriter(w)
	e := &enc{w: bw}
	kvs := []func(){
		func() { e.kvString("general.architecture", "llama") },
		func() { e.kvString("general.name", "botllm-tiny-random") },
		func() { e.kvU32("general.alignment", alignment) },
		func() { e.kvU32("llama.context_length", uint32(c.Context)) },
		func() { e.kvU32("llama.embedding_length", uint32(ne)) },
		func() { e.kvU32("llama.block_count", uint32(c.Layers)) },
		func() { e.kvU32("llama.feed_forward_length", uint32(nff)) },
		func() { e.kvU32("llama.attention.head_count", uint32(c.Heads)) },
		func() { e.kvU32("llama.attention.head_count_kv", uint32(c.Heads)) },
		func() { e.kvU32("llama.rope.dimension_count", uint32(ne/c.Heads)) },
		func() { e.kvF32("llama.rope.freq_base", 10000) },
		func() { e.kvF32("llama.attention.layer_norm_rms_epsilon", 1e-5) },
		func() { e.kvU32("llama.vocab_size", uint32(nv)) },
		func() { e.kvString("tokenizer.ggml.model", "llama") },
		func() { e.kvStrings("tokenizer.ggml.tokens", tokens) },
		func() { e.kvF32s("tokenizer.ggml.scores", scores) },
		func() { e.kvI32s("tokenizer.ggml.token_type", types) },
		func() { e.kvU32("tokenizer.ggml.unknown_token_id", 0) },
		func() { e.kvU32("tokenizer.ggml.bos_token_id", 1) },
		func() { e.kvU32("tokenizer.ggml.eos_token_id", 2) },
		func() { e.kvBool("tokenizer.ggml.add_bos_token", true) },
		func() { e.kvBool("tokenizer.ggml.add_eos_token", false) },
		func() { e.kvString("tokenizer.chat_template", chatML) },
	}
	e.raw([]byte("GGUF"))
	e.u32(3)
	e.u64(uint64(len(ts)))
	e.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		kv()
	}
	var offset uint64
	for _, t := range ts {
		e.str(t.name)
		e.u32(uint32(len(t.dims)))
		for _, d := range t.dims {
			e.u64(d)
		}
		e.u32(0) // GGML_TYPE_F32
		e.u64(offset)
		offset += pad(uint64(len(t.data)) * 4)
	}
	e.align()
	for _, t := range ts {
		for _, f := range t.data {
			e.u32(math.Float32bits(f))
		}
		e.align()
	}
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

// WriteFile writes the model to path.
func WriteFile(path string, c Config) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, c); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// chatML is the prompt format the model declares (llama-server renders it
// for /v1/chat/completions).
const chatML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

const alignment = 32

func pad(n uint64) uint64 { return (n + alignment - 1) / alignment * alignment }

// enc writes GGUF's little-endian primitives and remembers the first error.
type enc struct {
	w   io.Writer
	n   uint64
	err error
}

func (e *enc) raw(b []byte) {
	if e.err != nil {
		return
	}
	var n int
	n, e.err = e.w.Write(b)
	e.n += uint64(n)
}
func (e *enc) u32(v uint32) { e.raw(binary.LittleEndian.AppendUint32(nil, v)) }
func (e *enc) u64(v uint64) { e.raw(binary.LittleEndian.AppendUint64(nil, v)) }
func (e *enc) str(s string) { e.u64(uint64(len(s))); e.raw([]byte(s)) }
func (e *enc) align()       { e.raw(make([]byte, pad(e.n)-e.n)) }

// GGUF metadata value types.
const (
	ggufU32    = 4
	ggufI32    = 5
	ggufF32    = 6
	ggufBool   = 7
	ggufString = 8
	ggufArray  = 9
)

func (e *enc) kvU32(k string, v uint32)    { e.str(k); e.u32(ggufU32); e.u32(v) }
func (e *enc) kvF32(k string, v float32)   { e.str(k); e.u32(ggufF32); e.u32(math.Float32bits(v)) }
func (e *enc) kvString(k string, v string) { e.str(k); e.u32(ggufString); e.str(v) }
func (e *enc) kvBool(k string, v bool) {
	e.str(k)
	e.u32(ggufBool)
	if v {
		e.raw([]byte{1})
	} else {
		e.raw([]byte{0})
	}
}
func (e *enc) kvStrings(k string, v []string) {
	e.str(k)
	e.u32(ggufArray)
	e.u32(ggufString)
	e.u64(uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
}
func (e *enc) kvF32s(k string, v []float32) {
	e.str(k)
	e.u32(ggufArray)
	e.u32(ggufF32)
	e.u64(uint64(len(v)))
	for _, f := range v {
		e.u32(math.Float32bits(f))
	}
}
func (e *enc) kvI32s(k string, v []int32) {
	e.str(k)
	e.u32(ggufArray)
	e.u32(ggufI32)
	e.u64(uint64(len(v)))
	for _, x := range v {
		e.u32(uint32(x))
	}
}
