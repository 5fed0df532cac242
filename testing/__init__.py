"""Helpers shared by tests/ and bench/: neither imports the other; both import this package.

* relay.py: the one TCP relay in front of PostgreSQL (delay and count round trips, lose a
  reply after the server acted, cut logins).
* events.py: the sample events of events/ and how a test or a measure fills them in.
"""
