//! Deliveries to chat channels: the event as a message people read — a Slack Block Kit message,
//! a Microsoft Teams Adaptive Card, a Discord embed — with a link to the thing it is about.
//! Health events (`endpoint.*`, `integration.*`) get a title and a sentence; any other event
//! its type and the scalar fields of its data.

use serde_json::{json, Map, Value};

use crate::clock::rfc3339;
use crate::domain::endpoint::Channel;
use crate::repo::messages::Message;

/// The most facts (fields) shown.
const MAX_FACTS: usize = 10;
/// The longest fact value shown, in characters.
const MAX_FACT_CHARS: usize = 300;

/// How bad the news is: the colour of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Bad,
    Warning,
    Good,
    Neutral,
}

/// What a message says, before it is shaped for one chat service.
#[derive(Debug, Clone, PartialEq)]
struct Notice {
    title: String,
    summary: String,
    facts: Vec<(String, String)>,
    link: Option<(String, String)>,
    tone: Tone,
    footer: String,
}

/// The body to POST to a chat channel for `message`. `links` is the base of the links (the
/// dashboard, or the API under the public URL) and whether it is the API.
pub fn render(channel: Channel, message: &Message, links: Option<&LinkBase>) -> Value {
    let notice = notice(message, links);
    match channel {
        Channel::Slack => slack(&notice),
        Channel::Teams => teams(&notice),
        Channel::Discord => discord(&notice, message.occurred_at),
        Channel::Webhook => message.data.clone(),
    }
}

/// Where links point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkBase {
    /// The tenants' dashboard: `{base}/endpoints/{id}`.
    Dashboard(String),
    /// The API: `{base}/v1/endpoints/{id}`.
    Api(String),
}

impl LinkBase {
    /// The dashboard when configured, else the API under the public URL, else none.
    pub fn from_settings(settings: &crate::backend::Settings) -> Option<Self> {
        match (&settings.dashboard_url, &settings.public_url) {
            (Some(dashboard), _) => Some(Self::Dashboard(dashboard.clone())),
            (None, Some(public)) => Some(Self::Api(public.clone())),
            (None, None) => None,
        }
    }

    fn to(&self, path: &str) -> String {
        match self {
            Self::Dashboard(base) => format!("{base}/{path}"),
            Self::Api(base) => format!("{base}/v1/{path}"),
        }
    }
}

/// A scalar as text people read: a non-empty string, a number or a boolean.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text(data: &Value, field: &str) -> Option<String> {
    scalar(data.get(field)?)
}

