package index

import "golang.org/x/sys/cpu"

var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotAVX2 needs len(b) >= len(a) (dot checks equal sizes).
//
//go:noescape
func dotAVX2(a, b []float32) float32
