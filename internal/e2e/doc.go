// Package e2e holds the end-to-end tests that drive the proxy with the
// official Microsoft Graph SDK for Go, as a vendor's integration does. They
// live apart from package proxy so that the proxy's own tests and fuzz
// targets do not link the (large) SDK.
package e2e
