// Package report turns audit records into one self-contained HTML page for
// an auditor's review: the security team's views of the audit log without
// Azure (docs/audit.md has the KQL they mirror).
//
// Load reads audit files and verifies their hash chains with
// auditlog.Verifier, as `graph-proxy audit verify` does, and then once per
// replica, so that the page gives every replica its own verdict; Build
// aggregates the records, whatever their source ([]auditlog.Record), with
// that verdict; Report.WriteHTML writes the page.
//
// The page fails closed on trust: a chain that is not intact is said so at
// its top, above every figure, in red. It is self-contained and inert: its
// charts are inline SVG, and it has no script, no external resource of any
// kind and a Content-Security-Policy (default-src 'none') that a browser
// enforces even if a record smuggled markup past the escaping. Every string
// taken from a record is escaped by html/template, and control and bidi
// formatting characters in it are shown as \u escapes, so a caller name or
// a path cannot reorder what the auditor reads.
//
// The page depends only on its input: records are ordered by time,
// replica and sequence number, every table by count and then by name, and
// the only clock read is Options.GeneratedAt, which the caller sets (or
// leaves zero, for reproducible output). All times are UTC.
package report
