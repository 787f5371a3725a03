//! `report.json`: every published number with its protection and interval; under
//! differential privacy, each count's noise and the accounting (`"privacy"`, absent without
//! DP, so that a report without it is what it always was).

use super::Sides;
use cocoa_analytics::date::{format_day, format_month};
use cocoa_analytics::dp::{self, Accounting};
use cocoa_analytics::estimate::{self, Analysis};
use cocoa_analytics::protect::{Protection, Published, Rate, Share};
use cocoa_analytics::stats::Estimate;
use cocoa_analytics::tables::{self, age_label, commute_label};
use cocoa_analytics::{DayRange, Method};
use serde_json::{json, Value};

pub(super) fn window_json(w: DayRange) -> Value {
    json!({ "first": format_day(w.first()), "last": format_day(w.last()), "days": w.len() })
}

fn method_json(m: Method) -> Value {
    json!({ "en": m.en, "ja": m.ja })
}

/// A published count with its protection (and, under DP, the standard deviation of its noise).
fn count(p: Protection, c: Published) -> Value {
    let mut v = json!({
        "value": c.get(),
        "suppressed": c.is_suppressed(),
        "min_cell": p.min_cell(),
        "round_to": p.round_to(),
    });
    if p.dp().is_some() {
        v["noise_sd"] = json!(c.noise_variance().sqrt());
    }
    v
}

/// The DP accounting: the budget, the rule that splits it, the contribution bound, and each
/// statistic's sensitivity, share and noise.
fn privacy_json(a: &Accounting) -> Value {
    json!({
        "epsilon": a.budget.epsilon(),
        "delta": a.budget.delta(),
        "unit": "respondent (one answer added or removed)",
        "mechanism": a.mechanism.name(),
        "library": dp::LIBRARY,
        "composition": {
            "rule": a.composition.rule(),
            "rho": a.rho,
            "epsilon_spent": a.epsilon_spent,
        },
        "contribution_bound": {
            "max_days": a.max_days,
            "rule": a.bound_rule,
        },
        "statistics": a.statistics.iter().map(|s| json!({
            "name": s.name,
            "description": s.description,
            "cells": s.cells,
            "l1_sensitivity": s.l1_sensitivity,
            "l2_sensitivity": s.l2_sensitivity,
            "sensitivity": s.sensitivity,
            "weight": s.weight,
            "epsilon": s.epsilon,
            "rho": s.rho,
            "noise_scale": s.scale(),
            "noise_sd": s.noise_sd(),
        })).collect::<Vec<_>>(),
        "withheld": a.withheld.iter().map(|(name, why)| json!({
            "name": name, "reason": why,
        })).collect::<Vec<_>>(),
        "not_covered": "the server's registration counts (not survey answers: published by the \
            server's statistics endpoint, protected by the threshold and rounding only) and the \
            public side inputs",
        "method": method_json(dp::METHOD),
    })
}

fn share(p: Protection, s: Share) -> Value {
    json!({
        "numerator": count(p, s.numerator()),
        "denominator": count(p, s.denominator()),
        "value": s.value(),
        "interval": s.interval().map(|(lo, hi)| [lo, hi]),
    })
}

fn rate(p: Protection, r: Rate) -> Value {
    json!({
        "numerator": count(p, r.numerator()),
        "denominator": count(p, r.denominator()),
        "per": r.per(),
        "dispersion": r.dispersion(),
        "value": r.value(),
        "interval": r.interval().map(|(lo, hi)| [lo, hi]),
    })
}

fn est(e: Option<Estimate>) -> Value {
    e.map_or(
        Value::Null,
        |e| json!({ "value": e.value, "interval": [e.low, e.high] }),
    )
}

fn registrations_json(r: &estimate::RegistrationsAnalysis) -> Value {
    json!({
        "regressor": format!("{:?}", r.regressor),
        "lag": r.lag,
        "lag_interval": r.lag_interval.map(|(lo, hi)| [lo, hi]),
        "elasticity": est(r.elasticity),
        "dispersion": r.dispersion,
        "days_used": r.days_used,
        "lags": r.lags.iter().map(|l| json!({
            "lag": l.lag, "correlation": l.correlation, "days": l.days,
        })).collect::<Vec<_>>(),
        "days": r.days.iter().map(|d| json!({
            "date": format_day(d.day),
            "rate_per_100k": d.rate_per_100k,
            "rate7_per_100k": d.rate7_per_100k,
            "regressor7": d.regressor7,
            "per_registration": d.per_registration,
        })).collect::<Vec<_>>(),
    })
}

fn group_rates(g: &[estimate::activity::GroupRates]) -> Vec<Value> {
    g.iter()
        .map(|g| {
            json!({
                "label": g.label,
                "days": g.days,
                "days_used": g.days_used,
                "rate_per_100k": est(g.rate_per_100k),
                "per_registration": est(g.per_registration),
            })
        })
        .collect()
}

