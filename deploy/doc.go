// Package deploy holds the tests that read graph-proxy's deployment
// artefacts — the Dockerfile, the Bicep templates, the Marketplace package,
// the operator scripts, and the KQL queries and workbook the deployment
// installs (deploy/kql, deploy/workbook) — since none of them can be
// deployed or run on the build machine.
package deploy
