package callers

import "net/http"

// CacheLen is the number of validated tokens cached.
func (e *Entra) CacheLen() int {
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	return len(e.cache)
}

// Validate verifies r's token without the cache (the cold path).
func (e *Entra) Validate(r *http.Request) (tokenInfo, error) {
	raw, _ := bearer(r)
	return e.verify(raw)
}
