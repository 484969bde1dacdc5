// pipe: a goroutine blocked reading an os.Pipe (netpoller: epoll, edge-triggered)
// is woken by a write 20 ms later; meanwhile another goroutine recurses 100,000
// deep with 256-byte frames (stack growth by copying).
package main

import (
	"fmt"
	"os"
	"time"
)

//go:noinline
func deep(n int) int {
	var pad [32]int64
	pad[n%32] = int64(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + 1 + int(pad[n%32]-int64(n))
}

func main() {
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	got := make(chan string)
	go func() {
		buf := make([]byte, 16)
		n, err := r.Read(buf)
		if err != nil {
			panic(err)
		}
		got <- string(buf[:n])
	}()
	depth := make(chan int)
	go func() { depth <- deep(100000) }()
	time.Sleep(20 * time.Millisecond)
	if _, err := w.Write([]byte("ping")); err != nil {
		panic(err)
	}
	fmt.Println("read:", <-got)
	fmt.Println("depth:", <-depth)
}
