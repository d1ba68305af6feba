"""The manifest: what a run planted (rows, quarantine reasons, anomalies) and the true effect."""

from __future__ import annotations

import numpy as np

from . import catalog
from .sink import (EVENT_ENTITIES, EXT, FORMAT, LEAD_STATUSES, OPP_STAGES, QUARANTINE_ORDER, TAG_BEFORE_LEAD,
                   TAG_BOT, TAG_DUPLICATE_SUBMISSION, TAG_TEST, TAG_UNKNOWN_CONTACT, Sink)
from .textfmt import MINUTE_MS, iso_utc
from .writers import DIMENSION_FILES

MANIFEST_VERSION = 1


def effect_parameters() -> dict:
    return {
        "outcome": "lead converted to an opportunity (a row in opportunities with its lead_id)",
        "population": "genuine leads: not duplicate submissions, bot leads or internal test leads",
        "model": "logit P(opportunity) = intercept + log(odds_ratio[bucket]) + source_log_odds[source] + score_tier_log_odds[tier]",
        "clock_start": "form_submitted_at when present, else created_at",
        "first_qualifying_response": (
            "first outbound, non-automated activity that reached the person: a call with disposition connected or "
            "voicemail, an SMS with delivery_status delivered or sent, an email with delivery_status delivered or sent"),
        "elapsed": "calendar time from clock_start to the first qualifying response",
        "buckets": [{"label": lab, "lower_seconds": lo, "upper_seconds": hi, "odds_ratio": orr}
                    for (lab, lo, hi), orr in zip(catalog.BUCKETS, catalog.BUCKET_ODDS_RATIO)],
        "intercept": catalog.CONVERSION_INTERCEPT,
        "reference": {"bucket": catalog.BUCKETS[0][0], "source": "paid_search", "score_tier": "warm"},
        "source_log_odds": dict(catalog.SOURCE_LOG_ODDS),
        "score_tier_log_odds": dict(catalog.TIER_LOG_ODDS),
        "score_tiers": {t: list(b) for t, b in zip(catalog.TIERS, catalog.TIER_BOUNDS)},
        "confounding": ("hot leads are answered faster (response-time log shift {}), cold slower; compare "
                        "buckets within score tier and source".format(catalog.RT_TIER_SHIFT)),
        "contact": {
            "definition": "a connected call (either direction) or, for leads without a phone, an inbound email",
            "outbound_call_connect_probability_by_elapsed_bucket": list(catalog.CALL_CONNECT_P),
            "voicemail_share_of_unconnected": catalog.CALL_VOICEMAIL_SHARE_OF_UNCONNECTED,
            "converted_leads_always_contacted": True,
        },
        "booking": {
            "probability_if_converted": catalog.BOOKING_P_OPP,
            "probability_if_contacted_not_converted_by_bucket": list(catalog.BOOKING_P_NO_OPP),
        },
        "sms_reply_probability_by_bucket": list(catalog.SMS_REPLY_P),
        "response_time_model": {
            "first_attempt_business_minutes": "LogNormal(rep_mu + tier_shift + load_elasticity*log(load_ratio) [in hours only], sigma)",
            "rep_mu_mean": catalog.REP_MU_MEAN, "rep_mu_sd": catalog.REP_MU_SD, "sigma": catalog.RT_SIGMA,
            "tier_shift": dict(catalog.RT_TIER_SHIFT), "load_elasticity": catalog.LOAD_ELASTICITY,
            "load_ratio": "leads arriving for the team in that UTC hour per active rep, over the team's average while open",
            "after_hours_backlog_median_minutes": catalog.AFTER_HOURS_BACKLOG_MEDIAN_MIN,
            "never_attempted_probability_by_tier": dict(catalog.NEVER_ATTEMPT_P),
            "max_attempts": catalog.MAX_ATTEMPTS, "give_up_probability_after_failed_attempt": catalog.ATTEMPT_GIVE_UP_P,
        },
    }


def experiment_manifest(world) -> dict:
    return {"experiment_id": catalog.EXPERIMENT_ID, "unit_type": "rep", "arms": list(catalog.EXPERIMENT_ARMS),
            "control_arm": catalog.EXPERIMENT_ARMS[0], "reps_per_arm": [int((world.roster.arm == k).sum()) for k in (0, 1)],
            "first_attempt_business_time_ratio": catalog.EXPERIMENT_FIRST_ATTEMPT_RATIO,
            "note": "the treated arm's rep_mu is shifted by log(ratio); conversion changes only through "
                    "the response-time buckets (the planted effect), calendar time also includes after-hours waits"}


