"""Run the template's Lambda handlers in this process, the way the Lambda runtime would call them.

Environment: Lambda gives every function its own process and environment; here all functions share
one process. `function_environment()` builds the process environment: variables that every function
declares with the same value (the SAM Globals, in practice) are set once. A variable whose value
differs between functions (e.g. POWERTOOLS_SERVICE_NAME) is overlaid only while that function's
module is imported (its cold start, under a lock), so module-level reads see the function's own value;
it is not present while handlers run, because threads of different functions run concurrently.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from devstack.provision import FunctionSpec, find_function

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object that handlers use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: int
    _deadline: float = field(default=0.0, repr=False)
    identity: Any = None
    client_context: Any = None

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionError(Exception):
    """A handler raised: carries Lambda's error payload shape (errorType, errorMessage, stackTrace)."""

    def __init__(self, function: str, cause: BaseException) -> None:
        super().__init__(f"{function}: {type(cause).__name__}: {cause}")
        self.function = function
        self.cause = cause

    @property
    def payload(self) -> dict[str, Any]:
        return {
            "errorMessage": str(self.cause),
            "errorType": type(self.cause).__name__,
            "requestId": "",
            # Skip the runtime's own frame: the trace starts in the handler, as on Lambda.
            "stackTrace": traceback.format_tb(getattr(self.cause.__traceback__, "tb_next", None)),
        }


def function_environment(functions: Mapping[str, FunctionSpec]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(variables with one value wherever declared, per-function variables that differ).

    A variable every function declares alike is shared; so is a `KINDLING_*` variable that only some functions
    declare (e.g. the job state machine ARN on the API) as long as no two declare different values: kindling's
    settings read them process-wide, and in one process every function must see its own configuration.
    """
    specs = list(functions.values())
    shared: dict[str, str] = {}
    if specs:
        keys = set.union(*(set(s.environment) for s in specs))
        for key in sorted(keys):
            declaring = [s for s in specs if key in s.environment]
            values = {s.environment[key] for s in declaring}
            if len(values) == 1 and (len(declaring) == len(specs) or key.startswith("KINDLING_")):
                shared[key] = values.pop()
    own = {s.logical_id: {k: v for k, v in s.environment.items() if k not in shared} for s in specs}
    return shared, own


_import_lock = threading.Lock()


@contextmanager
def _overlay_env(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class FunctionRuntime:
    """Loads each function's handler once (its cold start) and invokes it with a Lambda-like context."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        *,
        env_overrides: Mapping[str, str] | None = None,
        on_invoke: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.functions = dict(functions)
        self._handlers: dict[str, Handler] = {}
        self._modules: dict[str, ModuleType] = {}
        self.shared_env, self.own_env = function_environment(self.functions)
        self.env_overrides = dict(env_overrides or {})
        self._on_invoke = on_invoke

    def process_environment(self) -> dict[str, str]:
        """What to put in os.environ before any handler loads (the stack's overrides win)."""
        return {**self.shared_env, **self.env_overrides}

    def _module_name(self, spec: FunctionSpec) -> str:
        # Every functions/<x>/app.py is a module called `app`; give each a unique name so they coexist.
        module = spec.handler.rsplit(".", 1)[0]
        return "_kindling_fn_" + re.sub(r"\W", "_", f"{spec.logical_id}_{module}")

    def load(self, logical_id: str) -> Handler:
        if logical_id in self._handlers:
            return self._handlers[logical_id]
        spec = self.functions[logical_id]
        with _import_lock:
            if logical_id in self._handlers:
                return self._handlers[logical_id]
            module_path, _, attr = spec.handler.rpartition(".")
            if not module_path:
                raise ValueError(f"{logical_id}: Handler {spec.handler!r} is not module.function")
            file = spec.code_uri.joinpath(*module_path.split(".")).with_suffix(".py")
            if not file.is_file():
                raise FileNotFoundError(f"{logical_id}: handler module {file} does not exist")
            name = self._module_name(spec)
            module_spec = importlib.util.spec_from_file_location(name, file)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot load {file}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            own = {k: v for k, v in self.own_env.get(logical_id, {}).items() if k not in self.env_overrides}
            try:
                with _overlay_env(own):
                    module_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            handler: Handler = getattr(module, attr)
            self._modules[logical_id] = module
            self._handlers[logical_id] = handler
            return handler

    def load_all(self) -> None:
        for logical_id in self.functions:
            self.load(logical_id)

    def context(self, logical_id: str) -> LambdaContext:
        spec = self.functions[logical_id]
        return LambdaContext(
            function_name=spec.name,
            function_version="$LATEST",
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_size,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{spec.name}",
            log_stream_name=time.strftime("%Y/%m/%d") + "/[$LATEST]" + uuid.uuid4().hex,
            timeout_seconds=spec.timeout,
        )

    def resolve_id(self, name: str) -> str:
        return find_function(self.functions, name).logical_id

    def invoke(self, function: str, event: Any) -> Any:
        """Invoke a function (logical id, physical name or folder name) synchronously.

        Raises FunctionError when the handler raises, like a Lambda `Unhandled` function error.
        """
        logical_id = self.resolve_id(function)
        handler = self.load(logical_id)
        context = self.context(logical_id)
        if self._on_invoke is not None:
            self._on_invoke(logical_id, event)
        started = time.monotonic()
        try:
            result = handler(event, context)
        except Exception as exc:
            log.warning("%s failed: %s: %s", logical_id, type(exc).__name__, exc)
            raise FunctionError(logical_id, exc) from exc
        finally:
            elapsed = time.monotonic() - started
            if elapsed > context.timeout_seconds:
                # Lambda would have killed the invocation; a thread cannot be killed, so say it loudly.
                log.error("%s ran %.1fs, over its %ss timeout", logical_id, elapsed, context.timeout_seconds)
        return result
