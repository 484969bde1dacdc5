"""The runtime's machine code, one directory per arch (ships in the wheel as emu.runtime_asm)."""
