package policy

import "sync"

// The lists the body's readers keep across a body's levels (jsonParser.keys,
// bodyCheck.members): kept in each level's frame they deepened the stack of
// the goroutine that serves the call by a few hundred bytes a level; kept
// in a list of their own they would cost an allocation a body. The same
// for the list of a body's objects and lists that the parser records for
// the walk (jsonParser.spans), which every body read would otherwise
// allocate, walked or not. They are lent from pools instead, and cleared
// before they go back, since what they hold points into a request body.
var (
	keyLists    = sync.Pool{New: func() any { s := make([][]byte, 0, 2*fewKeys); return &s }}
	memberLists = sync.Pool{New: func() any { s := make([]rawMember, 0, 32); return &s }}
	spanLists   = sync.Pool{New: func() any { s := make([]rawSpan, 0, 16); return &s }}
)

// lend hands out a list from pool, empty.
func lend[T any](pool *sync.Pool) *[]T {
	l := pool.Get().(*[]T)
	*l = (*l)[:0]
	return l
}

// giveBack returns a list to pool, cleared, with what it grew to.
func giveBack[T any](pool *sync.Pool, l *[]T, grown []T) {
	if cap(grown) > 1024 {
		return // a hostile body's: let it go
	}
	clear(grown[:cap(grown)])
	*l = grown[:0]
	pool.Put(l)
}
