// nilpanic: a nil pointer store faults; the kernel delivers SIGSEGV to Go's
// handler, which turns it into a run-time panic (sigpanic): the message and
// the traceback on stderr, exit status 2.
package main

import "fmt"

type node struct{ next *node }

//go:noinline
func store(n *node) { n.next = n }

func main() {
	fmt.Println("before the fault")
	store(nil)
}
