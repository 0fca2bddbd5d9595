//! The contacts read models on both backends (#18, decision 0005): contacts and identity
//! holders written through the engine's aggregate stores, folded by the runners, then read
//! back by id, listed by name prefix, tag and identity with keyset paging, with merged and
//! deleted contacts left out of lists and another workspace's contacts out of sight; and the
//! live tables equal a rebuild.

use std::collections::BTreeMap;
use std::time::Duration;

use convo_domain::contact::{ContactAction, ContactCommand, ContactIdentityAction, ContactIdentityCommand};
use convo_domain::{Actor, Identity, IdentityKind};
use convo_read::{ContactFilter, ReadModels};
use convo_store::Backend;
use serde_json::json;
use uuid::Uuid;

use crate::support::{TestEngine, WS, engine, on_both_backends, read_models};

on_both_backends!(
    contacts_are_read_by_id_and_listed_by_name_tag_and_identity,
    an_identity_released_and_claimed_again_moves_to_its_new_holder,
);

const OTHER_WS: Uuid = Uuid::from_u128(0x07e5);

// Ids in list order.
const ADA: Uuid = Uuid::from_u128(0xc001);
const ALAN: Uuid = Uuid::from_u128(0xc002);
const GRACE: Uuid = Uuid::from_u128(0xc003);
const NAMELESS: Uuid = Uuid::from_u128(0xc004);
const EMILE: Uuid = Uuid::from_u128(0xc005);
const MERGED: Uuid = Uuid::from_u128(0xc006);
const DELETED: Uuid = Uuid::from_u128(0xc007);
/// A contact of [`OTHER_WS`].
const ELSEWHERE: Uuid = Uuid::from_u128(0xc008);

const INBOX: Uuid = Uuid::from_u128(0x1001);
const CONVERSATION: Uuid = Uuid::from_u128(0xa001);

fn phone() -> Identity {
    Identity::new(IdentityKind::Phone, "+4917300001").expect("a phone")
}
fn email() -> Identity {
    Identity::new(IdentityKind::Email, "alan@example.com").expect("an email")
}
fn visitor() -> Identity {
    Identity::new(IdentityKind::WebchatVisitor, "v_ada").expect("a visitor id")
}

fn actor() -> Actor {
    Actor::agent("admin")
}

/// Runs `action` on contact `id` of `workspace_id`.
async fn contact<B: Backend>(t: &TestEngine<B>, workspace_id: Uuid, id: Uuid, action: ContactAction) {
    let command = ContactCommand { workspace_id, actor: actor(), action };
    let meta = convo_store::metadata(workspace_id, []);
    t.engine.contacts.execute(&id.to_string(), command, &meta).await.expect("a contact command");
}

/// Runs `action` on `identity`'s stream in `workspace_id`.
async fn identity<B: Backend>(
    t: &TestEngine<B>,
    workspace_id: Uuid,
    identity: &Identity,
    action: ContactIdentityAction,
) {
    let command = ContactIdentityCommand { workspace_id, identity: identity.clone(), actor: actor(), action };
    let meta = convo_store::metadata(workspace_id, []);
    let stream = identity.id(workspace_id).to_string();
    t.engine.contact_identities.execute(&stream, command, &meta).await.expect("an identity command");
}

