"""The `generate` job: write a seeded sample shop, or the same shop some days later after a campaign."""

from __future__ import annotations

from pathlib import Path

from churnkit.datasets.sample_shop import generate_shop, write_shop


def generate(
    out_dir: str | Path,
    *,
    customers: int = 5000,
    seed: int = 0,
    fmt: str = "csv",
    continue_from: str | Path | None = None,
    days: int = 90,
    campaign_effect: float = 0.02,
) -> dict[str, Path]:
    """Write transactions, events, customers and the latent truth into ``out_dir``; return {table: path}.

    With ``continue_from`` (the scores of this shop, same ``customers`` and ``seed``), the shop goes on for
    ``days`` more days, the scores' target group retained ``campaign_effect`` better (monitoring, issue 17).
    """
    shop = generate_shop(customers, seed=seed)
    if continue_from is not None:
        from churnkit.data.io import read_table
        from churnkit.datasets.sample_shop import simulate_future

        shop = simulate_future(
            shop, read_table(continue_from), days=days, campaign_effect=campaign_effect, seed=seed
        )
    return write_shop(shop, out_dir, fmt=fmt)
