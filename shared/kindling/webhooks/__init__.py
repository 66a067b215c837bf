"""Webhooks: subscriptions, signed delivery with retries, dead letters, Slack/Discord.

Emitters (prospects, sending, inbox, tracking) only call `kindling.events.catalog.emit_event`; everything after
the domain event is recorded lives here: fan-out per subscription, delivery, retries, delivery logs.
"""
