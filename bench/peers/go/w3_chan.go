// W3 for Go: unbuffered channel ping-pong between two goroutines,
// GOMAXPROCS=1 (go-chan-gmp1), then 2 (go-chan-gmp2).  One round trip: A
// sends i on ping, B receives it and sends it back on pong, A receives it
// and checks it.  Timed: T = 1M round trips, from A's first send to its
// last receive (B is started and waiting before).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

const (
	t    = 1000000
	runs = 5
)

func report(peer, metric string, v []float64, unit string) {
	sorted := append([]float64(nil), v...)
	sort.Float64s(sorted)
	fmt.Printf("W3 %s %s %.4g %s\n", peer, metric, sorted[len(sorted)/2], unit)
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.4g", x)
	}
	fmt.Fprintf(os.Stderr, "spread W3 %s %s min=%.4g max=%.4g n=%d runs=%s\n",
		peer, metric, sorted[0], sorted[len(sorted)-1], len(v),
		strings.Join(parts, ","))
}

func once() float64 {
	ping := make(chan int)
	pong := make(chan int)
	done := make(chan int)
	go func() { // B
		n := 0
		for i := 0; i < t; i++ {
			pong <- <-ping
			n++
		}
		done <- n
	}()
	t0 := time.Now() // A: this goroutine
	for i := 0; i < t; i++ {
		ping <- i
		if v := <-pong; v != i {
			fmt.Fprintln(os.Stderr, "check failed: sent", i, "got back", v)
			os.Exit(3)
		}
	}
	el := time.Since(t0)
	if n := <-done; n != t {
		fmt.Fprintln(os.Stderr, "check failed: B echoed", n)
		os.Exit(3)
	}
	return float64(el.Nanoseconds()) / t
}

func main() {
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		once()
		v := make([]float64, runs)
		for i := range v {
			v[i] = once()
		}
		report(fmt.Sprintf("go-chan-gmp%d", procs), "roundtrip", v, "ns")
	}
}
