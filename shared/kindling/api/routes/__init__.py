"""One router per concept; `ROUTER_MODULES` is the list create_app() mounts."""

ROUTER_MODULES = (
    "kindling.api.routes.me",
    "kindling.api.routes.jobs",
    "kindling.api.routes.mailboxes",
)
