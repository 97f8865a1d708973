"""The README's commands, read from the README itself (so the suite runs what users read)."""

import re
import shlex

from runner import PROJECT_ROOT


def section(heading: str) -> str:
    """The README text under ``heading`` (a ``#`` line outside fenced code blocks, matched from its
    start) up to the next heading of the same or a higher level (a ``# comment`` inside a fenced
    block is part of the text, not a heading)."""
    lines = (PROJECT_ROOT / "README.md").read_text().splitlines()
    headings, fenced = {}, False  # line number -> level, for the # lines outside fenced code blocks
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^(#+) ", line)):
            headings[i] = len(m.group(1))
    start = next(i for i in headings if lines[i].lstrip("#").strip().startswith(heading))
    end = next((i for i in headings if i > start and headings[i] <= headings[start]), len(lines))
    return "\n".join(lines[start:end])


def commands(heading: str) -> list[list[str]]:
    """Every command line of the bash blocks in a section, split like a shell would, comments dropped."""
    body = section(heading)
    out = []
    for block in re.findall(r"```bash\n(.*?)```", body, flags=re.S):
        block = re.sub(r"\\\n\s*", " ", block)  # a line ending in a backslash continues on the next
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                out.append(words)
    return out
