/*
 * _ucnative.c: the one piece of native code in gosched-emu.
 *
 * A UC_HOOK_CODE callback that counts the instructions a CPU executes in a
 * slice and asks Unicorn to stop when the slice is used up.  It is what
 * uc_emu_start(..., count) does internally, with one difference that matters
 * to us: the counter is ours to read, so a slice cut short by a syscall, a
 * fault or a breakpoint still tells the virtual clock exactly how many
 * instructions ran.  Calling a Python hook per instruction costs ~1.3 us; this
 * costs the same as Unicorn's own `count` (a helper call per instruction).
 *
 * It links against nothing: Python hands it uc_emu_stop's address.
 * Loaded with ctypes (emu/machine/native.py); no Python C API is used.
 */
#include <stdint.h>

typedef int (*uc_stop_fn)(void *uc);

/* One per CPU; Python owns the memory (a ctypes Structure). */
struct slice_counter {
    uint64_t executed;  /* instructions that ran in the current slice */
    uint64_t limit;     /* stop before instruction number limit + 1 */
    uc_stop_fn stop;    /* libunicorn's uc_emu_stop */
    uint64_t stopped;   /* 1 once this slice asked Unicorn to stop */
};

/* Called by Unicorn before every instruction. */
void gosched_count_hook(void *uc, uint64_t address, uint32_t size, void *user)
{
    struct slice_counter *c = (struct slice_counter *)user;
    (void)address;
    (void)size;
    if (c->executed >= c->limit) {
        if (!c->stopped) {
            c->stopped = 1;
            c->stop(uc);
        }
        return;
    }
    c->executed++;
}
