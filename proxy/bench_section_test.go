package proxy_test

import "testing"

// BenchmarkCallWithSection: the same call, its answer reduced to what
// booking needs (examples/policy-engage.yaml's events-read).
func BenchmarkCallWithSection(b *testing.B) {
	benchCalls(b, benchHandler(b, benchPolicy+`    response:
      fields: [id, iCalUId, type, seriesMasterId, start, end, showAs, isCancelled, isOnlineMeeting, onlineMeeting.joinUrl,
               attendees.type, attendees.status, attendees.emailAddress.address]
`))
}
