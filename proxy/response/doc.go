// Package response minimises Graph's answers as they stream to the caller:
// a Filter applies a rule's response section (policy.Response: the fields a
// caller may receive, those redacted, those pseudonymised) to an answer,
// rewriting its links in the same single pass, without holding the answer.
//
// The filter reads the answer as a strict JSON tokenizer: one object,
// nested at most MaxDepth, white space around it, nothing after it; what it
// cannot read so is not passed on. Its failure direction is closed: a body
// that is not the JSON the section expects (a list or a string where the
// answer's object should be, malformed or cut-short JSON, a $batch
// sub-response whose body comes before its id or status, an id no
// sub-request has) ends the filtered output with an error wrapping
// ErrUnfilterable, and the last byte of a well-formed answer (its closing
// brace) is written only once the whole answer has been read and found
// well-formed. A caller can therefore never read a complete document the
// filter did not vouch for.
//
// Links are rewritten as the proxy's link rewriter does (Links): paging
// links moved to the proxy, external links withheld, and every string in
// a $batch sub-response's headers read as a header value (HeaderLink), so
// that a Location there is treated as the answer's own Location would be.
//
// What is kept is copied byte for byte (strings with their escapes,
// numbers as written) without the white space between tokens; removed
// members and the list elements a section excludes are counted (Counts),
// never logged, and nothing of a body is ever in an error.
package response
