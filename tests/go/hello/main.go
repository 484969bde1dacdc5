// hello: the smallest real Go program (fmt.Println on fd 1).
package main

import "fmt"

func main() {
	fmt.Println("hello, world")
}
