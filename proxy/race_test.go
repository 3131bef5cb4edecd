//go:build race

package proxy_test

// raceDetector: the race detector's instrumentation deepens every frame,
// so stack figures are the release build's only (TestCallStack).
const raceDetector = true
