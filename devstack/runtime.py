"""LocalStack: the whole system on one machine, used by `make dev`, `make invoke` and the tests.

start(): moto server (in-process, 127.0.0.1) -> resources from template.yaml -> environment ->
Lambda routing for Step Functions -> demo workspace + API key -> mail lab -> SQS pollers and
schedule clocks -> the API on uvicorn. stop() undoes it in reverse order.

moto keeps its state in module globals, so one process holds one running LocalStack at a time.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from devstack import http_routes, lambda_routing
from devstack.functions import FunctionRuntime
from devstack.provision import ProvisionedStack, client, provision
from devstack.schedules import Schedules
from devstack.sqs import SqsPoller, SqsPollers, moto_queue_counter
from devstack.template import load

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_STACK_NAME = "kindling-local"
DEFAULT_REGION = "us-east-1"
# The function whose app uvicorn serves directly; other functions' HttpApi routes go through http_routes.
NATIVE_HTTP_FUNCTIONS = frozenset({"ApiFunction"})
# Signs and verifies tracking links locally (deployed stages get theirs from the template, and refuse this one:
# kindling.platform.settings.LOCAL_TRACKING_SECRET is the same value); fixed, so the sample event
# events/tracking.json carries a token this stack accepts.
LOCAL_TRACKING_SECRET = "kindling-local-tracking-secret"  # noqa: S105 - local stack only, not a credential
# The secret the local LinkedIn provider emulator's webhooks and notify URLs carry (deployed stages refuse it:
# kindling.platform.stage_guard.LOCAL_LINKEDIN_WEBHOOK_SECRET is the same value).
LOCAL_LINKEDIN_WEBHOOK_SECRET = "kindling-local-linkedin-webhook-secret"  # noqa: S105 - local stack only

_active_lock = threading.Lock()
_active: LocalStack | None = None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _route_to(runtime: FunctionRuntime, logical_id: str) -> lambda_routing.Route:
    def route(event: Any) -> Any:
        return runtime.invoke(logical_id, event)

    return route


class LocalStack:
    """The local stack. Every part can be switched off for faster tests."""

    def __init__(
        self,
        *,
        template_path: Path = DEFAULT_TEMPLATE,
        stack_name: str = DEFAULT_STACK_NAME,
        parameters: Mapping[str, Any] | None = None,
        region: str = DEFAULT_REGION,
        host: str = "127.0.0.1",
        moto_port: int = 0,
        api: bool = True,
        api_port: int = 0,
        mail_lab: bool = True,
        linkedin_provider: bool = True,
        seed: bool = True,
        pollers: bool = True,
        schedules: bool = True,
        state_dir: Path | None = None,
        clock: Any = None,
        env: Mapping[str, str] | None = None,
        sqs_wait_seconds: int = 1,
    ) -> None:
        self.template_path = Path(template_path)
        self.stack_name = stack_name
        self.parameters = dict(parameters) if parameters is not None else None
        self.region = region
        self.host = host
        self.moto_port = moto_port
        self.api_enabled = api
        self.api_port = api_port
        self.mail_lab_enabled = mail_lab
        self.linkedin_provider_enabled = linkedin_provider
        self.seed_enabled = seed
        self.pollers_enabled = pollers
        self.schedules_enabled = schedules
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.clock = clock
        self.extra_env = dict(env or {})
        self.sqs_wait_seconds = sqs_wait_seconds

        self.stack: ProvisionedStack | None = None
        self.runtime: FunctionRuntime | None = None
        self.api_key: str | None = None
        self.workspace_id: str | None = None
        self.mail_accounts: list[dict[str, Any]] = []
        self.mail_lab_info: dict[str, Any] = {}
        # The LinkedIn provider emulator (devstack/linkedin_provider) and the connected account it holds for the
        # demo workspace (the emulator's account id: the Kindling account row that links it is seeded by the
        # LinkedIn accounts service).
        self.linkedin_provider: Any = None
        self.linkedin_demo_account_id: str | None = None
        self.linkedin_account_id: str | None = None  # the demo workspace's Kindling row (li_...) linking it
        self.linkedin_webhooks: dict[str, Any] | None = None  # what registering the provider's webhooks did
        # (logical id, event) of recent invocations from any source; tests and tools inspect it.
        self.invocations: deque[tuple[str, Any]] = deque(maxlen=1000)
        self.startup_seconds: float | None = None
        self._moto: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._previous_clock: Any = None
        self._pollers: SqsPollers | None = None
        self._schedules: Schedules | None = None
        self._mail_lab: Any = None
        self._uvicorn: Any = None
        self._uvicorn_thread: threading.Thread | None = None
        self._routed: list[str] = []
        self._started = False

    # --- properties -------------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    def client(self, service: str) -> Any:
        return client(service, self.endpoint_url, self.region)

    def _require_stack(self) -> ProvisionedStack:
        if self.stack is None:
            raise RuntimeError("the local stack is not started")
        return self.stack

    # --- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        global _active
        with _active_lock:
            if _active is not None:
                raise RuntimeError("a LocalStack is already running in this process (moto state is global)")
            _active = self
        started = time.monotonic()
        try:
            self._start_moto()
            if self.linkedin_provider_enabled:
                self._start_linkedin_provider()
            self._provision()
            self._install_environment()
            self._route_lambda()
            if self.clock is not None:
                from kindling.platform.clock import set_clock

                self._previous_clock = set_clock(self.clock)
            if self.seed_enabled:
                self._seed()
            if self.mail_lab_enabled:
                self._start_mail_lab()
            if self.linkedin_provider is not None:
                self._connect_linkedin_provider()
            self._start_event_sources()
            if self.api_enabled:
                self._start_api()
        except BaseException:
            self.stop()
            raise
        self._started = True
        self.startup_seconds = time.monotonic() - started
        log.info("local stack ready in %.2fs", self.startup_seconds)
        return self

    def stop(self) -> None:
        """Stop everything that was started, in reverse order; safe to call twice."""
        global _active
        steps = [
            self._stop_api,
            self._stop_event_sources,
            self._stop_mail_lab,
            self._stop_linkedin_provider,
            self._restore_clock,
            self._unroute_lambda,
            self._stop_moto,
            self._restore_environment,
        ]
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("stopping the local stack: %s failed", step.__name__)
        self._started = False
        with _active_lock:
            if _active is self:
                _active = None

    # --- moto -------------------------------------------------------------------------------------

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        from devstack.moto_patches import apply_moto_patches

        apply_moto_patches()

        if not self.moto_port:
            self.moto_port = free_port(self.host)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call is noise
        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.moto_port, verbose=False)
        self._moto.start()
        # moto's Step Functions interpreter calls Lambda through the server at localhost:$MOTO_PORT.
        self._set_env("MOTO_PORT", str(self.moto_port))
        session = requests.Session()
        session.trust_env = False  # never send 127.0.0.1 traffic through a proxy
        # A fresh moto: state left by an earlier stack in this process must not leak into this one.
        session.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
        session.post(
            f"{self.endpoint_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": True}},
            timeout=10,
        ).raise_for_status()

    def _stop_moto(self) -> None:
        if self._moto is not None:
            try:
                requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=5)
            except requests.RequestException:
                log.warning("could not reset moto before stopping it")
            self._moto.stop()
            self._moto = None

    # --- resources and environment ------------------------------------------------------------------

    def _provision(self) -> None:
        template = load(
            self.template_path,
            stack_name=self.stack_name,
            parameters=self._parameters(),
            region=self.region,
        )
        # Provisioning talks to moto with explicit endpoint and credentials (environment untouched yet).
        self.stack = provision(template, self.endpoint_url)

    def _parameters(self) -> dict[str, Any]:
        if self.parameters is not None:
            return self.parameters
        # Deployed-stage semantics (Stage=dev) unless told otherwise; the stack name stays local.
        from devstack.template import load_template

        raw = load_template(self.template_path)
        return {"Stage": "dev"} if "Stage" in (raw.get("Parameters") or {}) else {}

    def _set_env(self, key: str, value: str) -> None:
        if key not in self._saved_env:
            self._saved_env[key] = os.environ.get(key)
        os.environ[key] = value

    def local_overrides(self) -> dict[str, str]:
        """Environment the local stack imposes on every function, over the template's values."""
        overrides = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # botocore (and so boto3 and pynamodb) send every AWS call here.
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "KINDLING_STAGE": "local",
            "KINDLING_ALLOW_PRIVATE_TARGETS": "true",
            "KINDLING_TRACKING_SECRET": LOCAL_TRACKING_SECRET,
        }
        # Links point at the local API; without it, at kindling's local default (not the template's value, which
        # names the deployed HTTP API).
        overrides["KINDLING_PUBLIC_BASE_URL"] = self.api_url if self.api_enabled else ""
        if self.linkedin_provider is not None:
            overrides["KINDLING_LINKEDIN_PROVIDER_URL"] = self.linkedin_provider.api_url
            overrides["KINDLING_LINKEDIN_PROVIDER_API_KEY"] = self.linkedin_provider.api_key
            overrides["KINDLING_LINKEDIN_PROVIDER_SECRET_ARN"] = ""
            overrides["KINDLING_LINKEDIN_WEBHOOK_SECRET"] = LOCAL_LINKEDIN_WEBHOOK_SECRET
            # Where the provider's webhooks go (the template's value names the deployed HTTP API); without the local
            # API there is no ingress, so nothing is registered.
            overrides["KINDLING_LINKEDIN_WEBHOOK_URL"] = (
                f"{self.api_url}/linkedin/provider/webhook" if self.api_enabled else ""
            )
        overrides.update(self.extra_env)
        return overrides

    def _install_environment(self) -> None:
        stack = self._require_stack()
        if self.api_enabled and not self.api_port:
            self.api_port = free_port(self.host)
        self.runtime = FunctionRuntime(
            stack.functions,
            env_overrides=self.local_overrides(),
            on_invoke=lambda logical_id, event: self.invocations.append((logical_id, event)),
        )
        for key, value in self.runtime.process_environment().items():
            self._set_env(key, value)
        self._refresh_kindling()

    def _refresh_kindling(self) -> None:
        from kindling.platform import aws
        from kindling.platform.dynamo import bind_models
        from kindling.platform.settings import reset_settings

        # Settings, clients and pynamodb connections are cached per process: rebuild them for this endpoint.
        reset_settings()
        aws.reset_clients()
        bind_models(force=True)

    def _restore_environment(self) -> None:
        for key, old in self._saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        self._saved_env = {}
        try:
            self._refresh_kindling()
        except Exception:
            log.debug("kindling settings not refreshed after stop", exc_info=True)

    def environment(self) -> dict[str, str]:
        """The process environment the handlers see (shared function env + local overrides)."""
        if self.runtime is None:
            return {}
        return self.runtime.process_environment()

    # --- Lambda and Step Functions ------------------------------------------------------------------

    def _route_lambda(self) -> None:
        stack, runtime = self._require_stack(), self.runtime
        assert runtime is not None
        for logical_id, spec in stack.functions.items():
            lambda_routing.register(spec.name, _route_to(runtime, logical_id))
            self._routed.append(spec.name)

    def _unroute_lambda(self) -> None:
        for name in self._routed:
            lambda_routing.unregister(name)
        self._routed = []

    def invoke(self, function: str, event: Any) -> Any:
        """Invoke a handler in-process (logical id, physical name or folder name like `jobs`)."""
        if self.runtime is None:
            raise RuntimeError("the local stack is not started")
        return self.runtime.invoke(function, event)

    def state_machine_arn(self, name: str) -> str:
        stack = self._require_stack()
        if name.startswith("arn:"):
            return name
        return str(stack.ref(name))

    def start_execution(self, state_machine: str, execution_input: Any, name: str | None = None) -> str:
        # Always name it: moto 5.2.5's interpreter names unnamed executions "None" (AWS uses a uuid),
        # so a second unnamed start would fail with ExecutionAlreadyExists.
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn(state_machine),
            name=name or str(uuid.uuid4()),
            input=json.dumps(execution_input),
        )
        return str(response["executionArn"])

    def wait_execution(self, execution_arn: str, timeout: float = 30.0, interval: float = 0.05) -> dict[str, Any]:
        """Poll until the execution leaves RUNNING; returns describe_execution (output parsed as `output_json`)."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            desc: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if desc["status"] != "RUNNING":
                if desc.get("output"):
                    desc["output_json"] = json.loads(desc["output"])
                return desc
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout}s")
            time.sleep(interval)

    # --- seed, mail lab, event sources, API ---------------------------------------------------------

    def _seed(self) -> None:
        from kindling.auth.scopes import ALL_SCOPES
        from kindling.auth.service import AuthService

        auth = AuthService()
        workspace = auth.create_workspace("Demo workspace")
        _, token = auth.create_api_key(workspace.id, name="local stack (all scopes)", scopes=ALL_SCOPES)
        self.workspace_id, self.api_key = workspace.id, token

    def _start_mail_lab(self) -> None:
        from devstack.maillab.lab import MailLab

        base = (self.state_dir or REPO_ROOT / ".kindling") / "maillab"
        base.mkdir(parents=True, exist_ok=True)
        self._mail_lab = MailLab(base, host=self.host)
        self._mail_lab.start()
        self.mail_accounts = [account.as_dict() for account in self._mail_lab.accounts]
        # Mailbox connection tests must trust the lab's self-signed CA, as a provider's real chain would be.
        self._set_env("KINDLING_MAIL_CA_FILE", str(self._mail_lab.ca_path))
        self._refresh_kindling()
        as_dev_json = getattr(self._mail_lab, "as_dev_json", None)
        self.mail_lab_info = as_dev_json() if callable(as_dev_json) else {}

    def _start_linkedin_provider(self) -> None:
        from devstack.linkedin_provider import LinkedInProviderEmulator

        # clock=None: the emulator reads the process clock, i.e. the clock this stack injects (ManualClock in tests).
        self.linkedin_provider = LinkedInProviderEmulator(host=self.host).start()

    def _connect_linkedin_provider(self) -> None:
        """The provider's webhooks (account status, new relations, new messages) go to this stack's ingress with
        the local secret: registered over the emulator's HTTP API by the same code as the deployed stack's hourly
        sweep (kindling.linkedin.webhooks.ensure_stack_webhooks). When seeding, the demo workspace gets one
        connected account: the emulator holds it, and a Kindling row links it through the accounts service (status
        helper, audit row)."""
        if self.api_enabled:
            from kindling.linkedin.webhooks import ensure_stack_webhooks

            self.linkedin_webhooks = ensure_stack_webhooks()
            log.info("linkedin provider webhooks: %s", self.linkedin_webhooks)
        if not self.seed_enabled or self.workspace_id is None:
            return
        from kindling.linkedin.service import LinkedInAccountService

        self.linkedin_demo_account_id = self.linkedin_provider.create_account(
            name="Demo LinkedIn account", account_type="premium"
        ).id
        self.linkedin_account_id = (
            LinkedInAccountService().link_existing(self.workspace_id, self.linkedin_demo_account_id).id
        )

    def _stop_linkedin_provider(self) -> None:
        if self.linkedin_provider is not None:
            self.linkedin_provider.stop()
            self.linkedin_provider = None

    def _stop_mail_lab(self) -> None:
        if self._mail_lab is not None:
            self._mail_lab.stop()
            self._mail_lab = None

    def _start_event_sources(self) -> None:
        stack, runtime = self._require_stack(), self.runtime
        assert runtime is not None
        if self.pollers_enabled and stack.event_sources:
            sqs = self.client("sqs")
            self._pollers = SqsPollers(
                [
                    SqsPoller(
                        source,
                        sqs,
                        runtime.invoke,
                        region=self.region,
                        wait_seconds=self.sqs_wait_seconds,
                    )
                    for source in stack.event_sources
                    if source.enabled
                ],
                sqs,
                # moto runs in this process: drain() counts its queues in its state, not over HTTP
                counter=moto_queue_counter(self.region) if self._moto is not None else None,
            )
            self._pollers.start()
        if self.schedules_enabled and stack.schedules:
            from kindling.platform.clock import ManualClock, SystemClock

            clock = self.clock or SystemClock()
            self._schedules = Schedules(
                stack.schedules,
                self._fire_schedule,
                clock,
                region=self.region,
                account_id=stack.template.context.account_id,
            )
            if not isinstance(clock, ManualClock):
                self._schedules.start()

    def _stop_event_sources(self) -> None:
        if self._schedules is not None:
            self._schedules.stop()
            self._schedules = None
        if self._pollers is not None:
            self._pollers.stop()
            self._pollers = None

    def _fire_schedule(self, target: str, event: Any) -> Any:
        """A schedule's target: a function is invoked; a state machine gets an execution (as EventBridge does)."""
        stack = self._require_stack()
        if target in stack.of_type("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return self.start_execution(target, event)
        assert self.runtime is not None
        return self.runtime.invoke(target, event)

    def drain(self, timeout: float = 30.0, *, delayed: bool = True) -> None:
        """Wait until every SQS event source's queue is empty and its poller idle (`delayed=False`: every message due
        now handled; one delayed beyond the injected clock may stay)."""
        if self._pollers is None:
            raise RuntimeError("no SQS pollers are running")
        self._pollers.drain(timeout, delayed=delayed)

    @property
    def pollers(self) -> list[SqsPoller]:
        return [] if self._pollers is None else list(self._pollers.pollers)

    def advance(self, delta: timedelta) -> int:
        """Move the injected ManualClock forward and fire every schedule occurrence now due."""
        from kindling.platform.clock import ManualClock

        if not isinstance(self.clock, ManualClock):
            raise RuntimeError("advance() needs the stack to be started with clock=ManualClock(...)")
        self.clock.advance(delta)
        return self._schedules.tick() if self._schedules is not None else 0

    def _start_api(self) -> None:
        import uvicorn

        from kindling.api.app import create_app

        kwargs: dict[str, Any] = {}
        assets = os.environ.get("KINDLING_SWAGGER_ASSETS") or str(REPO_ROOT / "devstack" / "swagger-ui")
        if Path(assets).is_dir() and "swagger_assets" in inspect.signature(create_app).parameters:
            kwargs["swagger_assets"] = Path(assets)  # Swagger UI served offline when vendored
        app: Any = create_app(**kwargs)
        routes = http_routes.lambda_routes(self._require_stack().template, served_natively=NATIVE_HTTP_FUNCTIONS)
        if routes:
            assert self.runtime is not None
            app = http_routes.LambdaRouter(app, routes, self.runtime.invoke)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.api_port,
            log_level="warning",
            lifespan="on",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="api", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start on {self.api_url}")
            time.sleep(0.02)
        self._uvicorn, self._uvicorn_thread = server, thread

    def _stop_api(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
            assert self._uvicorn_thread is not None
            self._uvicorn_thread.join(10)
            self._uvicorn = None
            self._uvicorn_thread = None

    def _restore_clock(self) -> None:
        if self._previous_clock is not None:
            from kindling.platform.clock import set_clock

            set_clock(self._previous_clock)
            self._previous_clock = None

    # --- what tools need ----------------------------------------------------------------------------

    def dev_info(self) -> dict[str, Any]:
        """The `.kindling/dev.json` document: how scripts and tools reach this stack."""
        stack = self._require_stack()
        outputs = stack.outputs()
        env = self.environment()
        return {
            "api_url": self.api_url if self.api_enabled else None,
            "docs_url": f"{self.api_url}/docs" if self.api_enabled else None,
            "api_key": self.api_key,
            "workspace_id": self.workspace_id,
            "mail_accounts": self.mail_accounts,
            "mail_lab": self.mail_lab_info,
            "linkedin_provider": self._linkedin_dev_info(),
            "aws_endpoint_url": self.endpoint_url,
            "region": self.region,
            "stack_name": self.stack_name,
            "table_name": env.get("KINDLING_TABLE_NAME"),
            "queues": outputs["queues"],
            "state_machines": outputs["state_machines"],
            "tables": outputs["tables"],
            "kms_keys": outputs["kms_keys"],
            "topics": outputs["topics"],
            "environment": env,
            "functions": {
                logical_id: {
                    "name": spec.name,
                    "arn": spec.arn,
                    "code_uri": str(spec.code_uri),
                    "handler": spec.handler,
                    "timeout": spec.timeout,
                    "memory_size": spec.memory_size,
                    "environment": spec.environment,
                }
                for logical_id, spec in stack.functions.items()
            },
            "pid": os.getpid(),
        }

    def _linkedin_dev_info(self) -> dict[str, Any] | None:
        emulator = self.linkedin_provider
        if emulator is None:
            return None
        return {
            "api_url": emulator.api_url,
            "control_url": emulator.control_url,
            "api_key": emulator.api_key,
            "webhook_secret": LOCAL_LINKEDIN_WEBHOOK_SECRET,
            "demo_account_id": self.linkedin_demo_account_id,
            "linkedin_account_id": self.linkedin_account_id,
        }

    def write_dev_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.dev_info(), indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)  # it holds an API key
        tmp.replace(path)  # atomic: a reader never sees half a file
