"""The file commands load and write without pandas: importing it is half a second of every such command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from churnkit.datasets.sample_shop import generate_shop, write_shop

RUN = """
import sys
from churnkit.cli.entry import main
sys.argv = ["churnkit", *sys.argv[1:]]
try:
    main()
except SystemExit as e:
    assert not e.code, e.code
print("pandas" in sys.modules)
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    write_shop(generate_shop(60, seed=3), folder)
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["features", "-q", "-t", "{f}/transactions.csv", "-o", "{out}/features.csv"],
        [
            "features",
            "-q",
            "-t",
            "{f}/transactions.csv",
            "-e",
            "{f}/events.csv",
            "--customers",
            "{f}/customers.csv",
            "-o",
            "{out}/features.parquet",
        ],
        ["validate", "-t", "{f}/transactions.csv", "-e", "{f}/events.csv", "--rejected-dir", "{out}"],
    ],
    ids=["features", "features-all", "validate"],
)
def test_file_commands_do_not_import_pandas(shop, tmp_path, args):
    argv = [a.format(f=shop, out=tmp_path) for a in args]
    done = subprocess.run([sys.executable, "-c", RUN, *argv], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False", "pandas was imported"
