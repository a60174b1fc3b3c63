"""``localtime`` classifies a phone number once for both of its answers (its zones, and
whether it is non-geographic): the answers must be those of phonenumbers' own functions."""

from __future__ import annotations

import random

import phonenumbers
from phonenumbers import timezone

from gatekeeper import localtime


def test_zones_and_non_geographic_numbers_are_phonenumbers_own_answers() -> None:
    rng = random.Random(7)
    numbers = ["+18005551234", "+448001234567", "+447700900123", "+12125550100",
               "+4915112345678", "+8613812345678", "+919812345678", "+61412345678",
               "+33612345678", "+19005551234", "+999123", "not a number"]
    for country in ("1", "44", "49", "86", "91", "61", "33", "55", "81", "7", "27", "52"):
        numbers += ["+" + country + "".join(rng.choice("0123456789")
                                            for _ in range(rng.randint(6, 11)))
                    for _ in range(150)]
    kinds = set()
    for number in numbers:
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            assert localtime.phone_zones(number) == () and not localtime.non_geographic(number)
            continue
        zones = [z for z in timezone.time_zones_for_number(parsed) if z != "Etc/Unknown"]
        kind = phonenumbers.number_type(parsed)
        kinds.add(kind)
        assert localtime.phone_zones(number) == tuple(zones[:localtime.MAX_PHONE_ZONES])
        assert localtime.non_geographic(number) == (kind in localtime.NON_GEOGRAPHIC)
    assert phonenumbers.PhoneNumberType.TOLL_FREE in kinds  # both branches were taken
    assert phonenumbers.PhoneNumberType.UNKNOWN in kinds
