"""The behaviour of other libraries that ``logger.core.compat`` relies on, checked in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
import pyarrow as pa, pyarrow.parquet as pq, numpy as np
from logger.core.compat import keep_pandas_unloaded

took = keep_pandas_unloaded()
table = pa.table({"a": pa.array(np.arange(3)), "s": pa.array(["x", "y", "z"])})
pq.write_table(table, sys.argv[1])
after_use = "pandas" in sys.modules
frame = pq.read_table(sys.argv[1]).to_pandas()  # explicit conversions still work
import pandas as pd
back = pa.Table.from_pandas(frame, preserve_index=False).to_pylist() == table.to_pylist()
series = pa.array(pd.Series([1.5, None])).to_pylist()
print(json.dumps([took, after_use, type(frame).__name__, back, series]))
"""

PLAIN = """
import sys, pyarrow as pa
pa.array([0])
print("pandas" in sys.modules)
"""


def run(script: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()[-1]


def test_pyarrow_alone_imports_pandas_which_is_why_compat_exists() -> None:
    assert run(PLAIN) == "True"


def test_pandas_stays_unloaded_and_explicit_conversions_still_work(tmp_path: Path) -> None:
    took, after_use, frame, back, series = json.loads(run(SCRIPT, f"{tmp_path}/t.parquet"))
    assert took is True and after_use is False
    assert frame == "DataFrame" and back is True and series == [1.5, None]
