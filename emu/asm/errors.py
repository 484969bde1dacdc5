"""The one exception the assembler raises: AsmError, naming file:line and the text.

Mirrors GNU as's diagnostics ("file.s:12: Error: ..."): every problem with the
input, from a typo to keystone crashing on an instruction, reaches the user as
`file:line: reason: text`, never as another exception type or a dead process.
A problem that belongs to no line (an unreadable file) uses line 0.
"""


class AsmError(Exception):
    """A problem with assembler input at file:line.

    :ivar str file: the source file as the user named it (or as an include resolved).
    :ivar int line: 1-based line number, 0 when the problem is not on one line.
    :ivar str text: the offending source text, stripped.
    :ivar str reason: what is wrong, in words.
    """

    def __init__(self, file: str, line: int, text: str, reason: str):
        self.file = str(file)
        self.line = int(line)
        self.text = str(text)
        self.reason = str(reason)
        super().__init__(f"{self.file}:{self.line}: {self.reason}: {self.text}")

    def __reduce__(self):
        return (AsmError, (self.file, self.line, self.text, self.reason))
