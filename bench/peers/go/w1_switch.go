// W1 for Go: GOMAXPROCS=1, two goroutines each call runtime.Gosched() S/2
// times, so that control passes from one to the other S times in all.
// Timed from the start signal (both goroutines made and waiting for it)
// until the WaitGroup's Wait returns; each side's count is checked.
// Gosched does not always hand over: in some runs here about 1 call in 31
// returns to its caller without the other goroutine having run; BENCH.md
// counts every call as a switch, and so does this.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	s    = 10000000 // switches in all
	runs = 5
)

func report(peer, metric string, v []float64, unit string) {
	sorted := append([]float64(nil), v...)
	sort.Float64s(sorted)
	fmt.Printf("W1 %s %s %.4g %s\n", peer, metric, sorted[len(sorted)/2], unit)
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.4g", x)
	}
	fmt.Fprintf(os.Stderr, "spread W1 %s %s min=%.4g max=%.4g n=%d runs=%s\n",
		peer, metric, sorted[0], sorted[len(sorted)-1], len(v),
		strings.Join(parts, ","))
}

func once() float64 {
	var count [2]int
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(2)
	done.Add(2)
	for g := 0; g < 2; g++ {
		go func(me int) {
			ready.Done()
			<-start
			for i := 0; i < s/2; i++ {
				count[me]++
				runtime.Gosched()
			}
			done.Done()
		}(g)
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	el := time.Since(t0)
	if count[0] != s/2 || count[1] != s/2 {
		fmt.Fprintln(os.Stderr, "check failed: counts", count)
		os.Exit(3)
	}
	return float64(el.Nanoseconds()) / s
}

func main() {
	runtime.GOMAXPROCS(1)
	once()
	v := make([]float64, runs)
	for i := range v {
		v[i] = once()
	}
	report("go-gosched-gmp1", "switch", v, "ns")
}
