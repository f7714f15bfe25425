// W9 for Go: the echo server (BENCH.md's go-net): net.Listen on
// 127.0.0.1:PORT and a goroutine per connection, Read into its own 64 KiB
// buffer, Write back what came, until SIGTERM (the default action).
// Pinned to one CPU by the load generator, Go runs with GOMAXPROCS=1.
// Also W9c's Go server: an idle connection is a goroutine blocked in Read
// (with its buffer).
//
//	w9_echo PORT
package main

import (
	"fmt"
	"net"
	"os"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: w9_echo PORT")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go serve(c) // Go sets TCP_NODELAY on accepted connections
	}
}
