"""gatekeeper: a contact-compliance gate for debt collection.

Every outbound contact request is checked against a declarative policy and per-debtor
counters in Redis, then forwarded to the carriers or diverted to compliance review.
"""

__version__ = "0.1.0"
