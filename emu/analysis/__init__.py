"""Analysis tools that sit on top of a running system (machine, kernel, runtime)."""
