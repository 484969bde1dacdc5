"""Tests for emu.asm: the assembler/linker, its error reporting, and the keystone facts it relies on."""

import subprocess
import sys
import textwrap

import capstone
import keystone
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emu.asm import PSEUDO_OPS, AsmError, Image, Segment, SourceLine, assemble

ARCHES = ["amd64", "arm64"]
BASE = 0x400000


def asm(text, arch, name="t.s", **kw):
    return assemble([(name, textwrap.dedent(text))], arch, **kw)


def raises(text, arch, name="t.s", **kw) -> AsmError:
    with pytest.raises(AsmError) as info:
        asm(text, arch, name, **kw)
    return info.value


def cs(arch):
    if arch == "amd64":
        return capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    return capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)


def insn_at(img, addr):
    c = cs(img.arch)
    c.detail = True
    return next(c.disasm(img.read(addr, 16), addr, 1))


PROGRAM = {
    "amd64": """\
        # counter
        .text
        main.main:
            mov rax, 56
            mov rbx, [rip + counter]
            call runtime.gosched
            ret
        runtime.gosched:
            ret
        .data
        counter: .quad 7
        fnptr:   .quad main.main, main.main+8
        .bss
        stack: .space 64
        stack_end:
        """,
    "arm64": """\
        // counter
        .text
        main.main:
            mov x0, #56
            adr x1, counter
            bl runtime.gosched
            ret
        runtime.gosched:
            ret
        .data
        counter: .quad 7
        fnptr:   .quad main.main, main.main+8
        .bss
        stack: .space 64
        stack_end:
        """,
}


# ---------------------------------------------------------------- the image

@pytest.mark.parametrize("arch", ARCHES)
def test_symbols_segments_and_layout(arch):
    img = asm(PROGRAM[arch], arch, name="counter.s")
    assert isinstance(img, Image) and img.arch == arch
    names = [s.name for s in img.segments]
    assert names == [".text", ".data", ".bss"]
    assert [s.prot for s in img.segments] == ["r-x", "rw-", "rw-"]
    for s in img.segments:
        assert isinstance(s, Segment) and s.addr % 4096 == 0 and s.size % 4096 == 0 and s.size >= len(s.data)
    text, data, bss = img.segments
    assert (text.addr, data.addr, bss.addr) == (BASE, BASE + 0x1000, BASE + 0x2000)
    assert img.start == BASE and img.end == BASE + 0x3000
    mm = img.symbols["main.main"]
    assert mm == BASE
    size = 7 + 7 + 5 if arch == "amd64" else 12
    assert img.symbols["runtime.gosched"] == BASE + size + (1 if arch == "amd64" else 4)
    assert img.symbols["counter"] == data.addr and img.symbols["fnptr"] == data.addr + 8
    assert img.symbols["stack"] == bss.addr and img.symbols["stack_end"] == bss.addr + 64
    assert bss.data == b""
    # .quad main.main holds the text address; sym+8 too
    assert int.from_bytes(img.read(img.symbols["fnptr"], 8), "little") == mm
    assert int.from_bytes(img.read(img.symbols["fnptr"] + 8, 8), "little") == mm + 8
    assert img.read(img.symbols["counter"], 8) == (7).to_bytes(8, "little")


@pytest.mark.parametrize("arch,line,code", [
    ("amd64", "mov rax, 56", "48c7c038000000"),
    ("amd64", "mov eax, 10", "b80a000000"),
    ("amd64", "ret", "c3"),
    ("arm64", "mov x0, #56", "000780d2"),
    ("arm64", "mov x0, #10", "400180d2"),
    ("arm64", "ret", "c0035fd6"),
])
def test_exact_encodings_and_decimal_stays_decimal(arch, line, code):
    img = asm(f"f:\n {line}\n", arch)
    assert img.segments[0].data == bytes.fromhex(code)


