"""gosched-emu: the Go goroutine scheduler at machine level on emulated amd64 and arm64 CPUs."""
