//! The suppression policy: what each kind of feedback does to a recipient. Pure, so every rule is unit-tested.

use chrono::{DateTime, Duration, Utc};
use switchyard_core::config::{self, ConfigError, Var};
use switchyard_mail::SuppressionReason;

use crate::feedback::BounceType;

/// Configurable rules (environment variables in brackets, defaults from the SES guidance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Permanent (hard) bounce -> suppress [`SUPPRESS_PERMANENT_BOUNCES`, true].
    pub suppress_permanent: bool,
    /// Complaint -> suppress [`SUPPRESS_COMPLAINTS`, true]. A complaint of type `not-spam` is recorded only.
    pub suppress_complaints: bool,
    /// Undetermined bounce -> suppress [`SUPPRESS_UNDETERMINED_BOUNCES`, false: recorded only].
    pub suppress_undetermined: bool,
    /// Transient (soft) bounces: suppress at this many within `soft_bounce_window` [`SOFT_BOUNCE_THRESHOLD`, 3;
    /// 0 never suppresses on soft bounces].
    pub soft_bounce_threshold: u32,
    /// [`SOFT_BOUNCE_WINDOW_DAYS`, 7].
    pub soft_bounce_window: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            suppress_permanent: true,
            suppress_complaints: true,
            suppress_undetermined: false,
            soft_bounce_threshold: 3,
            soft_bounce_window: Duration::days(7),
        }
    }
}

pub const SUPPRESS_PERMANENT_BOUNCES: Var = Var::new(
    "SUPPRESS_PERMANENT_BOUNCES",
    "a permanent bounce suppresses the address",
)
.example("true");
pub const SUPPRESS_COMPLAINTS: Var =
    Var::new("SUPPRESS_COMPLAINTS", "a complaint suppresses the address").example("true");
pub const SUPPRESS_UNDETERMINED_BOUNCES: Var = Var::new(
    "SUPPRESS_UNDETERMINED_BOUNCES",
    "an undetermined bounce suppresses the address (otherwise recorded only)",
)
.example("false");
pub const SOFT_BOUNCE_THRESHOLD: Var = Var::new(
    "SOFT_BOUNCE_THRESHOLD",
    "transient bounces within the window that suppress (0: never)",
)
.example("3");
pub const SOFT_BOUNCE_WINDOW_DAYS: Var = Var::new(
    "SOFT_BOUNCE_WINDOW_DAYS",
    "the window of SOFT_BOUNCE_THRESHOLD",
)
.example("7");

impl Policy {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let days: u32 = config::parsed(&SOFT_BOUNCE_WINDOW_DAYS, 7)?;
        Ok(Self {
            suppress_permanent: config::flag(&SUPPRESS_PERMANENT_BOUNCES, d.suppress_permanent)?,
            suppress_complaints: config::flag(&SUPPRESS_COMPLAINTS, d.suppress_complaints)?,
            suppress_undetermined: config::flag(
                &SUPPRESS_UNDETERMINED_BOUNCES,
                d.suppress_undetermined,
            )?,
            soft_bounce_threshold: config::parsed(&SOFT_BOUNCE_THRESHOLD, d.soft_bounce_threshold)?,
            soft_bounce_window: Duration::days(i64::from(days)),
        })
    }

    /// How many transient bounces count for a new one at `at`, given when the address's `others` happened: the
    /// most that fall in one window (`soft_bounce_window`, ending at a bounce) that contains `at`, this one
    /// included. Arrival order does not matter: a late bounce that completes a window counts the whole window.
    pub fn soft_bounces_in_window(&self, others: &[DateTime<Utc>], at: DateTime<Utc>) -> i64 {
        let window = self.soft_bounce_window;
        let in_window_ending = |end: DateTime<Utc>| {
            let earlier = others
                .iter()
                .filter(|t| **t > end - window && **t <= end)
                .count();
            earlier + usize::from(at > end - window && at <= end)
        };
        let most = std::iter::once(at)
            .chain(
                others
                    .iter()
                    .copied()
                    .filter(|t| *t >= at && *t < at + window),
            )
            .map(in_window_ending)
            .max()
            .unwrap_or(1);
        i64::try_from(most).unwrap_or(i64::MAX)
    }

    /// The decision for one bounced recipient. `soft_bounces` counts transient bounces of this address within one
    /// window, this one included ([`Policy::soft_bounces_in_window`]; only read for transient bounces).
    pub fn bounce(&self, bounce_type: &BounceType, soft_bounces: i64) -> Decision {
        match bounce_type {
            BounceType::Permanent if self.suppress_permanent => {
                Decision::suppress(SuppressionReason::Bounce, "permanent bounce")
            }
            BounceType::Permanent => {
                Decision::record("permanent bounce; SUPPRESS_PERMANENT_BOUNCES is off")
            }
            BounceType::Transient => {
                let days = self.soft_bounce_window.num_days();
                let threshold = i64::from(self.soft_bounce_threshold);
                if threshold > 0 && soft_bounces >= threshold {
                    Decision::suppress(
                        SuppressionReason::SoftBounces,
                        format!(
                            "{soft_bounces} transient bounces within {days} days (threshold {threshold})"
                        ),
                    )
                } else if threshold == 0 {
                    Decision::counted(format!(
                        "transient bounce {soft_bounces} within {days} days; SOFT_BOUNCE_THRESHOLD=0 never suppresses"
                    ))
                } else {
                    Decision::counted(format!(
                        "transient bounce {soft_bounces} of {threshold} within {days} days"
                    ))
                }
            }
            BounceType::Undetermined if self.suppress_undetermined => Decision::suppress(
                SuppressionReason::Bounce,
                "undetermined bounce (SUPPRESS_UNDETERMINED_BOUNCES)",
            ),
            BounceType::Undetermined => Decision::record("undetermined bounce: recorded only"),
            BounceType::Other(t) => {
                Decision::record(format!("bounce of unknown type {t:?}: recorded only"))
            }
        }
    }

    /// The decision for one complaining recipient.
    pub fn complaint(&self, feedback_type: Option<&str>) -> Decision {
        match feedback_type {
            Some("not-spam") => Decision::record("complaint of type not-spam: recorded only"),
            _ if self.suppress_complaints => {
                let kind = feedback_type.unwrap_or("unspecified");
                Decision::suppress(SuppressionReason::Complaint, format!("complaint ({kind})"))
            }
            _ => Decision::record("complaint; SUPPRESS_COMPLAINTS is off"),
        }
    }
}

