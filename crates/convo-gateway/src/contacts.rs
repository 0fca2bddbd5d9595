//! Contacts (#18, docs/decisions/0005-contacts-and-identities.md): who sent a direct inbound
//! message, and the contacts' views. A sender's identities are resolved to the contact holding
//! them, found or created, and the message lands in that contact's conversation on the inbox;
//! a new contact, the identities it claims and its conversation's first events are committed
//! together (`convo_store::Unit`), so two first messages from one new number make one contact.
//! `GET /v1/contacts` and `GET /v1/contacts/{id}` read the contacts' read models.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use convo_domain::contact::{
    Contact, ContactAction, ContactCommand, ContactIdentityAction, ContactIdentityCommand, ContactIdentityError,
    new_contact_id,
};
use convo_domain::conversation::ConversationAction;
use convo_domain::{Actor, ChannelType, Conversation, ConversationCommand, Identity, IdentityKind, Outcome, Written};
use convo_projection_contacts::ContactView;
use convo_read::ContactFilter;
use convo_store::{Backend, CommandError, Committed, StoreError, Unit};
use cqrs_es::Aggregate;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use convo_projection_inbox::ConversationSummary;

use crate::auth::Caller;
use crate::command::{Answer, CommandResponse, answer};
use crate::consistency::ReadQuery;
use crate::conversations::GetParams;
use crate::extract::{ApiJson, ApiPath, Workspace};
use crate::idempotency::command_metadata;
use crate::openapi::problems;
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::{ApiError, AppState};

problems! {
    /// Reading one contact.
    AContact = [
        NotFound => "no such contact in this workspace (then, with `at_position` or `at`)",
        Validation => "both `at_position` and `at`, or an `at_position` beyond the log's head",
    ];
}

/// Show a contact of the workspace: its identities, tags, attributes and its conversation on
/// each inbox. One merged into another is shown with `merged_into`, the contact it lives on as.
/// With `at_position` or `at`, as it was then (before a merge: two contacts).
#[utoipa::path(
    get,
    path = "/v1/contacts/{contact_id}",
    tag = "contacts",
    params(("contact_id" = Uuid, Path, description = "The contact"), ReadQuery<GetParams>),
    responses(
        (status = 200, description = "The contact (`merged_into` set once merged into another), now or as it was then", body = ContactView),
        AContact,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn get_contact<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(contact_id): ApiPath<Uuid>,
    ReadQuery(p, token): ReadQuery<GetParams>,
) -> Result<Json<ContactView>, ApiError> {
    if let Some(as_of) = crate::conversations::as_of(&state, &p).await? {
        return match convo_read::contact_at(&state.engine.log, Some(workspace_id), contact_id, as_of).await? {
            Some(contact) if !contact.deleted => Ok(Json(contact)),
            _ => Err(ApiError::not_found("no such contact in this workspace")),
        };
    }
    let read = &state.read;
    token.wait(&state, &[&read.contacts_status]).await?;
    match read.contacts.get(workspace_id, contact_id).await? {
        Some(contact) if !contact.deleted => Ok(Json(contact)),
        _ => Err(ApiError::not_found("no such contact in this workspace")),
    }
}

/// What to list contacts by: any of these, together.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContactsParams {
    /// The contact holding this identity, as `kind:value` (e.g. `phone:+4917300001`, the `+`
    /// percent-encoded), spelled any way its kind allows.
    pub identity: Option<String>,
    /// Contacts whose name starts with this, in any case.
    #[param(max_length = 200)]
    pub name: Option<String>,
    /// Contacts with this tag.
    #[param(max_length = 64)]
    pub tag: Option<String>,
}

