"""Reading a generated Plotly page back: each figure's traces, with typed arrays decoded."""

import base64
import json
import re

import numpy as np

CALL = re.compile(r'Plotly\.newPlot\(\s*"([^"]+)",\s*')


def _decode(value):
    """Plotly writes numeric arrays as ``{"dtype", "bdata"}`` (base64); lists stay lists."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).tolist()
    return value


def figures(page: str) -> dict[str, list[dict]]:
    """``div id -> traces`` of every ``Plotly.newPlot`` call on the page."""
    out = {}
    decoder = json.JSONDecoder()
    for m in CALL.finditer(page):
        traces, _ = decoder.raw_decode(page, m.end())
        out[m.group(1)] = [{k: _decode(v) for k, v in t.items()} for t in traces]
    return out


def points(trace: dict) -> int:
    """How many data values a trace draws (x/y of a scatter or histogram, z of a heatmap, table cells)."""
    if trace.get("type") == "table":
        return sum(len(col) for col in trace["cells"]["values"])
    if trace.get("type") == "heatmap":
        return int(np.isfinite(np.array(trace["z"], dtype=float)).sum())
    return len(trace.get("y") or trace.get("x") or [])
