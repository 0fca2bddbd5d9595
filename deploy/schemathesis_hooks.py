"""schemathesis hooks for deploy/schemathesis.sh, and the run's fixtures and summary.

Generated ids name nothing, so most operations would only ever meet their 404. Before the run,
`python deploy/schemathesis_hooks.py fixtures URL KEY FILE` creates real resources over HTTP
with the run's key (inboxes, direct conversations with inbound and outbound messages, groups
with members, join requests waiting for an admin) and writes their ids to FILE. `map_case` puts
real ids (and positions the log has reached) into three valid cases in four; the fourth keeps
what schemathesis made, which still reaches the 404s. An operation that changes things for good
(deleting an inbox or a message, leaving a group, its settings, removing or demoting members)
gets resources of its own, so that the others keep finding theirs usable; `refresh` gives a
case, just before it is sent, a fresh id for one the run has taken since it was made.

An `Idempotency-Key` reused with another request is refused by design (422
`idempotencyKeyReused`), and the generator reuses its few header values across requests:
each request whose key is a valid one gets a key of its own, so the header is still exercised
and the request reaches what it was generated to test.

`filter_failure` drops three kinds of failure that are no fault of the gateway's (see there).
`after_call` appends each answer's status per operation to `$CONVO_ST_STATUSES`;
`python deploy/schemathesis_hooks.py summary URL FILE [OPERATION…]` prints which operations had
a 2xx, and fails if one did not that is not listed.
"""

import datetime
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib

import jsonschema_rs
import schemathesis
from schemathesis.core import NotSet

# Of four cases whose ids could be real, three get real ones; the fourth keeps its generated ids.
REAL_SHARE = 3
NUL_REFUSED = "must not contain the NUL character"
# What `Idempotency-Key` accepts: 1 to 255 visible ASCII characters.
VALID_IDEMPOTENCY_KEY = re.compile(r"^[!-~]{1,255}$")


# --- fixtures: real resources, created before the run -------------------------------------


class Api:
    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key
        # The latest position a command answered: the log's head once the fixtures are made.
        self.position = 0

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise SystemExit(f"fixtures: {method} {path} answered {error.code}: {error.read().decode()}") from None
        self.position = max(self.position, answer.get("position") or 0)
        return answer


