"""Open/click/unsubscribe tracking.

`tokens`, `scanners` and `pages` use the standard library only: the public tracking function imports them on
every cold start. `service` and `repository` use the table and are imported on the first request.
"""
