"""Moto adjustments the long-running local stack needs (emulator behaviour only; nothing AWS does).

moto records every model instance it ever creates in `<Model>.instances_tracked` (for its web dashboard, which the
local stack does not serve). Its DynamoDB TransactWriteItems deep-copies each table it touches to be able to roll
back, and every copied item is recorded too, so nothing is ever freed: measured here, 300 transactions on a table
of 2,000 items grew the process by 1.6 GB. Our domain code uses transactions on every claim and guard, so without
this the local stack (and every benchmark on it) would grow without bound.
"""

from __future__ import annotations

from typing import Any

_applied = False


def stop_instance_tracking() -> None:
    """Make new moto model instances untracked (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import reset_model_data

    def untracked_new(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = untracked_new  # type: ignore[assignment,method-assign]
    reset_model_data()
    _applied = True
