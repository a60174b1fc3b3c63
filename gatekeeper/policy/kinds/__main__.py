"""``python -m gatekeeper.policy.kinds``: print the README's table of rule kinds."""

from gatekeeper.policy.kinds import kinds_table

print(kinds_table())