def create_fixtures(api):
    """Creates the resources the run acts on; returns their ids."""
    # The key is printed before the listener is up.
    for _ in range(100):
        try:
            urllib.request.urlopen(api.base + "/readyz", timeout=1).close()
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    else:
        raise SystemExit(f"fixtures: {api.base} is not ready")
    now = datetime.datetime.now(datetime.timezone.utc)
    sent_at = (now - datetime.timedelta(minutes=1)).isoformat()
    text = lambda body: {"type": "text", "body": body}  # noqa: E731
    agent = {"kind": "agent", "id": "st-agent"}

    # rcs and whatsapp carry every kind of content (whatsapp within 24 hours of the contact's
    # message, which the fixture has just received); sms neither templates nor interactive ones.
    inboxes = {
        channel: api.call("POST", "/v1/inboxes", {"name": f"st-{channel}", "channel_type": channel})["inbox_id"]
        for channel in ("rcs", "whatsapp", "sms")
    }
    # Deleting an inbox stops its conversations: DELETE /v1/inboxes/{inbox_id} gets its own.
    doomed_inboxes = [
        api.call("POST", "/v1/inboxes", {"name": f"st-doomed-{i}", "channel_type": "api"})["inbox_id"] for i in range(2)
    ]

    direct, sendable, inbound, outbound, doomed_messages = [], [], [], [], []
    for channel, inbox_id in inboxes.items():
        got = api.call(
            "POST",
            "/v1/inbound-messages",
            {"inbox_id": inbox_id, "contact_id": f"st-contact-{channel}", "sent_at": sent_at, "content": text("hi")},
        )
        conversation = got["conversation_id"]
        direct.append({"inbox_id": inbox_id, "contact_id": f"st-contact-{channel}", "conversation_id": conversation})
        if channel != "sms":
            sendable.append(conversation)
        inbound.append([conversation, got["message_id"]])
        for i in range(6):
            reply = {"actor": agent, "content": text(f"reply {i}")}
            sent = api.call("POST", f"/v1/conversations/{conversation}/messages", reply)
            # Deleted messages can no longer be edited or reacted to: DELETE gets its own.
            (outbound if i < 3 else doomed_messages).append([conversation, sent["message_id"]])

    # One group per kind of use, on the rcs inbox: its own member `st-self` (the creator, an
    # admin) and eight others, m0 an admin.
    def group(name, settings=None, invite_code=None):
        body = {
            "inbox_id": inboxes["rcs"],
            "group_id": f"st-group-{name}",
            "subject": f"st {name}",
            "self_member": "st-self",
            "members": [{"member_id": f"st-{name}-m{i}", "role": "admin" if i == 0 else "member"} for i in range(8)],
        }
        if settings:
            body["settings"] = settings
        if invite_code:
            body["invite_code"] = invite_code
        conversation = api.call("POST", "/v1/groups", body)["conversation_id"]
        members = [m["member_id"] for m in body["members"]]
        return {
            "conversation_id": conversation,
            "inbox_id": inboxes["rcs"],
            "group_id": body["group_id"],
            "members": members,
            "invite_code": invite_code,
        }

    groups = {
        # Sends (with mentions of its members) and inbound group messages.
        "send": [group("send")],
        # Members joining (added or through the invite link, whose code is known).
        "members": [group(f"members{i}", invite_code=f"st-invite-{i}") for i in range(2)],
        "update_member": [group("update-member")],
        "remove_member": [group("remove-member")],
        # Subject, description, settings, invite link.
        "settings": [group("settings")],
        "join": [group("join", settings={"join_approval": True})],
        "leave": [group("leave")],
        "activity": [group("activity", settings={"activity_only": True})],
    }
    join = groups["join"][0]["conversation_id"]
    requests = []
    for i in range(40):
        got = api.call("POST", f"/v1/conversations/{join}/join-requests", {"member_id": f"st-asking-{i}"})
        requests.append([join, got["request_id"]])
    # Webhook endpoints: one every operation on an endpoint may use, and some for deleting.
    # Loopback: refused at once by the delivery's address check (no DNS lookup that could outlast
    # the run's request timeout on a verify call).
    hooks = [api.call("POST", "/v1/webhooks", {"url": f"https://127.0.0.1:9/st-{i}"})["endpoint_id"] for i in range(6)]
    # Contacts: a few that merges keep (and reads and changes use), others to merge into them,
    # each once, and some for deleting.
    contacts = [api.call("POST", "/v1/contacts", {"name": f"st-contact-{i}"})["contact_id"] for i in range(50)]
    # The directory: agents that assignments and teams name (kept active), others that
    # `PATCH /v1/agents/{agent_id}` may change as it likes (deactivate them too), and teams.
    agents = [api.call("POST", "/v1/agents", {"agent_id": f"st-agent-{i}", "name": f"st {i}"})["agent_id"] for i in range(4)]
    patchable = [api.call("POST", "/v1/agents", {"agent_id": f"st-patch-{i}", "name": f"st {i}"})["agent_id"] for i in range(4)]
    teams = [api.call("POST", "/v1/teams", {"name": f"st-team-{i}"})["team_id"] for i in range(2)]
    # Attribute definitions: `plan` (a list) for conversations, which their attributes are set
    # by; `tier` for contacts; and some to delete, DELETE's own.
    plan = {"model": "conversation", "key": "plan", "name": "Plan", "type": "list", "options": ["free", "gold"]}
    api.call("POST", "/v1/attribute-definitions", plan)
    api.call("POST", "/v1/attribute-definitions", {"model": "contact", "key": "tier", "name": "Tier", "type": "text"})
    doomed_attributes = []
    for i in range(4):
        definition = {"model": "conversation", "key": f"st_doomed_{i}", "name": "doomed", "type": "number"}
        api.call("POST", "/v1/attribute-definitions", definition)
        doomed_attributes.append(["conversation", f"st_doomed_{i}"])
    for team in teams:
        for agent_id in agents[:2]:
            api.call("PUT", f"/v1/teams/{team}/agents/{agent_id}")
    return {
        "agents": agents,
        "patchable_agents": patchable,
        "teams": teams,
        "attributes": [["conversation", "plan"], ["contact", "tier"]],
        "doomed_attributes": doomed_attributes,
        "survivors": contacts[:3],
        "mergeable": contacts[3:43],
        "doomed_contacts": contacts[43:],
        "position": api.position,
        "webhooks": hooks[:1],
        "doomed_webhooks": hooks[1:],
        "inboxes": list(inboxes.values()),
        "doomed_inboxes": doomed_inboxes,
        "direct": direct,
        "sendable": sendable,
        "conversations": [d["conversation_id"] for d in direct]
        + [g["conversation_id"] for pool in groups.values() for g in pool],
        "live_messages": inbound + outbound,
        "outbound": outbound,
        "doomed_messages": doomed_messages,
        "groups": groups,
        # Each request can be resolved once: half for approving, half for rejecting.
        "approve": requests[::2],
        "reject": requests[1::2],
    }


