"""Example programs, one directory per arch (ships in the wheel as emu.programs)."""
