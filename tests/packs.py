"""Policy packs written by integration tests: one small pack with no clock rules (the wall
clock must not matter), a daily call limit per number, opt-outs and cease."""

from __future__ import annotations


def plain_pack(name: str, title: str) -> str:
    """A pack ``name``: one call a day per number, opt-outs, and the ``cease`` status."""
    return f"""
pack: {name}
title: {title}
applies_to: ["*"]
rules:
  - id: calls-per-day-per-number
    kind: limit
    citation: test
    channels: [call]
    max: 1
    window: {{calendar: day}}
    per: [destination]
  - id: opt-outs
    kind: opt_out
    citation: test
  - id: cease
    kind: status
    citation: test
    statuses: [cease]
"""
