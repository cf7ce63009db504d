//go:build race

package main

// raceDetector is true when the tests run under the race detector, whose
// shadow memory grows with the heap: a process's RSS then measures the
// detector as much as caisse.
const raceDetector = true
