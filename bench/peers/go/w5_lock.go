// W5 for Go: sync.Mutex, uncontended and 2 goroutines on GOMAXPROCS=2.
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
	n    = 10000000
	p    = 5000000
	runs = 5
)

func report(metric string, v []float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	med := s[len(s)/2]
	fmt.Printf("W5 go-mutex-gmp2 %s %.4g ns\n", metric, med)
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.4g", x)
	}
	fmt.Fprintf(os.Stderr, "spread W5 go-mutex-gmp2 %s min=%.4g max=%.4g n=%d runs=%s\n",
		metric, s[0], s[len(s)-1], len(v), strings.Join(parts, ","))
}

func uncontended() float64 {
	var m sync.Mutex
	t0 := time.Now()
	for i := 0; i < n; i++ {
		m.Lock()
		m.Unlock()
	}
	return float64(time.Since(t0).Nanoseconds()) / n
}

func contended() float64 {
	var m sync.Mutex
	var counter int64
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(2)
	done.Add(2)
	for g := 0; g < 2; g++ {
		go func() {
			ready.Done()
			<-start
			for i := 0; i < p; i++ {
				m.Lock()
				counter++
				m.Unlock()
			}
			done.Done()
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	el := time.Since(t0)
	if counter != 2*p {
		fmt.Fprintln(os.Stderr, "check failed: counter", counter)
		os.Exit(3)
	}
	return float64(el.Nanoseconds()) / (2 * p)
}

func measure(metric string, f func() float64) {
	f()
	v := make([]float64, runs)
	for i := range v {
		v[i] = f()
	}
	report(metric, v)
}

func main() {
	runtime.GOMAXPROCS(2)
	measure("uncontended", uncontended)
	measure("contended2", contended)
}
