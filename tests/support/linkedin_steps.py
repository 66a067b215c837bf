"""The LinkedIn steps the engine tests build their campaigns from (API shape), shared by the integration and e2e
tests of the week-long campaign."""

from __future__ import annotations

VIEW = {"type": "linkedin", "linkedinActionType": "view_profile", "delayDays": 0}
INVITE = {
    "type": "linkedin",
    "linkedinActionType": "send_invite",
    "linkedinInviteNote": "Hi {{firstName}}, glad to connect.",
    "delayDays": 0,
}
WAIT = {"type": "linkedin", "linkedinActionType": "wait_accept", "delayDays": 0}
MESSAGE = {
    "type": "linkedin",
    "linkedinActionType": "send_message",
    "linkedinMessageTemplate": "Thanks for connecting, {{firstName}}!",
    "delayDays": 0,
}
WAIT_REPLY = {"type": "linkedin", "linkedinActionType": "wait_reply", "delayDays": 0}
FOLLOW_UP = {
    "type": "linkedin",
    "linkedinActionType": "send_message",
    "linkedinMessageTemplate": "Following up, {{firstName}}.",
    "delayDays": 0,
}