/// Creates contact `id` in `workspace_id` with `name`, `identities` (each claimed for it) and `tags`.
async fn create<B: Backend>(
    t: &TestEngine<B>,
    workspace_id: Uuid,
    id: Uuid,
    name: Option<&str>,
    identities: &[Identity],
    tags: &[&str],
) {
    let action = ContactAction::Create {
        contact_id: id,
        name: name.map(str::to_owned),
        avatar_url: None,
        identities: identities.to_vec(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        attributes: BTreeMap::new(),
        conversation: None,
    };
    contact(t, workspace_id, id, action).await;
    for i in identities {
        identity(t, workspace_id, i, ContactIdentityAction::Claim { contact_id: id }).await;
    }
}

/// Waits until both contacts read models have folded the whole log.
async fn caught_up<B: Backend>(t: &TestEngine<B>, read: &ReadModels<B>) {
    let head = t.engine.log.head().await.expect("the head of the log");
    for status in [&read.contacts_status, &read.contact_identities_status] {
        assert!(status.wait_for(head, Duration::from_secs(30)).await, "{} catches up", status.name);
    }
}

/// The ids of a page.
async fn ids<B: Backend>(
    read: &ReadModels<B>,
    workspace_id: Uuid,
    filter: ContactFilter,
    after: Option<Uuid>,
    limit: u32,
) -> Vec<Uuid> {
    let page = read.contacts.list(workspace_id, &filter, after, limit).await.expect("list contacts");
    page.into_iter().map(|c| c.contact_id).collect()
}

fn by_name(prefix: &str) -> ContactFilter {
    ContactFilter { name_prefix: Some(prefix.into()), ..ContactFilter::default() }
}
fn by_tag(tag: &str) -> ContactFilter {
    ContactFilter { tag: Some(tag.into()), ..ContactFilter::default() }
}
fn by_identity(identity: Identity) -> ContactFilter {
    ContactFilter { identity: Some(identity), ..ContactFilter::default() }
}

/// Live equals a fresh fold of the log, for both models.
async fn verified<B: Backend>(t: &TestEngine<B>, read: &ReadModels<B>) {
    for name in ["contacts", "contact_identities"] {
        let differences = read.verify(name, &t.engine.log, 10).await.expect("verify");
        assert_eq!(differences, Vec::<String>::new(), "{name}: live equals a rebuild");
    }
}

async fn contacts_are_read_by_id_and_listed_by_name_tag_and_identity<B: Backend>(backend: B) {
    let t = engine(backend);
    let read = read_models(&t);
    create(&t, WS, ADA, Some("Ada Lovelace"), &[phone()], &["VIP", "billing"]).await;
    contact(&t, WS, ADA, ContactAction::RecordConversation { inbox_id: INBOX, conversation_id: CONVERSATION }).await;
    contact(&t, WS, ADA, ContactAction::SetAttribute { key: "plan".into(), value: json!("pro") }).await;
    create(&t, WS, ALAN, Some("alan Turing"), &[email()], &["vip"]).await;
    create(&t, WS, GRACE, Some("Grace Hopper"), &[], &["billing", "vip_2026"]).await;
    create(&t, WS, NAMELESS, None, &[], &["vip", "vipx2026"]).await;
    create(&t, WS, EMILE, Some("Émile Borel"), &[], &[]).await;
    // Ada's other record, merged into hers, and a deleted contact: neither is listed.
    create(&t, WS, MERGED, Some("Ada L."), &[visitor()], &["vip"]).await;
    contact(&t, WS, MERGED, ContactAction::MergeInto { survivor_id: ADA }).await;
    let absorb = ContactAction::Absorb {
        merged_id: MERGED,
        identities: vec![visitor()],
        tags: vec!["vip".into()],
        attributes: BTreeMap::new(),
        conversations: vec![],
    };
    contact(&t, WS, ADA, absorb).await;
    identity(&t, WS, &visitor(), ContactIdentityAction::Move { contact_id: ADA }).await;
    create(&t, WS, DELETED, Some("Adam"), &[], &["vip"]).await;
    contact(&t, WS, DELETED, ContactAction::Delete).await;
    // Another workspace: the same phone, name and tag, for another contact.
    create(&t, OTHER_WS, ELSEWHERE, Some("Ada Elsewhere"), &[phone()], &["vip"]).await;
    caught_up(&t, &read).await;

    // By id, in any state.
    let ada = read.contacts.get(WS, ADA).await.expect("get").expect("Ada");
    assert_eq!(
        (ada.name.as_deref(), ada.workspace_id, ada.merged_into, ada.deleted),
        (Some("Ada Lovelace"), WS, None, false)
    );
    let mut identities = vec![phone(), visitor()];
    identities.sort();
    assert_eq!(ada.identities, identities, "her merged record's identity is hers now");
    assert_eq!(ada.tags, ["billing", "vip"]);
    assert_eq!(ada.attributes, BTreeMap::from([("plan".to_owned(), json!("pro"))]));
    assert_eq!((ada.conversations.len(), ada.conversations[0].conversation_id), (1, CONVERSATION));
    assert_eq!((ada.version, ada.created_at, ada.updated_at), (4, t.clock_now(), t.clock_now()));
    let merged = read.contacts.get(WS, MERGED).await.expect("get").expect("the merged contact");
    assert_eq!((merged.merged_into, merged.deleted), (Some(ADA), false));
    let deleted = read.contacts.get(WS, DELETED).await.expect("get").expect("the deleted contact");
    assert_eq!((deleted.merged_into, deleted.deleted), (None, true));
    assert_eq!(read.contacts.get(WS, Uuid::from_u128(0xdead)).await.expect("get"), None);

    // Every listed contact, then filtered.
    let all = ContactFilter::default();
    assert_eq!(ids(&read, WS, all.clone(), None, 50).await, [ADA, ALAN, GRACE, NAMELESS, EMILE]);
    assert_eq!(ids(&read, WS, by_name("AD"), None, 50).await, [ADA], "not the merged Ada L. nor the deleted Adam");
    assert_eq!(ids(&read, WS, by_name("a"), None, 50).await, [ADA, ALAN], "case-insensitive");
    assert_eq!(ids(&read, WS, by_name("Ada Lovelace"), None, 50).await, [ADA]);
    assert_eq!(ids(&read, WS, by_name("ada lovelacex"), None, 50).await, Vec::<Uuid>::new());
    assert_eq!(ids(&read, WS, by_name("ÉMI"), None, 50).await, [EMILE], "beyond ASCII too");
    assert_eq!(ids(&read, WS, by_name("e"), None, 50).await, Vec::<Uuid>::new(), "é is not e");
    assert_eq!(ids(&read, WS, by_name(""), None, 50).await, [ADA, ALAN, GRACE, EMILE], "every named contact");
    assert_eq!(ids(&read, WS, by_tag("vip"), None, 50).await, [ADA, ALAN, NAMELESS]);
    assert_eq!(ids(&read, WS, by_tag("VIP"), None, 50).await, [ADA, ALAN, NAMELESS], "in canonical spelling");
    assert_eq!(ids(&read, WS, by_tag("vi"), None, 50).await, Vec::<Uuid>::new(), "a whole tag only");
    assert_eq!(ids(&read, WS, by_tag("vip_2026"), None, 50).await, [GRACE], "_ is no wildcard");
    assert_eq!(ids(&read, WS, by_tag("vipx2026"), None, 50).await, [NAMELESS]);
    assert_eq!(ids(&read, WS, by_tag("vip%"), None, 50).await, Vec::<Uuid>::new(), "% is no wildcard");
    assert_eq!(ids(&read, WS, by_identity(phone()), None, 50).await, [ADA]);
    assert_eq!(ids(&read, WS, by_identity(email()), None, 50).await, [ALAN]);
    assert_eq!(ids(&read, WS, by_identity(visitor()), None, 50).await, [ADA], "moved by the merge");
    let unknown = Identity::new(IdentityKind::Phone, "+4917399999").expect("a phone");
    assert_eq!(ids(&read, WS, by_identity(unknown.clone()), None, 50).await, Vec::<Uuid>::new());
    let combined = |name: &str, tag: &str, identity: Option<Identity>| ContactFilter {
        name_prefix: Some(name.into()),
        tag: Some(tag.into()),
        identity,
    };
    assert_eq!(ids(&read, WS, combined("a", "billing", None), None, 50).await, [ADA]);
    assert_eq!(ids(&read, WS, combined("al", "billing", None), None, 50).await, Vec::<Uuid>::new());
    assert_eq!(ids(&read, WS, combined("a", "vip", Some(email())), None, 50).await, [ALAN]);
    assert_eq!(ids(&read, WS, combined("ada", "vip", Some(email())), None, 50).await, Vec::<Uuid>::new());

    // Keyset pages: each after the last of the one before, filtered the same.
    assert_eq!(ids(&read, WS, all.clone(), None, 2).await, [ADA, ALAN]);
    assert_eq!(ids(&read, WS, all.clone(), Some(ALAN), 2).await, [GRACE, NAMELESS]);
    assert_eq!(ids(&read, WS, all.clone(), Some(NAMELESS), 2).await, [EMILE]);
    assert_eq!(ids(&read, WS, all.clone(), Some(EMILE), 2).await, Vec::<Uuid>::new());
    assert_eq!(ids(&read, WS, by_tag("vip"), Some(ADA), 1).await, [ALAN]);
    assert_eq!(ids(&read, WS, by_tag("vip"), Some(ALAN), 1).await, [NAMELESS]);

    // Holders.
    assert_eq!(read.contact_identities.holder(WS, &phone()).await.expect("holder"), Some(ADA));
    assert_eq!(read.contact_identities.holder(WS, &email()).await.expect("holder"), Some(ALAN));
    assert_eq!(read.contact_identities.holder(WS, &visitor()).await.expect("holder"), Some(ADA));
    assert_eq!(read.contact_identities.holder(WS, &unknown).await.expect("holder"), None);

    // Another workspace sees none of these, and they none of its.
    assert_eq!(ids(&read, OTHER_WS, all.clone(), None, 50).await, [ELSEWHERE]);
    assert_eq!(ids(&read, OTHER_WS, by_name("ada"), None, 50).await, [ELSEWHERE]);
    assert_eq!(ids(&read, OTHER_WS, by_tag("billing"), None, 50).await, Vec::<Uuid>::new());
    assert_eq!(ids(&read, OTHER_WS, by_identity(phone()), None, 50).await, [ELSEWHERE]);
    assert_eq!(ids(&read, OTHER_WS, by_identity(email()), None, 50).await, Vec::<Uuid>::new());
    assert_eq!(read.contacts.get(OTHER_WS, ADA).await.expect("get"), None);
    assert_eq!(read.contacts.get(WS, ELSEWHERE).await.expect("get"), None);
    assert_eq!(read.contact_identities.holder(OTHER_WS, &phone()).await.expect("holder"), Some(ELSEWHERE));
    assert_eq!(read.contact_identities.holder(OTHER_WS, &email()).await.expect("holder"), None);

    verified(&t, &read).await;
}

async fn an_identity_released_and_claimed_again_moves_to_its_new_holder<B: Backend>(backend: B) {
    let t = engine(backend);
    let read = read_models(&t);
    create(&t, WS, ADA, Some("Ada"), &[phone()], &[]).await;
    create(&t, WS, GRACE, Some("Grace"), &[], &[]).await;
    caught_up(&t, &read).await;
    assert_eq!(read.contact_identities.holder(WS, &phone()).await.expect("holder"), Some(ADA));
    assert_eq!(ids(&read, WS, by_identity(phone()), None, 50).await, [ADA]);

    // Ada lets the number go: nobody holds it, and no contact is found by it.
    contact(&t, WS, ADA, ContactAction::RemoveIdentity { identity: phone() }).await;
    identity(&t, WS, &phone(), ContactIdentityAction::Release { contact_id: ADA }).await;
    caught_up(&t, &read).await;
    assert_eq!(read.contact_identities.holder(WS, &phone()).await.expect("holder"), None);
    assert_eq!(ids(&read, WS, by_identity(phone()), None, 50).await, Vec::<Uuid>::new());
    let ada = read.contacts.get(WS, ADA).await.expect("get").expect("Ada");
    assert_eq!(ada.identities, Vec::<Identity>::new());

    // Grace gets it.
    contact(&t, WS, GRACE, ContactAction::AddIdentity { identity: phone() }).await;
    identity(&t, WS, &phone(), ContactIdentityAction::Claim { contact_id: GRACE }).await;
    caught_up(&t, &read).await;
    assert_eq!(read.contact_identities.holder(WS, &phone()).await.expect("holder"), Some(GRACE));
    assert_eq!(ids(&read, WS, by_identity(phone()), None, 50).await, [GRACE]);
    let grace = read.contacts.get(WS, GRACE).await.expect("get").expect("Grace");
    assert_eq!(grace.identities, [phone()]);
    assert_eq!(ids(&read, WS, ContactFilter::default(), None, 50).await, [ADA, GRACE]);

    verified(&t, &read).await;
}
