//! The suppression policy: what each kind of feedback does to a recipient. Pure, so every rule is unit-tested.

use chrono::Duration;
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

    /// The decision for one bounced recipient. `soft_bounces` counts transient bounces of this address within the
    /// window, this one included (only read for transient bounces).
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
