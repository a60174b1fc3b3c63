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


def test_the_plain_e164_shortcut_parses_exactly_as_phonenumbers() -> None:
    """Every calling code, national numbers of every length, with and without what the
    country strips as a national prefix: the shortcut answers phonenumbers' own parse, or
    None (and the full parse then runs)."""
    rng = random.Random(11)
    taken = 0
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for _ in range(40):
            first = rng.choice("0123456789" if rng.random() < 0.3 else "123456789")
            national = first + "".join(rng.choice("0123456789")
                                       for _ in range(rng.randint(2, 13)))
            number = f"+{code}{national}"
            plain = localtime.plain_e164(number)
            if plain is None:
                continue
            taken += 1
            assert plain == phonenumbers.parse(number, None), number
    assert taken > 5000  # the shortcut is the usual path
    for odd in ("+1 212 555 0100", "+0123456789", "12125550100", "+1212", "+12125550100x1",
                "+8613812345678" + "9" * 10, "tel:+12125550100"):
        assert localtime.plain_e164(odd) is None
