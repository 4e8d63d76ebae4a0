package gguftiny

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The file is GGUF v3 with the header counts it declares, deterministic for
// a seed, and its tensor data fills the file up to the last aligned byte.
func TestWriteLayout(t *testing.T) {
	var a, b bytes.Buffer
	if err := Write(&a, Config{Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, Config{Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different files")
	}
	raw := a.Bytes()
	if string(raw[:4]) != "GGUF" || binary.LittleEndian.Uint32(raw[4:]) != 3 {
		t.Fatalf("header %q", raw[:8])
	}
	tensors := binary.LittleEndian.Uint64(raw[8:])
	if want := uint64(3 + 2*9); tensors != want {
		t.Fatalf("%d tensors, want %d", tensors, want)
	}
	if len(raw)%alignment != 0 {
		t.Fatalf("size %d is not aligned", len(raw))
	}
	tokens, _, _ := vocab()
	ne, nv, nff := 64, len(tokens), 128
	data := pad(uint64(ne*nv*4))*2 + pad(uint64(ne*4)) + 2*(2*pad(uint64(ne*4))+4*pad(uint64(ne*ne*4))+3*pad(uint64(ne*nff*4)))
	if uint64(len(raw)) < data || uint64(len(raw))-data > 64<<10 {
		t.Fatalf("file is %d bytes, tensor data alone %d", len(raw), data)
	}
	if err := Write(&a, Config{Embedding: 30, Heads: 4}); err == nil {
		t.Fatal("embedding not divisible by heads accepted")
	}
}
