"""`python -m devstack` (what `make dev` runs): the whole system on 127.0.0.1 until Ctrl-C or SIGTERM.

Environment: KINDLING_DEV_API_PORT (default 3000), KINDLING_DEV_MOTO_PORT (default 4566),
KINDLING_DEV_STATE_DIR (default ./.kindling), KINDLING_DEV_NO_MAIL_LAB=1 to skip the mail lab.
Writes <state dir>/dev.json ({"api_url", "api_key", "workspace_id", "mail_accounts", "linkedin_provider", ...})
once ready and removes it on the way out.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from devstack.runtime import REPO_ROOT, LocalStack

log = logging.getLogger("devstack")


def _banner(stack: LocalStack, dev_json: Path) -> str:
    lines = [
        "",
        "Kindling local stack is up",
        f"  API        {stack.api_url}",
        f"  Docs       {stack.api_url}/docs   (OpenAPI: {stack.api_url}/openapi.json)",
        f"  Workspace  {stack.workspace_id}",
        f"  API key    {stack.api_key}",
        f"  AWS (moto) {stack.endpoint_url}",
        f"  dev.json   {dev_json}",
    ]
    if stack.mail_accounts:
        lines.append("  Mail lab accounts:")
        for account in stack.mail_accounts:
            lines.append(
                f"    {account['email']:<28} password {account['password']:<14} "
                f"SMTP {account['smtp_host']}:{account['smtp_port']} ({account['smtp_security']})  "
                f"IMAP {account['imap_host']}:{account['imap_port']} ({account['imap_security']})"
            )
    if stack.linkedin_provider is not None:
        lines.append(
            f"  LinkedIn provider emulator {stack.linkedin_provider.api_url}  "
            f"(controls {stack.linkedin_provider.control_url}, demo account {stack.linkedin_demo_account_id})"
        )
    lines.append(f"  Ready in {stack.startup_seconds:.1f}s. Ctrl-C to stop.")
    return "\n".join(lines)


def _process_age() -> float | None:
    """Seconds since this process was created (Linux /proc), so startup time includes imports."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "pynamodb", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.monotonic() - (_process_age() or 0.0)
    state_dir = Path(os.environ.get("KINDLING_DEV_STATE_DIR") or REPO_ROOT / ".kindling").resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    dev_json = state_dir / "dev.json"
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    # Installed before anything starts, so a signal during startup still leads to a clean stop.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = LocalStack(
        api_port=int(os.environ.get("KINDLING_DEV_API_PORT") or 3000),
        moto_port=int(os.environ.get("KINDLING_DEV_MOTO_PORT") or 4566),
        state_dir=state_dir,
        mail_lab=os.environ.get("KINDLING_DEV_NO_MAIL_LAB", "") not in ("1", "true"),
    )
    try:
        stack.start()
    except Exception:
        log.exception("the local stack failed to start")
        return 1
    try:
        stack.write_dev_json(dev_json)
        stack.startup_seconds = time.monotonic() - started
        print(_banner(stack, dev_json), flush=True)
        log.info("startup took %.2fs (process start to ready)", stack.startup_seconds)
        while not stop.wait(0.5):
            pass
    finally:
        dev_json.unlink(missing_ok=True)
        stack.stop()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