def test_rip_relative_load_of_data_symbol():
    img = asm(PROGRAM["amd64"], "amd64")
    addr = img.symbols["main.main"] + 7
    i = insn_at(img, addr)
    assert i.mnemonic == "mov"
    mem = i.operands[1].mem
    assert i.reg_name(mem.base) == "rip"
    assert addr + i.size + mem.disp == img.symbols["counter"]


def test_arm64_adr_of_data_symbol():
    img = asm(PROGRAM["arm64"], "arm64")
    i = insn_at(img, img.symbols["main.main"] + 4)
    assert i.mnemonic == "adr" and i.operands[1].imm == img.symbols["counter"]


@pytest.mark.parametrize("arch", ARCHES)
def test_numeric_local_labels(arch):
    dec, jnz, jmp = ("dec rcx", "jnz", "jmp") if arch == "amd64" else ("sub x1, x1, #1", "cbnz x1,", "b")
    img = asm(f"""\
        f:
        1:  {dec}
            {jnz} 1b
            {jmp} 1f
        1:  {jmp} 1b
        """, arch)
    ops = list(cs(arch).disasm(img.segments[0].data, BASE))
    first, second = img.addr_of("t.s", 2), img.addr_of("t.s", 5)
    targets = [int(o.op_str.split("#")[-1].split()[-1], 16) for o in ops[1:]]
    assert targets == [first, second, second]


@pytest.mark.parametrize("arch", ARCHES)
def test_include_relative_and_include_dirs(arch, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "inc").mkdir()
    (tmp_path / "sub" / "consts.inc").write_text(".equ G_SCHED, 0x38\n#include \"more.inc\"\n")
    (tmp_path / "inc" / "more.inc").write_text(".equ GOBUF_SP, 8\n")
    main = tmp_path / "sub" / "main.s"
    ld = "mov rax, [rbx + G_SCHED + GOBUF_SP]" if arch == "amd64" else "ldr x0, [x1, #G_SCHED + GOBUF_SP]"
    main.write_text(f'#include "consts.inc"\nf:\n {ld}\n')
    img = assemble([main], arch, include_dirs=[tmp_path / "inc"])
    assert img.constants == {"G_SCHED": 0x38, "GOBUF_SP": 8}
    assert "G_SCHED" not in img.symbols
    i = insn_at(img, BASE)
    disp = i.operands[1].mem.disp
    assert disp == 0x40
    assert img.line_at(BASE).file == str(main)


def test_include_missing_and_cycle(tmp_path):
    (tmp_path / "a.inc").write_text('#include "b.inc"\n')
    (tmp_path / "b.inc").write_text('nop\n#include "a.inc"\n')
    (tmp_path / "m.s").write_text('nop\n#include "a.inc"\n')
    with pytest.raises(AsmError) as e:
        assemble([tmp_path / "m.s"], "amd64")
    assert e.value.file.endswith("b.inc") and e.value.line == 2 and "include cycle" in e.value.reason
    (tmp_path / "n.s").write_text('nop\n#include "nope.inc"\n')
    with pytest.raises(AsmError) as e:
        assemble([tmp_path / "n.s"], "amd64")
    assert e.value.line == 2 and "nope.inc" in e.value.reason and e.value.text == '#include "nope.inc"'


@pytest.mark.parametrize("arch", ARCHES)
def test_macros_with_args_defaults_and_nesting(arch):
    mov = "mov \\reg, \\val" if arch == "amd64" else "mov \\reg, #\\val"
    r1, r2 = ("rax", "rbx") if arch == "amd64" else ("x0", "x1")
    img = asm(f"""\
        .macro SETREG reg, val=7
            {mov}
        .endm
        .macro TWO a, b
            SETREG \\a
            SETREG \\b, 9
        .endm
        f:
            TWO {r1}, {r2}
            SETREG {r1}, 3
        """, arch)
    plain = "mov {r}, {v}" if arch == "amd64" else "mov {r}, #{v}"
    ref = asm("f:\n" + "\n".join(" " + plain.format(r=r, v=v) for r, v in [(r1, 7), (r2, 9), (r1, 3)]) + "\n", arch)
    assert img.segments[0].data == ref.segments[0].data
    lines = [sl.line for sl in img.lines]
    assert lines == [9, 9, 10]          # expanded code keeps the caller's line
    assert img.addr_of("t.s", 9) == BASE


