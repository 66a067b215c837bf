"""Notification emails to the workspace (its `notificationEmail`): mailbox outages, Bounce Shield activations."""
