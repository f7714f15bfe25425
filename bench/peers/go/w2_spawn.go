// W2 for Go.
//
//	w2_spawn spawn   go-gmp1 and go-gmp2: N = 1M times
//	                 go func(){atomic.Add; wg.Done()}() back to back, then
//	                 wg.Wait(); GOMAXPROCS=1, then 2.  Timed from the first
//	                 go statement until Wait returns; the counter is checked.
//	w2_spawn mem     go-gmp1: N = 100k goroutines, each blocked receiving
//	                 from one unbuffered chan struct{}; B/goroutine = RSS
//	                 (from /proc/self/statm) once all have reached the
//	                 receive, minus RSS just before the first go statement
//	                 (after a GC), over N.  Then the chan is closed and all
//	                 are joined.  One measurement per process: the runner
//	                 runs this 3 times and keeps the median (BENCH.md).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	nSpawn = 1000000
	nMem   = 100000
	runs   = 5
)

func report(peer, metric string, v []float64, unit string) {
	sorted := append([]float64(nil), v...)
	sort.Float64s(sorted)
	fmt.Printf("W2 %s %s %.4g %s\n", peer, metric, sorted[len(sorted)/2], unit)
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.4g", x)
	}
	fmt.Fprintf(os.Stderr, "spread W2 %s %s min=%.4g max=%.4g n=%d runs=%s\n",
		peer, metric, sorted[0], sorted[len(sorted)-1], len(v),
		strings.Join(parts, ","))
}

func fail(why string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "check failed: "+why+"\n", args...)
	os.Exit(3)
}

func spawnOnce() float64 {
	var wg sync.WaitGroup
	var counter int64
	t0 := time.Now()
	for i := 0; i < nSpawn; i++ {
		wg.Add(1)
		go func() {
			atomic.AddInt64(&counter, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	if c := atomic.LoadInt64(&counter); c != nSpawn {
		fail("counter %d", c)
	}
	return float64(el.Nanoseconds()) / nSpawn
}

func spawn() {
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		spawnOnce()
		v := make([]float64, runs)
		for i := range v {
			v[i] = spawnOnce()
		}
		report(fmt.Sprintf("go-gmp%d", procs), "spawn", v, "ns")
	}
}

// rss returns the resident set size in bytes, from /proc/self/statm.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fail("statm: %v", err)
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		fail("statm: %v", err)
	}
	return resident * int64(os.Getpagesize())
}

func mem() {
	runtime.GOMAXPROCS(1)
	ch := make(chan struct{})
	var wg sync.WaitGroup
	var reached, woken int64
	runtime.GC()
	before := rss()
	for i := 0; i < nMem; i++ {
		wg.Add(1)
		go func() {
			atomic.AddInt64(&reached, 1)
			<-ch
			atomic.AddInt64(&woken, 1)
			wg.Done()
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for atomic.LoadInt64(&reached) != nMem {
		if time.Now().After(deadline) {
			fail("only %d goroutines reached the receive", reached)
		}
		runtime.Gosched()
	}
	runtime.Gosched() // the last one to arrive blocks in its receive
	after := rss()
	close(ch)
	wg.Wait()
	if w := atomic.LoadInt64(&woken); w != nMem {
		fail("woken %d", w)
	}
	report("go-gmp1", "mem", []float64{float64(after-before) / nMem}, "B")
}

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "spawn" && os.Args[1] != "mem") {
		fmt.Fprintln(os.Stderr, "usage: w2_spawn spawn|mem")
		os.Exit(2)
	}
	if os.Args[1] == "spawn" {
		spawn()
	} else {
		mem()
	}
}
