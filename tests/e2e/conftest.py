"""The full local stack, in-process on free ports (API + mail lab + pollers), shared by the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.runtime import LocalStack


@pytest.fixture(scope="package")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(state_dir=tmp_path_factory.mktemp("kindling-state"), api=True, mail_lab=True)
    with stack:
        assert stack.api_key and stack.workspace_id
        yield stack