/// What becomes of one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: DecisionKind,
    /// Why, in words, stored with the decision.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    Suppressed(SuppressionReason),
    /// A transient bounce below the threshold.
    Counted,
    Recorded,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suppressed(_) => "suppressed",
            Self::Counted => "counted",
            Self::Recorded => "recorded",
        }
    }
}

impl Decision {
    fn suppress(reason: SuppressionReason, why: impl Into<String>) -> Self {
        Self {
            outcome: DecisionKind::Suppressed(reason),
            reason: why.into(),
        }
    }
    fn counted(why: impl Into<String>) -> Self {
        Self {
            outcome: DecisionKind::Counted,
            reason: why.into(),
        }
    }
    fn record(why: impl Into<String>) -> Self {
        Self {
            outcome: DecisionKind::Recorded,
            reason: why.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(d: Decision) -> DecisionKind {
        d.outcome
    }

    #[test]
    fn defaults_follow_the_issue() {
        let p = Policy::default();
        use DecisionKind::*;
        assert_eq!(
            kind(p.bounce(&BounceType::Permanent, 0)),
            Suppressed(SuppressionReason::Bounce)
        );
        assert_eq!(kind(p.bounce(&BounceType::Undetermined, 0)), Recorded);
        assert_eq!(kind(p.bounce(&BounceType::Other("X".into()), 0)), Recorded);
        assert_eq!(kind(p.bounce(&BounceType::Transient, 1)), Counted);
        assert_eq!(kind(p.bounce(&BounceType::Transient, 2)), Counted);
        assert_eq!(
            kind(p.bounce(&BounceType::Transient, 3)),
            Suppressed(SuppressionReason::SoftBounces)
        );
        assert_eq!(
            kind(p.complaint(Some("abuse"))),
            Suppressed(SuppressionReason::Complaint)
        );
        assert_eq!(
            kind(p.complaint(None)),
            Suppressed(SuppressionReason::Complaint)
        );
        assert_eq!(kind(p.complaint(Some("not-spam"))), Recorded);
        assert_eq!(
            p.bounce(&BounceType::Transient, 2).reason,
            "transient bounce 2 of 3 within 7 days"
        );
    }

    #[test]
    fn the_soft_bounce_window_counts_whatever_order_bounces_arrive_in() {
        let p = Policy::default();
        let day = |d: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 1, d)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .unwrap()
                .and_utc()
        };
        // Days 1, 3, 5 arriving in every order: the third to arrive always sees all three.
        for order in [
            [1, 3, 5],
            [5, 3, 1],
            [3, 5, 1],
            [5, 1, 3],
            [1, 5, 3],
            [3, 1, 5],
        ] {
            let mut seen = Vec::new();
            let counts: Vec<i64> = order
                .iter()
                .map(|d| {
                    let n = p.soft_bounces_in_window(&seen, day(*d));
                    seen.push(day(*d));
                    n
                })
                .collect();
            assert_eq!(counts[2], 3, "{order:?} -> {counts:?}");
        }
        // Spread wider than the window: days 1, 9, 17 never make three, in any order.
        for order in [[1, 9, 17], [17, 1, 9], [9, 17, 1]] {
            let mut seen = Vec::new();
            for d in order {
                assert!(p.soft_bounces_in_window(&seen, day(d)) < 3, "{order:?}");
                seen.push(day(d));
            }
        }
        // Exactly one window apart is outside it (the window is (end - 7 days, end]).
        assert_eq!(p.soft_bounces_in_window(&[day(1)], day(8)), 1);
        assert_eq!(p.soft_bounces_in_window(&[day(8)], day(1)), 1);
        assert_eq!(p.soft_bounces_in_window(&[day(2)], day(8)), 2);
        // Two windows on either side of the new bounce: the fuller one counts.
        assert_eq!(
            p.soft_bounces_in_window(&[day(1), day(2), day(12)], day(6)),
            3
        );
    }

    #[test]
    fn every_rule_can_be_turned() {
        let p = Policy {
            suppress_permanent: false,
            suppress_complaints: false,
            suppress_undetermined: true,
            soft_bounce_threshold: 0,
            soft_bounce_window: Duration::days(1),
        };
        use DecisionKind::*;
        assert_eq!(kind(p.bounce(&BounceType::Permanent, 0)), Recorded);
        assert_eq!(
            kind(p.bounce(&BounceType::Undetermined, 0)),
            Suppressed(SuppressionReason::Bounce)
        );
        assert_eq!(kind(p.bounce(&BounceType::Transient, 99)), Counted);
        assert_eq!(kind(p.complaint(Some("abuse"))), Recorded);
    }
}
