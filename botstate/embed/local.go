package embed

import (
	"context"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// DefaultLocalDimensions is the local embedder's vector size when none is set.
const DefaultLocalDimensions = 384

// Local is a deterministic embedder that needs no weights: it hashes word
// unigrams, word bigrams and character 3- and 4-grams of each word into a
// fixed number of dimensions with signed hashing (the "hashing trick"), then
// normalises. Shared words and word pieces make texts similar, which is what
// lexical retrieval needs; it knows no synonyms. It is safe for concurrent use.
type Local struct{ dim int }

// NewLocal returns a local embedder with dim dimensions (DefaultLocalDimensions when dim <= 0).
func NewLocal(dim int) *Local {
	if dim <= 0 {
		dim = DefaultLocalDimensions
	}
	return &Local{dim: dim}
}

// Version changes whenever the features change, so stored vectors from an
// older version are recognised as incomparable (see Model).
const localVersion = "local-hash-v1"

// Dimensions implements Embedder.
func (l *Local) Dimensions() int { return l.dim }

// Model implements Embedder.
func (l *Local) Model() string { return localVersion + "/" + strconv.Itoa(l.dim) }

// Embed implements Embedder. It only fails when ctx is done.
func (l *Local) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	// One backing array for the whole batch: fewer allocations when
	// ingesting thousands of chunks.
	backing := make([]float32, len(texts)*l.dim)
	var words []uint64
	var runes []rune
	for i, t := range texts {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		v := backing[i*l.dim : (i+1)*l.dim : (i+1)*l.dim]
		words, runes = l.embedOne(t, v, words[:0], runes[:0])
		Normalize(v)
		out[i] = v
	}
	return out, nil
}

// Feature weights: whole words carry the meaning; bigrams reward phrases;
// character n-grams match inflections and typos without a stemmer.
const (
	wUnigram = 1.0
	wBigram  = 0.7
	wTrigram = 0.2
	w4gram   = 0.2
)

// Seeds keep the feature families apart in the hash space.
const (
	seedWord   = 0x9e3779b97f4a7c15
	seedBigram = 0xc2b2ae3d27d4eb4f
	seedChar3  = 0x165667b19e3779f9
	seedChar4  = 0x27d4eb2f165667c5
)

func (l *Local) embedOne(text string, v []float32, words []uint64, runes []rune) ([]uint64, []rune) {
	dim := uint64(l.dim)
	add := func(h uint64, w float32) {
		h = mix(h)
		if h>>63 == 1 {
			w = -w
		}
		v[h%dim] += w
	}
	for pos := 0; pos < len(text); {
		// Next word: a run of letters and digits, lower-cased.
		runes = runes[:0]
		for pos < len(text) {
			r, n := utf8.DecodeRuneInString(text[pos:])
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				break
			}
			pos += n
		}
		for pos < len(text) {
			r, n := utf8.DecodeRuneInString(text[pos:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				break
			}
			runes = append(runes, unicode.ToLower(r))
			pos += n
		}
		if len(runes) == 0 || len(runes) > 64 { // skip garbage like base64 blobs
			continue
		}
		// Character n-grams over "<word>" so prefixes and suffixes count.
		at := func(i int) rune {
			switch {
			case i == 0:
				return '<'
			case i == len(runes)+1:
				return '>'
			}
			return runes[i-1]
		}
		for i := 2; i < len(runes)+2; i++ {
			add(hashRunes(seedChar3, at(i-2), at(i-1), at(i)), wTrigram)
			if i >= 3 {
				add(hashRunes(seedChar4, at(i-3), at(i-2), at(i-1), at(i)), w4gram)
			}
		}
		if _, stop := stopwords[hashRunes(seedWord, runes...)]; stop {
			continue
		}
		w := stemHash(runes)
		add(w, wUnigram)
		if n := len(words); n > 0 {
			add(words[n-1]*31+w^seedBigram, wBigram)
		}
		words = append(words, w)
	}
	return words, runes
}

// stemHash is the word feature's hash after stripping an English plural or
// possessive, so "documents" and "document" share it; other languages rely
// on the character n-grams.
func stemHash(r []rune) uint64 {
	n := len(r)
	switch {
	case n > 4 && r[n-3] == 'i' && r[n-2] == 'e' && r[n-1] == 's':
		return hashStep(hashRunes(seedWord, r[:n-3]...), 'y')
	case n > 3 && r[n-1] == 's' && r[n-2] != 's' && r[n-2] != 'u' && r[n-2] != 'i':
		return hashRunes(seedWord, r[:n-1]...)
	}
	return hashRunes(seedWord, r...)
}

// hashRunes is FNV-1a over runes, started from seed.
func hashRunes(seed uint64, rs ...rune) uint64 {
	h := seed ^ 0xcbf29ce484222325
	for _, r := range rs {
		h = hashStep(h, r)
	}
	return h
}

func hashStep(h uint64, r rune) uint64 { return (h ^ uint64(r)) * 0x100000001b3 }

// mix is splitmix64's finaliser: it spreads FNV's weak low bits before the
// modulo and the sign bit are taken.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// stopwords are the commonest English function words (as word hashes, so
// the lookup does not allocate): they match everything and so say nothing
// about a passage.
var stopwords = func() map[uint64]struct{} {
	m := map[uint64]struct{}{}
	for _, w := range []string{"a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by",
		"for", "with", "from", "as", "is", "are", "was", "were", "be", "been", "it", "its", "this",
		"that", "these", "those", "do", "does", "did", "has", "have", "had", "i", "you", "he", "she",
		"we", "they", "my", "your", "our", "their", "his", "her", "me", "us", "them", "so", "if",
		"not", "no", "can", "will", "would", "should", "could", "there", "then", "than", "into",
		"about", "what", "which", "who", "how", "when", "where", "why"} {
		m[hashRunes(seedWord, []rune(w)...)] = struct{}{}
	}
	return m
}()
