//! Channel types and the per-channel messaging policy table.

use serde::{Deserialize, Serialize};

use crate::window::{ChannelPolicy, TemplateSupport};

/// The kind of channel account an inbox is connected to. It fixes the messaging-window policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    Whatsapp,
    Messenger,
    Instagram,
    Sms,
    Rcs,
    Email,
    Telegram,
    Line,
    Webchat,
    Api,
}

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

impl ChannelType {
    pub const ALL: [ChannelType; 10] = [
        Self::Whatsapp,
        Self::Messenger,
        Self::Instagram,
        Self::Sms,
        Self::Rcs,
        Self::Email,
        Self::Telegram,
        Self::Line,
        Self::Webchat,
        Self::Api,
    ];

    /// The default policy of this channel type: the table of docs/DOMAIN-POLICY in code.
    /// An inbox may override it when it is created.
    pub const fn default_policy(self) -> ChannelPolicy {
        match self {
            // Meta: 24 h customer-service window for everyone; only templates outside it, and
            // sending a template does not open it (since July 2025).
            Self::Whatsapp => ChannelPolicy {
                agent_window_secs: Some(24 * HOUR),
                bot_window_secs: Some(24 * HOUR),
                templates: TemplateSupport::AllowedOutsideWindow,
                interactive: true,
            },
            // Messenger / Instagram: standard 24 h window, 7 days with the human-agent tag.
            Self::Messenger | Self::Instagram => ChannelPolicy {
                agent_window_secs: Some(7 * DAY),
                bot_window_secs: Some(24 * HOUR),
                templates: TemplateSupport::Unsupported,
                interactive: true,
            },
            Self::Sms | Self::Email => ChannelPolicy {
                agent_window_secs: None,
                bot_window_secs: None,
                templates: TemplateSupport::Unsupported,
                interactive: false,
            },
            Self::Rcs => ChannelPolicy {
                agent_window_secs: None,
                bot_window_secs: None,
                templates: TemplateSupport::InsideWindow,
                interactive: true,
            },
            Self::Telegram | Self::Line | Self::Webchat | Self::Api => ChannelPolicy {
                agent_window_secs: None,
                bot_window_secs: None,
                templates: TemplateSupport::Unsupported,
                interactive: true,
            },
        }
    }
}
