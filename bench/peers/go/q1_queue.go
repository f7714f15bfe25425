// Q1 for Go: a buffered channel of capacity 1024 between two goroutines,
// GOMAXPROCS=2.
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
	n    = 2000000
	capa = 1024
	runs = 5
)

func once() float64 {
	ch := make(chan int, capa)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var sum int
	ready.Add(2)
	done.Add(2)
	go func() {
		ready.Done()
		<-start
		for i := 1; i <= n; i++ {
			ch <- i
		}
		done.Done()
	}()
	go func() {
		ready.Done()
		<-start
		for i := 0; i < n; i++ {
			sum += <-ch
		}
		done.Done()
	}()
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	el := time.Since(t0)
	if sum != n*(n+1)/2 {
		fmt.Fprintln(os.Stderr, "check failed: sum", sum)
		os.Exit(3)
	}
	return float64(n) / el.Seconds()
}

func main() {
	runtime.GOMAXPROCS(2)
	once()
	v := make([]float64, runs)
	for i := range v {
		v[i] = once()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	fmt.Printf("Q1 go-chan-1024-gmp2 items %.4g items/s\n", s[len(s)/2])
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.4g", x)
	}
	fmt.Fprintf(os.Stderr, "spread Q1 go-chan-1024-gmp2 items min=%.4g max=%.4g n=%d runs=%s\n",
		s[0], s[len(s)-1], len(v), strings.Join(parts, ","))
}
