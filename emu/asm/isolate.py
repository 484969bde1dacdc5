"""Keystone behind a wall: every encoding runs in a forked child process.

Keystone is LLVM's MC layer with the safety catches removed: some inputs end
the whole process (`LLVM ERROR: fixup value out of range` calls exit(1), some
malformed directives are reported to segfault). The host is a notebook or a test run that must
survive any user input, so keystone never runs in it.

The current approach:
 1. fork(); the child encodes, writes length-prefixed marshal records to a
    pipe, and leaves with os._exit (no atexit, no buffered stdio of ours).
    Its stderr goes to a temporary file, so an LLVM ERROR message can be
    quoted in the AsmError instead of appearing on the user's terminal.
 2. The parent reads the pipe until EOF (with a deadline, then SIGKILLs the
    child it started), reaps the child and decodes the records.
 3. In "lines" mode the child reports ("at", i) before encoding snippet i,
    so when it dies the parent knows which line killed it.
 4. The Ks objects are created once in the parent and inherited by fork:
    the parent never calls asm() on them, so their state stays pristine.

Rejected alternatives:
 - subprocess/multiprocessing spawn: imports Python and keystone again on
   every call (~100 ms) where fork costs about a millisecond.
 - Running keystone in-process and trusting input validation to avoid every
   abort: we do validate (link.py), but cannot prove we know them all.
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import struct
import tempfile
import time

import keystone

TIMEOUT = 60.0
_KS: dict[str, keystone.Ks] = {}


class KeystoneError(Exception):
    """keystone refused the input (it said so; the child survived)."""

    def __init__(self, message: str, errno: int = 0, count: int = 0):
        super().__init__(message)
        self.message, self.errno, self.count = message, errno, count


class KeystoneCrash(Exception):
    """The child died (signal/abort) or hung; `detail` quotes its stderr."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


# A known-good encoding per arch. keystone 0.9.2 leaks the "decimal reads as
# hex" mode of a freed Ks that had a sym_resolver into the next Ks allocated
# (tests/test_asm.py pins it), so a new Ks must prove it reads decimal.
_CANARY = {"amd64": ("mov rax, 56", bytes.fromhex("48c7c038000000")),
           "arm64": ("mov x0, #56", bytes.fromhex("000780d2"))}
_REJECTED: list[keystone.Ks] = []      # kept alive so their memory is not handed out again


def ks_for(arch: str) -> keystone.Ks:
    ks = _KS.get(arch)
    if ks is not None:
        return ks
    for _ in range(4):
        if arch == "amd64":
            ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
        else:
            ks = keystone.Ks(keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN)
        line, want = _CANARY[arch]
        if bytes(ks.asm(line, 0, True)[0] or b"") == want:     # a fixed, known-safe input
            _KS[arch] = ks
            return ks
        _REJECTED.append(ks)
    raise KeystoneCrash(f"keystone cannot be trusted: {line!r} does not encode as {want.hex()}")


def _encode(ks: keystone.Ks, code: str, addr: int) -> tuple:
    try:
        enc, count = ks.asm(code, addr, True)
        return ("ok", bytes(enc or b""), count or 0)
    except keystone.KsError as e:
        return ("err", str(e), int(e.errno), int(e.get_asm_count() or 0))


def _run(arch: str, work) -> tuple[list, str]:
    """Run work(ks, send) in a forked child; return (records, death_detail)."""
    ks = ks_for(arch)
    if not hasattr(os, "fork"):         # no fork: no wall (not a supported host)
        records: list = []
        work(ks, records.append)
        return records, ""
    rfd, wfd = os.pipe()
    err = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:                        # child
        try:
            os.close(rfd)
            os.dup2(err.fileno(), 2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)

            def send(rec) -> None:
                blob = marshal.dumps(rec)
                data = struct.pack("<I", len(blob)) + blob
                while data:
                    data = data[os.write(wfd, data):]

            work(ks, send)
            os._exit(0)
        except BaseException:
            os._exit(3)
    os.close(wfd)
    chunks, deadline, killed = [], time.monotonic() + TIMEOUT, False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if ready:
                data = os.read(rfd, 1 << 20)
                if not data:
                    break
                chunks.append(data)
    finally:
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
    blob = b"".join(chunks)
    records, pos = [], 0
    while pos + 4 <= len(blob):
        (n,) = struct.unpack_from("<I", blob, pos)
        if pos + 4 + n > len(blob):
            break
        records.append(marshal.loads(blob[pos + 4:pos + 4 + n]))
        pos += 4 + n
    death = ""
    if killed:
        death = f"keystone did not finish in {TIMEOUT:.0f} s"
    elif os.WIFSIGNALED(status):
        death = f"keystone crashed (signal {os.WTERMSIG(status)})"
    elif os.WEXITSTATUS(status) != 0:
        death = f"keystone crashed (exit {os.WEXITSTATUS(status)})"
    if death:
        err.seek(0)
        msg = " ".join(err.read(2000).decode("utf-8", "replace").split())
        if msg:
            death += f": {msg}"
    err.close()
    return records, death


def encode(arch: str, code: str, addr: int) -> tuple[bytes, int]:
    """Encode one chunk at addr; return (bytes, statement count).

    Raises KeystoneError if keystone refuses it, KeystoneCrash if it dies.
    """
    records, death = _run(arch, lambda ks, send: send(_encode(ks, code, addr)))
    if death or not records:
        raise KeystoneCrash(death or "keystone child sent nothing")
    rec = records[0]
    if rec[0] == "ok":
        return rec[1], rec[2]
    raise KeystoneError(rec[1], rec[2], rec[3])


def first_failure(arch: str, snippets: list[tuple[str, int, int]]) -> tuple[int, str, int] | None:
    """Encode (code, addr, statements) snippets one by one; return (index,
    message, errno) of the first that fails, reads as another number of
    statements, or kills keystone (errno -1); None if all encode."""
    def work(ks, send):
        for i, (code, addr, statements) in enumerate(snippets):
            send(("at", i))
            rec = _encode(ks, code, addr)
            if rec[0] == "err":
                send(("fail", i, rec[1], rec[2]))
                return
            if rec[2] != statements:
                send(("fail", i, f"keystone read {rec[2]} statements here, expected {statements}", 0))
                return
        send(("done",))

    records, death = _run(arch, work)
    last = None
    for rec in records:
        if rec[0] == "fail":
            return rec[1], rec[2], rec[3]
        if rec[0] == "at":
            last = rec[1]
    if death and last is not None:
        return last, death, -1
    return None
