"""Built-in personal-data patterns (hook ``govai_register_pii_patterns``).

Checksummed identifiers are validated with python-stdnum: Estonian isikukood, Finnish
henkilötunnus, Swedish personnummer, Dutch BSN (11-proof), Indian Aadhaar (Verhoeff),
Kenyan KRA PIN, IBAN (mod 97) and payment cards (Luhn). Identifiers without a public check
digit (Kenyan national ID, Nigerian NIN) and dates of birth need a context word in front
("ID", "NIN", "born", "sünniaeg", ...), so ordinary numbers and dates are left alone.
"""

from __future__ import annotations

import ipaddress
import re

from stdnum import iban, luhn
from stdnum.ee import ik
from stdnum.fi import hetu
from stdnum.in_ import aadhaar
from stdnum.ke import pin as ke_pin
from stdnum.nl import bsn
from stdnum.se import personnummer

from govai_plugin.hooks import hookimpl
from govai_plugin.pii import PiiPattern

_I = re.IGNORECASE


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _card(value: str) -> bool:
    digits = _digits(value)
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn.is_valid(digits)


def _ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (address.is_unspecified or address.is_loopback)


def _phone(value: str) -> bool:
    return 7 <= len(_digits(value)) <= 15


DOB_WORDS = re.compile(
    r"(born|birth|d\.?o\.?b|date of birth|sündinud|sünniaeg|sünnikuupäev|syntynyt|syntymäaika|född|födelsedatum|"
    r"geboren|geboortedatum|geburtsdatum|geb\.|né|née|date de naissance)\W*(on\W*)?$", _I)
MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|jaanuar|veebruar|märts|aprill|mai|juuni|juuli|august|september|"
          r"oktoober|november|detsember)")

PATTERNS = [
    PiiPattern("EMAIL", re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
               priority=50),
    PiiPattern("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), validate=iban.is_valid, priority=40),
    PiiPattern("ID_EE", re.compile(r"(?<!\d)[1-6]\d{2}[01]\d[0-3]\d{5}(?!\d)"), validate=ik.is_valid, priority=30),
    PiiPattern("ID_FI", re.compile(r"(?<![\w-])\d{6}[-+ABCDEFYXWVU]\d{3}[0-9A-Y](?!\w)", _I),
               validate=lambda v: hetu.is_valid(v.upper()), priority=30),
    PiiPattern("ID_SE", re.compile(r"(?<![\d-])(?:\d{2})?\d{6}[-+]?\d{4}(?![\d-])"), validate=personnummer.is_valid, priority=25),
    PiiPattern("ID_NL", re.compile(r"(?<!\d)\d{4}\.?\d{2}\.?\d{3}(?!\d)"), validate=lambda v: bsn.is_valid(_digits(v)),
               context=re.compile(r"(bsn|burgerservicenummer|sofinummer|citizen service number)\W*(number|nummer|nr\.?)?\W*(is)?\W*$", _I),
               priority=25),
    PiiPattern("ID_IN", re.compile(r"(?<!\d)(?<!\d[ -])[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}(?![ -]?\d)"), validate=lambda v: aadhaar.is_valid(_digits(v)),
               priority=25),
    PiiPattern("ID_KE", re.compile(r"\b[AP]\d{9}[A-Z]\b"), validate=ke_pin.is_valid, priority=30),
    PiiPattern("ID_KE", re.compile(r"(?<!\d)\d{7,8}(?!\d)"),
               context=re.compile(r"(kenya\w*|kenyan|national|huduma)\W+(id|identity card|id card|id number)\W*(no\.?|number|is)?\W*$|"
                                  r"\bID\s*(no\.?|number)\W*$", _I), priority=20),
    PiiPattern("ID_NG", re.compile(r"(?<!\d)\d{11}(?!\d)"),
               context=re.compile(r"\b(NIN|national identification number)\W*(is|no\.?|number)?\W*$", _I), priority=20),
    PiiPattern("CARD", re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"), validate=_card, priority=20),
    PiiPattern("IP", re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)"), validate=_ip, priority=20),
    PiiPattern("IP", re.compile(r"(?<![\w:])(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}(?::[0-9a-f]{1,4})*(?![\w:])", _I),
               validate=_ip, priority=20),
    PiiPattern("DOB", re.compile(rf"\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}}|\d{{1,2}}\.?\s{MONTHS}\s\d{{4}}|"
                                 rf"{MONTHS}\s\d{{1,2}},?\s\d{{4}}", _I), context=DOB_WORDS, window=30, priority=15),
    PiiPattern("PHONE", re.compile(r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){1,4}\d{2,4}(?!\w)"),
               validate=_phone, priority=10),
    PiiPattern("PHONE", re.compile(r"(?<!\w)\(?\d{2,4}\)?[ .-]?\d{2,4}[ .-]?\d{2,4}(?:[ .-]?\d{2,4})?(?!\w)"), validate=_phone,
               context=re.compile(r"(phone|tel\.?|telephone|mobile|mob\.?|cell|telefon|tel\.?nr|puh\.?|puhelin|gsm|mobiil)\W*(no\.?|number|nr\.?)?\W*(is)?\W*$", _I),
               priority=10),
    PiiPattern("ADDRESS", re.compile(
        r"\b[A-ZÄÖÜÕÅ][\w'-]+(?:\s[A-ZÄÖÜÕÅ][\w'-]+){0,2}\s(?:Street|St\.|Road|Rd\.|Avenue|Ave\.|Lane|Way|Drive|Close|"
        r"tänav|tn\.?|maantee|mnt\.?|puiestee|pst\.?|katu|tie|gatan|vägen|straat|laan|weg|plein)\s?\d{1,4}[A-Za-z]?"
        r"(?:\s?[-/]\s?\d{1,4})?\b"), priority=12),
    PiiPattern("ADDRESS", re.compile(
        r"\b[A-ZÄÖÜÕÅ][a-zäöüõåß]+(?:katu|tie|gatan|vägen|straat|laan|weg|tänav|straße|strasse|gasse|platz)\s\d{1,4}[A-Za-z]?"
        r"(?:\s?[-/]\s?\d{1,4})?\b"), priority=12),
    PiiPattern("ADDRESS", re.compile(
        r"\b\d{1,4}[A-Za-z]?\s[A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?\s(?:Street|Road|Avenue|Lane|Way|Drive|Close|Crescent|Place)\b"),
        priority=12),
    PiiPattern("ADDRESS", re.compile(r"\b[A-ZÄÖÜÕ][a-zäöüõ]+\s\d{1,4}[A-Za-z]?(?:-\d{1,4})?(?=,\s*\d{5}\b)"), priority=12),
]


@hookimpl(trylast=True)
def govai_register_pii_patterns() -> list[PiiPattern]:
    return list(PATTERNS)
