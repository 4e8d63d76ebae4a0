package index

// dot is the inner product of two vectors of one size, the hot loop of
// graph building and search: AVX2+FMA assembly where the CPU has it,
// otherwise an unrolled loop (both about as exact as embed.Dot; sums are
// taken in another order).
func dot(a, b []float32) float32 {
	if len(a) != len(b) {
		return 0
	}
	if useAsm && len(a) >= 8 {
		return dotAVX2(a, b)
	}
	return dotGo(a, b)
}

func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
