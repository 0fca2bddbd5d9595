"""The README's quick start through the Python client that deploy/clients.sh generates from
schemas/openapi.json (openapi-python-client), against the server at CONVO_URL with the key
CONVO_KEY: create an inbox, receive an inbound message, reply as an agent, read the inbox list and
the window with the reply's position as `min_position`, and page through the log's events.
Exits non-zero on the first answer that is not the expected one."""

import datetime
import os
import sys
import uuid
from typing import Any

from convo_client import AuthenticatedClient
from convo_client.api.conversations import get_window, list_conversations
from convo_client.api.inboxes import create_inbox
from convo_client.api.log import list_events
from convo_client.api.messages import receive_inbound, send_message
from convo_client.models import (
    ADirectMessage,
    ChannelType,
    CommandResponse,
    CreateInbox,
    LogEvent,
    MessageContentType0,
    MessageContentType0Type,
    PageListedConversation,
    PageLogEvent,
    SendMessage,
    SendMessageActor,
    SendMessageActorKind,
    Window,
    WindowState,
)
from convo_client.types import UNSET, Response


def ok(step: str, answer: Response[Any], expected: type) -> Any:
    """The parsed body of a 2xx answer of type `expected`, or exit naming the step and the answer."""
    if not 200 <= answer.status_code < 300 or not isinstance(answer.parsed, expected):
        sys.exit(f"py: {step}: {answer.status_code} {answer.content.decode(errors='replace')}")
    print(f"py: {step}: {answer.status_code}")
    return answer.parsed


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"py: expected {what}")


def position(step: str, answer: CommandResponse) -> int:
    if not isinstance(answer.position, int):
        sys.exit(f"py: {step}: no position in the answer")
    return answer.position


def main() -> None:
    url, key = os.environ.get("CONVO_URL"), os.environ.get("CONVO_KEY")
    if not url or not key:
        sys.exit("set CONVO_URL and CONVO_KEY")
    client = AuthenticatedClient(base_url=url, token=key, raise_on_unexpected_status=True)
    run = uuid.uuid4().hex[:8]  # a shared server may be reused: ids of this run

    inbox = ok(
        "create an inbox",
        create_inbox.sync_detailed(client=client, body=CreateInbox(name=f"Support {run}", channel_type=ChannelType.WHATSAPP)),
        CommandResponse,
    )
    inbox_id = inbox.inbox_id
    check(isinstance(inbox_id, uuid.UUID), "an inbox_id")

    wamid = f"wamid.py.{run}"
    inbound = ok(
        "receive an inbound message",
        receive_inbound.sync_detailed(
            client=client,
            idempotency_key=wamid,
            body=ADirectMessage(
                inbox_id=inbox_id,
                contact_id=f"+49152{int(run, 16) % 10**8:08d}",
                channel_message_id=wamid,
                sent_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
                content=MessageContentType0(type_=MessageContentType0Type.TEXT, body="Hi!"),
            ),
        ),
        CommandResponse,
    )
    conversation_id = inbound.conversation_id
    check(isinstance(conversation_id, uuid.UUID), "a conversation_id")
    position("receive an inbound message", inbound)

    reply = ok(
        "reply as an agent",
        send_message.sync_detailed(
            conversation_id=conversation_id,
            client=client,
            body=SendMessage(
                actor=SendMessageActor(kind=SendMessageActorKind.AGENT, id="ada"),
                content=MessageContentType0(type_=MessageContentType0Type.TEXT, body="Hello! How can I help?"),
            ),
        ),
        CommandResponse,
    )
    replied = position("reply as an agent", reply)

    page = ok(
        "list the inbox's conversations with min_position",
        list_conversations.sync_detailed(client=client, inbox_id=inbox_id, min_position=replied),
        PageListedConversation,
    )
    listed = [c for c in page.items if c.conversation_id == conversation_id]
    check(len(listed) == 1, f"conversation {conversation_id} in the list")
    check(listed[0].message_count == 2, f"2 messages in the listed conversation, not {listed[0].message_count}")
    last = listed[0].last_message
    check(last is not None and last is not UNSET and str(last.direction) == "outbound", "the reply as the last message")

    window = ok(
        "read the window",
        get_window.sync_detailed(conversation_id=conversation_id, client=client, min_position=replied),
        Window,
    )
    check(window.state == WindowState.OPEN, f"an open window, not {window.state}")

    # The log from the inbox's creation on, two events a page, following `next_cursor`.
    events: list[LogEvent] = []
    after = position("create an inbox", inbox) - 1
    cursor: str | None = None
    pages = 0
    while True:
        query: dict[str, Any] = {"after": after} if cursor is None else {"cursor": cursor}
        events_page = ok(
            f"page {pages + 1} of the events",
            list_events.sync_detailed(client=client, limit=2, **query),
            PageLogEvent,
        )
        pages += 1
        events.extend(events_page.items)
        if not isinstance(events_page.next_cursor, str) or pages >= 1000:
            break
        cursor = events_page.next_cursor
    ours = [e.event_type for e in events if e.aggregate_id in (str(inbox_id), str(conversation_id))]
    for event_type in ("InboxCreated", "ConversationStarted", "InboundMessageReceived", "MessageSent"):
        check(event_type in ours, f"{event_type} among this run's events ({', '.join(ours)})")
    check(pages >= 2, f"more than one page of events, not {pages}")
    print(f"py: the quick start passed ({len(events)} events in {pages} pages)")


if __name__ == "__main__":
    main()
