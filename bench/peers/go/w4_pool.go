// W4 for Go, GOMAXPROCS=2: a goroutine per task (the Go idiom, no fixed
// pool), and a pool of 2 worker goroutines reading a chan func() of capacity
// 1024 (started before timing).  Timed: N submissions, then a
// sync.WaitGroup's Wait until all N tasks ran; a task bumps one shared
// counter (atomic.AddInt64, as weave's, GLib's and libuv's tasks) and calls
// wg.Done.
//
// go-2worker-chan-gmp2 and go-goroutine-per-task-gmp2 are BENCH.md's
// form ("peers at their best"): one prebuilt func value sent (or started)
// N times, one wg.Add(N) before the loop.
// go-2worker-chan-closure-gmp2 is the extra row: a new func literal and a
// wg.Add(1) per submission, as a task carrying its own data would be (one
// small allocation each).
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
	n    = 1000000
	capa = 1024
	runs = 5
)

func report(peer string, v []float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	fmt.Printf("W4 %s throughput %.4g tasks/s\n", peer, s[len(s)/2])
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.4g", x)
	}
	fmt.Fprintf(os.Stderr, "spread W4 %s throughput min=%.4g max=%.4g n=%d runs=%s\n",
		peer, s[0], s[len(s)-1], len(v), strings.Join(parts, ","))
}

func check(done int64) {
	if done != n {
		fmt.Fprintln(os.Stderr, "check failed: done", done)
		os.Exit(3)
	}
}

func goroutinePerTask() float64 {
	var wg sync.WaitGroup
	var done int64
	// BENCH.md's best form here too: one prebuilt func, one wg.Add(N).
	task := func() {
		atomic.AddInt64(&done, 1)
		wg.Done()
	}
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go task()
	}
	wg.Wait()
	el := time.Since(t0)
	check(atomic.LoadInt64(&done))
	return n / el.Seconds()
}

func startWorkers(ch chan func()) {
	for w := 0; w < 2; w++ {
		go func() {
			for f := range ch {
				f()
			}
		}()
	}
}

// BENCH.md's best form: one prebuilt func value, one wg.Add(N).
func twoWorkersChan() float64 {
	var wg sync.WaitGroup
	var done int64
	ch := make(chan func(), capa)
	startWorkers(ch)
	task := func() {
		atomic.AddInt64(&done, 1)
		wg.Done()
	}
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		ch <- task
	}
	wg.Wait()
	el := time.Since(t0)
	close(ch)
	check(atomic.LoadInt64(&done))
	return n / el.Seconds()
}

// The extra row: a closure and a wg.Add(1) per submission.
func twoWorkersChanClosure() float64 {
	var wg sync.WaitGroup
	var done int64
	ch := make(chan func(), capa)
	startWorkers(ch)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		ch <- func() {
			atomic.AddInt64(&done, 1)
			wg.Done()
		}
	}
	wg.Wait()
	el := time.Since(t0)
	close(ch)
	check(atomic.LoadInt64(&done))
	return n / el.Seconds()
}

func measure(peer string, f func() float64) {
	f()
	v := make([]float64, runs)
	for i := range v {
		v[i] = f()
	}
	report(peer, v)
}

func main() {
	runtime.GOMAXPROCS(2)
	measure("go-goroutine-per-task-gmp2", goroutinePerTask)
	measure("go-2worker-chan-gmp2", twoWorkersChan)
	measure("go-2worker-chan-closure-gmp2", twoWorkersChanClosure)
}
