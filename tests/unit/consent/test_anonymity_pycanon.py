"""consent/anonymity.py against pyCANON itself, run in its own tool venv (`.venv-pycanon`,
installed by `make test`): pyCANON pins numpy, pandas, scipy and typer exactly, so it cannot be
imported here; the table goes over as CSV, the scores come back as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from consent.anonymity import assess_anonymity

ROOT = Path(__file__).resolve().parents[3]
PYCANON = ROOT / ".venv-pycanon" / "bin" / "python"
SCRIPT = """
import json, sys
import pandas as pd
from pycanon import anonymity
data = pd.read_csv(sys.argv[1], dtype={"sex": str, "diagnosis": str})
qi, sa = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(json.dumps({
    "k": int(anonymity.k_anonymity(data, qi)),
    "l": int(anonymity.l_diversity(data, qi, sa)),
    "t": float(anonymity.t_closeness(data, qi, sa)),
}))
"""


def _table(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = 300
    return pd.DataFrame(
        {
            "age": rng.integers(2, 7, rows) * 10,
            "zip": rng.integers(0, 4, rows),
            "sex": rng.choice(["f", "m"], rows),
            "diagnosis": rng.choice(["a", "b", "c", "d"], rows, p=[0.5, 0.3, 0.15, 0.05]),
            "stay": rng.integers(1, 12, rows),
        }
    )


@pytest.mark.parametrize(
    ("seed", "sensitive"),
    [(1, ["diagnosis"]), (2, ["stay"]), (3, ["diagnosis", "stay"])],
)
def test_k_l_t_equal_pycanon(tmp_path: Path, seed: int, sensitive: list[str]) -> None:
    assert PYCANON.exists(), "pyCANON's tool venv is missing: `make test` installs .venv-pycanon"
    data = _table(seed)
    qi = ["age", "zip", "sex"]
    path = tmp_path / "table.csv"
    data.to_csv(path, index=False)
    out = subprocess.run(
        [str(PYCANON), "-c", SCRIPT, str(path), json.dumps(qi), json.dumps(sensitive)],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    expected = json.loads(out.stdout.strip().splitlines()[-1])
    ours = assess_anonymity(data, qi, sensitive)
    assert ours.k == expected["k"]
    assert ours.l == expected["l"]
    assert ours.t_closeness == pytest.approx(expected["t"], abs=1e-9)
    assert sys.executable != str(PYCANON)
