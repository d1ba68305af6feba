"""Activity rows of one simulated day: codes, buffers and the outbound-attempt primitives.

Responses, replies and the planted anomalies all write calls, SMS and emails through the
helpers here, so an activity row is built one way. Codes are small integers; the sink maps them
to the contract's text (``sink.CALL_DISPOSITIONS`` and friends, in the same order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from . import catalog
from .draws import categorical, lognormal_ms
from .sink import APPOINTMENT_STATUSES, LEAD_STATUSES, OPP_STAGES
from .textfmt import HOUR_MS

CALL, SMS, EMAIL = 0, 1, 2
CHANNEL_NAMES = ("call", "sms", "email")
D_CONNECTED, D_VOICEMAIL, D_NO_ANSWER, D_BUSY, D_FAILED = range(5)
S_DELIVERED, S_SENT, S_FAILED, S_UNDELIVERED, S_RECEIVED = range(5)
E_DELIVERED, E_SENT, E_BOUNCED, E_FAILED, E_RECEIVED = range(5)
OUT, IN = 0, 1
STATUS = {s: i for i, s in enumerate(LEAD_STATUSES)}
APPOINTMENT = {s: i for i, s in enumerate(APPOINTMENT_STATUSES)}
STAGE = {s: i for i, s in enumerate(OPP_STAGES)}

# Lower edges of the response-time buckets after the first, in milliseconds.
BUCKET_EDGES_MS = np.array([lower * 1000 for _, lower, _ in catalog.BUCKETS[1:]], np.int64)

CALL_COLS = ("started", "answered", "ended", "direction", "from", "to", "rep", "disp", "dur", "lead", "tag",
             "lidx")
SMS_COLS = ("sent", "direction", "from", "to", "rep", "status", "auto", "lead", "tag", "lidx")
EMAIL_COLS = ("sent", "direction", "from_addr", "to_addr", "rep", "status", "auto", "lead", "tag", "lidx")


def bucket_of(elapsed_ms: np.ndarray) -> np.ndarray:
    """Response-time bucket index of elapsed milliseconds (``catalog.BUCKETS`` order)."""
    return np.searchsorted(BUCKET_EDGES_MS, elapsed_ms, side="right")


class ActivityBuffer:
    """Column pieces of one activity kind, concatenated at the end of a day.

    ``lidx`` is the row of the day's leads an activity belongs to (-1: none); it never reaches
    a file. A scalar column value is repeated for every row of the piece."""

    def __init__(self, names):
        self.names = names
        self.parts = {k: [] for k in names}
        self.n = 0

    def add(self, **cols):
        n = None
        for v in cols.values():
            if isinstance(v, (np.ndarray, pa.Array)):
                n = len(v)
                break
        if not n:
            return
        for k in self.names:
            v = cols[k]
            if isinstance(v, (np.ndarray, pa.Array)):
                self.parts[k].append(v)
            elif isinstance(v, str):
                self.parts[k].append(pa.array([v] * n, pa.string()))
            else:
                self.parts[k].append(np.full(n, v, np.int64))
        self.n += n

    def column(self, name: str):
        """Everything added so far of one column."""
        parts = self.parts[name]
        if isinstance(parts[0], np.ndarray):
            return np.concatenate(parts)
        return pa.concat_arrays([p.cast(pa.string()) for p in parts])

    def build(self):
        out = {}
        for k, parts in self.parts.items():
            if isinstance(parts[0], np.ndarray):
                out[k] = np.concatenate(parts).astype(np.int64)
            else:
                out[k] = pa.concat_arrays([p.cast(pa.string()) for p in parts])
        return out


@dataclass
class Day:
    """What the steps of one simulated day share: its leads, random stream and output buffers."""

    index: int
    start_ms: int
    rng: np.random.Generator
    leads: dict = field(default_factory=dict)
    calls: ActivityBuffer = field(default_factory=lambda: ActivityBuffer(CALL_COLS))
    sms: ActivityBuffer = field(default_factory=lambda: ActivityBuffer(SMS_COLS))
    emails: ActivityBuffer = field(default_factory=lambda: ActivityBuffer(EMAIL_COLS))
    status_rows: list = field(default_factory=list)  # (lead rows, status code, time, rep) pieces

    def add_status(self, lead_rows, code: str, when, rep) -> None:
        self.status_rows.append((lead_rows, np.full(len(lead_rows), STATUS[code]), when.astype(np.int64), rep))


def call_timing(rng, start, disposition):
    """(answered, ended, duration seconds) of calls by disposition: ring, then talk or message."""
    k = len(start)
    ring = np.select([disposition == D_CONNECTED, disposition == D_VOICEMAIL, disposition == D_NO_ANSWER,
                      disposition == D_BUSY],
                     [rng.integers(4000, 25_000, k), rng.integers(20_000, 32_000, k),
                      rng.integers(25_000, 45_000, k), rng.integers(2000, 6000, k)],
                     rng.integers(300, 2000, k))
    talk = np.where(disposition == D_CONNECTED, np.clip(lognormal_ms(rng, k, 240_000, 0.9), 15_000, 2 * HOUR_MS),
                    np.where(disposition == D_VOICEMAIL, rng.integers(15_000, 60_000, k), 0)).astype(np.int64)
    answered = np.where((disposition == D_CONNECTED) | (disposition == D_VOICEMAIL), start + ring, -1)
    ended = np.where(answered >= 0, answered + talk, start + ring)
    duration = np.where(answered >= 0, np.rint(talk / 1000), 0).astype(np.int64)
    return answered, ended, duration


def outcomes(rng, channel, elapsed):
    """Disposition / status code per attempt and whether it qualifies as a response."""
    k = len(channel)
    bucket = bucket_of(np.maximum(elapsed, 0))
    u = rng.random(k)
    p_connect = np.asarray(catalog.CALL_CONNECT_P)[bucket]
    p_voicemail = p_connect + (1 - p_connect) * catalog.CALL_VOICEMAIL_SHARE_OF_UNCONNECTED
    miss = categorical(catalog.CALL_MISS_SPLIT, rng.random(k)) + D_NO_ANSWER
    disposition = np.where(u < p_connect, D_CONNECTED, np.where(u < p_voicemail, D_VOICEMAIL, miss))
    sms_status = categorical(list(catalog.SMS_STATUS_P_OUT.values()), rng.random(k))
    email_status = categorical(list(catalog.EMAIL_STATUS_P_OUT.values()), rng.random(k))
    code = np.select([channel == CALL, channel == SMS], [disposition, sms_status], email_status)
    qualifies = np.where(channel == CALL, disposition <= D_VOICEMAIL, code <= 1)  # delivered/sent = 0/1
    return code, qualifies


def choose_channels(rng, leads, rows, weights):
    """Channel per attempt; a lead without a phone gets an email, without an email a call."""
    channel = categorical(weights, rng.random(len(rows)))
    channel = np.where((channel != EMAIL) & ~leads["has_phone"][rows], EMAIL, channel)
    return np.where((channel == EMAIL) & ~leads["has_email"][rows], CALL, channel)


def emit_outbound(world, day: Day, rows, when, channel, code, rep, tag=0, lead_share=None) -> None:
    """Write outbound human activities of the day's leads ``rows`` at times ``when``."""
    rng, leads, roster = day.rng, day.leads, world.roster
    for ch, buffer in ((CALL, day.calls), (SMS, day.sms), (EMAIL, day.emails)):
        sel = channel == ch
        if not sel.any():
            continue
        li, tt, cc, rr = rows[sel], when[sel], code[sel], rep[sel]
        k = len(li)
        share = lead_share if lead_share is not None else catalog.LEAD_ID_SHARE[CHANNEL_NAMES[ch]]
        lead = np.where(rng.random(k) < share, leads["g"][li], -1)
        if ch == CALL:
            answered, ended, duration = call_timing(rng, tt, cc)
            rep_written = np.where(rng.random(k) < 0.88, rr, -1)
            buffer.add(started=tt, answered=answered, ended=ended, direction=OUT,
                       **{"from": roster.phone[rr], "to": leads["phone_e164"][li]}, rep=rep_written, disp=cc,
                       dur=duration, lead=lead, tag=tag, lidx=li)
        elif ch == SMS:
            buffer.add(sent=tt, direction=OUT, **{"from": roster.phone[rr], "to": leads["phone_e164"][li]},
                       rep=np.where(rng.random(k) < 0.92, rr, -1), status=cc, auto=0, lead=lead, tag=tag, lidx=li)
        else:
            buffer.add(sent=tt, direction=OUT, from_addr=roster.email.take(pa.array(rr)),
                       to_addr=leads["email_lc"].take(pa.array(li)), rep=np.where(rng.random(k) < 0.95, rr, -1),
                       status=cc, auto=0, lead=lead, tag=tag, lidx=li)