# --- real ids in generated cases ------------------------------------------------------------

FIXTURES = None
FIXTURE_IDS = frozenset()
# What the run has made so far: threads by (inbox, contact or group id), messages by
# (conversation, message id), and the join requests resolved. A case is made before it is sent
# (the coverage phase makes all of an operation's at once), so what it names may be taken or
# gone by then: see `refresh`.
TAKEN = set()
RESOLVED = set()
MERGED = set()
if os.environ.get("CONVO_ST_FIXTURES"):
    with open(os.environ["CONVO_ST_FIXTURES"]) as f:
        FIXTURES = json.load(f)
    FIXTURE_IDS = frozenset(
        FIXTURES["conversations"]
        + FIXTURES["inboxes"]
        + FIXTURES["webhooks"]
        + FIXTURES["survivors"]
        + FIXTURES["mergeable"]
        + FIXTURES["agents"]
        + FIXTURES["teams"]
    )
    TAKEN.update(("agent", a) for a in FIXTURES["agents"] + FIXTURES["patchable_agents"])
    TAKEN.update(("thread", d["inbox_id"], d["contact_id"]) for d in FIXTURES["direct"])
    TAKEN.update(("thread", g["inbox_id"], g["group_id"]) for pool in FIXTURES["groups"].values() for g in pool)
    TAKEN.update(("message", c, m) for c, m in FIXTURES["live_messages"] + FIXTURES["doomed_messages"])


def draw_for(case):
    """A generator seeded by the case itself: the same case gets the same ids in every run."""
    seed = json.dumps(
        [case.method, case.operation.path, case.path_parameters, case.query, case.body],
        sort_keys=True,
        default=str,
    )
    return random.Random(zlib.crc32(seed.encode()))


def groups(pool):
    return FIXTURES["groups"][pool]


# The group each group operation acts on: one that the operation's own effects cannot spoil
# for the others (a left group refuses changes, a demoted inbox cannot manage, a rotated link
# refuses the old code, an activity-only group keeps no messages).
GROUP_POOLS = {
    "/v1/conversations/{conversation_id}/members": "members",
    "/v1/conversations/{conversation_id}/group": "settings",
    "/v1/conversations/{conversation_id}/invite-link/rotate": "settings",
    "/v1/conversations/{conversation_id}/join-requests": "join",
    "/v1/conversations/{conversation_id}/leave": "leave",
    "/v1/conversations/{conversation_id}/activity": "activity",
}


