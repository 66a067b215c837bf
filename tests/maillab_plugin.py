"""Pytest plugin: the session-wide local mail lab (register with ``pytest_plugins`` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.maillab import MailLab

# Fixed seed: demo passwords and the junk-filing verdicts are the same on every run.
MAIL_LAB_SEED = 1234


@pytest.fixture(scope="session")
def mail_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailLab]:
    """One mail lab (Dovecot when installed, else pymap) for the whole session, stopped at the end.

    Tests share it: use unique Message-IDs (or fresh accounts via ``mail_lab.add_account``) and
    look for your own messages rather than counting a folder.
    """
    lab = MailLab(tmp_path_factory.mktemp("mail_lab"), seed=MAIL_LAB_SEED)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
