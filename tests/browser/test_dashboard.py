"""What a person does on the dashboard, in a real browser against a real `convo serve`."""

import os
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from playwright.sync_api import expect

from conftest import screenshot, sign_in

# axe-core from npm (deploy/browser.sh fetches it).
AXE = Path(os.environ.get("AXE_JS", Path.home() / ".cache/convo-browser/axe-core/axe.min.js"))


def now(delta=timedelta()):
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inbound(api, inbox_id, contact, body, sent_at=None):
    return api.post(
        "/v1/inbound-messages",
        {"inbox_id": inbox_id, "contact_id": contact, "sent_at": sent_at or now(), "content": {"type": "text", "body": body}},
    )


def whatsapp(api, name="Support"):
    return api.post("/v1/inboxes", {"name": name, "channel_type": "whatsapp"})["inbox_id"]


def agent(api, agent_id="ada", name="Ada Lovelace"):
    api.post("/v1/agents", {"agent_id": agent_id, "name": name})
    return agent_id


def test_signing_in_with_a_wrong_key_says_so_and_a_right_one_opens_the_inbox(page, server):
    page.goto(f"{server.base}/app/")
    page.get_by_label("API key").fill("cvk_not_a_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("key")
    screenshot(page, "sign-in")
    # The first load, everything the page fetched to start: under 200 KB on the wire.
    loaded = page.evaluate(
        """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
                 .filter(e => new URL(e.name).pathname.startsWith('/app'))
                 .reduce((sum, e) => sum + e.transferSize, 0)"""
    )
    print(f"first load of /app: {loaded} bytes transferred")
    assert 0 < loaded < 200_000, loaded
    sign_in(page, server)
    # Kept for the tab only: a new tab of another context must sign in again.
    assert page.evaluate("sessionStorage.getItem('convo.key')") == server.key
    assert page.evaluate("localStorage.length") == 0


def test_an_inbound_message_appears_in_the_open_list_within_a_second(page, server, api):
    inbox = whatsapp(api)
    inbound(api, inbox, "+4915100000001", "First!")
    sign_in(page, server)
    expect(page.locator("tbody tr")).to_have_count(1)

    posted = time.monotonic()
    inbound(api, inbox, "+4915100000002", "Where is my parcel?")
    row = page.locator("tr", has_text="Where is my parcel?")
    expect(row).to_be_visible(timeout=1000)
    seen = time.monotonic() - posted
    print(f"inbound message visible in the list after {seen * 1000:.0f} ms")
    expect(row).to_contain_text("+4915100000002")
    expect(row).to_contain_text("open")
    screenshot(page, "inbox")

    # Acting as an agent, each row counts what they have not read.
    conversation = row.get_attribute("data-conversation")
    row = page.locator(f"tr[data-conversation='{conversation}']")
    agent(api)  # registered while the page is open: it offers them once the stream says so
    page.get_by_label("Acting as").select_option("ada")
    expect(row.locator("[data-unread]")).to_have_attribute("data-unread", "1")
    inbound(api, inbox, "+4915100000002", "Hello??")
    expect(row.locator("[data-unread]")).to_have_attribute("data-unread", "2")
    api.post(f"/v1/conversations/{conversation}/read", {"user_id": "ada"})
    expect(row.locator("[data-unread]")).to_have_attribute("data-unread", "0")


def test_a_reply_is_sent_and_its_ticks_only_move_forward_as_reports_arrive_out_of_order(page, server, api):
    inbox = whatsapp(api)
    agent(api)
    conversation = inbound(api, inbox, "+4915100000003", "Hello?")["conversation_id"]
    sign_in(page, server)
    page.get_by_label("Acting as").select_option("ada")
    page.get_by_role("link", name="+4915100000003").click()
    page.get_by_label("Reply", exact=True).fill("Hi, how can I help?")
    page.get_by_role("button", name="Send", exact=True).click()
    reply = page.locator(".message.outbound", has_text="Hi, how can I help?")
    expect(reply.locator("[data-status]")).to_have_attribute("data-status", "accepted")
    message_id = reply.get_attribute("data-message")

    report = f"/v1/conversations/{conversation}/messages/{message_id}/status"
    api.post(report, {"status": "delivered"})
    expect(reply.locator("[data-status]")).to_have_attribute("data-status", "delivered")
    api.post(report, {"status": "sent"})  # late: it must not move the ticks back
    api.post(report, {"status": "read"})
    expect(reply.locator("[data-status]")).to_have_attribute("data-status", "read")
    api.post(report, {"status": "delivered"})  # later still
    inbound(api, inbox, "+4915100000003", "Thanks")  # something after it, to know it was folded
    expect(page.locator(".message.inbound", has_text="Thanks")).to_be_visible()
    expect(reply.locator("[data-status]")).to_have_attribute("data-status", "read")
    screenshot(page, "conversation")


def test_a_closed_whatsapp_window_refuses_free_text_with_the_engines_words_and_takes_a_template(page, server, api):
    inbox = whatsapp(api)
    agent(api)
    inbound(api, inbox, "+4915100000004", "Are you there?", sent_at=now(timedelta(hours=-25)))
    sign_in(page, server)
    page.get_by_label("Acting as").select_option("ada")
    page.get_by_role("link", name="+4915100000004").click()
    expect(page.locator("[data-window=agent]")).to_contain_text("closed: messagingWindowClosed")

    page.get_by_label("Reply", exact=True).fill("Sorry for the wait")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("window")
    expect(page.locator(".message.outbound")).to_have_count(0)
    screenshot(page, "window-closed")

    page.get_by_label("Template name").fill("follow_up")
    page.get_by_role("button", name="Send template").click()
    expect(page.locator(".message.outbound", has_text="Template follow_up")).to_be_visible()


def test_the_history_slider_shows_the_conversation_as_it_was(page, server, api):
    inbox = whatsapp(api)
    agent(api)
    conversation = inbound(api, inbox, "+4915100000005", "Order 1234 is late")["conversation_id"]
    path = f"/v1/conversations/{conversation}"
    api.put(f"{path}/assignee", {"agent_id": "ada"})
    api.put(f"{path}/labels/billing")
    api.post(f"{path}/status", {"status": "closed"})
    sign_in(page, server)
    page.goto(f"{server.base}/app/#/conversations/{conversation}")
    expect(page.locator(".facts .status")).to_have_text("closed")

    slider = page.get_by_label("Event", exact=False)
    slider.focus()
    page.keyboard.press("Home")  # the first event: the conversation as it started
    then = page.locator("dl.then")
    expect(then.locator("[data-field=status]")).to_have_text("open")
    expect(then.locator("[data-field=assignee]")).to_have_text("nobody")
    expect(then.locator("[data-field=labels]")).to_have_text("none")
    page.keyboard.press("End")
    expect(then.locator("[data-field=status]")).to_have_text("closed")
    expect(then.locator("[data-field=labels]")).to_have_text("billing")
    page.keyboard.press("ArrowLeft")  # before the close
    expect(then.locator("[data-field=status]")).to_have_text("open")
    expect(then.locator("[data-field=assignee]")).to_have_text("ada")
    screenshot(page, "history")


def test_reactions_edits_and_deletions_show_on_the_timeline(page, server, api):
    inbox = whatsapp(api)
    typo = inbound(api, inbox, "+4915100000009", "Typo here")
    conversation, first = typo["conversation_id"], typo["message_id"]
    second = inbound(api, inbox, "+4915100000009", "Never mind")["message_id"]
    path = f"/v1/conversations/{conversation}/messages"
    api.call("PATCH", f"{path}/{first}", {"content": {"type": "text", "body": "No typo here"}})
    api.post(f"{path}/{first}/reactions", {"emoji": "👍"})
    api.call("DELETE", f"{path}/{second}")
    sign_in(page, server)
    page.goto(f"{server.base}/app/#/conversations/{conversation}")
    edited = page.locator(f"[data-message='{first}']")
    expect(edited).to_contain_text("No typo here")
    expect(edited).to_contain_text("edited")
    expect(edited.locator(".reactions")).to_contain_text("👍")
    deleted = page.locator(f"[data-message='{second}']")
    expect(deleted).to_contain_text("This message was deleted")
    expect(deleted).not_to_contain_text("Never mind")


def test_a_group_shows_its_members_takes_a_join_request_and_its_members_as_of_earlier(page, server, api):
    inbox = whatsapp(api)
    group = api.post(
        "/v1/groups",
        {
            "inbox_id": inbox,
            "group_id": "120363000000000001@g.us",
            "subject": "Launch team",
            "self_member": "+4915100000099",
            "members": [{"member_id": "+4915100000010", "display_name": "Grace"}],
            "settings": {"join_approval": True},
        },
    )["conversation_id"]
    path = f"/v1/conversations/{group}"
    api.post(f"{path}/join-requests", {"member_id": "+4915100000011", "display_name": "Alan"})
    sign_in(page, server)
    page.goto(f"{server.base}/app/#/conversations/{group}")
    members = page.locator("section.group ul").first
    expect(members).to_contain_text("Grace")
    expect(members).not_to_contain_text("Alan")
    page.locator("li", has_text="Alan").get_by_role("button", name="Approve").click()
    expect(members).to_contain_text("Alan")
    expect(page.get_by_text("None pending.")).to_be_visible()
    screenshot(page, "group")

    # Before the approval, Alan was not a member.
    slider = page.get_by_label("Event", exact=False)
    slider.focus()
    page.keyboard.press("End")
    then = page.locator("dl.then [data-field=members]")
    expect(then).to_contain_text("Alan")
    page.keyboard.press("Home")
    expect(then).to_contain_text("Grace")
    expect(then).not_to_contain_text("Alan")


def test_the_stream_reconnects_after_a_restart_and_nothing_is_missing_or_repeated(page, server, api):
    inbox = whatsapp(api)
    sign_in(page, server)
    first = inbound(api, inbox, "+4915100000006", "before")["position"]
    expect(page.locator(f"[data-position='{first}']")).to_have_count(1)

    server.restart()
    # Written while the page is still away (its reconnection backs off): it must catch up.
    positions = [inbound(api, inbox, f"+49151000001{i:02}", f"while away {i}")["position"] for i in range(5)]
    expect(page.locator("[data-stream]")).to_have_attribute("data-stream", "live", timeout=15000)
    for p in positions:
        expect(page.locator(f".activity [data-position='{p}']")).to_have_count(1)
    shown = [int(p) for p in page.locator(".activity [data-position]").evaluate_all("es => es.map(e => e.dataset.position)")]
    assert len(shown) == len(set(shown)), f"repeated: {shown}"
    assert shown == sorted(shown, reverse=True), f"out of order: {shown}"
    expect(page.locator("tr", has_text="while away 4")).to_be_visible()


def test_a_webhooks_attempts_are_listed_and_one_is_replayed(page, server, api):
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_port}/hook"
        api.post("/v1/webhooks", {"url": url, "event_types": ["InboundMessageReceived"]})
        inbox = whatsapp(api)
        inbound(api, inbox, "+4915100000008", "Hook me")
        sign_in(page, server)
        page.get_by_role("link", name="Webhooks").click()
        page.get_by_role("row", name=url).get_by_role("button", name="Attempts").click()
        attempts = page.locator("tr[data-attempt]")
        expect(attempts).to_have_count(1)
        expect(attempts.first).to_contain_text("InboundMessageReceived")
        expect(attempts.first).to_contain_text("204 ok")
        attempts.first.get_by_role("button", name="Replay").click()
        expect(attempts).to_have_count(2)
        expect(page.locator("tr[data-attempt=replay]")).to_contain_text("204 ok")
        assert len(received) == 2
        screenshot(page, "webhooks")
    finally:
        receiver.shutdown()


def test_keyboard_navigation_and_labels_pass_axe(page, server, api):
    inbox = whatsapp(api)
    agent(api)
    inbound(api, inbox, "+4915100000007", "Accessible?")
    sign_in(page, server)
    violations = axe(page)
    assert violations == [], violations

    # To the first conversation by keyboard alone.
    link = page.get_by_role("link", name="+4915100000007")
    for _ in range(40):
        page.keyboard.press("Tab")
        if link.evaluate("e => e === document.activeElement"):
            break
    else:
        raise AssertionError("the conversation link is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="+4915100000007")).to_be_visible()
    violations = axe(page)
    assert violations == [], violations


def axe(page):
    # Evaluated through the DevTools protocol, which the page's Content-Security-Policy (scripts
    # from its own origin only) does not apply to.
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result]