def path_candidates(case):
    """Every set of real path parameters that fits `case`'s operation (and its body)."""
    path, method, body = case.operation.path, case.method.upper(), case.body
    pairs = lambda pool: [{"conversation_id": c, "message_id": m} for c, m in FIXTURES[pool]]  # noqa: E731
    if path == "/v1/webhooks/{webhook_id}":
        return [{"webhook_id": w} for w in FIXTURES["doomed_webhooks" if method == "DELETE" else "webhooks"]]
    if "{webhook_id}" in path:
        return [{"webhook_id": w} for w in FIXTURES["webhooks"]]
    if path == "/v1/contacts/{contact_id}":
        return [{"contact_id": c} for c in FIXTURES["doomed_contacts" if method == "DELETE" else "survivors"]]
    if "{contact_id}" in path:
        return [{"contact_id": c} for c in FIXTURES["survivors"]]
    if path == "/v1/agents/{agent_id}":
        # Changes may deactivate an agent: those changed are not the ones assignments name.
        return [{"agent_id": a} for a in FIXTURES["patchable_agents" if method == "PATCH" else "agents"]]
    if path == "/v1/teams/{team_id}/agents/{agent_id}":
        return [{"team_id": t, "agent_id": a} for t in FIXTURES["teams"] for a in FIXTURES["agents"]]
    if path == "/v1/attribute-definitions/{model}/{key}":
        pool = FIXTURES["doomed_attributes" if method == "DELETE" else "attributes"]
        return [{"model": m, "key": k} for m, k in pool]
    if "{team_id}" in path:
        return [{"team_id": t} for t in FIXTURES["teams"]]
    if path == "/v1/inboxes/{inbox_id}/team":
        return [{"inbox_id": inbox} for inbox in FIXTURES["inboxes"]]
    if path == "/v1/inboxes/{inbox_id}":
        # Deleting an inbox stops its conversations: this one deletes its own.
        return [{"inbox_id": inbox} for inbox in FIXTURES["doomed_inboxes"]]
    if path == "/v1/conversations/{conversation_id}/messages/{message_id}":
        return pairs("doomed_messages" if method == "DELETE" else "live_messages")
    if path == "/v1/conversations/{conversation_id}/messages/{message_id}/status":
        return pairs("outbound")
    if path == "/v1/conversations/{conversation_id}/messages/{message_id}/reactions":
        return pairs("live_messages")
    if path.endswith("/{request_id}/approve") or path.endswith("/{request_id}/reject"):
        pool = FIXTURES["approve" if path.endswith("approve") else "reject"]
        return [{"conversation_id": c, "request_id": r} for c, r in pool if r not in RESOLVED]
    if path == "/v1/conversations/{conversation_id}/members/{member_id}":
        # Not the inbox's own member: removing or demoting it would end the inbox's say.
        return [
            {"conversation_id": g["conversation_id"], "member_id": m}
            for g in groups("remove_member" if method == "DELETE" else "update_member")
            for m in g["members"]
        ]
    if path == "/v1/conversations/{conversation_id}/messages" and method == "POST":
        if isinstance(body, dict) and body.get("mentions"):
            return [{"conversation_id": g["conversation_id"]} for g in groups("send")]
        return [{"conversation_id": c} for c in FIXTURES["sendable"]] + [
            {"conversation_id": g["conversation_id"]} for g in groups("send")
        ]
    if path == "/v1/conversations/{conversation_id}/read" and isinstance(body, dict) and body.get("message_id"):
        return [{"conversation_id": c} for c in dict.fromkeys(c for c, _ in FIXTURES["live_messages"])]
    if path in GROUP_POOLS:
        return [{"conversation_id": g["conversation_id"]} for g in groups(GROUP_POOLS[path])]
    if "{conversation_id}" in path:
        return [{"conversation_id": c} for c in FIXTURES["conversations"]]
    return []


def spoils_another_operations_fixture(path_parameters, candidates):
    """Whether `path_parameters` name a fixture made for other operations: schemathesis feeds
    ids it saw in answers back into its cases, and leaving the group a send was meant for, or
    deleting its inbox, would leave the send nothing but refusals."""
    for name, value in path_parameters.items():
        if value in FIXTURE_IDS and all(c.get(name) != value for c in candidates):
            return True
    return False


