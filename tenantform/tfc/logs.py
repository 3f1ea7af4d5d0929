"""Reading a remote plan's or apply's log: its `Error:` diagnostics."""

from __future__ import annotations

import json
import re

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SOURCE_CONTEXT = re.compile(r"^(with \S+,?$|on \S+ line \d+|\d+:)")


def error_from_log(log: str) -> str | None:
    """The `Error:` diagnostics of a plan or apply log (plain text or structured JSON lines).

    Keeps each error's summary and detail, drops the source-context lines (`with ...`, `on ...
    line N`, quoted code); at most 4000 characters.
    """
    found: list[str] = []
    block: list[str] | None = None

    def close() -> None:
        nonlocal block
        if block:
            found.append(" ".join(block))
        block = None

    for raw in _ANSI.sub("", log).splitlines():
        stripped = raw.strip()
        if stripped.startswith("{"):
            try:
                entry = json.loads(stripped)
            except json.JSONDecodeError:
                entry = None
            if isinstance(entry, dict):
                if entry.get("@level") == "error":
                    diag = entry.get("diagnostic") or {}
                    text = str(entry.get("@message", ""))
                    if diag.get("detail"):
                        text = f"{text}: {diag['detail']}"
                    found.append(text)
                continue
        if stripped.startswith("╵"):
            close()
            continue
        text = stripped.lstrip("│╷").strip()
        if text.startswith("Error:"):
            close()
            block = [text]
        elif block is not None and text and not _SOURCE_CONTEXT.match(text) and len(block) < 6:
            block.append(text)
    close()
    joined = "\n".join(dict.fromkeys(f for f in found if f))
    return joined[:4000] or None

