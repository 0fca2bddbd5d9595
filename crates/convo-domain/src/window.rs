//! The messaging window: when free-form outbound messages are allowed, per actor.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How a channel treats template messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSupport {
    /// The channel has no templates: sending one is `unsupportedChannel`.
    Unsupported,
    /// Templates may be sent at any time (WhatsApp); they do not open the window.
    AllowedOutsideWindow,
    /// Templates are ordinary messages, subject to the window like any other.
    InsideWindow,
}

/// The longest window an inbox's policy may set: ten years (longer is a permanent session).
pub const MAX_WINDOW_SECS: i64 = 10 * 365 * 24 * 3600;

/// The messaging policy of an inbox: the default of its channel type, or an override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelPolicy {
    /// Window for human agents after the contact's last inbound message; `None` = permanent session.
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub agent_window_secs: Option<i64>,
    /// Window for bots; `None` = permanent session.
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub bot_window_secs: Option<i64>,
    pub templates: TemplateSupport,
    /// Whether interactive messages (buttons, lists) can be carried.
    pub interactive: bool,
}

/// A number of seconds as JSON Schema's `integer` has it: `2.0` is the integer 2, as `2` is.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    // Below 2^53 a float is exact and converts without loss; larger ones are out of range anyway.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    #[allow(clippy::cast_possible_truncation)] // a whole number within ±2^53
    let whole = number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= EXACT).map(|f| f as i64);
    number
        .as_i64()
        .or(whole)
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{number} is not a whole number of seconds")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WindowActor {
    Agent,
    Bot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WindowState {
    Open,
    Closed,
}

/// Why a window is closed, or why a send was refused by the window policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum WindowFailure {
    MessagingWindowClosed,
    InboxRequired,
    UnsupportedChannel,
}

impl WindowFailure {
    pub const fn code(self) -> &'static str {
        match self {
            Self::MessagingWindowClosed => "messagingWindowClosed",
            Self::InboxRequired => "inboxRequired",
            Self::UnsupportedChannel => "unsupportedChannel",
        }
    }
}

/// The window as DOMAIN.md shapes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    pub state: WindowState,
    pub for_actor: WindowActor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<WindowFailure>,
}

impl Window {
    pub fn inbox_required(for_actor: WindowActor) -> Self {
        Self {
            state: WindowState::Closed,
            for_actor,
            expires_at: None,
            failure_code: Some(WindowFailure::InboxRequired),
        }
    }
}

impl ChannelPolicy {
    pub fn window_length(&self, actor: WindowActor) -> Option<Duration> {
        match actor {
            WindowActor::Agent => self.agent_window_secs,
            WindowActor::Bot => self.bot_window_secs,
        }
        .map(Duration::seconds)
    }

    /// When the window for `actor` closes, given when the contact last wrote. `None` for a
    /// permanent session, or when the contact never wrote (the window never opened).
    pub fn expires_at(&self, actor: WindowActor, last_inbound_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        Some(last_inbound_at? + self.window_length(actor)?)
    }

    /// The window for `actor` at `now`.
    pub fn window(&self, actor: WindowActor, last_inbound_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Window {
        match self.window_length(actor) {
            None => Window { state: WindowState::Open, for_actor: actor, expires_at: None, failure_code: None },
            Some(_) => {
                let expires_at = self.expires_at(actor, last_inbound_at);
                match expires_at {
                    Some(at) if now < at => {
                        Window { state: WindowState::Open, for_actor: actor, expires_at: Some(at), failure_code: None }
                    }
                    _ => Window {
                        state: WindowState::Closed,
                        for_actor: actor,
                        expires_at,
                        failure_code: Some(WindowFailure::MessagingWindowClosed),
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChannelType;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default() + Duration::hours(h)
    }

    #[test]
    fn whatsapp_window_is_open_for_24_hours_after_the_contact_wrote_for_agents_and_bots() {
        let p = ChannelType::Whatsapp.default_policy();
        for actor in [WindowActor::Agent, WindowActor::Bot] {
            let open = p.window(actor, Some(t(0)), t(23));
            assert_eq!(open.state, WindowState::Open);
            assert_eq!(open.expires_at, Some(t(24)));
            let closed = p.window(actor, Some(t(0)), t(24));
            assert_eq!(closed.state, WindowState::Closed);
            assert_eq!(closed.failure_code, Some(WindowFailure::MessagingWindowClosed));
        }
    }

    #[test]
    fn messenger_gives_agents_seven_days_and_bots_one() {
        let p = ChannelType::Messenger.default_policy();
        assert_eq!(p.window(WindowActor::Agent, Some(t(0)), t(24 * 6)).state, WindowState::Open);
        assert_eq!(p.window(WindowActor::Bot, Some(t(0)), t(25)).state, WindowState::Closed);
    }

    #[test]
    fn permanent_sessions_are_always_open_without_expiry() {
        for channel in [ChannelType::Sms, ChannelType::Email, ChannelType::Webchat, ChannelType::Api] {
            let w = channel.default_policy().window(WindowActor::Bot, None, t(1000));
            assert_eq!(w.state, WindowState::Open);
            assert_eq!(w.expires_at, None);
        }
    }

    #[test]
    fn a_window_that_never_opened_is_closed_without_expiry() {
        let w = ChannelType::Whatsapp.default_policy().window(WindowActor::Agent, None, t(0));
        assert_eq!(w.state, WindowState::Closed);
        assert_eq!(w.expires_at, None);
    }

    #[test]
    fn window_lengths_are_whole_seconds_however_json_writes_them() {
        let policy = |json: serde_json::Value| serde_json::from_value::<ChannelPolicy>(json);
        let base = serde_json::json!({"templates": "unsupported", "interactive": false});
        let mut with = base.clone();
        with["agent_window_secs"] = serde_json::json!(3600.0);
        with["bot_window_secs"] = serde_json::json!(60);
        let p = policy(with.clone()).expect("whole seconds");
        assert_eq!((p.agent_window_secs, p.bot_window_secs), (Some(3600), Some(60)));
        assert_eq!(policy(base.clone()).expect("no windows").agent_window_secs, None);
        with["agent_window_secs"] = serde_json::Value::Null;
        assert_eq!(policy(with.clone()).expect("null").agent_window_secs, None);
        for bad in [serde_json::json!(1.5), serde_json::json!(1e300), serde_json::json!("60")] {
            with["agent_window_secs"] = bad;
            assert!(policy(with.clone()).is_err(), "{with}");
        }
    }

    #[test]
    fn the_window_serializes_in_the_shape_of_the_domain() {
        let w = ChannelType::Whatsapp.default_policy().window(WindowActor::Agent, Some(t(0)), t(30));
        let json = serde_json::to_value(&w).unwrap_or_default();
        assert_eq!(json["state"], "CLOSED");
        assert_eq!(json["forActor"], "AGENT");
        assert_eq!(json["failureCode"], "messagingWindowClosed");
        assert!(json["expiresAt"].is_string());
    }
}
