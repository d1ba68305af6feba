"""Contact details: phone numbers (unique, plausible, in human formats), names and emails."""

from __future__ import annotations

import math
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalog as C
from .textfmt import strings_from_matrix

_ZERO = 48


def _ascii_lower(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


# ------------------------------------------------------------------------------------ phones


class PhoneSpace:
    """National significant numbers of one country; ``number(idx)`` is injective in idx.

    NANP spaces are area code x exchange (NXX, not N11) x line; block spaces are a list of
    (prefix, free digits). A permutation ``(a*idx + b) mod M`` spreads indexes over the space."""

    def __init__(self, country: str, *, area_codes=None, blocks=None, salt: int = 0):
        self.country = country
        self.nsn_len = C.NSN_LENGTH[country]
        self.cc = C.COUNTRY_CALLING_CODE[C.COUNTRIES.index(country)]
        if area_codes is not None:
            self.kind = "nanp"
            self.codes = np.array(area_codes, np.int64)
            self.exchanges = np.array([x for x in range(200, 1000) if x % 100 != 11], np.int64)
            self.size = len(self.codes) * len(self.exchanges) * 10_000
        else:
            self.kind = "blocks"
            self.prefixes = [p for p, _ in blocks]
            self.free = np.array([f for _, f in blocks], np.int64)
            self.prefix_num = np.array([int(p) for p, _ in blocks], np.int64)
            sizes = 10 ** self.free
            self.cum = np.concatenate([[0], np.cumsum(sizes)])
            self.size = int(self.cum[-1])
        assert self.size > C.MAX_INDEX, (country, self.size)
        a = 2_654_435_761 % self.size
        while math.gcd(a, self.size) != 1:
            a += 1
        self.a = a
        self.b = (salt * 7_919_113 + 12_345) % self.size

    def nsn(self, idx: np.ndarray) -> np.ndarray:
        """National significant number as int64 (e.g. 4155550123 for US)."""
        v = (np.asarray(idx, np.int64) * self.a + self.b) % self.size
        if self.kind == "nanp":
            code = self.codes[v % len(self.codes)]
            t = v // len(self.codes)
            exch = self.exchanges[t % len(self.exchanges)]
            line = t // len(self.exchanges)
            return code * 10_000_000 + exch * 10_000 + line
        blk = np.searchsorted(self.cum, v, side="right") - 1
        rest = v - self.cum[blk]
        return self.prefix_num[blk] * 10 ** self.free[blk] + rest

    def e164(self, nsn: np.ndarray) -> np.ndarray:
        return self.cc * 10 ** self.nsn_len + nsn

    def kind_of(self, nsn: np.ndarray) -> np.ndarray:
        """0 = mobile, 1 = landline (by the leading NSN digit; NANP numbers are all 0)."""
        if self.country in ("US", "CA"):
            return np.zeros(len(nsn), np.int64)
        lead = nsn // 10 ** (self.nsn_len - 1)
        return np.where(lead == (7 if self.country == "GB" else 4), 0, 1)


def build_spaces() -> dict[str, PhoneSpace]:
    spaces = {}
    for i, (name, codes) in enumerate(C.NANP_AREA_CODES.items()):
        spaces[name] = PhoneSpace(name.split("_")[0], area_codes=codes, salt=i + 1)
    for i, (country, blocks) in enumerate(C.BLOCK_SPACES.items()):
        spaces[country] = PhoneSpace(country, blocks=blocks, salt=10 + i)
    return spaces


def space_name(country: str, region: str) -> str:
    if country == "US":
        return {"us_central": "US_central", "us_west": "US_west"}.get(region, "US_east")
    if country == "CA":
        return "CA_west" if region == "us_west" else "CA_east"
    return country


_TEMPLATE_CACHE: dict = {}


def _templates(country: str, kind: int):
    key = (country, kind)
    if key not in _TEMPLATE_CACHE:
        if country in ("US", "CA"):
            tpl = C.PHONE_TEMPLATES[("NANP", "any")]
        else:
            tpl = C.PHONE_TEMPLATES[(country, "mobile" if kind == 0 else "landline")]
        texts = [t for t, _ in tpl]
        p = np.array([w for _, w in tpl], np.float64)
        _TEMPLATE_CACHE[key] = (texts, p / p.sum())
    return _TEMPLATE_CACHE[key]


def format_phones(nsn: np.ndarray, country: np.ndarray, spaces_for_country: dict[int, PhoneSpace],
                  rng: np.random.Generator, valid: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """Human-formatted phone strings; returns (strings, template index used per row)."""
    n = len(nsn)
    width = 20
    mat = np.zeros((n, width), np.uint8)
    lengths = np.zeros(n, np.int32)
    tpl_idx = np.full(n, -1, np.int64)
    u = rng.random(n)
    for ci, space in spaces_for_country.items():
        rows_c = np.flatnonzero((country == ci) & valid)
        if len(rows_c) == 0:
            continue
        kinds = space.kind_of(nsn[rows_c])
        for kind in (0, 1):
            rows = rows_c[kinds == kind]
            if len(rows) == 0:
                continue
            texts, p = _templates(C.COUNTRIES[ci], kind)
            choice = np.searchsorted(np.cumsum(p), u[rows], side="right").clip(0, len(texts) - 1)
            digits = np.empty((len(rows), space.nsn_len), np.uint8)
            v = nsn[rows].copy()
            for k in range(space.nsn_len - 1, -1, -1):
                digits[:, k] = _ZERO + v % 10
                v //= 10
            for t_i, text in enumerate(texts):
                sel = choice == t_i
                if not sel.any():
                    continue
                tb = np.frombuffer(text.encode(), np.uint8).copy()
                dpos = np.flatnonzero(tb == ord("D"))
                assert len(dpos) == space.nsn_len, text
                block = np.tile(tb, (int(sel.sum()), 1))
                block[:, dpos] = digits[sel]
                r = rows[sel]
                mat[r, : len(tb)] = block
                lengths[r] = len(tb)
                tpl_idx[r] = t_i
    return strings_from_matrix(mat, lengths, valid), tpl_idx


# ------------------------------------------------------------------------------------ names


class NameBook:
    """Per-country first/last names and email domains, as Arrow arrays for vectorised takes."""

    def __init__(self):
        self.first = {}
        self.last = {}
        self.first_mail = {}
        self.last_mail = {}
        self.domains = {}
        self.domain_p = {}
        for c in C.COUNTRIES:
            self.first[c] = pa.array(list(C.FIRST_NAMES[c]))
            self.last[c] = pa.array(list(C.LAST_NAMES[c]))
            self.first_mail[c] = pa.array([_ascii_lower(x) for x in C.FIRST_NAMES[c]])
            self.last_mail[c] = pa.array([_ascii_lower(x) for x in C.LAST_NAMES[c]])
            self.domains[c] = pa.array(list(C.EMAIL_DOMAINS[c]))
            p = np.array(C.EMAIL_DOMAIN_P[c], np.float64)
            self.domain_p[c] = p / p.sum()
        # how often each base address (local part without number + domain) was used
        self.used: dict[str, int] = {}


def group_rank(keys: np.ndarray) -> np.ndarray:
    """0-based occurrence number of each key among equal keys, in array order."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    start = np.concatenate([[True], sk[1:] != sk[:-1]])
    run_start = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    rank_sorted = np.arange(n) - run_start
    rank = np.empty(n, np.int64)
    rank[order] = rank_sorted
    return rank


def people(book: NameBook, country: np.ndarray, rng: np.random.Generator):
    """First names, last names and unique personal emails for leads of the given countries."""
    n = len(country)
    first_i = np.zeros(n, np.int64)
    last_i = np.zeros(n, np.int64)
    dom_i = np.zeros(n, np.int64)
    style = rng.integers(0, len(C.EMAIL_STYLES), n)
    for ci, c in enumerate(C.COUNTRIES):
        rows = np.flatnonzero(country == ci)
        if len(rows) == 0:
            continue
        nf, nl, nd = len(C.FIRST_NAMES[c]), len(C.LAST_NAMES[c]), len(C.EMAIL_DOMAINS[c])
        first_i[rows] = rng.integers(0, nf, len(rows))
        last_i[rows] = rng.integers(0, nl, len(rows))
        dom_i[rows] = np.searchsorted(np.cumsum(book.domain_p[c]), rng.random(len(rows)), side="right").clip(0, nd - 1)
    first = pa.nulls(n, pa.string())
    last = pa.nulls(n, pa.string())
    email = pa.nulls(n, pa.string())
    order_parts, pieces_f, pieces_l, pieces_e = [], [], [], []
    for ci, c in enumerate(C.COUNTRIES):
        rows = np.flatnonzero(country == ci)
        if len(rows) == 0:
            continue
        fi = pa.array(first_i[rows])
        li = pa.array(last_i[rows])
        f_name = book.first[c].take(fi)
        l_name = book.last[c].take(li)
        f_mail = book.first_mail[c].take(fi)
        l_mail = book.last_mail[c].take(li)
        initial = pc.utf8_slice_codeunits(f_mail, 0, 1)
        st = style[rows]
        local = pc.case_when(
            pa.StructArray.from_arrays([pa.array(st == k) for k in range(len(C.EMAIL_STYLES))],
                                       names=[str(k) for k in range(len(C.EMAIL_STYLES))]),
            pc.binary_join_element_wise(f_mail, pa.scalar("."), l_mail, ""),
            pc.binary_join_element_wise(f_mail, l_mail, ""),
            pc.binary_join_element_wise(initial, l_mail, ""),
            pc.binary_join_element_wise(f_mail, pa.scalar("_"), l_mail, ""),
            pc.binary_join_element_wise(l_mail, pa.scalar("."), f_mail, ""),
        )
        dom = book.domains[c].take(pa.array(dom_i[rows]))
        order_parts.append(rows)
        pieces_f.append(f_name)
        pieces_l.append(l_name)
        pieces_e.append((local, dom))
    if order_parts:
        rows_all = np.concatenate(order_parts)
        inv = np.empty(n, np.int64)
        inv[rows_all] = np.arange(n)
        first = pa.concat_arrays(pieces_f).take(pa.array(inv))
        last = pa.concat_arrays(pieces_l).take(pa.array(inv))
        local = pa.concat_arrays([p[0] for p in pieces_e]).take(pa.array(inv))
        dom = pa.concat_arrays([p[1] for p in pieces_e]).take(pa.array(inv))
        # unique addresses: a number is appended when the base address was used before
        base = pc.binary_join_element_wise(local, pa.scalar("@"), dom, "").dictionary_encode()
        codes = base.indices.to_numpy().astype(np.int64)
        keys = base.dictionary.to_pylist()
        before = np.array([book.used.get(k, 0) for k in keys], np.int64)
        number = before[codes] + group_rank(codes)
        for k, cnt in zip(keys, np.bincount(codes, minlength=len(keys)).tolist()):
            book.used[k] = book.used.get(k, 0) + cnt
        suffix = pc.if_else(pa.array(number == 0), pa.scalar(""), pc.cast(pa.array(number + 1), pa.string()))
        email = pc.binary_join_element_wise(local, suffix, pa.scalar("@"), dom, "")
    return first, last, email


def random_letters(rng: np.random.Generator, n: int, lo: int, hi: int) -> pa.Array:
    lengths = rng.integers(lo, hi + 1, n).astype(np.int32)
    mat = rng.integers(ord("a"), ord("z") + 1, (n, hi)).astype(np.uint8)
    return strings_from_matrix(mat, lengths)
