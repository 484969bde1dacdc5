// preempt: one P, a goroutine that never reaches a safe point ("for { x++ }").
// main sleeps 50 ms and then prints: only sysmon's tgkill(SIGURG), the signal
// frame and asyncPreempt can take the P back from the spinner.  With
// GODEBUG=asyncpreemptoff=1 this program hangs.
package main

import (
	"fmt"
	"runtime"
	"time"
)

var x uint64

func spin() {
	for {
		x++
	}
}

func main() {
	runtime.GOMAXPROCS(1)
	go spin()
	time.Sleep(50 * time.Millisecond)
	fmt.Println("preempted the spinner")
}
