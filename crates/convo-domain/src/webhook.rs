//! The `WebhookEndpoint` aggregate: whether a webhook endpoint is on, and each time it was
//! turned off or on again, and why. The endpoint's configuration (URL, filter, secrets) is
//! not in the log (a secret must never be); what the log keeps is its switch, so that a
//! receiver that went quiet, a 410, or an engine that gave up on an endpoint is an event
//! anyone following the log sees (docs/WEBHOOKS.md).

use std::convert::Infallible;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Actor, Clock};

/// An endpoint's switch as the log has it: `None` until it is first switched (an endpoint is
/// created on or off without an event; its configuration is not in the log).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpointCommand {
    pub workspace_id: Uuid,
    pub webhook_id: Uuid,
    pub actor: Actor,
    pub action: WebhookEndpointAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEndpointAction {
    /// Turns it off (nothing if the log has it off already).
    Disable { reason: DisabledReason, detail: String },
    /// Turns it on (nothing if the log has it on already).
    Enable,
}

/// Why an endpoint was turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// The receiver answered 410 Gone.
    Gone,
    /// No delivery to it succeeded for the disable period (5 days by default).
    Failing,
    /// Someone turned it off (`PATCH /v1/webhooks/{id}` with `enabled: false`, or created it off).
    Requested,
}

/// A webhook endpoint event as stored and published: the envelope (`occurred_at`, `actor`)
/// beside the fields of the change, whose `type` is the event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEndpointEvent {
    /// When it happened, from the engine's injectable clock.
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(flatten)]
    pub change: WebhookEndpointChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum WebhookEndpointChange {
    /// The endpoint was turned off: nothing it matches from now on is delivered to it, until
    /// it is enabled again.
    #[serde(rename = "WebhookEndpointDisabled")]
    Disabled {
        /// The endpoint (`endpoint_id` in `/v1/webhooks`); the aggregate id too.
        webhook_id: Uuid,
        reason: DisabledReason,
        /// In words, as `GET /v1/webhooks/{id}` shows it in `disabled_reason`.
        detail: String,
    },
    /// The endpoint was turned on (again); its failing streak starts over.
    #[serde(rename = "WebhookEndpointEnabled")]
    Enabled {
        /// The endpoint (`endpoint_id` in `/v1/webhooks`); the aggregate id too.
        webhook_id: Uuid,
    },
}

impl DomainEvent for WebhookEndpointEvent {
    fn event_type(&self) -> String {
        match self.change {
            WebhookEndpointChange::Disabled { .. } => "WebhookEndpointDisabled",
            WebhookEndpointChange::Enabled { .. } => "WebhookEndpointEnabled",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        crate::versions::current_version(&self.event_type()).to_owned()
    }
}

pub struct WebhookEndpointServices {
    pub clock: Arc<dyn Clock>,
}

impl Aggregate for WebhookEndpoint {
    const TYPE: &'static str = "webhook_endpoint";
    type Command = WebhookEndpointCommand;
    type Event = WebhookEndpointEvent;
    /// Either switch is always allowed; one that changes nothing writes nothing.
    type Error = Infallible;
    type Services = WebhookEndpointServices;

    async fn handle(
        &mut self,
        command: WebhookEndpointCommand,
        services: &WebhookEndpointServices,
        sink: &EventSink<Self>,
    ) -> Result<(), Infallible> {
        let webhook_id = command.webhook_id;
        if self.enabled == Some(command.action == WebhookEndpointAction::Enable) {
            return Ok(());
        }
        let change = match command.action {
            WebhookEndpointAction::Disable { reason, detail } => {
                WebhookEndpointChange::Disabled { webhook_id, reason, detail }
            }
            WebhookEndpointAction::Enable => WebhookEndpointChange::Enabled { webhook_id },
        };
        let event = WebhookEndpointEvent { occurred_at: services.clock.now(), actor: command.actor, change };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: WebhookEndpointEvent) {
        self.enabled = Some(matches!(event.change, WebhookEndpointChange::Enabled { .. }));
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::ManualClock;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
    }
    fn framework() -> TestFramework<WebhookEndpoint> {
        TestFramework::with(WebhookEndpointServices { clock: Arc::new(ManualClock::new(at())) })
    }
    const ID: Uuid = Uuid::from_u128(9);

    fn command(action: WebhookEndpointAction) -> WebhookEndpointCommand {
        WebhookEndpointCommand {
            workspace_id: Uuid::from_u128(7),
            webhook_id: ID,
            actor: Actor::system("webhooks"),
            action,
        }
    }
    fn disable() -> WebhookEndpointCommand {
        command(WebhookEndpointAction::Disable { reason: DisabledReason::Gone, detail: "410".into() })
    }
    fn disabled() -> WebhookEndpointEvent {
        WebhookEndpointEvent {
            occurred_at: at(),
            actor: Actor::system("webhooks"),
            change: WebhookEndpointChange::Disabled {
                webhook_id: ID,
                reason: DisabledReason::Gone,
                detail: "410".into(),
            },
        }
    }
    fn enabled() -> WebhookEndpointEvent {
        WebhookEndpointEvent {
            occurred_at: at(),
            actor: Actor::system("webhooks"),
            change: WebhookEndpointChange::Enabled { webhook_id: ID },
        }
    }

    #[test]
    fn the_first_switch_either_way_is_recorded_since_creation_is_not_in_the_log() {
        framework().given_no_previous_events().when(disable()).then_expect_events(vec![disabled()]);
        framework()
            .given_no_previous_events()
            .when(command(WebhookEndpointAction::Enable))
            .then_expect_events(vec![enabled()]);
    }

    #[test]
    fn a_switch_to_the_state_it_is_in_writes_nothing_so_a_repeated_one_is_harmless() {
        framework().given(vec![disabled()]).when(disable()).then_expect_events(vec![]);
        framework().given(vec![enabled()]).when(command(WebhookEndpointAction::Enable)).then_expect_events(vec![]);
        framework()
            .given(vec![disabled()])
            .when(command(WebhookEndpointAction::Enable))
            .then_expect_events(vec![enabled()]);
        framework().given(vec![disabled(), enabled()]).when(disable()).then_expect_events(vec![disabled()]);
    }
}