def test_macro_errors():
    e = raises(".macro R\n R\n.endm\nf: R\n", "amd64")
    assert e.line == 4 and "deeper" in e.reason
    e = raises(".macro M a:req\n nop\n.endm\nM\n", "amd64")
    assert e.line == 4 and "required" in e.reason
    e = raises(".macro M\n nop\n", "amd64")
    assert e.line == 1 and ".endm" in e.reason
    e = raises(".macro M a\n bogus_insn \\a\n.endm\nf: M 3\n", "amd64")
    assert e.line == 4 and "macro M" in e.reason


@pytest.mark.parametrize("arch", ARCHES)
def test_equ_constants(arch):
    if arch == "amd64":
        body = "mov rax, SIZE*2\n mov rcx, [rdx + OFF]\n mov rcx, [rdx + NEG]"
    else:
        body = "mov x0, #SIZE*2\n ldr x1, [x2, #OFF]\n ldur x1, [x2, #NEG]"
    img = asm(f".equ SIZE, 8\n.set OFF, SIZE << 2 | 1 - 1\nNEG = -OFF\nf:\n {body}\n.data\nd: .quad SIZE + 1\n", arch)
    assert img.constants == {"SIZE": 8, "OFF": 32, "NEG": -32}
    assert set(img.symbols) == {"f", "d"}
    c = cs(arch)
    c.detail = True
    ins = list(c.disasm(img.segments[0].data, BASE))
    assert ins[0].operands[1].imm == 16
    assert ins[1].operands[1].mem.disp == 32 and ins[2].operands[1].mem.disp == -32
    assert img.read(img.symbols["d"], 8) == (9).to_bytes(8, "little")


@pytest.mark.parametrize("arch", ARCHES)
def test_cross_file_symbols_and_file_local_labels(arch):
    call, ret, jmp = ("call", "ret", "jmp") if arch == "amd64" else ("bl", "ret", "b")
    a = ("a.s", f"main.main:\n {call} helper\n {jmp} .Lout\n.Lout:\n {ret}\n")
    b = ("b.s", f"helper:\n {jmp} .Lout\n.Lout:\n {ret}\n")
    img = assemble([a, b], arch)
    assert set(img.symbols) == {"main.main", "helper"}
    c = cs(arch)
    first = next(c.disasm(img.read(BASE, 8), BASE, 1))
    assert int(first.op_str.lstrip("#"), 16) == img.symbols["helper"]
    assert img.line_at(img.symbols["helper"]).file == "b.s"


@pytest.mark.parametrize("arch", ARCHES)
def test_duplicate_global_names_second_definition(arch):
    ret = "ret"
    with pytest.raises(AsmError) as e:
        assemble([("a.s", f"x:\n {ret}\n"), ("b.s", f"\n\nx:\n {ret}\n")], arch)
    assert (e.value.file, e.value.line, e.value.text) == ("b.s", 3, "x:")
    assert "a.s:1" in e.value.reason


@pytest.mark.parametrize("arch", ARCHES)
def test_undefined_symbol_names_its_line(arch):
    jmp = "jmp" if arch == "amd64" else "b"
    e = raises(f"f:\n nop\n {jmp} nowhere\n nop\n", arch)
    assert (e.file, e.line, e.text) == ("t.s", 3, f"{jmp} nowhere")
    assert "undefined symbol nowhere" in e.reason
    assert str(e) == f"t.s:3: {e.reason}: {jmp} nowhere"


