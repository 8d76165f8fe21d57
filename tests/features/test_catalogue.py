"""The catalogue and the built columns agree, and docs/features.md is current."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from churnkit.features import (
    FEATURES,
    GROUPS,
    LABELS,
    build_features,
    build_labels,
    feature_catalogue_markdown,
    feature_columns,
)

DOCS = Path(__file__).parents[2] / "docs" / "features.md"
D = dt.date(2023, 1, 1)


def test_declarations_are_well_formed():
    names = [f.name for f in FEATURES]
    assert len(names) == len(set(names))
    for f in FEATURES:
        assert f.name == "T" or re.fullmatch(r"[a-z][a-z0-9_]*(<channel>|<column>)?", f.name), f.name
        assert f.group in GROUPS and f.meaning and f.unit and f.dtype in ("int64", "float64", "string")


@pytest.fixture(scope="module")
def full(shop_tables):
    t = shop_tables
    return build_features(t["transactions"], t["events"], t["customers"], as_of=D)


def test_every_built_column_is_declared_and_vice_versa(full, shop_tables):
    t = shop_tables
    channels = ["App Store", "store", "web"]
    declared = feature_columns(t["transactions"], t["events"], t["customers"], channels=channels)
    assert list(full.columns) == ["customer_id", "as_of", *[f.name for f in declared]]
    patterns = [
        re.escape(f.name).replace("<channel>", "[a-z0-9_]+").replace("<column>", "[a-z0-9_]+")
        for f in FEATURES
    ]
    for col in full.columns[2:]:
        assert sum(bool(re.fullmatch(p, col)) for p in patterns) == 1, col
    for f, p in zip(FEATURES, patterns, strict=True):
        assert any(re.fullmatch(p, col) for col in full.columns), f.name


def test_built_types_are_the_declared_types(full, shop_tables):
    t = shop_tables
    declared = feature_columns(
        t["transactions"], t["events"], t["customers"], channels=["App Store", "store", "web"]
    )
    frame = full.to_pandas()
    for f in declared:
        want = "str" if f.dtype == "string" else f.dtype
        assert str(frame[f.name].dtype) == want, f.name


def test_optional_groups_are_absent_without_their_table(shop_tables):
    cols = build_features(shop_tables["transactions"], as_of=D).columns
    groups = {f.group for f in FEATURES if f.name in cols}
    assert groups == {"rfm_lifetimes", "rfm_marketing", "purchase", "returns"}


def test_labels_are_declared(shop_tables):
    labels = build_labels(shop_tables["transactions"], as_of=D, horizon_days=30).to_pandas()
    assert list(labels.columns) == ["customer_id", "as_of", *[name for name, *_ in LABELS]]
    assert [str(labels[name].dtype) for name, *_ in LABELS] == [dtype for *_, dtype in LABELS]


def test_docs_catalogue_is_current():
    assert DOCS.read_text(encoding="utf-8") == feature_catalogue_markdown(), (
        "docs/features.md is stale: regenerate it with "
        "python -c 'from churnkit.features import feature_catalogue_markdown as m; "
        'open("docs/features.md", "w").write(m())\''
    )
