// regstress.s (arm64): every register live, all the time.
//
// main starts two workers (seeds 1 and 2).  Each runs ITER rounds of a loop that
// keeps values in every general register a program may use (x0-x16, x19-x26,
// x17 as the counter, x29 as the frame pointer, x30 holding the return address
// for the whole loop), in the flags (adds then adcs: the carry lives across an
// instruction boundary; subs then b.ne) and in all 128 bits of v0-v31.  Then it
// folds them into one checksum and sends it on a channel; main prints the sum of
// both.  The loop has no calls, so only an async preemption can stop it; if a
// preemption lost or changed any register or flag -- or LR -- the checksum changes
// (or the return goes astray).  The preemption transparency checker
// (emu/analysis) runs this program under a storm of preemptions.
.equ ITER, 20000

.text
.globl main.main
main.main:
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    mov x0, #0
    bl runtime.makechan
    adr x1, results
    str x0, [x1]

    // go worker(1); go worker(2)
    adr x0, worker
    mov x1, #1
    bl runtime.newproc
    adr x0, worker
    mov x1, #2
    bl runtime.newproc

    // print the sum of the two checksums (independent of their order)
    adr x0, results
    ldr x0, [x0]
    bl runtime.chanrecv
    str x0, [x29, #16]
    adr x0, results
    ldr x0, [x0]
    bl runtime.chanrecv
    ldr x1, [x29, #16]
    add x0, x0, x1
    bl runtime.printint
    ldp x29, x30, [sp], #32
    ret

// worker(seed): the register storm; sends its checksum on results.
worker:
    stp x29, x30, [sp, #-16]!
    mov x29, sp

    // every register gets a value derived from the seed (in x0)
    add x1, x0, #17
    add x2, x0, #34
    add x3, x0, #51
    add x4, x0, #68
    add x5, x0, #85
    add x6, x0, #102
    add x7, x0, #119
    add x8, x0, #136
    add x9, x0, #153
    add x10, x0, #170
    add x11, x0, #187
    add x12, x0, #204
    add x13, x0, #221
    add x14, x0, #238
    add x15, x0, #255
    add x16, x0, #272
    add x19, x0, #289
    add x20, x0, #306
    add x21, x0, #323
    add x22, x0, #340
    add x23, x0, #357
    add x24, x0, #374
    add x25, x0, #391
    add x26, x0, #408
    dup v0.2d, x0
    mov v0.d[1], x7
    dup v1.2d, x1
    mov v1.d[1], x8
    dup v2.2d, x2
    mov v2.d[1], x9
    dup v3.2d, x3
    mov v3.d[1], x10
    dup v4.2d, x4
    mov v4.d[1], x11
    dup v5.2d, x5
    mov v5.d[1], x12
    dup v6.2d, x6
    mov v6.d[1], x13
    dup v7.2d, x7
    mov v7.d[1], x14
    dup v8.2d, x8
    mov v8.d[1], x15
    dup v9.2d, x9
    mov v9.d[1], x16
    dup v10.2d, x10
    mov v10.d[1], x19
    dup v11.2d, x11
    mov v11.d[1], x20
    dup v12.2d, x12
    mov v12.d[1], x21
    dup v13.2d, x13
    mov v13.d[1], x22
    dup v14.2d, x14
    mov v14.d[1], x23
    dup v15.2d, x15
    mov v15.d[1], x24
    dup v16.2d, x16
    mov v16.d[1], x25
    dup v17.2d, x19
    mov v17.d[1], x26
    dup v18.2d, x20
    mov v18.d[1], x0
    dup v19.2d, x21
    mov v19.d[1], x1
    dup v20.2d, x22
    mov v20.d[1], x2
    dup v21.2d, x23
    mov v21.d[1], x3
    dup v22.2d, x24
    mov v22.d[1], x4
    dup v23.2d, x25
    mov v23.d[1], x5
    dup v24.2d, x26
    mov v24.d[1], x6
    dup v25.2d, x0
    mov v25.d[1], x7
    dup v26.2d, x1
    mov v26.d[1], x8
    dup v27.2d, x2
    mov v27.d[1], x9
    dup v28.2d, x3
    mov v28.d[1], x10
    dup v29.2d, x4
    mov v29.d[1], x11
    dup v30.2d, x5
    mov v30.d[1], x12
    dup v31.2d, x6
    mov v31.d[1], x13
    mov x17, #ITER                      // x17 = rounds left
1:
    // integer chain; the carry flows from adds into the adcs
    adds x0, x0, x1
    adcs x2, x2, x3
    adc x4, x4, x5
    eor x6, x6, x0
    ror x7, x7, #13
    add x7, x7, x6
    sub x8, x8, x7
    mul x9, x9, x8
    eor x10, x10, x9
    add x11, x11, x10
    ror x12, x12, #7
    add x13, x13, x11
    eor x14, x14, x2
    add x15, x15, x14
    eor x16, x16, x15
    eor x19, x19, x16
    add x20, x20, x19
    ror x21, x21, #3
    add x21, x21, x20
    eor x22, x22, x21
    add x23, x23, x22
    sub x24, x24, x23
    eor x25, x25, x24
    add x26, x26, x25
    add x1, x1, x26
    eor x3, x3, x13
    add x5, x5, x4
    // vector chain: every v register, all 128 bits
    add v0.2d, v0.2d, v1.2d
    eor v1.16b, v1.16b, v2.16b
    add v2.2d, v2.2d, v3.2d
    eor v3.16b, v3.16b, v4.16b
    add v4.2d, v4.2d, v5.2d
    eor v5.16b, v5.16b, v6.16b
    add v6.2d, v6.2d, v7.2d
    eor v7.16b, v7.16b, v8.16b
    add v8.2d, v8.2d, v9.2d
    eor v9.16b, v9.16b, v10.16b
    add v10.2d, v10.2d, v11.2d
    eor v11.16b, v11.16b, v12.16b
    add v12.2d, v12.2d, v13.2d
    eor v13.16b, v13.16b, v14.16b
    add v14.2d, v14.2d, v15.2d
    eor v15.16b, v15.16b, v16.16b
    add v16.2d, v16.2d, v17.2d
    eor v17.16b, v17.16b, v18.16b
    add v18.2d, v18.2d, v19.2d
    eor v19.16b, v19.16b, v20.16b
    add v20.2d, v20.2d, v21.2d
    eor v21.16b, v21.16b, v22.16b
    add v22.2d, v22.2d, v23.2d
    eor v23.16b, v23.16b, v24.16b
    add v24.2d, v24.2d, v25.2d
    eor v25.16b, v25.16b, v26.16b
    add v26.2d, v26.2d, v27.2d
    eor v27.16b, v27.16b, v28.16b
    add v28.2d, v28.2d, v29.2d
    eor v29.16b, v29.16b, v30.16b
    add v30.2d, v30.2d, v31.2d
    eor v31.16b, v31.16b, v0.16b
    subs x17, x17, #1                   // flags live until b.ne
    b.ne 1b

    // fold everything into x0 (x30 is still the return address: never reloaded)
    eor x0, x0, x1
    add x0, x0, x2
    eor x0, x0, x3
    add x0, x0, x4
    eor x0, x0, x5
    add x0, x0, x6
    eor x0, x0, x7
    add x0, x0, x8
    eor x0, x0, x9
    add x0, x0, x10
    eor x0, x0, x11
    add x0, x0, x12
    eor x0, x0, x13
    add x0, x0, x14
    eor x0, x0, x15
    add x0, x0, x16
    eor x0, x0, x19
    add x0, x0, x20
    eor x0, x0, x21
    add x0, x0, x22
    eor x0, x0, x23
    add x0, x0, x24
    eor x0, x0, x25
    add x0, x0, x26
    eor v0.16b, v0.16b, v1.16b
    eor v0.16b, v0.16b, v2.16b
    eor v0.16b, v0.16b, v3.16b
    eor v0.16b, v0.16b, v4.16b
    eor v0.16b, v0.16b, v5.16b
    eor v0.16b, v0.16b, v6.16b
    eor v0.16b, v0.16b, v7.16b
    eor v0.16b, v0.16b, v8.16b
    eor v0.16b, v0.16b, v9.16b
    eor v0.16b, v0.16b, v10.16b
    eor v0.16b, v0.16b, v11.16b
    eor v0.16b, v0.16b, v12.16b
    eor v0.16b, v0.16b, v13.16b
    eor v0.16b, v0.16b, v14.16b
    eor v0.16b, v0.16b, v15.16b
    eor v0.16b, v0.16b, v16.16b
    eor v0.16b, v0.16b, v17.16b
    eor v0.16b, v0.16b, v18.16b
    eor v0.16b, v0.16b, v19.16b
    eor v0.16b, v0.16b, v20.16b
    eor v0.16b, v0.16b, v21.16b
    eor v0.16b, v0.16b, v22.16b
    eor v0.16b, v0.16b, v23.16b
    eor v0.16b, v0.16b, v24.16b
    eor v0.16b, v0.16b, v25.16b
    eor v0.16b, v0.16b, v26.16b
    eor v0.16b, v0.16b, v27.16b
    eor v0.16b, v0.16b, v28.16b
    eor v0.16b, v0.16b, v29.16b
    eor v0.16b, v0.16b, v30.16b
    eor v0.16b, v0.16b, v31.16b
    mov x1, v0.d[0]
    add x0, x0, x1
    mov x1, v0.d[1]
    eor x0, x0, x1

    // results <- checksum
    str x30, [sp, #8]
    mov x1, x0
    adr x0, results
    ldr x0, [x0]
    bl runtime.chansend
    ldp x29, x30, [sp], #16
    ret

.data
results: .quad 0