fn notice(message: &Message, links: Option<&LinkBase>) -> Notice {
    let data = &message.data;
    let or = |field: &str, fallback: &str| text(data, field).unwrap_or_else(|| fallback.into());
    let endpoint = || {
        let url = or("url", "an endpoint");
        match text(data, "description") {
            Some(description) => format!("{description} ({url})"),
            None => url,
        }
    };
    let integration = || format!("{} ({})", or("name", "an integration"), or("vendor", "?"));
    let (title, summary, tone) = match message.event_type.as_str() {
        "endpoint.circuit_opened" => (
            "Endpoint circuit opened",
            format!(
                "Deliveries to {} are paused after {} failures in a row (last: {}). One probe \
                 delivery goes at {}; nothing is lost meanwhile.",
                endpoint(),
                or("consecutive_failures", "several"),
                or("last_error", "unknown"),
                or("retry_at", "the end of the cool-down"),
            ),
            Tone::Bad,
        ),
        "endpoint.circuit_closed" => (
            "Endpoint recovered",
            format!("{} answers again; waiting deliveries resume.", endpoint()),
            Tone::Good,
        ),
        "endpoint.disabled" => (
            "Endpoint disabled",
            format!(
                "Hookrail disabled {}: {}. Its pending deliveries are kept and resume when it \
                 is re-enabled.",
                endpoint(),
                or("reason", "it kept failing"),
            ),
            Tone::Bad,
        ),
        "integration.failing" => (
            "Integration failing",
            format!(
                "The health probe of {} failed: {}.",
                integration(),
                or("message", "no answer")
            ),
            Tone::Bad,
        ),
        "integration.recovered" => (
            "Integration recovered",
            format!("{} answers its health probe again.", integration()),
            Tone::Good,
        ),
        "integration.needs_reconnect" => (
            "Integration needs reconnecting",
            format!(
                "{} lost its authorization ({}); reconnect it to resume.",
                integration(),
                or("reason", "refused")
            ),
            Tone::Bad,
        ),
        "integration.credential_expiring" => (
            "Credential expiring",
            format!(
                "A credential of {} expires on {}; renew it before then.",
                integration(),
                or("expires_at", "soon")
            ),
            Tone::Warning,
        ),
        other => (
            other,
            format!("Event {} ({}).", message.id, other),
            Tone::Neutral,
        ),
    };
    let facts = data.as_object().map(facts).unwrap_or_default();
    let link = links.and_then(|base| {
        if let Some(id) = text(data, "endpoint_id") {
            Some((
                "View the endpoint".to_owned(),
                base.to(&format!("endpoints/{id}")),
            ))
        } else {
            text(data, "integration_id").map(|id| {
                (
                    "View the integration".to_owned(),
                    base.to(&format!("integrations/{id}")),
                )
            })
        }
        .or_else(|| {
            Some((
                "View the event".to_owned(),
                base.to(&format!("messages/{}", message.id)),
            ))
        })
    });
    let mut footer = format!(
        "Hookrail · {} · {}",
        message.event_type,
        rfc3339(message.occurred_at)
    );
    if message.test {
        footer.push_str(" · test");
    }
    Notice {
        title: title.to_owned(),
        summary,
        facts,
        link,
        tone,
        footer,
    }
}

/// The scalar fields of the data, as (name, value), names made readable.
fn facts(fields: &Map<String, Value>) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|(name, value)| {
            let value = scalar(value)?;
            let mut name = name.replace('_', " ");
            if let Some(first) = name.get(..1) {
                name = first.to_uppercase() + &name[1..];
            }
            Some((name, clip(&value, MAX_FACT_CHARS)))
        })
        .take(MAX_FACTS)
        .collect()
}

/// At most `max` characters, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(notice: &Notice) -> Value {
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&notice.title, 150), "emoji": true } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&slack_escape(&notice.summary), 3000) } }),
    ];
    if !notice.facts.is_empty() {
        let fields: Vec<Value> = notice
            .facts
            .iter()
            .map(|(name, value)| {
                json!({ "type": "mrkdwn", "text": clip(&format!("*{}*\n{}", slack_escape(name), slack_escape(value)), 2000) })
            })
            .collect();
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    blocks.push(json!({ "type": "context", "elements": [ { "type": "mrkdwn", "text": slack_escape(&notice.footer) } ] }));
    if let Some((label, url)) = &notice.link {
        blocks.push(json!({
            "type": "actions",
            "elements": [ { "type": "button", "text": { "type": "plain_text", "text": label }, "url": url } ],
        }));
    }
    json!({
        // The fallback shown in notifications and by clients that cannot draw blocks.
        "text": clip(&format!("{}: {}", notice.title, notice.summary), 3000),
        "blocks": blocks,
    })
}

fn teams(notice: &Notice) -> Value {
    let color = match notice.tone {
        Tone::Bad => "Attention",
        Tone::Warning => "Warning",
        Tone::Good => "Good",
        Tone::Neutral => "Default",
    };
    let mut body = vec![
        json!({ "type": "TextBlock", "text": notice.title, "size": "Medium", "weight": "Bolder", "color": color, "wrap": true }),
        json!({ "type": "TextBlock", "text": notice.summary, "wrap": true }),
    ];
    if !notice.facts.is_empty() {
        let facts: Vec<Value> = notice
            .facts
            .iter()
            .map(|(name, value)| json!({ "title": name, "value": value }))
            .collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
    }
    body.push(json!({ "type": "TextBlock", "text": notice.footer, "size": "Small", "isSubtle": true, "wrap": true }));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some((label, url)) = &notice.link {
        card["actions"] = json!([ { "type": "Action.OpenUrl", "title": label, "url": url } ]);
    }
    json!({
        "type": "message",
        "attachments": [ {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        } ],
    })
}