@pytest.mark.parametrize("arch", ARCHES)
def test_bad_instruction_names_its_line(arch):
    e = raises("f:\n nop\n frobnicate r1, r2   # junk\n", arch) if arch == "amd64" else \
        raises("f:\n nop\n frobnicate r1, r2   // junk\n", arch)
    assert e.line == 3 and e.text.startswith("frobnicate r1, r2") and "keystone" in e.reason


@pytest.mark.parametrize("arch", ARCHES)
def test_unsupported_directive_and_register_label(arch):
    e = raises("f:\n .rept 3\n", arch)
    assert e.line == 2 and "unsupported directive .rept" in e.reason
    reg = "rsp" if arch == "amd64" else "x0"
    e = raises(f"{reg}:\n nop\n", arch)
    assert e.line == 1 and "register" in e.reason


def test_adrp_rejected():
    e = raises("f:\n adrp x0, f\n", "arm64")
    assert e.line == 2 and "adr" in e.reason


def test_misaligned_arm64_branch_target_is_an_error_not_a_crash():
    e = raises("f:\n b g\n .byte 1\ng:\n .byte 2, 3, 4\n ret\n", "arm64")
    assert e.line == 2 and "aligned" in e.reason
    e = raises("f:\n nop\n .byte 1\n ret\n", "arm64")
    assert e.line == 4 and "aligned" in e.reason


def test_arm64_out_of_range_branch_is_an_error_not_a_crash():
    e = raises("f:\n cbz x0, g\n .space 0x200000\ng:\n ret\n", "arm64")
    assert e.line == 2 and "out of range" in e.reason


def test_image_lookups_and_disassembly():
    img = asm(PROGRAM["amd64"], "amd64", name="dir/counter.s")
    mm = img.symbols["main.main"]
    sl = img.line_at(mm + 3)
    assert isinstance(sl, SourceLine)
    assert (sl.file, sl.line, sl.text, sl.addr, sl.size) == ("dir/counter.s", 4, "mov rax, 56", mm, 7)
    assert img.addr_of("counter.s", 5) == mm + 7 == img.addr_of("dir/counter.s", 5)
    assert img.addr_of("counter.s", 1) is None
    assert img.symbol_at(mm + 9) == ("main.main", 9)
    assert img.symbol_at(img.symbols["counter"] + 3) == ("counter", 3)
    assert img.symbol_at(BASE - 1) is None and img.line_at(img.symbols["counter"]) is None
    assert img.disassemble(mm, 2) == [
        "0x400000 <main.main+0> mov rax, 0x38    ; counter.s:4",
        "0x400007 <main.main+7> mov rbx, qword ptr [rip + 0xff2]    ; counter.s:5",
    ]
    assert [s.addr for s in img.lines] == sorted(s.addr for s in img.lines)


@pytest.mark.parametrize("arch", ARCHES)
def test_data_directives(arch):
    img = asm("""\
        .section .rodata
        s: .ascii "a\\tb"
        z: .asciz "hi\\n"
        h: .short 0x1234
        w: .word 1
        l: .long a - s
        .balign 8, 0xee
        a:
        q: .quad -1
        b: .byte 1, 2, 'c'
        spc: .space 3, 0x5a
        """, arch)
    ro = img.segments[0]
    assert ro.name == ".rodata" and ro.prot == "r--"
    wsize = 2 if arch == "amd64" else 4
    data = ro.data
    assert data.startswith(b"a\tbhi\n\x00\x34\x12")
    assert img.symbols["w"] - img.symbols["h"] == 2 and img.symbols["l"] - img.symbols["w"] == wsize
    assert img.symbols["a"] % 8 == 0
    a = img.symbols["a"]
    assert img.read(img.symbols["l"] + 4, a - img.symbols["l"] - 4) == b"\xee" * (a - img.symbols["l"] - 4)
    assert int.from_bytes(img.read(img.symbols["l"], 4), "little") == a - img.symbols["s"]
    assert img.read(img.symbols["q"], 8) == b"\xff" * 8
    assert img.read(img.symbols["b"], 6) == b"\x01\x02c\x5a\x5a\x5a"


