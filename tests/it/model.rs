//! Random command sequences over HTTP, on both backends, against an independent model of what
//! the read models must show (written here from DOMAIN.md's rules, not from the projections).
//! Deterministic seeds: a failure names the seed that reproduces it.

use std::collections::HashMap;

use axum::http::StatusCode;
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{app, call, create_team, engine, on_both_backends, register_agent};

on_both_backends!(random_command_sequences_leave_read_models_equal_to_an_independent_model);

const SEEDS: [u64; 3] = [7, 1_234, 98_765];
const COMMANDS: usize = 80;
const CONTACTS: [&str; 4] = ["+4919000001", "+4919000002", "+4919000003", "+4919000004"];
const USERS: [&str; 2] = ["ada", "bob"];
const AGENTS: [&str; 3] = ["ada", "bob", "cy"];

#[derive(Debug, Default, Clone)]
struct Expected {
    status: &'static str,
    archived: bool,
    assignee: Option<String>,
    team: Option<String>,
    /// Each message and note, by seq: (id, direction, inbound count up to it, text).
    messages: Vec<(String, &'static str, u64, String)>,
    /// Its labels and its `plan` attribute.
    labels: std::collections::BTreeSet<&'static str>,
    plan: Option<&'static str>,
    /// Each mention of an agent by a note: (note id, agent, the note's seq and log position).
    mentions: Vec<(String, &'static str, u64, i64)>,
    /// Per user: inbound messages read.
    read: HashMap<&'static str, (u64, u64)>, // (seq, inbound_read)
}

impl Expected {
    fn inbound_count(&self) -> u64 {
        self.messages.iter().filter(|m| m.1 == "inbound").count() as u64
    }
}

async fn random_command_sequences_leave_read_models_equal_to_an_independent_model<B: Backend>(backend: B) {
    for seed in SEEDS {
        let t = engine(backend.clone());
        let app = app(&t).await;
        let mut rng = fastrand::Rng::with_seed(seed);
        // The agents assigned are the workspace's, registered once on the shared database; the
        // teams are this seed's own.
        if seed == SEEDS[0] {
            for agent in AGENTS {
                register_agent(&app, agent).await;
            }
            let plan = json!({"model": "conversation", "key": "plan", "name": "Plan", "type": "list",
                              "options": ["free", "gold"]});
            assert_eq!(call(&app, "POST", "/v1/attribute-definitions", Some(plan)).await.status, StatusCode::CREATED);
        }
        let teams = [create_team(&app, "Billing").await, create_team(&app, "Sales").await];
        let inbox =
            call(&app, "POST", "/v1/inboxes", Some(json!({"name": format!("seed {seed}"), "channel_type": "sms"})))
                .await;
        let inbox_id = inbox.body["inbox_id"].clone();
        let mut model: HashMap<String, Expected> = HashMap::new();
        let mut ids: HashMap<&str, String> = HashMap::new();
        let mut last_position = inbox.body["position"].as_i64().unwrap_or(0);
        for step in 0..COMMANDS {
            let contact = CONTACTS[rng.usize(..CONTACTS.len())];
            let known = ids.get(contact).cloned();
            let choice = if known.is_none() { 0 } else { rng.usize(0..12) };
            let body = format!("m{seed}.{step}");
            let reply = match (choice, known) {
                (0, _) | (_, None) => {
                    let reply = call(
                        &app,
                        "POST",
                        "/v1/inbound-messages",
                        Some(json!({"inbox_id": inbox_id, "contact_id": contact, "sent_at": t.clock_now(),
                                    "content": {"type": "text", "body": body}})),
                    )
                    .await;
                    let id = reply.body["conversation_id"].as_str().unwrap_or_default().to_owned();
                    ids.insert(contact, id.clone());
                    let c = model.entry(id).or_insert_with(|| Expected { status: "open", ..Expected::default() });
                    let count = c.inbound_count() + 1;
                    c.messages.push((
                        reply.body["message_id"].as_str().unwrap_or_default().to_owned(),
                        "inbound",
                        count,
                        body,
                    ));
                    c.status = "open";
                    c.archived = false;
                    reply
                }
                (choice, Some(id)) => {
                    let c = model.get_mut(&id).expect("modelled");
                    let path = format!("/v1/conversations/{id}");
                    match choice {
                        1 => {
                            let reply = call(&app, "POST", &format!("{path}/messages"),
                                Some(json!({"actor": {"kind": "agent", "id": "ada"}, "content": {"type": "text", "body": body}}))).await;
                            let count = c.inbound_count();
                            c.messages.push((
                                reply.body["message_id"].as_str().unwrap_or_default().to_owned(),
                                "outbound",
                                count,
                                body,
                            ));
                            reply
                        }
                        10 => {
                            // A label put on or taken off.
                            let label = ["vip", "billing"][rng.usize(..2)];
                            if rng.bool() {
                                c.labels.insert(label);
                                call(&app, "PUT", &format!("{path}/labels/{label}"), None).await
                            } else {
                                c.labels.remove(label);
                                call(&app, "DELETE", &format!("{path}/labels/{label}"), None).await
                            }
                        }
                        11 => {
                            // The plan attribute set or removed.
                            let plan = [Some("free"), Some("gold"), None][rng.usize(..3)];
                            c.plan = plan;
                            let body = json!({"attributes": {"plan": plan}});
                            call(&app, "PATCH", &format!("{path}/attributes"), Some(body)).await
                        }
                        9 => {
                            // A private note mentioning an agent: a place in the timeline,
                            // nobody's unread, never the last message.
                            let agent = AGENTS[rng.usize(..AGENTS.len())];
                            let note =
                                json!({"actor": {"kind": "agent", "id": "cy"}, "body": body, "mentions": [agent]});
                            let reply = call(&app, "POST", &format!("{path}/notes"), Some(note)).await;
                            let id = reply.body["message_id"].as_str().unwrap_or_default().to_owned();
                            let position = reply.body["position"].as_i64().unwrap_or_default();
                            c.mentions.push((id.clone(), agent, c.messages.len() as u64 + 1, position));
                            let count = c.inbound_count();
                            c.messages.push((id, "note", count, body));
                            reply
                        }
                        2 => {
                            let agent = AGENTS[rng.usize(..AGENTS.len())];
                            c.assignee = Some(agent.to_owned());
                            call(&app, "PUT", &format!("{path}/assignee"), Some(json!({"agent_id": agent}))).await
                        }
                        3 => {
                            c.assignee = None;
                            call(&app, "DELETE", &format!("{path}/assignee"), None).await
                        }
                        4 => {
                            let team = &teams[rng.usize(..teams.len())];
                            c.team = Some(team.clone());
                            call(&app, "PUT", &format!("{path}/team"), Some(json!({"team_id": team}))).await
                        }
                        5 => {
                            c.archived = true;
                            call(&app, "POST", &format!("{path}/archive"), None).await
                        }
                        6 => {
                            c.archived = false;
                            call(&app, "POST", &format!("{path}/unarchive"), None).await
                        }
                        7 => {
                            let status = ["open", "pending", "closed"][rng.usize(..3)];
                            c.status = status;
                            call(&app, "POST", &format!("{path}/status"), Some(json!({"status": status}))).await
                        }
                        _ => {
                            let user = USERS[rng.usize(..USERS.len())];
                            let index = rng.usize(..c.messages.len());
                            let (message_id, _, inbound_read, _) = c.messages[index].clone();
                            let seq = index as u64 + 1;
                            // Markers only move forward.
                            if c.read.get(user).is_none_or(|(s, _)| *s < seq) {
                                c.read.insert(user, (seq, inbound_read));
                            }
                            call(
                                &app,
                                "POST",
                                &format!("{path}/read"),
                                Some(json!({"user_id": user, "message_id": message_id})),
                            )
                            .await
                        }
                    }
                }
            };
            assert!(reply.status.is_success(), "seed {seed} step {step}: {:?}", reply.body);
            last_position = last_position.max(reply.body["position"].as_i64().unwrap_or(0));
        }

        // Each seed has its own inbox on the same database.
        let inbox = inbox_id.as_str().unwrap_or_default();
        let list = call(
            &app,
            "GET",
            &format!("/v1/conversations?inbox_id={inbox}&archived=any&limit=200&min_position={last_position}"),
            None,
        )
        .await;
        assert_eq!(list.status, StatusCode::OK, "seed {seed}");
        let rows: HashMap<String, Value> = list.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (r["conversation_id"].as_str().unwrap_or_default().to_owned(), r.clone()))
            .collect();
        assert_eq!(rows.len(), model.len(), "seed {seed}: one row per conversation");
        for (id, c) in &model {
            let row = &rows[id];
            let last = c.messages.iter().rev().find(|m| m.1 != "note").expect("a conversation has a message");
            let actual = (
                row["status"].as_str(),
                row["archived"].as_bool(),
                row["assignee"].as_str(),
                row["team"].as_str(),
                row["message_count"].as_u64(),
                row["inbound_count"].as_u64(),
                row["last_message"]["preview"].as_str(),
            );
            let expected = (
                Some(c.status),
                Some(c.archived),
                c.assignee.as_deref(),
                c.team.as_deref(),
                Some(c.messages.len() as u64),
                Some(c.inbound_count()),
                Some(last.3.as_str()),
            );
            assert_eq!(actual, expected, "seed {seed}, conversation {id}");
            let labels: Vec<&str> = c.labels.iter().copied().collect();
            assert_eq!(row["labels"], json!(labels), "seed {seed}, labels of {id}");
            let attributes = c.plan.map_or(json!({}), |plan| json!({"plan": plan}));
            assert_eq!(row["attributes"], attributes, "seed {seed}, attributes of {id}");
            let timeline = call(
                &app,
                "GET",
                &format!("/v1/conversations/{id}/messages?limit=200&min_position={last_position}"),
                None,
            )
            .await;
            let actual: Vec<(String, String, String)> = timeline.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let id = m["message_id"].as_str().unwrap_or_default().to_owned();
                    let direction = m["direction"].as_str().unwrap_or_default().to_owned();
                    (id, direction, m["content"]["body"].as_str().unwrap_or_default().to_owned())
                })
                .collect();
            let expected: Vec<(String, String, String)> = c
                .messages
                .iter()
                .map(|(id, direction, _, body)| (id.clone(), (*direction).to_owned(), body.clone()))
                .collect();
            assert_eq!(actual, expected, "seed {seed}, timeline of {id}");
        }
        for user in USERS {
            let summary =
                call(&app, "GET", &format!("/v1/users/{user}/unread-summary?min_position={last_position}"), None).await;
            let total: u64 = model.values().map(|c| c.inbound_count() - c.read.get(user).map_or(0, |r| r.1)).sum();
            let conversations =
                model.values().filter(|c| c.inbound_count() > c.read.get(user).map_or(0, |r| r.1)).count() as u64;
            let this_inbox =
                summary.body["inboxes"].as_array().into_iter().flatten().find(|i| i["inbox_id"] == inbox_id);
            let actual = this_inbox
                .map_or((0, 0), |i| (i["unread"].as_u64().unwrap_or(0), i["conversations"].as_u64().unwrap_or(0)));
            assert_eq!(actual, (total, conversations), "seed {seed}, user {user}: {:?}", summary.body);
        }
        // The list filtered by a label, in the unfiltered list's order.
        for label in ["vip", "billing"] {
            let uri = format!(
                "/v1/conversations?inbox_id={inbox}&archived=any&limit=200&label={label}&min_position={last_position}"
            );
            let filtered = call(&app, "GET", &uri, None).await;
            let actual: Vec<&Value> =
                filtered.body["items"].as_array().into_iter().flatten().map(|r| &r["conversation_id"]).collect();
            let expected: Vec<&Value> = list.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| model[r["conversation_id"].as_str().unwrap_or_default()].labels.contains(label))
                .map(|r| &r["conversation_id"])
                .collect();
            assert_eq!(actual, expected, "seed {seed}, label {label}");
        }
        // Each agent's mentions in this seed's conversations, newest first, read once the
        // agent's marker reached the note.
        for agent in AGENTS {
            let listed =
                call(&app, "GET", &format!("/v1/agents/{agent}/mentions?limit=200&min_position={last_position}"), None)
                    .await;
            let actual: Vec<(String, bool)> = listed.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["conversation_id"].as_str().is_some_and(|c| model.contains_key(c)))
                .map(|m| (m["message_id"].as_str().unwrap_or_default().to_owned(), m["read"] == true))
                .collect();
            let mut expected: Vec<(i64, String, bool)> = model
                .values()
                .flat_map(|c| {
                    c.mentions.iter().filter(|m| m.1 == agent).map(|(id, _, seq, position)| {
                        let read = c.read.get(agent).is_some_and(|(s, _)| s >= seq);
                        (*position, id.clone(), read)
                    })
                })
                .collect();
            expected.sort_by_key(|m| std::cmp::Reverse(m.0));
            let expected: Vec<(String, bool)> = expected.into_iter().map(|(_, id, read)| (id, read)).collect();
            assert_eq!(actual, expected, "seed {seed}, mentions of {agent}");
        }
        // And every read model equals a rebuild from the log.
        let read = convo_read::ReadModels::new(&t.engine.backend);
        for name in convo_read::ReadModels::<B>::NAMES {
            let differences = read.verify(name, &t.engine.log, 10).await.expect("verify");
            assert_eq!(differences, Vec::<String>::new(), "seed {seed}: {name} differs from a rebuild");
        }
    }
}
