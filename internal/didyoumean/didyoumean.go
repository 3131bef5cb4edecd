// Package didyoumean suggests the known name nearest to a misspelt one, for
// error messages about configuration keys, policy keys and permissions.
package didyoumean

import "strings"

// Nearest returns the candidate closest to s, compared without case, if it
// is fewer than maxDist edits away; otherwise "".
func Nearest(s string, candidates []string, maxDist int) string {
	best, bestD := "", maxDist
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if d := Distance(ls, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the Levenshtein edit distance between a and b, in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
