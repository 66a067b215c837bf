"""`python -m bench safety_month` end to end at a tiny scale: the first 8 simulated hours of the month (Tokyo, Kolkata,
Sydney and the all-week campaign's windows open in them) with 2 prospects per campaign, on moto and the real mail
lab. The whole month takes many minutes (bench/results/safety_month.json); this proves the driver, the handlers'
event shapes and the checker hold together, and that what the lab accepted matches the ledger and the stats."""

from __future__ import annotations

import pytest

from bench.safety_month import simulate

pytestmark = pytest.mark.mail


def test_eight_hours_of_the_month_send_within_every_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # The month quietens the handlers' INFO lines through the environment; set it here so the change ends with the
    # test (left in os.environ it silenced the loggers of every later test in the session).
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    figures, month = simulate(prospects=2, hours=8)
    assert figures["sends_campaign"] > 0, figures  # warmup plans 1-2 sends a day at random times: maybe none yet
    assert figures["lab_accepted_without_ledger_item"] == 0
    assert figures["violations_total"] == 0, month.violation_examples
    assert figures["stats_mismatches"] == 0, month.stats_examples
    assert figures["stats_figures_compared"] == 10 * 5 * (1 + 3 + 4)  # campaign, 3 steps, 4 variants; 5 figures
    assert figures["ledger_sent"] == figures["sends_campaign"]
    assert figures["handler_errors"] == 0, month.figures.handler_errors
