// Package botstate is the one library every botserver-go service shares.
// Its subpackages are small and independent; see each package's doc.
package botstate
