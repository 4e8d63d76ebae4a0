//go:build !amd64

package index

const useAsm = false

func dotAVX2(a, b []float32) float32 { return dotGo(a, b) }
