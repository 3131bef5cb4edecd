// Package policy turns a Graph request into its canonical form and decides
// it against the customer's allow-list. It is pure: it touches no network
// and no clock, so a decision depends only on its arguments.
//
// A Decision's zero value is a denial: any path through a Decider that
// forgets to set a result refuses the call.
package policy
