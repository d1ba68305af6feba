"""What genuine leads send back: SMS and email replies, and call-backs after a voicemail."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import catalog
from .activities import D_CONNECTED, D_NO_ANSWER, E_DELIVERED, E_RECEIVED, IN, OUT, S_DELIVERED, S_RECEIVED, Day, \
    call_timing
from .draws import lognormal_ms
from .textfmt import HOUR_MS, MINUTE_MS


def first_per_lead(lead_rows: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Positions (into the arguments) of each lead's earliest entry, leads in ascending order."""
    order = np.lexsort((times, lead_rows))
    sorted_rows = lead_rows[order]
    return order[np.concatenate([[True], sorted_rows[1:] != sorted_rows[:-1]])]


def replies(world, day: Day, response) -> None:
    if response is None:
        return
    bucket = np.full(len(day.leads["g"]), -1, np.int64)  # per lead of the day; -1: not genuine
    bucket[response.rows] = response.bucket
    if day.sms.n:
        _sms_replies(world, day, bucket)
    if day.emails.n:
        _email_replies(day, bucket)
    _voicemail_callbacks(world, day, response)


def _sms_replies(world, day: Day, bucket: np.ndarray) -> None:
    """The lead answers the first delivered SMS (automated or human), more often when it came fast."""
    rng, sms = day.rng, day.sms
    sent, status, lead_rows = sms.column("sent"), sms.column("status"), sms.column("lidx")
    sender, direction, rep = sms.column("from"), sms.column("direction"), sms.column("rep")
    ok = (status == S_DELIVERED) & (direction == OUT) & (bucket[lead_rows] >= 0)
    if not ok.any():
        return
    pick = np.flatnonzero(ok)[first_per_lead(lead_rows[ok], sent[ok])]
    lead = lead_rows[pick]
    lead_bucket = bucket[lead]
    n_buckets = len(catalog.BUCKETS)
    world.truth["sms_received"] += np.bincount(lead_bucket, minlength=n_buckets)
    replied = rng.random(len(pick)) < np.asarray(catalog.SMS_REPLY_P)[lead_bucket]
    world.truth["sms_reply"] += np.bincount(lead_bucket[replied], minlength=n_buckets)
    pick, lead = pick[replied], lead[replied]
    if len(pick) == 0:
        return
    phone = day.leads["phone_e164"]
    when = sent[pick] + np.maximum(lognormal_ms(rng, len(pick), 6 * MINUTE_MS, 1.2), 10_000).astype(np.int64)
    sms.add(sent=when, direction=IN, **{"from": phone[lead], "to": sender[pick]},
            rep=rep[pick], status=S_RECEIVED, auto=0, lead=-1, tag=0, lidx=lead)
    again = rng.random(len(pick)) < 0.3
    if again.any():
        later = when[again] + lognormal_ms(rng, int(again.sum()), 40 * MINUTE_MS, 1.0).astype(np.int64)
        sms.add(sent=later, direction=IN, **{"from": phone[lead[again]], "to": sender[pick[again]]},
                rep=rep[pick[again]], status=S_RECEIVED, auto=0, lead=-1, tag=0, lidx=lead[again])


def _email_replies(day: Day, bucket: np.ndarray) -> None:
    rng, emails = day.rng, day.emails
    sent, status, lead_rows = emails.column("sent"), emails.column("status"), emails.column("lidx")
    direction, rep, sender = emails.column("direction"), emails.column("rep"), emails.column("from_addr")
    ok = (status == E_DELIVERED) & (direction == OUT) & (bucket[lead_rows] >= 0)
    ok &= rng.random(len(ok)) < catalog.EMAIL_REPLY_P / 2.5
    pick = np.flatnonzero(ok)
    if len(pick) == 0:
        return
    lead = lead_rows[pick]
    when = sent[pick] + np.maximum(lognormal_ms(rng, len(pick), 2 * HOUR_MS, 1.0), 60_000).astype(np.int64)
    emails.add(sent=when, direction=IN, from_addr=day.leads["email_lc"].take(pa.array(lead)),
               to_addr=sender.take(pa.array(pick)), rep=rep[pick], status=E_RECEIVED, auto=0, lead=-1, tag=0,
               lidx=lead)


def _voicemail_callbacks(world, day: Day, response) -> None:
    """Some leads call back after a voicemail: answered if the team is open, else missed."""
    rng = day.rng
    for lead_rows, ended, local in response.voicemails:
        back = rng.random(len(lead_rows)) < catalog.VOICEMAIL_CALLBACK_P
        if not back.any():
            continue
        rows, voicemail_end, local = lead_rows[back], ended[back], local[back]
        when = voicemail_end + np.maximum(lognormal_ms(rng, len(rows), 3 * HOUR_MS, 1.0), 60_000).astype(np.int64)
        owner = response.owner[local]
        is_open = world.clock.is_open(response.group[local], when)
        disposition = np.where(is_open, D_CONNECTED, D_NO_ANSWER)
        answered, call_end, duration = call_timing(rng, when, disposition)
        day.calls.add(started=when, answered=answered, ended=call_end, direction=IN,
                      **{"from": day.leads["phone_e164"][rows], "to": world.roster.phone[owner]},
                      rep=np.where(is_open, owner, -1), disp=disposition, dur=duration, lead=-1, tag=0, lidx=rows)
