"""The README's commands, read from the README itself (so the suite runs what users read)."""

import re
import shlex

from runner import PROJECT_ROOT


def section(heading: str) -> str:
    """The README text under ``heading`` (a ``#`` line, matched from its start) up to the next heading
    of the same or a higher level."""
    text = (PROJECT_ROOT / "README.md").read_text()
    lines = text.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith("#") and line.lstrip("#").strip().startswith(heading)
    )
    level = len(lines[start]) - len(lines[start].lstrip("#"))
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(rf"^#{{1,{level}}} ", lines[i])),
        len(lines),
    )
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
