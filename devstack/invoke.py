"""`python -m devstack.invoke FN EVENT` (`make invoke`): run one handler with a sample event, locally.

The offline stand-in for `sam local invoke` (which needs Docker). FN is a function folder name
(`api`, `jobs`), a logical id (`JobsFunction`) or a physical name. If a local stack is running
(its dev.json exists and its moto endpoint answers), the handler runs against that stack's
resources; otherwise an ephemeral moto is started and provisioned from template.yaml for the call.
Prints the handler's result as JSON; a handler error prints Lambda's error payload and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import requests

from devstack.functions import FunctionError, FunctionRuntime
from devstack.provision import FunctionSpec
from devstack.runtime import REPO_ROOT, LocalStack


def _running_stack(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / "dev.json"
    if not path.is_file():
        return None
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        session = requests.Session()
        session.trust_env = False
        session.get(f"{info['aws_endpoint_url']}/moto-api/config", timeout=2).raise_for_status()
    except (ValueError, KeyError, requests.RequestException):
        return None  # a stale dev.json from a stack that is gone
    return info


def _invoke_against(info: dict[str, Any], function: str, event: Any) -> Any:
    functions = {
        logical_id: FunctionSpec(
            logical_id=logical_id,
            name=spec["name"],
            arn=spec["arn"],
            code_uri=Path(spec["code_uri"]),
            handler=spec["handler"],
            timeout=int(spec["timeout"]),
            memory_size=int(spec["memory_size"]),
            environment=dict(spec["environment"]),
        )
        for logical_id, spec in info["functions"].items()
    }
    os.environ.update(info["environment"])
    runtime = FunctionRuntime(functions, env_overrides=info["environment"])
    return runtime.invoke(function, event)


# events/api.json carries this instead of a secret; against a running stack it becomes the demo key.
API_KEY_PLACEHOLDER = "<api key from .kindling/dev.json>"


def run(function: str, event: Any, *, state_dir: Path, template: Path) -> Any:
    info = _running_stack(state_dir)
    if info is not None:
        if info.get("api_key"):
            event = json.loads(json.dumps(event).replace(API_KEY_PLACEHOLDER, str(info["api_key"])))
        return _invoke_against(info, function, event)
    with LocalStack(
        template_path=template, api=False, mail_lab=False, seed=False, pollers=False, schedules=False
    ) as stack:
        return stack.invoke(function, event)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.invoke", description=__doc__.split("\n")[0])
    parser.add_argument("function", help="folder name (api, jobs), logical id or function name")
    parser.add_argument("event", type=Path, help="a JSON event file, e.g. events/jobs.json")
    parser.add_argument("--template", type=Path, default=REPO_ROOT / "template.yaml")
    args = parser.parse_args(argv)
    state_dir = Path(os.environ.get("KINDLING_DEV_STATE_DIR") or REPO_ROOT / ".kindling")
    event = json.loads(args.event.read_text(encoding="utf-8"))
    try:
        # Logs (the stack's and the handler's) go to stderr, so stdout is only the result, as with SAM.
        with contextlib.redirect_stdout(sys.stderr):
            result = run(args.function, event, state_dir=state_dir, template=args.template)
    except FunctionError as exc:
        print(json.dumps(exc.payload, indent=2))
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