def build_manifest(world, sink: Sink, dims: dict[str, int], cost_rows: int) -> dict:
    truth = world.truth
    buckets = []
    for i, (lab, _, _) in enumerate(catalog.BUCKETS):
        n = int(truth["leads"][i])
        buckets.append({
            "bucket": lab, "leads": n, "converted": int(truth["converted"][i]),
            "conversion_rate": round(int(truth["converted"][i]) / n, 4) if n else None,
            "contacted": int(truth["contacted"][i]), "booked": int(truth["booked"][i]),
            "received_delivered_sms": int(truth["sms_received"][i]), "sms_replied": int(truth["sms_reply"][i]),
        })
    n_gen = int(truth["leads"].sum())
    conv = int(truth["converted"].sum())
    rows = dict(sink.rows)
    rows.update(dims)
    rows["campaign_costs"] = cost_rows
    planted = {e: dict(v) for e, v in sink.planted.items()}
    for e in ("teams", "reps", "schedules", "holidays", "campaign_costs"):
        planted[e] = {r: 0 for r in QUARANTINE_ORDER}
    tags = sink.tags
    act = ("calls", "sms", "emails")
    in_h = np.array(world.rt_in_hours) if world.rt_in_hours else np.zeros(1)
    out_h = np.array(world.rt_after_hours) if world.rt_after_hours else np.zeros(1)
    dst_total = int(sum(sink.dst_rows.values()))
    return {
        "generator": "orchestration.demo.generator",
        "manifest_version": MANIFEST_VERSION,
        "parameters": {
            "leads": world.n_leads, "seed": world.seed, "days": world.days,
            "start_date": world.start_date.isoformat(), "end_date": world.end_date.isoformat(),
            "messy_share": world.messy,
        },
        "window": {"start_utc": iso_utc(world.t0), "end_utc_exclusive": iso_utc(world.t1),
                   "note": "events after the window end are not written (the export happened at its end)"},
        "sources": {"crm": catalog.CRM_TIMEZONE, "telephony": "UTC", "messaging": "UTC"},
        "layout": {
            **{e: {"path": f"{e}/{e}_YYYY-MM-DD.{EXT[FORMAT[e]]}", "format": FORMAT[e]} for e in EVENT_ENTITIES},
            **{e: {"path": p, "format": p.rsplit(".", 1)[1]} for e, p in DIMENSION_FILES.items()},
        },
        "files": dict(sink.files),
        "rows": rows,
        "planted_quarantine": planted,
        "planted_quarantine_total": int(sum(sum(v.values()) for v in planted.values())),
        "lead_kinds": {"genuine": world.arrivals.n_genuine, "duplicate_submission": world.arrivals.n_dup, "bot": world.arrivals.n_bot,
                       "internal_test": world.arrivals.n_test},
        "anomalies": {
            "duplicate_submission_leads": int(tags["leads"].get(TAG_DUPLICATE_SUBMISSION, 0)),
            "bot_leads": int(tags["leads"].get(TAG_BOT, 0)),
            "bot_bursts": [{"start_utc": iso_utc(s), "minutes": dur // MINUTE_MS, "leads": size,
                            "region": catalog.REGIONS[r]} for (_, s, dur, size, r) in world.specials.bot_bursts],
            "internal_test_leads": int(tags["leads"].get(TAG_TEST, 0)),
            "internal_test_lead_kinds": dict(world.test_kinds),
            "activities_before_lead": {e: int(tags[e].get(TAG_BEFORE_LEAD, 0)) for e in act},
            "unknown_contact_activities": {e: int(tags[e].get(TAG_UNKNOWN_CONTACT, 0)) for e in act},
            "activities_with_lead_id": dict(sink.with_lead_id),
            "double_booked_appointments": world.double_booked,
            "offset_aware_rows": dict(sink.aware_rows),
            "dst_ambiguous_naive_rows_by_entity": dict(sink.dst_rows),
            "dst_ambiguous_naive_values": {e: dict(v) for e, v in sink.dst_values.items()},
        },
        "dst_ambiguous_naive_rows": dst_total,
        "effect": effect_parameters(),
        "truth": {
            "genuine_leads": n_gen, "converted": conv,
            "conversion_rate": round(conv / n_gen, 4) if n_gen else None,
            "by_bucket": buckets,
            "by_source": {s: {"leads": int(world.truth_by_source[i].sum()), "converted": int(world.truth_by_source[i, 1])}
                          for i, s in enumerate(catalog.SOURCES)},
            "by_score_tier": {t: {"leads": int(world.truth_by_tier[i].sum()), "converted": int(world.truth_by_tier[i, 1])}
                              for i, t in enumerate(catalog.TIERS)},
            "opportunities_not_written_after_window": int(sink.dropped_after_window["opportunities"]),
            "first_attempt_median_minutes": {"lead_arrived_in_hours": round(float(np.median(in_h)), 2),
                                             "lead_arrived_after_hours": round(float(np.median(out_h)), 2)},
        },
        "teams": [{"team_id": t.team_id, "name": t.name, "timezone": t.timezone, "region": t.region,
                   "reps": int((world.roster.team == i).sum())} for i, t in enumerate(catalog.TEAMS)],
        "regions": [{"region": r, "timezone": z, "share": s, "team_id": catalog.TEAMS[catalog.REGION_TEAM[i]].team_id,
                     "share_to_24_7_desk": catalog.REGION_247_SHARE[i]}
                    for i, (r, z, s) in enumerate(zip(catalog.REGIONS, catalog.REGION_TZ, catalog.REGION_SHARE))],
        "schedule_change": {"team_id": "T-NYC", "effective_from": world.change_date.isoformat(),
                            "weekday_hours_before": "08:00-18:00", "weekday_hours_after": "08:00-20:00"},
        "part_time_rep": {"rep_id": world.roster.ids[world.roster.part_time], "team_id": "T-LAX", "timezone": "America/Denver"},
        "surges": world.arrivals.surge_info,
        "lead_statuses": list(LEAD_STATUSES),
        "opportunity_stages": list(OPP_STAGES),
        "company_domain": catalog.COMPANY_DOMAIN,
        "internal_test_domain": catalog.INTERNAL_TEST_DOMAIN,
        "bot_user_agent_markers": list(catalog.BOT_MARKERS),
    }