fn group_cooperation(p: Protection, rows: &[tables::GroupCooperation]) -> Vec<Value> {
    let opt = |s: Option<Share>| s.map_or(Value::Null, |s| share(p, s));
    rows.iter()
        .map(|r| {
            json!({
                "group": r.group,
                "respondents": count(p, r.respondents),
                "q1": opt(r.q1),
                "q2": opt(r.q2),
                "start_date": share(p, r.start_date),
                "exposure_data": share(p, r.exposure_data),
            })
        })
        .collect()
}

pub(super) fn report_json(a: &Analysis, sides: &Sides) -> Value {
    let p = a.protection;
    let commute_row = |r: &tables::CommuteRow| {
        json!({
            "commute": commute_label(r.commute),
            "notified": share(p, r.notified),
            "flagged_days_per_1000": rate(p, r.flagged),
        })
    };
    let c = &a.cooperation;
    let mut report = json!({
        "window": window_json(a.window),
        "protection": {
            "min_cell": p.min_cell(),
            "round_to": p.round_to(),
            "threshold_spread": p.spread(),
            "method": method_json(estimate::PROTECTION_METHOD),
        },
        "side_inputs": {
            "registrations": "the server's registration counts",
            "national_cases": sides.cases.is_some(),
            "activity": sides.activity.is_some(),
            "periods": sides.periods.len(),
            "active_users": sides.active_users,
        },
        "answers": count(p, a.answers),
        "days_outside_window": count(p, a.days_outside_window),
        "received_outside_window": count(p, a.received_outside_window),
        "age": {
            "rows": a.age.rows.iter().map(|r| json!({
                "age_group": age_label(r.age_group),
                "notified": share(p, r.notified),
            })).collect::<Vec<_>>(),
            "total": share(p, a.age.total),
        },
        "start_month": {
            "rows": a.start_month.rows.iter().map(|r| json!({
                "start_month": match r.month {
                    None => "none".to_owned(),
                    Some(tables::MonthRow::OTHER) => "other".to_owned(),
                    Some(m) => format_month(m),
                },
                "notified": share(p, r.notified),
            })).collect::<Vec<_>>(),
            "total": share(p, a.start_month.total),
        },
        "daily": a.daily.rows.iter().map(|r| json!({
            "date": format_day(r.day),
            "respondents_with_data": count(p, r.respondents_with_data),
            "flagged": count(p, r.flagged),
            "registrations": r.registrations.map(|c| count(p, c)),
        })).collect::<Vec<_>>(),
        "questions": {
            "registrations": {
                "method": method_json(estimate::registrations::METHOD),
                "against_registrations": a.registrations.as_ref().map(registrations_json),
                "against_national_cases": a.national_cases.as_ref().map(registrations_json),
            },
            "commuting": {
                "method": method_json(estimate::commuting::METHOD),
                "rows": a.commuting.table.rows.iter().map(commute_row).collect::<Vec<_>>(),
                "total": commute_row(&a.commuting.table.total),
                "comparisons": a.commuting.comparisons.iter().map(|k| json!({
                    "commute": commute_label(k.commute),
                    "against": "1",
                    "rate_ratio": est(k.rate_ratio),
                    "rate_ratio_age_adjusted": est(k.rate_ratio_age_adjusted),
                    "share_ratio": est(k.share_ratio),
                    "share_ratio_age_adjusted": est(k.share_ratio_age_adjusted),
                    "rate_strata_used": k.rate_strata_used,
                    "share_strata_used": k.share_strata_used,
                })).collect::<Vec<_>>(),
            },
            "activity": {
                "method": method_json(estimate::activity::METHOD),
                "lag": a.activity.lag,
                "correlation": est(a.activity.correlation),
                "activity_effect": est(a.activity.activity_effect),
                "elasticity_adjusted": est(a.activity.elasticity_adjusted),
                "days_used": a.activity.days_used,
                "by_period": group_rates(&a.activity.by_period),
                "by_weekday": group_rates(&a.activity.by_weekday),
            },
            "cooperation": {
                "method": method_json(estimate::cooperation::METHOD),
                "items": c.items.rows.iter().map(|r| json!({
                    "item": r.item.name(),
                    "answered": share(p, r.answered),
                })).collect::<Vec<_>>(),
                "by_age": group_cooperation(p, &c.by_age),
                "by_commute": group_cooperation(p, &c.by_commute),
                "of_active_users": c.of_active_users,
                "received": {
                    "rows": c.received.rows.iter().map(|r| json!({
                        "date": format_day(r.day),
                        "answers": count(p, r.answers),
                    })).collect::<Vec<_>>(),
                    "total": count(p, c.received.total),
                },
            },
        },
    });
    if let Some(privacy) = &a.privacy {
        report["privacy"] = privacy_json(privacy);
    }
    report
}