fn discord(notice: &Notice, occurred_at: i64) -> Value {
    let color = match notice.tone {
        Tone::Bad => 0xD9_3025,
        Tone::Warning => 0xF2_A900,
        Tone::Good => 0x2E_A043,
        Tone::Neutral => 0x5B_6770,
    };
    let fields: Vec<Value> = notice
        .facts
        .iter()
        .map(|(name, value)| json!({ "name": clip(name, 256), "value": clip(value, 1024), "inline": true }))
        .collect();
    let mut embed = json!({
        "title": clip(&notice.title, 256),
        // Discord caps an embed at 6000 characters in all: title, description, ten facts of
        // at most 300 and the footer stay within it.
        "description": clip(&notice.summary, 2000),
        "color": color,
        "fields": fields,
        "timestamp": rfc3339(occurred_at),
        "footer": { "text": clip(&notice.footer, 2048) },
    });
    if let Some((_, url)) = &notice.link {
        embed["url"] = json!(url);
    }
    json!({
        "embeds": [embed],
        // Text from events must never ping anyone.
        "allowed_mentions": { "parse": [] },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{MessageId, TenantId};

    fn message(event_type: &str, data: Value) -> Message {
        Message {
            id: MessageId::generate(),
            tenant_id: TenantId::generate(),
            event_type: event_type.into(),
            data,
            occurred_at: 1_700_000_000,
            idempotency_key: None,
            fanned_out: true,
            test: false,
        }
    }

    fn opened() -> Message {
        message(
            "endpoint.circuit_opened",
            json!({
                "endpoint_id": "ep_1",
                "url": "https://example.com/<hook>&x",
                "consecutive_failures": 5,
                "last_error": "HTTP 503",
                "retry_at": "2023-11-14T22:14:20Z",
            }),
        )
    }

    #[test]
    fn slack_messages_escape_markup_and_link_to_the_endpoint() {
        let base = LinkBase::Dashboard("https://app.example.com".into());
        let body = render(Channel::Slack, &opened(), Some(&base));
        let blocks = body["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["text"]["text"], "Endpoint circuit opened");
        let summary = blocks[1]["text"]["text"].as_str().expect("summary");
        assert!(summary.contains("&lt;hook&gt;&amp;x"), "{summary}");
        let button = &blocks.last().expect("actions")["elements"][0];
        assert_eq!(button["url"], "https://app.example.com/endpoints/ep_1");
        assert!(body["text"]
            .as_str()
            .expect("fallback")
            .starts_with("Endpoint circuit opened"));
    }

    #[test]
    fn teams_cards_are_adaptive_cards_in_a_message_envelope() {
        let base = LinkBase::Api("https://hooks.example.com".into());
        let body = render(Channel::Teams, &opened(), Some(&base));
        assert_eq!(body["type"], "message");
        let card = &body["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["body"][0]["color"], "Attention");
        assert_eq!(
            card["actions"][0]["url"],
            "https://hooks.example.com/v1/endpoints/ep_1"
        );
    }

    #[test]
    fn discord_embeds_never_mention_anyone_and_stay_within_limits() {
        let long = "x".repeat(5000);
        let body = render(
            Channel::Discord,
            &message(
                "order.created",
                json!({ "note": long, "nested": { "a": 1 } }),
            ),
            None,
        );
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        let embed = &body["embeds"][0];
        assert_eq!(embed["title"], "order.created");
        assert!(embed.get("url").is_none(), "no link without a base");
        let fields = embed["fields"].as_array().expect("fields");
        assert_eq!(fields.len(), 1, "objects are not facts");
        assert_eq!(
            fields[0]["value"].as_str().expect("value").chars().count(),
            MAX_FACT_CHARS
        );
    }
}
