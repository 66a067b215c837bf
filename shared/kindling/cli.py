"""`kindling admin ...`: manage workspaces and API keys on the local stack or a deployed stage.

    kindling admin create-workspace --name "Acme" [--timezone Europe/Amsterdam]
    kindling admin create-key --workspace ws_... --name "CRM sync" --scopes mailboxes:read,warmup:read | all
    kindling admin list-keys --workspace ws_...
    kindling admin revoke-key --workspace ws_... --key-id key_...

Target: `--local` (the running `make dev` stack, read from .kindling/dev.json; the default when that file exists),
`--stage dev|staging|prod` (the deployed stack `kindling-<stage>`: its table is read from the CloudFormation outputs
with your normal AWS credentials), or `--table NAME [--region R]` explicitly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kindling.auth.scopes import ALL_SCOPES
from kindling.auth.service import AuthService
from kindling.platform import aws
from kindling.platform.clock import isoformat
from kindling.platform.dynamo import bind_models
from kindling.platform.errors import KindlingError
from kindling.platform.settings import reset_settings

DEV_STATE = Path(os.environ.get("KINDLING_DEV_STATE_DIR", ".kindling")) / "dev.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kindling", description="Kindling administration")
    groups = parser.add_subparsers(dest="group", required=True)
    admin = groups.add_parser("admin", help="workspaces and API keys")
    target = admin.add_mutually_exclusive_group()
    target.add_argument("--local", action="store_true", help="the running local stack (.kindling/dev.json)")
    target.add_argument("--stage", choices=("dev", "staging", "prod"), help="a deployed stage")
    target.add_argument("--table", help="an explicit DynamoDB table name")
    admin.add_argument("--region", help="AWS region (default: from the environment or the stage)")
    commands = admin.add_subparsers(dest="command", required=True)

    create_ws = commands.add_parser("create-workspace", help="create a workspace")
    create_ws.add_argument("--name", required=True)
    create_ws.add_argument("--timezone", default="UTC")

    create_key = commands.add_parser("create-key", help="create an API key (the secret is shown once)")
    create_key.add_argument("--workspace", required=True)
    create_key.add_argument("--name", default="API key")
    create_key.add_argument("--scopes", required=True, help="comma-separated scopes, or 'all'")

    list_keys = commands.add_parser("list-keys", help="list a workspace's API keys (no secrets)")
    list_keys.add_argument("--workspace", required=True)

    revoke = commands.add_parser("revoke-key", help="revoke an API key")
    revoke.add_argument("--workspace", required=True)
    revoke.add_argument("--key-id", required=True)
    return parser


def _configure_target(args: argparse.Namespace) -> None:
    """Point settings (and AWS endpoints) at the chosen deployment before any repository is built."""
    use_local = args.local or (not args.stage and not args.table and DEV_STATE.exists())
    if use_local:
        if not DEV_STATE.exists():
            raise SystemExit(f"no local stack state at {DEV_STATE}: start it with `make dev`")
        state = json.loads(DEV_STATE.read_text())
        os.environ["AWS_ENDPOINT_URL"] = state["aws_endpoint_url"]
        os.environ["KINDLING_TABLE_NAME"] = state["table_name"]
        os.environ["AWS_REGION"] = state.get("region", "us-east-1")
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(var, "local")
    elif args.stage:
        import boto3

        region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        stack = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=f"kindling-{args.stage}")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0].get("Outputs", [])}
        if "TableName" not in outputs:
            raise SystemExit(f"stack kindling-{args.stage} has no TableName output")
        os.environ["KINDLING_TABLE_NAME"] = outputs["TableName"]
        if region:
            os.environ["AWS_REGION"] = region
    elif args.table:
        os.environ["KINDLING_TABLE_NAME"] = args.table
        if args.region:
            os.environ["AWS_REGION"] = args.region
    else:
        raise SystemExit("choose a target: --local (with `make dev` running), --stage STAGE or --table NAME")
    reset_settings()
    aws.reset_clients()
    bind_models(force=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    service = AuthService()
    if args.command == "create-workspace":
        workspace = service.create_workspace(args.name, args.timezone)
        return {"workspace_id": workspace.id, "name": workspace.name, "timezone": workspace.timezone}
    if args.command == "create-key":
        scopes = list(ALL_SCOPES) if args.scopes.strip() == "all" else [s.strip() for s in args.scopes.split(",")]
        key, token = service.create_api_key(args.workspace, name=args.name, scopes=[s for s in scopes if s])
        return {
            "key_id": key.id,
            "workspace_id": key.workspace_id,
            "name": key.name,
            "scopes": key.scopes,
            "api_key": token,
            "note": "Store this key now: it is shown once and only its hash is kept.",
        }
    if args.command == "list-keys":
        return {
            "keys": [
                {
                    "key_id": k.id,
                    "name": k.name,
                    "prefix": k.prefix,
                    "scopes": k.scopes,
                    "created_at": isoformat(k.created_at),
                    "revoked_at": isoformat(k.revoked_at),
                }
                for k in service.list_api_keys(args.workspace)
            ]
        }
    if args.command == "revoke-key":
        key = service.revoke_api_key(args.workspace, args.key_id)
        return {"key_id": key.id, "revoked_at": isoformat(key.revoked_at)}
    raise SystemExit(f"unknown command {args.command}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_target(args)
    try:
        result = run(args)
    except KindlingError as exc:
        print(
            json.dumps({"error": {"code": exc.code, "message": exc.message, "details": exc.details}}), file=sys.stderr
        )
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
