// Package config loads graph-proxy's configuration from built-in defaults,
// a YAML file, GRAPH_PROXY_* environment variables and flags (in rising
// precedence), and validates it.
//
// Loading is strict and complete: an unknown key or variable, a value of
// the wrong type or an invalid value is an error, and Load reports every
// problem at once, each with its source (file and line, variable or flag),
// its key and the reason.
package config
