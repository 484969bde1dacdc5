// fanin: 8 producers on 4 Ps send 1,000 numbers each into one channel; a
// collector adds them up.  The printed sum does not depend on the schedule.
package main

import (
	"fmt"
	"runtime"
	"sync"
)

func main() {
	runtime.GOMAXPROCS(4)
	const producers, each = 8, 1000
	out := make(chan int, 16)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				out <- p*each + i
			}
		}(p)
	}
	go func() { wg.Wait(); close(out) }()
	sum, n := 0, 0
	for v := range out {
		sum += v
		n++
	}
	fmt.Println("received", n, "sum", sum)
}