/// List the workspace's contacts, by id (merged and deleted ones are not listed), optionally by
/// identity, name prefix or tag.
#[utoipa::path(
    get,
    path = "/v1/contacts",
    tag = "contacts",
    params(ReadQuery<ContactsParams>, Paging<paging::Contacts>),
    responses(
        (status = 200, description = "One page of the contacts that match, by id", body = Page<ContactView>),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_contacts<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ListQuery(paging, ReadQuery(p, token)): ListQuery<paging::Contacts, ReadQuery<ContactsParams>>,
) -> Result<Listed<Page<ContactView>>, ApiError> {
    let identity = match p.identity.as_deref() {
        None => None,
        Some(text) => Some(identity_param(text)?),
    };
    let too_long = |text: &Option<String>, most: usize| text.as_ref().is_some_and(|t| t.chars().count() > most);
    if too_long(&p.name, convo_domain::contact::MAX_CONTACT_NAME_CHARS) {
        return Err(ApiError::parameter("name", "at most 200 characters"));
    }
    if too_long(&p.tag, convo_domain::contact::MAX_TAG_CHARS) {
        return Err(ApiError::parameter("tag", "at most 64 characters"));
    }
    let filter = ContactFilter { name_prefix: p.name, tag: p.tag, identity };
    let read = &state.read;
    token.wait(&state, &[&read.contacts_status, &read.contact_identities_status]).await?;
    let rows = read.contacts.list(workspace_id, &filter, paging.cursor, paging.fetch()).await?;
    Ok(paging.answer(paging.page(rows, |contact| contact.contact_id)))
}

/// An identity given as `kind:value`.
fn identity_param(text: &str) -> Result<Identity, ApiError> {
    let refused = |reason: String| ApiError::parameter("identity", reason);
    let (kind, value) =
        text.split_once(':').ok_or_else(|| refused("must be kind:value, e.g. phone:+4917300001".into()))?;
    let kind = IdentityKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| refused(format!("{kind:?} is not an identity kind")))?;
    Identity::new(kind, value).map_err(|e| refused(e.to_string()))
}

/// How stale the holder of an identity and a contact's conversations may be when another
/// process changed them: a stale "nobody holds it" only costs a conflict and a second try; a
/// stale holder is one that a merge on another node has just replaced.
const CONTACT_MAX_AGE: Duration = Duration::from_millis(250);

/// Tries of a find-or-create that lost a race before it answers 409.
const ATTEMPTS: u32 = 8;

/// An identity as the API takes it: a kind and a value, spelled any way the kind allows.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityInput {
    pub kind: IdentityKind,
    /// Read in the kind's canonical spelling: a phone in E.164 (`+` and digits), an email in
    /// lower case, …; a value of the wrong shape is `validation`.
    #[schema(max_length = 200)]
    pub value: String,
}

/// The identities of a direct message's sender: those given (the first is the one it came
/// from), or else the channel's contact id read as the one kind of identity the inbox's
/// channel names people by (a phone for SMS and RCS; a phone or else WhatsApp's business-scoped
/// id; an email address; Messenger's, Instagram's and Telegram's ids; the web chat's visitor).
/// None when the channel names people otherwise (LINE, the API channel) or the contact id has
/// no such shape: the message is then received without a contact, as before contacts existed.
pub(crate) fn sender_identities(
    given: &[IdentityInput],
    channel: ChannelType,
    thread_key: &str,
) -> Result<Vec<Identity>, ApiError> {
    if !given.is_empty() {
        let mut identities = Vec::with_capacity(given.len());
        for (i, input) in given.iter().enumerate() {
            let identity = Identity::new(input.kind, &input.value)
                .map_err(|e| ApiError::validation(&format!("identities[{i}].value"), e.to_string()))?;
            if !identities.contains(&identity) {
                identities.push(identity);
            }
        }
        return Ok(identities);
    }
    let kinds: &[IdentityKind] = match channel {
        ChannelType::Sms | ChannelType::Rcs => &[IdentityKind::Phone],
        ChannelType::Whatsapp => &[IdentityKind::Phone, IdentityKind::WhatsappBsuid],
        ChannelType::Email => &[IdentityKind::Email],
        ChannelType::Messenger => &[IdentityKind::MessengerPsid],
        ChannelType::Instagram => &[IdentityKind::InstagramIgsid],
        ChannelType::Telegram => &[IdentityKind::TelegramId],
        ChannelType::Webchat => &[IdentityKind::WebchatVisitor],
        ChannelType::Line | ChannelType::Api => &[],
    };
    Ok(kinds.iter().find_map(|kind| Identity::new(*kind, thread_key).ok()).into_iter().collect())
}

