// Package deploy holds the tests that read graph-proxy's deployment
// artefacts — the Dockerfile, the Bicep templates, the Marketplace package
// and the operator scripts — since none of them can be deployed or run on
// the build machine.
package deploy