def real_body(case, rnd, path_parameters):
    """The generated body with real ids where it names existing things."""
    path, body = case.operation.path, case.body
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if path == "/v1/inbound-messages":
        if body.get("group_id") is not None:
            g = rnd.choice(groups(rnd.choice(["send", "activity", "members"])))
            body["inbox_id"], body["group_id"] = g["inbox_id"], g["group_id"]
        elif rnd.randrange(2):
            d = rnd.choice(FIXTURES["direct"])
            body["inbox_id"], body["contact_id"] = d["inbox_id"], d["contact_id"]
        else:
            body["inbox_id"] = rnd.choice(FIXTURES["inboxes"])
    elif path == "/v1/groups":
        body["inbox_id"] = rnd.choice(FIXTURES["inboxes"])
    elif path == "/v1/contacts/{contact_id}/identities" and isinstance(body.get("kind"), str):
        # A value of the kind's shape, new to the run: a link that takes or a removal of nothing.
        n = rnd.randrange(10**8)
        digits = str(10**7 + n)
        body["value"] = {
            "phone": f"+4917{digits}",
            "email": f"st-{n}@example.com",
            "messenger_psid": digits,
            "instagram_igsid": digits,
            "telegram_id": digits,
        }.get(body["kind"], f"st-{n}")
    elif path == "/v1/conversations/{conversation_id}/attributes" and isinstance(body.get("attributes"), dict):
        # The one conversation attribute defined, with a value of its own.
        body["attributes"] = {"plan": rnd.choice(["free", "gold", None])}
    elif path == "/v1/conversations/{conversation_id}/notes":
        # An author, and mentions of real (active) agents.
        body["actor"] = {"kind": "agent", "id": "st-agent"}
        if isinstance(body.get("mentions"), list):
            body["mentions"] = rnd.sample(FIXTURES["agents"], min(len(body["mentions"]), len(FIXTURES["agents"])))
    elif path == "/v1/conversations/{conversation_id}/assignee" and "agent_id" in body:
        body["agent_id"] = rnd.choice(FIXTURES["agents"])
    elif path in ("/v1/conversations/{conversation_id}/team", "/v1/inboxes/{inbox_id}/team") and "team_id" in body:
        body["team_id"] = rnd.choice(FIXTURES["teams"])
    elif path == "/v1/contacts/{contact_id}/merge":
        unmerged = [c for c in FIXTURES["mergeable"] if c not in MERGED]
        if unmerged:
            body["contact_id"] = rnd.choice(unmerged)
    elif path == "/v1/conversations/{conversation_id}/messages" and body.get("mentions"):
        # Distinct current members of the (one) group sends with mentions go to.
        members = rnd.choice(groups("send"))["members"]
        body["mentions"] = rnd.sample(members, min(len(body["mentions"]), len(members)))
    elif path == "/v1/conversations/{conversation_id}/read" and body.get("message_id"):
        conversation = path_parameters.get("conversation_id")
        messages = [m for c, m in FIXTURES["live_messages"] if c == conversation]
        if messages:
            body["message_id"] = rnd.choice(messages)
    elif path == "/v1/conversations/{conversation_id}/members" and body.get("invite_code"):
        conversation = path_parameters.get("conversation_id")
        codes = [g["invite_code"] for g in groups("members") if g["conversation_id"] == conversation]
        if codes:
            body["invite_code"] = codes[0]
    return body


def real_positions(values, rnd):
    """Positions the log has reached, for those beyond it (which `min_position` waits for)."""
    for name in list(values):
        if name.lower() in ("min_position", "at_position", "x-convo-min-position"):
            try:
                beyond = int(values[name]) > FIXTURES["position"]
            except (TypeError, ValueError):
                continue
            if beyond:
                values[name] = type(values[name])(rnd.randint(0, FIXTURES["position"]))


@schemathesis.hook
def map_case(ctx, case):
    meta = case.meta
    if FIXTURES is None or meta is None:
        return case
    rnd = draw_for(case)
    candidates = path_candidates(case) if case.path_parameters else []
    # Real ids go in valid cases only: a negative one is refused for what it breaks, and
    # editing what it breaks would make schemathesis take it for another (after an edited
    # header, a missing `Authorization` would be sent after all).
    if not meta.generation.mode.is_positive or rnd.randrange(REAL_SHARE + 1) == REAL_SHARE:
        # What schemathesis made: an unknown id (the 404 paths), or one it saw in an answer,
        # which goes back to the operations it was made for if it would spoil it for them (a
        # negative case whose only fault is an extra header is carried out).
        path_is_valid = any(
            getattr(loc, "value", loc) == "path" and info.mode.is_positive for loc, info in meta.components.items()
        )
        if candidates and path_is_valid and spoils_another_operations_fixture(case.path_parameters, candidates):
            case.path_parameters = {**case.path_parameters, **rnd.choice(candidates)}
        return case
    if candidates:
        case.path_parameters = {**case.path_parameters, **rnd.choice(candidates)}
    if case.body is not None:
        case.body = real_body(case, rnd, case.path_parameters or {})
    if case.query:
        real_positions(case.query, rnd)
    if case.headers:
        real_positions(case.headers, rnd)
    return case


