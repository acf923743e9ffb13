"""CSV for Excel in Japan: UTF-8 with BOM, CRLF, and no cell that a spreadsheet runs as a formula."""

from __future__ import annotations

import csv
import io
from typing import Iterable, Sequence

# A leading = + - @ (or tab / CR, or their full-width forms) makes Excel and LibreOffice evaluate a cell.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def escape_cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def to_csv(rows: Iterable[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow([escape_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")