@pytest.mark.parametrize("arch", ARCHES)
def test_pseudo_op_hook(arch):
    def twice(a, args, ctx):
        assert a == arch and ctx.line == 2 and ctx.file == "t.s"
        return [f"{args[0]}", f"{args[0]}   # second" if a == "amd64" else f"{args[0]}  // second"]
    PSEUDO_OPS[".twice"] = twice
    try:
        img = asm("f:\n .twice nop\n ret\n", arch)
        assert [(sl.line, sl.text) for sl in img.lines] == [(2, ".twice nop"), (2, ".twice nop"), (3, "ret")]
        e = raises("f:\n .twice bogus_op\n", arch)
        assert e.line == 2 and ".twice" in e.reason
    finally:
        del PSEUDO_OPS[".twice"]
    assert ".twice" not in PSEUDO_OPS


def test_cache_returns_equal_images():
    a = asm(PROGRAM["amd64"], "amd64")
    b = asm(PROGRAM["amd64"], "amd64")
    assert a.segments == b.segments and a.symbols == b.symbols


def test_bad_api_arguments_are_asm_errors():
    for call in (lambda: assemble([("t.s", "nop")], "mips"),
                 lambda: assemble([("t.s", "nop")], "amd64", base=0x400001),
                 lambda: assemble("nop", "amd64"),
                 lambda: assemble(["/nonexistent/x.s"], "amd64")):
        with pytest.raises(AsmError):
            call()


# ------------------------------------------------------------ keystone facts

def ks(arch):
    if arch == "amd64":
        return keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
    return keystone.Ks(keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN)


