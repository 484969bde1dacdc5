"""The course exercises (one folder each); shipped in the wheel as emu.exercises."""
