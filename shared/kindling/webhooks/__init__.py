"""Webhooks: subscriptions, the per-type dedup table, signed delivery with retries, dead letters, Slack/Discord.

Emitters (prospects, sending, inbox) only call `kindling.webhooks.catalog.emit_webhook_event`; everything after
the domain event is recorded lives here: fan-out per subscription, delivery, retries, delivery logs.
"""
