# hello: main prints 7 and returns (exit 0).  Starting main's goroutine needs gogo;
# its return goes through goexit, which needs mcall.
.text
.globl main.main
main.main:
    push rbp
    mov rbp, rsp
    mov eax, 7
    call runtime.printint
    pop rbp
    ret
