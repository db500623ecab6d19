"""The learner portal: learners ask for their records by e-mail and get a signed,
expiring, one-time link (cme.portal.app). Its own app and port: no staff page is
reachable from it."""

DEFAULT_PORT = 8060
KEY_ENV = "CME_PORTAL_KEY"
MIN_KEY_LENGTH = 32
