// Package hardening holds the end-to-end fault-injection, attack and
// concurrency suites: the real graph-proxy binary (and, for the race
// detector, the real handler in-process) in front of the simulator, over
// TLS on loopback. Every fault and attack states the statuses a caller
// sees, the audit records written, and that nothing unaudited reached
// Graph; docs/threat-model.md maps each threat to its test here.
//
// The package has no non-test code beyond this comment.
package hardening