def run_isolated(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_keystone_fact_a_resolver_reads_decimal_as_hex_and_leaks():
    # In a subprocess: the hex mode outlives its Ks and poisons the next one.
    r = run_isolated("""
        import gc, keystone as K
        x = K.Ks(K.KS_ARCH_X86, K.KS_MODE_64)
        print(bytes(x.asm("mov rax, 56", 0)[0]).hex())
        x.sym_resolver = lambda name: (False, 0)
        print(bytes(x.asm("mov rax, 56", 0)[0]).hex())
        del x; gc.collect()
        a = K.Ks(K.KS_ARCH_ARM64, K.KS_MODE_LITTLE_ENDIAN)
        print(bytes(a.asm("mov x0, #56", 0)[0]).hex())
        b = K.Ks(K.KS_ARCH_ARM64, K.KS_MODE_LITTLE_ENDIAN)
        print(bytes(b.asm("mov x0, #56", 0)[0]).hex())
    """)
    assert r.stdout.split() == ["48c7c038000000", "48c7c056000000", "c00a80d2", "000780d2"]


def test_keystone_fact_b_equ_in_rip_operand_is_a_plain_displacement():
    k = ks("amd64")
    enc = bytes(k.asm(".equ sym, 0x401000\nlea rax, [rip + sym]", 0x400000)[0])
    assert enc == bytes.fromhex("488d0500104000")      # disp = 0x401000, not 0x401000 - next pc


def test_keystone_fact_c_misaligned_arm64_branch_aborts_the_process():
    r = run_isolated("""
        import keystone
        k = keystone.Ks(keystone.KS_ARCH_ARM64, keystone.KS_MODE_LITTLE_ENDIAN)
        k.asm("b g\\n.byte 1\\ng: ret", 0x400000)
    """)
    assert r.returncode != 0 and "fixup not sufficiently aligned" in r.stderr


def test_keystone_fact_d_numeric_labels_section_macro():
    k = ks("amd64")
    with pytest.raises(keystone.KsError):
        k.asm("1: nop\njmp 1b", 0)
    assert k.asm(".section .data\nnop", 0) == (None, 0)     # prints an error, encodes nothing
    r = run_isolated("""
        import keystone
        k = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
        try:
            k.asm(".macro m\\nnop\\n.endm\\nm", 0)
        except keystone.KsError:
            pass
        print("survived")
    """)
    # keystone either errors, misbehaves or dies here; it must never run in our process
    assert r.returncode != 0 or "survived" in r.stdout


def test_keystone_fact_e_adrp_uses_absolute_page():
    enc = bytes(ks("arm64").asm("adrp x0, g\nnop\ng: nop", 0x400000)[0])
    i = next(cs("arm64").disasm(enc[:4], 0x400000))
    # PC-relative adrp of a label on the same page would give page 0x400000; keystone gives 0x800000 (pc page + abs page)
    assert i.mnemonic == "adrp" and int(i.op_str.split("#")[-1], 16) != 0x400000
    with pytest.raises(keystone.KsError):
        ks("arm64").asm("mov x0, #0x12345678", 0)


# -------------------------------------------------------------------- fuzz

LINES = st.sampled_from([
    "nop", "ret", "mov rax, 56", "mov x0, #56", "add x0, x1, #3", "jmp 1f", "b 1b", "1:", "2:", "lbl:",
    "lbl2: nop", "call lbl", "bl lbl", "b lbl", "jmp lbl", ".quad lbl", ".byte 1", ".byte 300", ".space 3",
    ".balign 8", ".balign 3", ".align 2", ".data", ".text", ".bss", ".section .rodata", ".section .foo",
    ".equ K, 4", "K = K + 1", ".equ", ".quad", ".macro M a\n mov \\a, 1\n.endm", "M rax", "M", ".endm",
    "mov rax, [rip + lbl]", "adr x0, lbl", "adrp x0, lbl", "ldr x0, =lbl", "cbz x0, lbl", "b.ne 1f",
    "#include \"nope.inc\"", "/* open", "*/", "garbage here", "mov rax,", "\u00e9\u00e8", "mov \x00 rax",
    ".ascii \"abc", ".asciz \"a\\x41\"", "rax:", "x0:", "lbl:", "jrcxz lbl", "mov x0, #0x12345678",
    "x" * 1200, "ldr x0, [x1, #K]", ".long lbl - 1b", ".cfi_startproc", ".type lbl, @function",
    "mov rax, 1; nop", "__asm_L0: nop", "jmp __asm_L0", ".p2align 20", "# comment", "// comment",
])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(arch=st.sampled_from(ARCHES),
       lines=st.lists(st.one_of(LINES, st.text(max_size=40)), max_size=12))
def test_fuzz_only_image_or_asm_error(arch, lines):
    try:
        img = assemble([("fuzz.s", "\n".join(lines))], arch)
    except AsmError as e:
        assert e.file == "fuzz.s" and str(e).startswith(f"fuzz.s:{e.line}: ")
        return
    assert isinstance(img, Image)


def test_isolation_survives_keystone_abort():
    from emu.asm import isolate
    with pytest.raises(isolate.KeystoneCrash) as e:
        isolate.encode("arm64", "b g\n.byte 1\ng: ret", BASE)
    assert "keystone crashed" in e.value.detail and "fixup not sufficiently aligned" in e.value.detail
    snippets = [("nop", BASE, 1), ("b g\n.byte 1\ng: ret", BASE, 3), ("nop", BASE, 1)]
    index, message, errno = isolate.first_failure("arm64", snippets)
    assert (index, errno) == (1, -1) and "keystone crashed" in message
    assert isolate.first_failure("arm64", [("nop", BASE, 1)]) is None


def test_x86_prefixes_count_as_part_of_their_instruction():
    # keystone reads `lock` / `rep` as statements of their own; the driver must not
    # mistake that for a line it could not place.
    src = ".text\nf:\n    lock inc qword ptr [rdi]\n    rep movsb\n    lock xadd qword ptr [rdi], rax\n    ret\n"
    img = assemble([("p.s", src)], "amd64")
    assert img.read(img.symbols["f"], 11) == bytes.fromhex("f048ff07" "f3a4" "f0480fc107")
    assert [ln.line for ln in img.lines] == [3, 4, 5, 6]
