"""Open/click/unsubscribe tracking.

`scanners` and `pages` use the standard library only, as do the tokens they verify (`kindling.sending.tokens`)
and the table keys (`kindling.platform.keys`): the public tracking function imports them on every cold start.
`repository` (lean botocore calls) and `service` are imported on the first request; pydantic and pynamodb load
only for an unsubscribe.
"""
