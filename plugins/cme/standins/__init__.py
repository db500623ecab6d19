"""Local stand-ins for the bodies' services, on 127.0.0.1 only.

They speak the request and receipt shapes in ../shared/reference/reporting-bodies.md,
keep their own registry of known learners (so rejections are data-driven), count
every record they receive (so tests can prove exactly-once), and can be told to
fail transiently (HTTP 503, or answering after the client's timeout) at a rate.
"""