# --- requests and answers -------------------------------------------------------------------


def take(case, answer):
    """Notes what a command that succeeded created."""
    path, body = case.operation.path, case.body if isinstance(case.body, dict) else {}
    if path == "/v1/groups":
        TAKEN.add(("thread", body.get("inbox_id"), body.get("group_id")))
    elif path == "/v1/inbound-messages":
        TAKEN.add(("thread", body.get("inbox_id"), body.get("contact_id") or body.get("group_id")))
    elif path == "/v1/conversations/{conversation_id}/messages":
        TAKEN.add(("message", answer.get("conversation_id"), answer.get("message_id")))
    elif path == "/v1/conversations/{conversation_id}/join-requests" and answer.get("request_id"):
        # A join request that now waits: one more for approving or rejecting.
        pool = "approve" if len(FIXTURES["approve"]) <= len(FIXTURES["reject"]) else "reject"
        FIXTURES[pool].append([answer.get("conversation_id"), answer["request_id"]])
    elif path.endswith("/{request_id}/approve") or path.endswith("/{request_id}/reject"):
        RESOLVED.add(case.path_parameters.get("request_id"))
    elif path == "/v1/contacts/{contact_id}/merge":
        MERGED.add(body.get("contact_id"))
    elif path == "/v1/agents":
        TAKEN.add(("agent", body.get("agent_id")))


def refresh(case):
    """Just before a valid case is sent: a new group or message whose id the run has already
    taken gets a fresh one (the generator offers few values, "0" and one favourite UUID, and a
    repeat is a 409 by design); a join request the run has resolved makes way for one still
    waiting. Both stay valid, so the case means what it did."""
    path, body, params = case.operation.path, case.body, case.path_parameters or {}
    if path == "/v1/groups" and isinstance(body, dict):
        if ("thread", body.get("inbox_id"), body.get("group_id")) in TAKEN:
            body["group_id"] = f"st-group-{uuid.uuid4().hex}"
    elif path == "/v1/conversations/{conversation_id}/messages" and isinstance(body, dict):
        if ("message", params.get("conversation_id"), body.get("message_id")) in TAKEN:
            body["message_id"] = str(uuid.uuid4())
    elif path == "/v1/agents" and isinstance(body, dict):
        if ("agent", body.get("agent_id")) in TAKEN:
            body["agent_id"] = f"st-{uuid.uuid4().hex}"
    elif path == "/v1/contacts/{contact_id}/merge" and isinstance(body, dict):
        if body.get("contact_id") in MERGED:
            unmerged = [c for c in FIXTURES["mergeable"] if c not in MERGED]
            if unmerged:
                body["contact_id"] = unmerged[0]
    elif params.get("request_id") in RESOLVED:
        pool = FIXTURES["approve" if path.endswith("approve") else "reject"]
        waiting = [(c, r) for c, r in pool if r not in RESOLVED]
        if waiting:
            conversation, request = waiting[0]
            case.path_parameters = {**params, "conversation_id": conversation, "request_id": request}


@schemathesis.hook
def before_call(ctx, case, kwargs):
    meta = case.meta
    # A negative case about a header (a missing `Authorization`) keeps its headers as made:
    # schemathesis would take an edited one for another case, and send the header after all.
    if meta is not None and meta.generation.mode.is_negative and meta.phase.data.parameter_location == "header":
        return
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and VALID_IDEMPOTENCY_KEY.match(str(headers[name])):
            # 32 hex digits: still a valid key, and one no other request used.
            headers[name] = uuid.uuid4().hex
    if FIXTURES is not None and meta is not None and meta.generation.mode.is_positive:
        refresh(case)