/// A direct inbound message to receive: everything but the conversation, which the contact
/// decides.
pub(crate) struct Inbound {
    pub workspace_id: Uuid,
    pub inbox_id: Uuid,
    pub thread_key: String,
    pub display_name: Option<String>,
    pub actor: Actor,
    /// Its sender's identities, the one it came from first (at least one).
    pub identities: Vec<Identity>,
    /// The command, for the conversation and the contact it is found to belong to.
    pub action: Box<dyn Fn(Uuid, Uuid) -> ConversationAction + Send + Sync>,
    /// A group message's conversation: the sender is one of its members, whose contact is found
    /// or created, and no conversation is recorded on it (a contact's conversation on an inbox
    /// is the direct one). `None` for a direct message, whose contact decides its conversation.
    pub group: Option<Uuid>,
}

/// What receiving a direct inbound message wrote: its conversation's side (as a single command
/// answers it), and the contact.
pub(crate) struct Received {
    pub conversation_id: Uuid,
    pub contact_id: Uuid,
    pub version: usize,
    pub position: Option<i64>,
    pub outcome: Outcome,
}

/// Receives a direct inbound message in its sender's contact's conversation on the inbox, or a
/// group message in its group's, finding or creating the sender's contact. Known contact with a conversation there and nothing new to
/// record: one command on the conversation. Otherwise the contact's changes (created, new
/// identities claimed, its conversation on this inbox recorded) commit with the message.
pub(crate) async fn receive_direct<B: Backend>(state: &AppState<B>, inbound: Inbound) -> Result<Received, ApiError> {
    let engine = &state.engine;
    let ws = inbound.workspace_id;
    let name = "receive_inbound_message";
    let meta = command_metadata(ws, name);
    let mut attempt = 1;
    'attempt: loop {
        // Who holds each identity now (the cache, at most CONTACT_MAX_AGE old, on a first try).
        let mut holders = Vec::with_capacity(inbound.identities.len());
        for identity in &inbound.identities {
            let stream = identity.id(ws).to_string();
            let (version, claim) = if attempt == 1 {
                engine.contact_identities.load_recent(&stream, CONTACT_MAX_AGE).await?
            } else {
                engine.contact_identities.load(&stream).await?
            };
            holders.push((stream, version, claim.holder));
        }
        let (contact_id, contact) = match holders.iter().find_map(|(_, _, holder)| *holder) {
            Some(holder) => {
                let (id, contact) = current_contact(state, ws, holder, attempt).await?;
                (id, Some(contact))
            }
            // Nobody holds any: a new contact, named by the first identity's stream and version
            // so a concurrent first message names the same one.
            None => {
                let (stream, version, _) = &holders[0];
                let stream = stream.parse::<Uuid>().map_err(|e| ApiError::internal(&e))?;
                (new_contact_id(stream, *version), None)
            }
        };
        let conversation_id = inbound.group.unwrap_or_else(|| {
            contact
                .as_ref()
                .and_then(|c| c.conversations.get(&inbound.inbox_id).copied())
                .unwrap_or_else(|| convo_domain::conversation_id(ws, inbound.inbox_id, &inbound.thread_key))
        });
        let unclaimed: Vec<&Identity> = inbound
            .identities
            .iter()
            .zip(&holders)
            .filter(|(_, (_, _, holder))| holder.is_none())
            .map(|(identity, _)| identity)
            .collect();
        let recorded = inbound.group.is_some()
            || contact.as_ref().is_some_and(|c| c.conversations.contains_key(&inbound.inbox_id));
        let command = ConversationCommand {
            workspace_id: ws,
            actor: inbound.actor.clone(),
            action: (inbound.action)(conversation_id, contact_id),
        };
        if recorded && unclaimed.is_empty() {
            // The common case: a known contact writing again.
            let committed: Committed<Conversation> =
                engine.conversations.execute(&conversation_id.to_string(), command, &meta).await?;
            let outcome = Outcome::of(name, committed.events.iter().map(|e| Written::from(&e.payload)));
            let (version, position) = (committed.version, committed.position);
            return Ok(Received { conversation_id, contact_id, version, position, outcome });
        }
        let mut unit = Unit::new(attempt);
        let contact_command = |action| ContactCommand { workspace_id: ws, actor: inbound.actor.clone(), action };
        for identity in &unclaimed {
            let claim = ContactIdentityCommand {
                workspace_id: ws,
                identity: (*identity).clone(),
                actor: inbound.actor.clone(),
                action: ContactIdentityAction::Claim { contact_id },
            };
            match unit.decide(&engine.contact_identities, &identity.id(ws).to_string(), claim, &meta).await {
                Ok(_) => {}
                // Taken meanwhile (our cache was behind): decide again on what the store holds.
                Err(CommandError::Rejected(ContactIdentityError::HeldByAnother { .. })) => {
                    attempt = next(attempt)?;
                    continue 'attempt;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let contact_key = contact_id.to_string();
        match &contact {
            None => {
                let create = ContactAction::Create {
                    contact_id,
                    name: inbound.display_name.clone(),
                    avatar_url: None,
                    identities: inbound.identities.clone(),
                    tags: Vec::new(),
                    attributes: Default::default(),
                    conversation: inbound.group.is_none().then_some((inbound.inbox_id, conversation_id)),
                };
                unit.decide(&engine.contacts, &contact_key, contact_command(create), &meta).await?;
            }
            Some(_) => {
                for identity in &unclaimed {
                    let add = ContactAction::AddIdentity { identity: (*identity).clone() };
                    unit.decide(&engine.contacts, &contact_key, contact_command(add), &meta).await?;
                }
                if inbound.group.is_none() {
                    let record = ContactAction::RecordConversation { inbox_id: inbound.inbox_id, conversation_id };
                    unit.decide(&engine.contacts, &contact_key, contact_command(record), &meta).await?;
                }
            }
        }
        let decided = unit.decide(&engine.conversations, &conversation_id.to_string(), command, &meta).await?;
        match unit.commit().await {
            Ok(position) => {
                let outcome = Outcome::of(name, decided.events.iter().map(|e| Written::from(&e.payload)));
                let version = decided.version + decided.events.len();
                let position = match position {
                    Some(p) if !decided.events.is_empty() => Some(p),
                    _ if version == 0 => None,
                    _ => Some(
                        engine.backend.position_of(Conversation::TYPE, &conversation_id.to_string(), version).await?,
                    ),
                };
                return Ok(Received { conversation_id, contact_id, version, position, outcome });
            }
            Err(CommandError::Store(StoreError::Conflict)) => attempt = next(attempt)?,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The attempt after `attempt`, after a pause with jitter; 409 once they are used up.
fn next(attempt: u32) -> Result<u32, ApiError> {
    if attempt >= ATTEMPTS {
        return Err(ApiError::from(CommandError::<std::convert::Infallible>::Contended { attempts: attempt }));
    }
    Ok(attempt + 1)
}

/// The contact `id` of the workspace as it is now, or the one it was merged into (a few hops at
/// most), with its id.
async fn current_contact<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    mut id: Uuid,
    attempt: u32,
) -> Result<(Uuid, Contact), ApiError> {
    for _ in 0..4 {
        let key = id.to_string();
        let (_, contact) = if attempt == 1 {
            state.engine.contacts.load_recent(&key, CONTACT_MAX_AGE).await?
        } else {
            state.engine.contacts.load(&key).await?
        };
        match contact.merged_into {
            Some(into) => id = into,
            None if contact.workspace_id == Some(workspace_id) => return Ok((id, contact)),
            None => break,
        }
    }
    Err(ApiError::internal(&format!("identity held by contact {id}, which is not in the workspace")))
}

problems! {
    /// Creating a contact.
    CreateAContact = [
        Validation => "a field is not acceptable (an identity of the wrong shape for its kind, a tag or an \
                       attribute key too long, …): `field` names it",
        Conflict => "one of the identities belongs to another contact (`detail` names it)",
    ];
    /// Changing or deleting a contact.
    OnAContact = [
        NotFound => "no such contact in this workspace (or it was merged into another: use that one)",
        Validation => "a field is not acceptable: `field` names it",
    ];
}

/// A new contact: how it is known, and what is known of it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::AvatarUrl>)]
    pub avatar_url: Option<String>,
    /// Its identities: each may belong to one contact only (`conflict` otherwise).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub identities: Vec<IdentityInput>,
    #[serde(default)]
    #[schema(value_type = Vec<convo_domain::text::Tag>, max_items = 50)]
    pub tags: Vec<String>,
    /// Custom attributes, by key (`a-z`, `0-9`, `_`).
    #[serde(default)]
    #[schema(value_type = convo_domain::text::Attributes)]
    pub attributes: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Create a contact of the workspace, with the identities it is known by (claimed for it in the
/// same commit: none may belong to another contact).
#[utoipa::path(
    post,
    path = "/v1/contacts",
    tag = "contacts",
    request_body = CreateContact,
    responses(
        (status = 201, description = "The contact was created: `contact_id`, its version and position", body = CommandResponse),
        CreateAContact,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn create_contact<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiJson(body): ApiJson<CreateContact>,
) -> Answer {
    let actor = caller.agent_action(None)?;
    let identities = canonical(&body.identities)?;
    // A retry with the same Idempotency-Key names the same contact.
    let contact_id = crate::idempotency::mint_id(ws, "contact");
    let meta = command_metadata(ws, "create_contact");
    let engine = &state.engine;
    let mut attempt = 1;
    loop {
        let mut unit = Unit::new(attempt);
        for (i, identity) in identities.iter().enumerate() {
            let claim = ContactIdentityCommand {
                workspace_id: ws,
                identity: identity.clone(),
                actor: actor.clone(),
                action: ContactIdentityAction::Claim { contact_id },
            };
            match unit.decide(&engine.contact_identities, &identity.id(ws).to_string(), claim, &meta).await {
                Err(CommandError::Rejected(ContactIdentityError::HeldByAnother { contact_id: holder })) => {
                    let detail = format!("identities[{i}]: {} belongs to contact {holder}", identity.key());
                    return Err(ApiError::new(crate::Code::Conflict, detail).with_field(&format!("identities/{i}")));
                }
                other => drop(other?),
            }
        }
        let create = ContactAction::Create {
            contact_id,
            name: body.name.clone(),
            avatar_url: body.avatar_url.clone(),
            identities: identities.clone(),
            tags: body.tags.clone(),
            attributes: body.attributes.clone(),
            conversation: None,
        };
        let command = ContactCommand { workspace_id: ws, actor: actor.clone(), action: create };
        let decided = unit.decide(&engine.contacts, &contact_id.to_string(), command, &meta).await?;
        let version = decided.version + decided.events.len();
        if let Some(answered) = commit_contact(&state, unit, contact_id, version, true).await? {
            return Ok(answered);
        }
        attempt = next(attempt)?;
    }
}

/// Commits `unit`, whose last command left contact `contact_id` at `version`, and answers it
/// (201 when it `created` the contact); `None` when it lost a race: decide it again.
async fn commit_contact<B: Backend>(
    state: &AppState<B>,
    unit: Unit<'_, B>,
    contact_id: Uuid,
    version: usize,
    created: bool,
) -> Result<Option<(axum::http::StatusCode, Json<CommandResponse>)>, ApiError> {
    let position = match unit.commit().await {
        Ok(Some(position)) => position,
        // Nothing to write: the contact is as asked already.
        Ok(None) => state.engine.backend.position_of(Contact::TYPE, &contact_id.to_string(), version).await?,
        Err(CommandError::Store(StoreError::Conflict)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let response = CommandResponse::bare(version, Some(position)).of_contact(contact_id);
    answer(&Outcome { created, ..Outcome::default() }, response).map(Some)
}

/// Identities as given, canonical, once each; a value of the wrong shape names its place.
fn canonical(given: &[IdentityInput]) -> Result<Vec<Identity>, ApiError> {
    let mut identities = Vec::with_capacity(given.len());
    for (i, input) in given.iter().enumerate() {
        let identity = Identity::new(input.kind, &input.value)
            .map_err(|e| ApiError::validation(&format!("identities[{i}].value"), e.to_string()))?;
        if !identities.contains(&identity) {
            identities.push(identity);
        }
    }
    Ok(identities)
}

/// What to change of a contact: the fields given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeContact {
    /// The new name; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub name: Option<Option<String>>,
    /// The new avatar URL; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<convo_domain::text::AvatarUrl>)]
    pub avatar_url: Option<Option<String>>,
    /// Its tags from now on, all of them.
    #[schema(value_type = Option<Vec<convo_domain::text::Tag>>, max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// Custom attributes to set, by key; `null` removes one. Those not named stay.
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Attributes>)]
    pub attributes: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// A field given, even as `null` (`Some(None)`), apart from one left out (`None`).
pub(crate) fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Change a contact of the workspace: its name, avatar, tags and custom attributes, together.
#[utoipa::path(
    patch,
    path = "/v1/contacts/{contact_id}",
    tag = "contacts",
    params(("contact_id" = Uuid, Path, description = "The contact")),
    request_body = ChangeContact,
    responses(
        (status = 200, description = "The contact's version and position after the change (the same when nothing changed)", body = CommandResponse),
        OnAContact,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn change_contact<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(contact_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ChangeContact>,
) -> Answer {
    let actor = caller.agent_action(None)?;
    let meta = command_metadata(ws, "change_contact");
    let engine = &state.engine;
    let key = contact_id.to_string();
    let mut attempt = 1;
    loop {
        let mut unit = Unit::new(attempt);
        let update = ContactAction::Update { name: body.name.clone(), avatar_url: body.avatar_url.clone() };
        let command = |action| ContactCommand { workspace_id: ws, actor: actor.clone(), action };
        let mut last = unit.decide(&engine.contacts, &key, command(update), &meta).await?;
        // The tags to put on and take off, from the contact the unit decides on.
        let now = last.state.clone();
        let mut actions = Vec::new();
        if let Some(tags) = &body.tags {
            let wanted: Vec<String> =
                tags.iter().map(|t| convo_domain::contact::canonical_tag(t)).collect::<Result<_, _>>()?;
            actions.extend(
                now.tags.iter().filter(|t| !wanted.contains(t)).map(|t| ContactAction::Untag { tag: t.clone() }),
            );
            actions.extend(wanted.into_iter().map(|tag| ContactAction::Tag { tag }));
        }
        for (key, value) in body.attributes.iter().flatten() {
            actions.push(ContactAction::SetAttribute { key: key.clone(), value: value.clone() });
        }
        for action in actions {
            last = unit.decide(&engine.contacts, &key, command(action), &meta).await?;
        }
        let version = last.version + last.events.len();
        if let Some(answered) = commit_contact(&state, unit, contact_id, version, false).await? {
            return Ok(answered);
        }
        attempt = next(attempt)?;
    }
}

/// Delete a contact of the workspace: its identities are let go (a later message from one
/// makes a new contact); its conversations stay as they are.
#[utoipa::path(
    delete,
    path = "/v1/contacts/{contact_id}",
    tag = "contacts",
    params(("contact_id" = Uuid, Path, description = "The contact")),
    responses(
        (status = 200, description = "The contact is deleted (deleting it again changes nothing)", body = CommandResponse),
        OnAContact,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn delete_contact<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(contact_id): ApiPath<Uuid>,
) -> Answer {
    let actor = caller.agent_action(None)?;
    let meta = command_metadata(ws, "delete_contact");
    let engine = &state.engine;
    let key = contact_id.to_string();
    let mut attempt = 1;
    loop {
        let mut unit = Unit::new(attempt);
        let command = ContactCommand { workspace_id: ws, actor: actor.clone(), action: ContactAction::Delete };
        let decided = unit.decide(&engine.contacts, &key, command, &meta).await?;
        // A deleted contact keeps its identities in its state: those are the ones to let go.
        if !decided.events.is_empty() {
            for identity in &decided.state.identities {
                let release = ContactIdentityCommand {
                    workspace_id: ws,
                    identity: identity.clone(),
                    actor: actor.clone(),
                    action: ContactIdentityAction::Release { contact_id },
                };
                unit.decide(&engine.contact_identities, &identity.id(ws).to_string(), release, &meta).await?;
            }
        }
        let version = decided.version + decided.events.len();
        if let Some(answered) = commit_contact(&state, unit, contact_id, version, false).await? {
            return Ok(answered);
        }
        attempt = next(attempt)?;
    }
}

/// List a contact's conversations: one per inbox it wrote on (a merged contact's stay its own).
#[utoipa::path(
    get,
    path = "/v1/contacts/{contact_id}/conversations",
    tag = "contacts",
    params(("contact_id" = Uuid, Path, description = "The contact"), ReadQuery),
    responses(
        (status = 200, description = "The contact's conversations, by inbox; one page, all of them", body = Page<ConversationSummary>),
        AContact,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn contact_conversations<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(contact_id): ApiPath<Uuid>,
    ReadQuery(_, token): ReadQuery,
) -> Result<Json<Page<ConversationSummary>>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.contacts_status, &read.inbox_status]).await?;
    let Some(contact) = read.contacts.get(workspace_id, contact_id).await?.filter(|c| !c.deleted) else {
        return Err(ApiError::not_found("no such contact in this workspace"));
    };
    let mut items = Vec::with_capacity(contact.conversations.len());
    for c in &contact.conversations {
        if let Some(conversation) = read.inbox.get(workspace_id, c.conversation_id).await? {
            items.push(conversation);
        }
    }
    Ok(Json(Page { items, next_cursor: None }))
}

problems! {
    /// Merging a contact into another.
    MergeContacts = [
        NotFound => "no such contact in this workspace (either one; a merged one is gone for commands)",
        Validation => "`contact_id` names this contact itself, or one merged already",
    ];
}

/// Which contact to merge into this one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeContact {
    /// The contact merged into this one: it answers as merged from then on.
    pub contact_id: Uuid,
}

/// Merge another contact of the workspace into this one, which survives: the other's
/// identities (each moved in the same commit), tags, attributes this one lacks and
/// conversations on inboxes this one has none on move to it. Conversations are not rewritten:
/// each replies where it always did. The merged contact shows `merged_into`; commands on it are
/// 404.
#[utoipa::path(
    post,
    path = "/v1/contacts/{contact_id}/merge",
    tag = "contacts",
    params(("contact_id" = Uuid, Path, description = "The contact that survives")),
    request_body = MergeContact,
    responses(
        (status = 200, description = "The surviving contact's version and position after the merge", body = CommandResponse),
        MergeContacts,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn merge_contact<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(survivor): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MergeContact>,
) -> Answer {
    let actor = caller.agent_action(None)?;
    let merged = body.contact_id;
    if merged == survivor {
        return Err(ApiError::validation("contact_id", "a contact cannot be merged with itself"));
    }
    let meta = command_metadata(ws, "merge_contact");
    let engine = &state.engine;
    let mut attempt = 1;
    loop {
        let command = |action| ContactCommand { workspace_id: ws, actor: actor.clone(), action };
        let mut unit = Unit::new(attempt);
        let merging = command(ContactAction::MergeInto { survivor_id: survivor });
        // What moves: the merged contact the unit decides on (merged, it keeps what it had).
        let other = match unit.decide(&engine.contacts, &merged.to_string(), merging, &meta).await {
            Err(CommandError::Rejected(convo_domain::contact::ContactError::Merged { into })) => {
                return Err(ApiError::validation("contact_id", format!("was merged into contact {into} already")));
            }
            decided => decided?.state,
        };
        let absorb = ContactAction::Absorb {
            merged_id: merged,
            identities: other.identities.clone(),
            tags: other.tags.iter().cloned().collect(),
            attributes: other.attributes.clone(),
            conversations: other
                .conversations
                .iter()
                .map(|(inbox_id, conversation_id)| convo_domain::contact::ContactConversation {
                    inbox_id: *inbox_id,
                    conversation_id: *conversation_id,
                })
                .collect(),
        };
        let absorbed = unit.decide(&engine.contacts, &survivor.to_string(), command(absorb), &meta).await?;
        for identity in &other.identities {
            let moved = ContactIdentityCommand {
                workspace_id: ws,
                identity: identity.clone(),
                actor: actor.clone(),
                action: ContactIdentityAction::Move { contact_id: survivor },
            };
            unit.decide(&engine.contact_identities, &identity.id(ws).to_string(), moved, &meta).await?;
        }
        let version = absorbed.version + absorbed.events.len();
        if let Some(answered) = commit_contact(&state, unit, survivor, version, false).await? {
            return Ok(answered);
        }
        attempt = next(attempt)?;
    }
}

problems! {
    /// Linking an identity to a contact.
    LinkAnIdentity = [
        NotFound => "no such contact in this workspace (or it was merged into another: use that one)",
        Validation => "the identity is not of its kind's shape, or the contact has 20 identities: `field` names it",
        Conflict => "the identity belongs to another contact (`detail` names it): `move: true` takes it from them",
    ];
}

/// An identity of a contact.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactIdentityInput {
    pub kind: IdentityKind,
    /// Read in the kind's canonical spelling: a phone in E.164 (`+` and digits), an email in
    /// lower case, …; a value of the wrong shape is `validation`.
    #[schema(max_length = 200)]
    pub value: String,
    /// Linking only: take the identity from the contact holding it, if another does (it loses
    /// it in the same commit). Without it, that is 409 `conflict`.
    #[serde(default, rename = "move")]
    pub take: bool,
}

/// Link an identity to a contact: a connector reporting a new id for a known person (an
/// explicit link). Messages carrying only the new identity land in this contact and its
/// conversations from then on; where replies go does not change.
#[utoipa::path(
    post,
    path = "/v1/contacts/{contact_id}/identities",
    tag = "contacts",
    params(("contact_id" = Uuid, Path, description = "The contact")),
    request_body = ContactIdentityInput,
    responses(
        (status = 200, description = "The contact holds the identity (linking it again changes nothing): its version and position", body = CommandResponse),
        LinkAnIdentity,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn link_identity<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(contact_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ContactIdentityInput>,
) -> Answer {
    let actor = caller.agent_or_channel();
    let identity = Identity::new(body.kind, &body.value).map_err(|e| ApiError::validation("value", e.to_string()))?;
    let meta = command_metadata(ws, "link_identity");
    let engine = &state.engine;
    let mut attempt = 1;
    loop {
        let mut unit = Unit::new(attempt);
        let command = |action| ContactCommand { workspace_id: ws, actor: actor.clone(), action };
        let add = command(ContactAction::AddIdentity { identity: identity.clone() });
        let added = unit.decide(&engine.contacts, &contact_id.to_string(), add, &meta).await?;
        let action = if body.take {
            ContactIdentityAction::Move { contact_id }
        } else {
            ContactIdentityAction::Claim { contact_id }
        };
        let claim =
            ContactIdentityCommand { workspace_id: ws, identity: identity.clone(), actor: actor.clone(), action };
        let claimed = match unit.decide(&engine.contact_identities, &identity.id(ws).to_string(), claim, &meta).await {
            Err(CommandError::Rejected(ContactIdentityError::HeldByAnother { contact_id: holder })) => {
                let detail =
                    format!("{} belongs to contact {holder}: link it with `move: true` to take it", identity.key());
                return Err(ApiError::new(crate::Code::Conflict, detail).with("contact_id", holder));
            }
            decided => decided?,
        };
        // Taken from another contact: it lets the identity go in the same commit.
        let previous = claimed.events.iter().find_map(|e| match &e.payload.change {
            convo_domain::contact::ContactIdentityChange::Claimed { previous, .. } => *previous,
            _ => None,
        });
        if let Some(previous) = previous.filter(|p| *p != contact_id) {
            let remove = command(ContactAction::RemoveIdentity { identity: identity.clone() });
            unit.decide(&engine.contacts, &previous.to_string(), remove, &meta).await?;
        }
        let version = added.version + added.events.len();
        if let Some(answered) = commit_contact(&state, unit, contact_id, version, false).await? {
            return Ok(answered);
        }
        attempt = next(attempt)?;
    }
}

/// Unlink an identity from a contact: nobody holds it then, and a later message from it makes
/// a new contact. The contact's conversations stay its own.
#[utoipa::path(
    delete,
    path = "/v1/contacts/{contact_id}/identities",
    tag = "contacts",
    params(("contact_id" = Uuid, Path, description = "The contact")),
    request_body = ContactIdentityInput,
    responses(
        (status = 200, description = "The contact does not hold the identity (unlinking it again changes nothing): its version and position", body = CommandResponse),
        OnAContact,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn unlink_identity<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(contact_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ContactIdentityInput>,
) -> Answer {
    let actor = caller.agent_or_channel();
    let identity = Identity::new(body.kind, &body.value).map_err(|e| ApiError::validation("value", e.to_string()))?;
    let meta = command_metadata(ws, "unlink_identity");
    let engine = &state.engine;
    let mut attempt = 1;
    loop {
        let mut unit = Unit::new(attempt);
        let remove = ContactCommand {
            workspace_id: ws,
            actor: actor.clone(),
            action: ContactAction::RemoveIdentity { identity: identity.clone() },
        };
        let removed = unit.decide(&engine.contacts, &contact_id.to_string(), remove, &meta).await?;
        if !removed.events.is_empty() {
            let release = ContactIdentityCommand {
                workspace_id: ws,
                identity: identity.clone(),
                actor: actor.clone(),
                action: ContactIdentityAction::Release { contact_id },
            };
            unit.decide(&engine.contact_identities, &identity.id(ws).to_string(), release, &meta).await?;
        }
        let version = removed.version + removed.events.len();
        if let Some(answered) = commit_contact(&state, unit, contact_id, version, false).await? {
            return Ok(answered);
        }
        attempt = next(attempt)?;
    }
}
