"""The table output of util-linux tools (libsmartcols 2.38): human, raw and JSON, lists and trees.

Enough of libsmartcols for lsns-style commands to print byte-for-byte what util-linux prints:
column widths from headers, data and width hints; right alignment; the last column unpadded;
tree art; multi-line (newline-chunked) cells; raw output with \\xNN escapes; JSON with
libsmartcols' exact layout, numbers vs strings, null for empty cells and "children" arrays.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field

UTF8_SYMBOLS = {"branch": "\u251c\u2500", "vertical": "\u2502 ", "right": "\u2514\u2500"}
ASCII_SYMBOLS = {"branch": "|-", "vertical": "| ", "right": "`-"}


def initial_environ() -> dict[str, str]:
    """The environment this process was started with. Python itself may have changed os.environ
    (PEP 538 sets LC_CTYPE=C.UTF-8 when the locale is C), which a C tool would not have seen."""
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return dict(os.environ)
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[os.fsdecode(key)] = os.fsdecode(value)
    return env


def locale_is_utf8(environ=None) -> bool:
    """Whether the C library would see a UTF-8 codeset (LC_ALL, then LC_CTYPE, then LANG)."""
    if environ is None:
        environ = initial_environ()
    for var in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = environ.get(var)
        if value:
            return value.lower().replace("-", "").endswith(".utf8") and locale_exists(value)
    return False


def locale_exists(name: str) -> bool:
    """Whether setlocale(LC_CTYPE, name) would succeed (a locale that is not installed means "C")."""
    import locale
    current = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, name)
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_CTYPE, current)
    return True


@dataclass
class Column:
    name: str
    whint: float = 0          # width hint: >= 1 is an absolute width
    right: bool = False
    trunc: bool = False
    tree: bool = False
    wrap: bool = False        # cells are newline-separated chunks, one per output line
    json_type: str = "string"  # "string" or "number"


@dataclass
class Line:
    cells: list
    parent: "Line | None" = None
    children: list = field(default_factory=list)

    def is_last_child(self) -> bool:
        return self.parent is not None and self.parent.children[-1] is self


def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def safe_encode(text: str, utf8: bool, safechars: str = "") -> tuple[str, int]:
    """What libsmartcols puts on a terminal: non-printable bytes as \\xNN; and the width in cells."""
    out = []
    width = 0
    for ch in text:
        printable = ch in safechars or (ch.isprintable() and (utf8 or ord(ch) < 0x80))
        if printable:
            out.append(ch)
            width += 0 if ch in safechars else char_width(ch)
        else:
            for byte in ch.encode("utf-8", "surrogateescape"):
                out.append(f"\\x{byte:02x}")
                width += 4
    return "".join(out), width


def raw_encode(text: str) -> str:
    """libsmartcols raw cells: blanks, backslashes and non-printable bytes as \\xNN."""
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        if byte in (0x20, 0x09, 0x5C) or byte < 0x20 or byte >= 0x7F:
            out.append(f"\\x{byte:02x}")
        else:
            out.append(chr(byte))
    return "".join(out)


def json_quote(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) >= 0x20:
            out.append(ch)
        else:
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}.get(ch, f"\\u00{ord(ch):02x}"))
    out.append('"')
    return "".join(out)


def truncate(text: str, width: int) -> tuple[str, int]:
    out, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out), used


class JsonWriter:
    """libsmartcols' JSON writer: three-space indent, '},{' between objects, lower-case names."""

    def __init__(self):
        self.parts: list[str] = []
        self.indent = 0
        self.after_close = False

    def _indent(self):
        self.parts.append("   " * self.indent)

    def open(self, name: str | None, kind: str):
        if name is not None:
            if self.after_close:
                self.parts.append(",\n")
            self._indent()
            self.parts.append(json_quote(name.lower()))
        else:
            if self.after_close:
                self.parts.append(",")
            else:
                self._indent()
        if kind == "object":
            self.parts.append(": {\n" if name is not None else "{\n")
            self.indent += 1
        elif kind == "array":
            self.parts.append(": [\n" if name is not None else "[\n")
            self.indent += 1
        else:
            self.parts.append(": " if name is not None else " ")
        self.after_close = False

    def close(self, kind: str):
        if self.indent == 1:
            self.parts.append("\n}\n")
            self.indent -= 1
            self.after_close = True
            return
        if kind in ("object", "array"):
            self.indent -= 1
            self.parts.append("\n")
            self._indent()
            self.parts.append("}" if kind == "object" else "]")
        self.after_close = True

    def value(self, name: str, text: str | None, number: bool):
        self.open(name, "value")
        if not text:
            self.parts.append("null")
        else:
            self.parts.append(text if number else json_quote(text))
        self.close("value")

    def root_open(self):
        self.parts.append("{\n")
        self.indent = 1
        self.after_close = False


class Table:
    def __init__(self, columns: list[Column], name: str = "", *, raw: bool = False, json: bool = False,
                 noheadings: bool = False, utf8: bool | None = None):
        self.columns = columns
        self.name = name
        self.raw = raw
        self.json = json
        self.noheadings = noheadings
        self.utf8 = locale_is_utf8() if utf8 is None else utf8
        self.symbols = UTF8_SYMBOLS if self.utf8 else ASCII_SYMBOLS
        self.lines: list[Line] = []

    def new_line(self, cells: list, parent: Line | None = None) -> Line:
        line = Line(cells=cells, parent=parent)
        if parent is not None:
            parent.children.append(line)
        self.lines.append(line)
        return line

    @property
    def is_tree(self) -> bool:
        return any(c.tree for c in self.columns)

    # ------------------------------------------------------------------ order and tree art
    def ordered(self) -> list[Line]:
        if not self.is_tree:
            return list(self.lines)
        out: list[Line] = []

        def walk(line):
            out.append(line)
            for child in line.children:
                walk(child)
        for line in self.lines:
            if line.parent is None:
                walk(line)
        return out

    def _art_above(self, line: Line | None) -> str:
        """The vertical bars for the ancestors of a line's parent (tree_ascii_art_to_buffer)."""
        if line is None or line.parent is None:
            return ""
        return self._art_above(line.parent) + ("  " if line.is_last_child() else self.symbols["vertical"])

    def tree_prefix(self, line: Line) -> str:
        if line.parent is None:
            return ""
        return self._art_above(line.parent) + (self.symbols["right"] if line.is_last_child() else self.symbols["branch"])

    def cell_text(self, line: Line, index: int) -> str:
        value = line.cells[index]
        text = "" if value is None else str(value)
        if self.columns[index].tree and not self.json:
            text = self.tree_prefix(line) + text
        return text

    # ------------------------------------------------------------------ output
    def render(self, is_term: bool = False, termwidth: int = 80) -> str:
        if not self.lines:
            if self.json:
                w = JsonWriter()
                w.root_open()
                w.open(self.name, "array")
                w.close("array")
                w.close("object")
                return "".join(w.parts)
            return ""
        if self.json:
            return self._render_json()
        if self.raw:
            return self._render_raw()
        return self._render_human(is_term, termwidth)

    def _render_raw(self) -> str:
        rows = []
        if not self.noheadings:
            rows.append(" ".join(raw_encode(c.name) for c in self.columns))
        for line in self.ordered():
            rows.append(" ".join(raw_encode(self.cell_text(line, i)) for i in range(len(self.columns))))
        return "\n".join(rows) + "\n"

    def _render_json(self) -> str:
        w = JsonWriter()
        w.root_open()
        w.open(self.name, "array")
        tree = self.is_tree

        def emit(line: Line):
            w.open(None, "object")
            for i, col in enumerate(self.columns):
                w.value(col.name, self.cell_text(line, i), col.json_type == "number")
            if tree and line.children:
                w.open("children", "array")
                for child in line.children:
                    emit(child)
                w.close("array")
            w.close("object")
        for line in (self.lines if not tree else [ln for ln in self.lines if ln.parent is None]):
            emit(line)
        w.close("array")
        w.close("object")
        return "".join(w.parts)

    def _widths(self, encoded: list[list[tuple[str, int]]]) -> list[int]:
        widths = []
        for i, col in enumerate(self.columns):
            width_min = max(safe_encode(col.name, self.utf8)[1], 1)
            width = 0
            for row in encoded:
                text, cells = row[i]
                if col.wrap:
                    cells = max(safe_encode(chunk, self.utf8)[1] for chunk in text.split("\n"))
                width = max(width, cells)
            if width < width_min:
                width = width_min
            elif col.whint >= 1 and width < col.whint and width_min < col.whint:
                width = int(col.whint)
            widths.append(width)
        return widths

    def _render_human(self, is_term: bool, termwidth: int) -> str:
        ordered = self.ordered()
        encoded = [[safe_encode(self.cell_text(line, i), self.utf8, "\n" if col.wrap else "")
                    for i, col in enumerate(self.columns)] for line in ordered]
        widths = self._widths(encoded)
        if is_term:
            widths = self._fit_terminal(widths, termwidth)
        out: list[str] = []
        if not self.noheadings:
            out.append(self._human_row([safe_encode(c.name, self.utf8) for c in self.columns], widths))
        for line, row in zip(ordered, encoded):
            out.append(self._human_row(row, widths, line))
        return "\n".join(out) + "\n"

    def _fit_terminal(self, widths: list[int], termwidth: int) -> list[int]:
        """Shrink truncatable columns until the table fits the terminal (never below the header)."""
        total = sum(widths) + len(widths) - 1
        widths = list(widths)
        for i in reversed(range(len(self.columns))):
            if total <= termwidth:
                break
            col = self.columns[i]
            if not col.trunc:
                continue
            floor = len(col.name)
            cut = min(total - termwidth, widths[i] - floor)
            if cut > 0:
                widths[i] -= cut
                total -= cut
        return widths

    def _human_row(self, row: list[tuple[str, int]], widths: list[int], line: Line | None = None) -> str:
        parts: list[str] = []
        pending: dict[int, list[str]] = {}
        last = len(self.columns) - 1
        for i, col in enumerate(self.columns):
            text, cells = row[i]
            width = widths[i]
            if col.wrap and "\n" in text:
                first, *rest = text.split("\n")
                pending[i] = rest
                text, cells = first, safe_encode(first, self.utf8)[1]
            if i == last and cells < width and not col.right:
                width = cells
            if cells > width and col.trunc:
                text, cells = truncate(text, width)
            cell = ""
            if text:
                if col.right and cells < width:
                    cell += " " * (width - cells)
                    cells = width
                cell += text
            if i == last:
                parts.append(cell)
                break
            cell += " " * max(0, width - cells)
            parts.append(cell + " ")
        lines = ["".join(parts)]
        while pending:
            parts = []
            for i, col in enumerate(self.columns):
                chunks = pending.get(i)
                if chunks:
                    text = chunks.pop(0)
                    if not chunks:
                        del pending[i]
                    cells = safe_encode(text, self.utf8)[1]
                else:
                    text = ""
                    if col.tree and line is not None:
                        text = self._art_above(line) + (self.symbols["vertical"] if line.children else "")
                    cells = safe_encode(text, self.utf8)[1]
                if i == last:
                    parts.append(text)
                    break
                parts.append(text + " " * max(0, widths[i] - cells) + " ")
            lines.append("".join(parts))
        return "\n".join(lines)
