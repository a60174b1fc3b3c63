"""The shipped packs (``policies/``, or ``GATEKEEPER_POLICIES``): their names, and the
table ``gatekeeper policy list`` prints."""

from __future__ import annotations

from gatekeeper.errors import PolicyError
from gatekeeper.paths import POLICIES
from gatekeeper.policy.load import load_pack
from gatekeeper.policy.model import Pack


def pack_names() -> list[str]:
    return sorted(path.stem for path in POLICIES.glob("*.yaml"))


def applies_to(pack: Pack) -> str:
    regions = ", ".join(pack.applies_to)
    codes = pack.postal_codes
    if codes:
        more = f" +{len(codes) - 3} more" if len(codes) > 3 else ""
        regions += f" (postal codes {', '.join(codes[:3])}{more})"
    return regions


def pack_table() -> tuple[list[str], list[PolicyError]]:
    """One row per shipped pack (name, regions, rules, title), and the packs that fail."""
    rows = [("pack", "applies to", "rules", "title")]
    failed = []
    for name in pack_names():
        try:
            pack = load_pack(name)
        except PolicyError as exc:
            failed.append(exc)
            continue
        shadow = sum(1 for rule in pack.rules if rule.shadow)
        count = f"{len(pack.rules)}" + (f" ({shadow} shadow)" if shadow else "")
        rows.append((pack.name, applies_to(pack), count, pack.title))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{n:<{widths[0]}}  {a:<{widths[1]}}  {c:<{widths[2]}}  {t}" for n, a, c, t in rows]
    return lines, failed
