"""The ablation's verdict rules (gridssl.ablate.ablation_verdicts): on the 3-seed table of
docs/EXPERIMENTS.md (before issue 16) they give the verdicts that were written there by hand, and
each rule turns where its threshold says."""

import pytest

from gridssl.ablate import ABLATIONS, VERDICTS, ablation_verdicts, verdicts_markdown

# (grid, place, square, modules) as mean, ci_lo, ci_hi: the 3-seed table, docs/EXPERIMENTS.md
THREE_SEEDS = {
    "full": ((0.40, 0.02, 0.83), (0.08, 0.0, 0.23), (0.28, 0.0, 0.71), (0.7, 0, 1)),
    "no_cap": ((0.09, 0.0, 0.19), (0.11, 0.02, 0.29), (0.38, 0.02, 0.60), (1.0, 0, 2)),
    "no_sep": ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0, 0)),
    "no_inv": ((0.02, 0.0, 0.06), (0.14, 0.12, 0.15), (0.08, 0.06, 0.10), (0.0, 0, 0)),
    "no_iso": ((0.0, 0.0, 0.0), (0.20, 0.19, 0.23), (0.10, 0.04, 0.17), (0.0, 0, 0)),
    "small_sigma_g": ((0.0, 0.0, 0.0), (0.01, 0.0, 0.02), (0.37, 0.17, 0.50), (0.0, 0, 0)),
    "independent": ((0.17, 0.0, 0.38), (0.19, 0.02, 0.29), (0.09, 0.02, 0.15), (0.7, 0, 1)),
    "identity": ((0.03, 0.0, 0.06), (0.12, 0.06, 0.19), (0.41, 0.25, 0.52), (0.3, 0, 1)),
    "square_velocity": ((0.28, 0.0, 0.83), (0.0, 0.0, 0.0), (0.56, 0.02, 0.83), (0.3, 0, 1)),
}
WRITTEN_BY_HAND = {
    "full": "partly",
    "no_cap": "not testable",
    "no_sep": "yes",
    "no_inv": "yes",
    "no_iso": "no",
    "small_sigma_g": "no",
    "independent": "partly",
    "identity": "partly",
    "square_velocity": "partly",
}


def _row(cond, grid, place, square, modules):
    row = {"condition": cond, "n_ok": 3, "n_trials": 3}
    for m, v in zip(("grid_fraction", "place_fraction", "square_fraction", "n_modules"),
                    (grid, place, square, modules)):  # fmt: skip
        row |= {f"{m}_mean": v[0], f"{m}_ci_lo": v[1], f"{m}_ci_hi": v[2]}
    for m in ("period_m", "invariance_ratio"):
        row |= {f"{m}_mean": None, f"{m}_ci_lo": None, f"{m}_ci_hi": None}
    return row


def _table(changes=None):
    rows = {c: list(v) for c, v in THREE_SEEDS.items()}
    for cond, (i, value) in (changes or {}).items():
        rows[cond][i] = value
    return [_row(c, *rows[c]) for c in ABLATIONS]


def test_the_rules_give_the_verdicts_written_by_hand_on_the_three_seed_table():
    verdicts = ablation_verdicts(_table(), present=0.3)
    assert [v["condition"] for v in verdicts] == list(ABLATIONS)
    assert {v["condition"]: v["verdict"] for v in verdicts} == WRITTEN_BY_HAND
    assert all(v["verdict"] in VERDICTS and v["rule"] for v in verdicts)
    full = verdicts[0]
    assert full["measured"].startswith("grid 0.40 [0.02, 0.83], place-like 0.08 [0.00, 0.23]")
    assert "period m -" in full["measured"] and full["measured"].endswith("(3 of 3 seeds)")
    table = verdicts_markdown(verdicts).splitlines()
    assert len(table) == 2 + len(ABLATIONS) and "**not testable**" in table[3]


@pytest.mark.parametrize(
    "changes, cond, verdict",
    [
        # two modules in the full recipe: the modules claims become testable
        ({"full": (3, (2.0, 2, 2))}, "full", "yes"),
        ({"full": (3, (2.0, 2, 2))}, "no_cap", "yes"),
        ({"full": (3, (2.0, 2, 2)), "no_cap": (3, (2.0, 2, 2))}, "no_cap", "no"),
        ({"full": (0, (0.29, 0.1, 0.5))}, "full", "no"),
        # one seed's lattice survives the ablation: no longer a clean yes
        ({"no_sep": (2, (0.1, 0.0, 0.3))}, "no_sep", "partly"),
        ({"no_sep": (0, (0.3, 0.0, 0.9))}, "no_sep", "no"),
        ({"no_iso": (2, (0.3, 0.1, 0.5))}, "no_iso", "yes"),
        ({"no_iso": (2, (0.1, 0.0, 0.3))}, "no_iso", "partly"),
        ({"small_sigma_g": (1, (0.3, 0.2, 0.4))}, "small_sigma_g", "yes"),
        ({"identity": (2, (0.05, 0.0, 0.1))}, "identity", "yes"),
        ({"square_velocity": (0, (0.6, 0.5, 0.7))}, "square_velocity", "yes"),
        ({"square_velocity": (0, (0.0, 0.0, 0.0))}, "square_velocity", "no"),
    ],
)
def test_each_rule_turns_at_its_threshold(changes, cond, verdict):
    got = {v["condition"]: v["verdict"] for v in ablation_verdicts(_table(changes), 0.3)}
    assert got[cond] == verdict


def test_the_report_shows_a_shipped_ablation_as_the_presets_not_the_networks(tmp_path):
    import json

    from gridssl.report.analysis import ablation_claims
    from gridssl.report.page import verdict_table

    about = {"preset": "cpu", "seeds": 3, "steps": None, "set": []}
    verdicts = ablation_verdicts(_table(), present=0.3)
    path = tmp_path / "ablation_claims.json"
    path.write_text(json.dumps({"ablation": about, "verdicts": verdicts}))
    rows = ablation_claims(path)
    assert [r.claim for r in rows][:2] == [
        "Ablation full (none)",
        "Ablation no_cap (loss.w_cap = 0.0)",
    ]
    assert all("cpu preset's ablation, 3 seeds" in r.measured for r in rows)
    assert [r.holds for r in rows][2:4] == [True, True]  # no_sep, no_inv: yes
    html = verdict_table(rows)
    assert html.count(">partly<") == 4 and html.count(">not testable<") == 1
    assert html.count('class="yes">yes<') == 2 and html.count('class="no">no<') == 2
    assert ablation_claims(tmp_path / "absent.json") == []