@schemathesis.hook
def after_call(ctx, case, response):
    if FIXTURES is not None and response.status_code in (200, 201) and case.method.upper() == "POST":
        try:
            take(case, json.loads(response.content))
        except (ValueError, AttributeError):
            pass
    log = os.environ.get("CONVO_ST_STATUSES")
    if log:
        code = None
        if response.status_code >= 400:
            try:
                code = json.loads(response.content).get("code")
            except (ValueError, AttributeError):
                pass
        meta = case.meta
        phase = meta.phase.name.value if meta is not None else None
        mode = meta.generation.mode.value if meta is not None else None
        exchange = [f"{case.method.upper()} {case.operation.path}", response.status_code, code, phase, mode]
        with open(log, "a") as f:
            f.write(json.dumps(exchange) + "\n")


def path_parameters_valid(case):
    """Whether every path parameter of `case`, percent-decoded, meets its schema in the document."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "schemas", "openapi.json")) as f:
        document = json.load(f)
    operation = document["paths"][case.operation.path][case.method.lower()]
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "path":
            continue
        value = (case.path_parameters or {}).get(parameter["name"])
        if not isinstance(value, str):
            return False
        schema = {**parameter["schema"], "components": document["components"]}
        if not jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(urllib.parse.unquote(value)):
            return False
    return True


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """Keeps every failure but three that are no fault of the gateway's."""
    meta = case.meta
    # schemathesis 4.32 counts an optional body it left out as a negative one (its fuzzing and
    # stateful phases offer "no body" among the negative bodies): nothing invalid was sent.
    if (
        failure.code == "ST201"
        and isinstance(case.body, NotSet)
        and meta is not None
        and all(
            info.mode.is_positive for loc, info in meta.components.items() if getattr(loc, "value", loc) != "body"
        )
    ):
        return False
    # Its negative path parameters can come out valid all the same: a label drawn to break the
    # `Tag` pattern that keeps to it (`%C4%A0%C4%8B…`, all letters). A request whose every path
    # parameter, as sent, meets its schema sent nothing invalid.
    if (
        failure.code == "ST201"
        and meta is not None
        and all(info.mode.is_positive for loc, info in meta.components.items() if getattr(loc, "value", loc) != "path")
        and path_parameters_valid(case)
    ):
        return False
    # No string may hold a NUL (U+0000), key included: the document says so once, in its
    # description, rather than with a pattern on every string (and the keys of an open object,
    # an actor, settings, which the generator fills with any key, could carry none). The
    # gateway refuses one with 422 `validation` naming where it is (tests/it/bad_input.rs
    # tries it in every string of every operation).
    if failure.code == "ST202" and response.status_code == 422:
        try:
            problem = json.loads(response.content)
        except ValueError:
            return True
        errors = problem.get("errors") or []
        if problem.get("code") == "validation" and errors and all(e.get("detail") == NUL_REFUSED for e in errors):
            return False
    return True


# --- the run's summary ----------------------------------------------------------------------


def summary(base, log):
    """Prints how many operations answered a 2xx; returns those that did not."""
    document = json.load(urllib.request.urlopen(base.rstrip("/") + "/openapi.json"))
    operations = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    ]
    answers = {op: {} for op in operations}
    if os.path.exists(log):
        with open(log) as f:
            for line in f:
                op, status, code, *_ = json.loads(line)
                if op in answers:
                    key = f"{status} {code}" if code else str(status)
                    answers[op][key] = answers[op].get(key, 0) + 1
    missing = [op for op in operations if not any(key.startswith("2") for key in answers[op])]
    print(f"\nOperations answered with a 2xx: {len(operations) - len(missing)} of {len(operations)}")
    for op in missing:
        seen = ", ".join(f"{key}: {n}" for key, n in sorted(answers[op].items())) or "not called"
        print(f"  no 2xx: {op} ({seen})")
    return missing


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "fixtures":
        base, key, out = args
        with open(out, "w") as f:
            json.dump(create_fixtures(Api(base, key)), f)
    elif command == "summary":
        base, log, *expected = args
        missing = summary(base, log)
        unexpected = [op for op in missing if op not in expected]
        if unexpected:
            print(f"Operations without a 2xx that should have one: {len(unexpected)}")
            sys.exit(1)
    else:
        sys.exit(f"unknown command {command}")
